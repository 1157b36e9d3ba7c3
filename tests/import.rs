//! `phieu import` and `phieu report`: exactly-once import, conflicts kept aside, refusal of unreviewed records,
//! idempotent migrations and hand-computed report figures. Each scenario runs on SQLite (a fresh file) and, when
//! `PHIEU_PG_URL` names a PostgreSQL database, on PostgreSQL too (`PHIEU_REQUIRE_PG=1` makes a missing server a
//! failure instead of a skip).

use phieu::forms::template::Template;
use phieu::report::{self, Level, ReportOptions};
use phieu::results::SourceRef;
use phieu::store::db::{self, BatchOutcome, DbError, ImportOptions, Store, Val};
use phieu::store::final_record::{
    DecidedBy, FinalRecord, FinalValue, ItemId, ItemKind, FINAL_SCHEMA,
};
use std::path::PathBuf;

fn value(v: Option<&str>) -> FinalValue {
    FinalValue {
        value: v.map(str::to_string),
        decided_by: DecidedBy::Machine,
        confidence: 0.99,
        operator: None,
        decided_at: None,
    }
}

/// A final record; `answers` has ten characters (c1..c9, overall), `-` = blank.
fn record(
    batch: &str,
    page: u32,
    template: &str,
    code: Option<&str>,
    answers: &str,
) -> FinalRecord {
    let ids = [
        "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "overall",
    ];
    let chars: Vec<char> = answers.chars().collect();
    assert_eq!(chars.len(), 10);
    let answers: std::collections::BTreeMap<String, FinalValue> = ids
        .iter()
        .zip(&chars)
        .map(|(id, c)| {
            let v = (*c != '-').then(|| c.to_string());
            (id.to_string(), value(v.as_deref()))
        })
        .collect();
    let points = |c: char| match c {
        'a' => Some(2),
        'b' => Some(1),
        'c' => Some(0),
        _ => None,
    };
    let score = chars[..9].iter().map(|&c| points(c)).sum::<Option<i32>>();
    FinalRecord {
        form_version: 1,
        schema: FINAL_SCHEMA.into(),
        batch: batch.into(),
        source: SourceRef {
            path: format!("scans/{batch}.pdf"),
            page,
        },
        page_hash: Some(format!("hash-{batch}-{page}")),
        template: template.into(),
        fields: [("dossier_code".to_string(), value(code))].into(),
        answers,
        score,
        unresolved: vec![],
    }
}

fn sqlite_store(name: &str) -> Box<dyn Store> {
    let dir = std::env::temp_dir().join(format!("phieu-import-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.db"));
    std::fs::remove_file(&path).ok();
    db::open(&format!("sqlite:{}", path.display())).unwrap()
}

/// A clean PostgreSQL database from `PHIEU_PG_URL`, or `None` (skip) when it is not set.
fn pg_store() -> Option<Box<dyn Store>> {
    let Ok(url) = std::env::var("PHIEU_PG_URL") else {
        if std::env::var("PHIEU_REQUIRE_PG").as_deref() == Ok("1") {
            panic!("PHIEU_REQUIRE_PG=1 but PHIEU_PG_URL is not set");
        }
        eprintln!("skipping the PostgreSQL tests: PHIEU_PG_URL is not set");
        return None;
    };
    let mut s = db::open(&url).expect("PHIEU_PG_URL must name a reachable database");
    assert_eq!(s.backend(), "postgres");
    s.transaction(&mut |tx| {
        tx.execute_batch(
            "DROP TABLE IF EXISTS import_log, rating_conflicts, ratings, batches, schema_migrations, forms, \
             rating_answers, conflict_answers, channel_ratings, rating_resolutions CASCADE;",
        )?;
        Ok(true)
    })
    .unwrap();
    Some(s)
}

fn count(store: &mut dyn Store, table: &str) -> i64 {
    let mut n = 0;
    store
        .transaction(&mut |tx| {
            n = tx.query(&format!("SELECT COUNT(*) FROM {table}"), &[])?[0][0]
                .as_int()
                .unwrap();
            Ok(false)
        })
        .unwrap();
    n
}

fn batch1() -> Vec<FinalRecord> {
    vec![
        record(
            "b1",
            1,
            "gtvt",
            Some("000.00.17.H48-210105-0001"),
            "aaaaaaaaaa",
        ),
        record(
            "b1",
            2,
            "gtvt",
            Some("000.00.17.H48-210110-0002"),
            "bbbbbbbbbb",
        ),
        record("b1", 3, "gtvt", None, "cccccccccc"),
    ]
}

fn scenario_reimport_changes_nothing(store: &mut dyn Store) {
    db::migrate(store).unwrap();
    let first = db::import_records(store, "final.jsonl", &batch1(), &Template::builtins()).unwrap();
    assert_eq!(
        first,
        vec![BatchOutcome {
            batch: "b1".into(),
            records: 3,
            new: 3,
            no_code: 1,
            committed: true,
            ..Default::default()
        }]
    );
    let before = db::dump(store).unwrap();
    let second =
        db::import_records(store, "final.jsonl", &batch1(), &Template::builtins()).unwrap();
    assert_eq!(
        second,
        vec![BatchOutcome {
            batch: "b1".into(),
            records: 3,
            already_present: 3,
            committed: false,
            ..Default::default()
        }]
    );
    assert_eq!(db::dump(store).unwrap(), before);
    assert_eq!(count(store, "ratings"), 2);
    // The form without a dossier code is a rating too, kept at department level under its page.
    assert_eq!(count(store, "channel_ratings"), 1);
    assert_eq!(count(store, "import_log"), 1);
}

fn scenario_conflict_is_kept_aside(store: &mut dyn Store) {
    db::migrate(store).unwrap();
    db::import_records(store, "a/final.jsonl", &batch1(), &Template::builtins()).unwrap();
    // The same form scanned again in another batch (same rating), and a different rating of dossier 0001.
    let b2 = vec![
        record(
            "b2",
            1,
            "gtvt",
            Some("000.00.17.H48-210110-0002"),
            "bbbbbbbbbb",
        ),
        record(
            "b2",
            2,
            "gtvt",
            Some("000.00.17.H48-210105-0001"),
            "ccccccccca",
        ),
    ];
    let o = db::import_records(store, "b/final.jsonl", &b2, &Template::builtins()).unwrap();
    assert_eq!((o[0].new, o[0].already_present, o[0].conflicts), (0, 1, 1));
    assert!(o[0].committed);
    let mut kept = vec![];
    store
        .transaction(&mut |tx| {
            kept = tx.query(
                "SELECT ra.option_id, r.batch, ca.option_id, c.batch, c.kept_batch, c.kept_page FROM ratings r \
                 JOIN rating_conflicts c ON r.template = c.template AND r.dossier_code = c.dossier_code \
                 JOIN rating_answers ra ON ra.template = r.template AND ra.dossier_code = r.dossier_code \
                 AND ra.row_id = 'c1' \
                 JOIN conflict_answers ca ON ca.template = c.template AND ca.dossier_code = c.dossier_code \
                 AND ca.content_hash = c.content_hash AND ca.row_id = 'c1'",
                &[],
            )?;
            Ok(false)
        })
        .unwrap();
    assert_eq!(
        kept,
        vec![vec![
            Val::Text("a".into()),
            Val::Text("b1".into()),
            Val::Text("c".into()),
            Val::Text("b2".into()),
            Val::Text("b1".into()),
            Val::Int(1),
        ]]
    );
    let before = db::dump(store).unwrap();
    let again = db::import_records(store, "b/final.jsonl", &b2, &Template::builtins()).unwrap();
    assert_eq!((again[0].conflicts, again[0].conflicts_known), (0, 1));
    assert!(!again[0].committed);
    assert_eq!(db::dump(store).unwrap(), before);
    assert_eq!(db::load_ratings(store).unwrap().1, 1);
}

fn scenario_unreviewed_records_are_refused(store: &mut dyn Store) {
    let mut recs = batch1();
    let source = recs[1].source.clone();
    recs[1].unresolved.push(ItemId {
        source,
        kind: ItemKind::Answer,
        key: "c3".into(),
    });
    let dir = std::env::temp_dir().join(format!(
        "phieu-unreviewed-{}-{}",
        std::process::id(),
        store.backend()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = recs
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join("final.jsonl"), text).unwrap();
    let err = db::import_path(
        store,
        &dir,
        &Template::builtins(),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, DbError::Unreviewed { records: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--allow-unreviewed"));
    // Nothing was written: not even the schema.
    db::migrate(store).unwrap();
    assert_eq!(count(store, "ratings"), 0);
    assert_eq!(count(store, "batches"), 0);
    let o = db::import_path(
        store,
        &dir,
        &Template::builtins(),
        &ImportOptions {
            allow_unreviewed: true,
        },
    )
    .unwrap();
    assert_eq!(o[0].new, 3);
    let mut flagged = vec![];
    store
        .transaction(&mut |tx| {
            flagged = tx.query(
                "SELECT dossier_code FROM ratings WHERE unresolved IS NOT NULL",
                &[],
            )?;
            Ok(false)
        })
        .unwrap();
    assert_eq!(
        flagged,
        vec![vec![Val::Text("000.00.17.H48-210110-0002".into())]]
    );
}

fn scenario_migrations_are_idempotent(store: &mut dyn Store) {
    let known: Vec<i64> = db::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(db::migrate(store).unwrap(), known);
    assert_eq!(db::migrate(store).unwrap(), Vec::<i64>::new());
    assert_eq!(db::schema_versions(store).unwrap(), known);
    store
        .transaction(&mut |tx| {
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                &[
                    Val::Int(999),
                    Val::Text("from the future".into()),
                    Val::Text("2030-01-01T00:00:00Z".into()),
                ],
            )?;
            Ok(true)
        })
        .unwrap();
    assert!(matches!(
        db::migrate(store),
        Err(DbError::TooNew { found: 999, .. })
    ));
}

const RETURNED: &str = "code,procedure,department,counter,officer,received,returned
A-210105-0001,p,Sở Giao thông vận tải,Quầy 1,An,2021-01-05,2021-01-08
A-210110-0002,p,Sở Giao thông vận tải,Quầy 1,Bình,2021-01-10,2021-01-12
A-210111-0005,p,Sở Giao thông vận tải,Quầy 1,Bình,2021-01-11,2021-01-20
A-210112-0006,p,Sở Giao thông vận tải,Quầy 2,Cường,2021-01-12,2021-01-25
A-210203-0003,p,Sở Giao thông vận tải,Quầy 2,Cường,2021-02-03,2021-02-05
A-210204-0007,p,Sở Giao thông vận tải,Quầy 2,Cường,2021-02-04,2021-02-06
A-210205-0008,p,Sở Giao thông vận tải,Quầy 2,Cường,2021-02-05,2021-02-07
";

fn scenario_report_figures(store: &mut dyn Store) {
    db::migrate(store).unwrap();
    let recs = vec![
        record("r", 1, "gtvt", Some("A-210105-0001"), "aaaaaaaaaa"), // score 18, very satisfied
        record("r", 2, "gtvt", Some("A-210110-0002"), "bbbbbbbbbb"), // score 9, satisfied
        record("r", 3, "gtvt", Some("A-210203-0003"), "cccccccc-c"), // no score, not satisfied
        record("r", 4, "khdt", Some("A-210215-0004"), "aaaaaaaac-"), // score 16, overall blank; not returned
    ];
    db::import_records(store, "r.jsonl", &recs, &Template::builtins()).unwrap();
    let ds = phieu::store::ratings::load_dataset(store).unwrap();
    assert_eq!(ds.ratings.len(), 4);
    let returned = phieu::returned::read_returned(
        &PathBuf::from("returned.csv"),
        RETURNED,
        &phieu::returned::REPORT_COLUMNS,
    )
    .unwrap();
    let by_month = ReportOptions {
        period: report::PeriodKind::Month,
        lang: report::Lang::En,
        ..Default::default()
    };
    let r = report::build(&ds, &[], Some(&returned), &by_month);
    let find = |level: Level, dept: &str, counter: &str, officer: &str, period: &str| {
        r.find(level, dept, counter, officer, period)
            .unwrap_or_else(|| panic!("no row {level:?} {dept} {counter} {officer} {period}"))
            .clone()
    };
    let close = |a: Option<f64>, b: f64| assert!((a.unwrap() - b).abs() < 1e-9, "{a:?} vs {b}");
    let t = r.total();
    assert_eq!((t.forms, t.scored, t.score_sum), (4, 3, 43));
    close(t.mean_score(), 43.0 / 3.0);
    close(t.satisfaction(), 2.0 / 3.0);
    assert_eq!((t.returned, t.rated_returned), (7, 3));
    assert_eq!(t.rated_by_channel, [3, 0, 0]);
    close(t.coverage(), 3.0 / 7.0);
    // c9 and overall over both forms: a, b, c, blank, unchecked (gtvt has 1 a, 1 b, 1 c; khdt 1 c on c9, overall
    // blank).
    let gtvt_v1 = &t.dist[&("gtvt".to_string(), 1)];
    let khdt_v1 = &t.dist[&("khdt".to_string(), 1)];
    assert_eq!(gtvt_v1[8], [1, 1, 0, 1, 0]); // c9
    assert_eq!(gtvt_v1[9], [1, 1, 1, 0, 0]); // overall
    assert_eq!(khdt_v1[8], [0, 0, 1, 0, 0]);
    assert_eq!(khdt_v1[9], [0, 0, 0, 1, 0]);
    assert_eq!(t.score_scale(), Some(18));
    let gtvt = find(Level::Department, "Sở Giao thông vận tải", "", "", "");
    close(gtvt.mean_score(), 13.5);
    close(gtvt.coverage(), 3.0 / 7.0);
    let khdt = find(Level::Department, "Sở Kế hoạch và Đầu tư", "", "", "");
    assert_eq!((khdt.forms, khdt.returned, khdt.coverage()), (1, 0, None));
    assert_eq!(khdt.satisfaction(), None);
    let q1 = find(Level::Counter, "Sở Giao thông vận tải", "Quầy 1", "", "");
    assert_eq!((q1.forms, q1.returned, q1.rated_returned), (2, 3, 2));
    let binh = find(
        Level::Officer,
        "Sở Giao thông vận tải",
        "Quầy 1",
        "Bình",
        "",
    );
    close(binh.coverage(), 0.5);
    let unknown = find(Level::Counter, "Sở Kế hoạch và Đầu tư", "(unknown)", "", "");
    assert_eq!(unknown.forms, 1);
    let jan = find(Level::Total, "", "", "", "2021-01");
    assert_eq!((jan.forms, jan.returned, jan.rated_returned), (2, 4, 2));
    let feb = find(Level::Total, "", "", "", "2021-02");
    assert_eq!((feb.forms, feb.returned, feb.rated_returned), (2, 3, 1));
    close(feb.mean_score(), 16.0);
    close(feb.satisfaction(), 0.0);
    // Counter 2 went from 0 of 1 in January to 1 of 3 in February: no drop. Counter 1 had no February dossiers.
    assert!(r.drops.is_empty(), "{:?}", r.drops);
    // Below 50%: counter 2 and its officer (25%); Bình at exactly 50% is not listed.
    let low: Vec<(Level, &str)> = r
        .below_threshold()
        .iter()
        .map(|x| {
            (
                x.level,
                if x.officer.is_empty() {
                    x.counter.as_str()
                } else {
                    x.officer.as_str()
                },
            )
        })
        .collect();
    assert_eq!(
        low,
        vec![(Level::Counter, "Quầy 2"), (Level::Officer, "Cường")]
    );
    assert_eq!(r.unmatched, 1);
    // The follow-up list: the four returned dossiers nobody rated, by counter and day.
    let follow: Vec<&str> = r.followup.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(
        follow,
        [
            "A-210111-0005",
            "A-210112-0006",
            "A-210204-0007",
            "A-210205-0008"
        ]
    );

    let feb_only = report::build(
        &ds,
        &[],
        Some(&returned),
        &ReportOptions {
            from: Some("2021-02-01".into()),
            to: Some("2021-02-28".into()),
            ..by_month.clone()
        },
    );
    let t = feb_only.total();
    assert_eq!((t.forms, t.returned, t.rated_returned), (2, 3, 1));

    let text = report::to_text(&r);
    assert!(
        text.contains("Sở Giao thông vận tải / Quầy 2 / Cường: 25.0% (1 of 4)"),
        "{text}"
    );
    let csv = report::to_csv(&r);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("total,,,,,7,3,42.9%,3,0,0,4,0,14.33 / 18,66.7%,3,3,,")),
        "{csv}"
    );
    let html = report::to_html(&r);
    assert!(html.contains("<svg") && !html.contains("<script") && !html.contains("src="));
    assert!(html.contains("Cường"));
    let vi = report::build(&ds, &[], Some(&returned), &ReportOptions::default());
    assert!(report::to_text(&vi).contains("42,9%"));
    assert!(report::to_csv(&vi).contains("\"14,33 / 18\""));
}

macro_rules! on_both {
    ($name:ident, $pg:ident, $scenario:ident) => {
        #[test]
        fn $name() {
            let mut s = sqlite_store(stringify!($name));
            $scenario(s.as_mut());
        }

        #[test]
        fn $pg() {
            // One PostgreSQL database for all scenarios: they run one at a time under this lock.
            let _guard = PG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(mut s) = pg_store() {
                $scenario(s.as_mut());
            }
        }
    };
}

static PG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A database as the first release left it (schema version 2, answers in the columns c1..c9, overall), with one
/// rating and one conflict, migrated to the current schema: no answer is lost, the same record re-imported is
/// still "already present", and a record of another version is refused until its form is known.
fn scenario_migration_from_the_first_schema(store: &mut dyn Store) {
    db::migrate_to(store, 2).unwrap();
    let kept = record("old", 1, "gtvt", Some("A-210105-0001"), "abcabcabc-");
    let other = record("old", 2, "gtvt", Some("A-210105-0001"), "aaaaaaaaaa");
    // The first release's import: batches, then ratings and conflicts with the answers in columns.
    store
        .transaction(&mut |tx| {
            tx.execute(
                "INSERT INTO batches (batch, source, first_imported_at) VALUES ('old', 'final.jsonl', \
                 '2021-01-06T00:00:00Z')",
                &[],
            )?;
            let cols = "c1, c2, c3, c4, c5, c6, c7, c8, c9, overall";
            let vals = |r: &FinalRecord| -> Vec<Val> {
                ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "overall"]
                    .iter()
                    .map(|k| match r.answers[*k].value.clone() {
                        Some(v) => Val::Text(v),
                        None => Val::Null,
                    })
                    .collect()
            };
            let mut p = vec![Val::Text("h-kept".into())];
            p.extend(vals(&kept));
            tx.execute(
                &format!(
                    "INSERT INTO ratings (template, dossier_code, batch, source_path, page, decided_by, \
                     content_hash, imported_at, score, {cols}) VALUES ('gtvt', 'A-210105-0001', 'old', 'a.pdf', 1, \
                     '{{}}', ?, '2021-01-06T00:00:00Z', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                &p,
            )?;
            let mut p = vec![Val::Text("h-other".into())];
            p.extend(vals(&other));
            tx.execute(
                &format!(
                    "INSERT INTO rating_conflicts (template, dossier_code, content_hash, batch, source_path, page, \
                     decided_by, kept_batch, kept_source_path, kept_page, imported_at, score, {cols}) VALUES \
                     ('gtvt', 'A-210105-0001', ?, 'old', 'a.pdf', 2, '{{}}', 'old', 'a.pdf', 1, \
                     '2021-01-06T00:00:00Z', 18, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                &p,
            )?;
            Ok(true)
        })
        .unwrap();
    assert_eq!(db::migrate(store).unwrap(), vec![3, 4]);
    let (ratings, conflicts) = db::load_ratings(store).unwrap();
    assert_eq!((ratings.len(), conflicts), (1, 1));
    let r = &ratings[0];
    assert_eq!(r.form_version, 1);
    for (k, v) in &kept.answers {
        assert_eq!(r.answers.get(k), Some(&v.value), "row {k}");
    }
    assert_eq!(
        count(store, "conflict_answers"),
        10,
        "the conflict's answers moved too"
    );
    let dump = db::dump(store).unwrap();
    assert!(
        !dump["ratings"][0].contains("\"c1\""),
        "{:?}",
        dump["ratings"]
    );
    // A new import of the kept record finds it by its old content hash only if the hash rule is unchanged, so
    // store a record whose hash we know: import the kept record into a fresh dossier and again.
    let again = record("new", 1, "gtvt", Some("A-210106-0009"), "abcabcabc-");
    let o = db::import_records(
        store,
        "new.jsonl",
        std::slice::from_ref(&again),
        &Template::builtins(),
    )
    .unwrap();
    assert_eq!(o[0].new, 1);
    let o = db::import_records(store, "new2.jsonl", &[again], &Template::builtins()).unwrap();
    assert_eq!(o[0].already_present, 1);
    let (ratings, _) = db::load_ratings(store).unwrap();
    assert_eq!(ratings.len(), 2);
    assert_eq!(count(store, "forms"), 1, "the form is stored once");
}

on_both!(
    sqlite_migration_from_the_first_schema_keeps_every_answer,
    postgres_migration_from_the_first_schema_keeps_every_answer,
    scenario_migration_from_the_first_schema
);

on_both!(
    sqlite_reimport_changes_nothing,
    postgres_reimport_changes_nothing,
    scenario_reimport_changes_nothing
);
on_both!(
    sqlite_conflict_is_kept_aside,
    postgres_conflict_is_kept_aside,
    scenario_conflict_is_kept_aside
);
on_both!(
    sqlite_unreviewed_records_are_refused,
    postgres_unreviewed_records_are_refused,
    scenario_unreviewed_records_are_refused
);
on_both!(
    sqlite_migrations_are_idempotent,
    postgres_migrations_are_idempotent,
    scenario_migrations_are_idempotent
);
on_both!(
    sqlite_report_figures_match_hand_computed_values,
    postgres_report_figures_match_hand_computed_values,
    scenario_report_figures
);

/// The command line: importing the same final.jsonl twice reports everything as already present the second
/// time and leaves the database file byte for byte as it was.
#[test]
fn cli_reimport_leaves_the_database_unchanged() {
    let dir = std::env::temp_dir().join(format!("phieu-cli-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = batch1()
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join("final.jsonl"), text).unwrap();
    let db_path = dir.join("ratings.db");
    std::fs::remove_file(&db_path).ok();
    let url = format!("sqlite:{}", db_path.display());
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_phieu"))
            .args(["import", dir.to_str().unwrap(), "--db", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert!(first.contains("3 new (1 without a dossier code"), "{first}");
    let bytes = std::fs::read(&db_path).unwrap();
    let second = run();
    assert!(
        second.contains(
            "0 new (0 without a dossier code, at department level), 3 already present, 0 conflicts"
        ),
        "{second}"
    );
    assert_eq!(std::fs::read(&db_path).unwrap(), bytes);

    let returned = dir.join("returned.csv");
    std::fs::write(&returned, RETURNED.replace("A-2101", "000.00.17.H48-2101")).unwrap();
    let html = dir.join("report.html");
    let csv = dir.join("report.csv");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(["report", "--lang", "en", "--db", &url, "--returned"])
        .arg(&returned)
        .arg("-o")
        .arg(&html)
        .arg("-o")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("3 counted ratings (0 unchecked)")
            && stdout.contains("mean score 9.00 / 18"),
        "{stdout}"
    );
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    assert!(std::fs::read_to_string(&csv)
        .unwrap()
        .starts_with("\u{feff}level,"));
    // A mistyped database is an error, not a new empty database.
    let missing = dir.join("mistyped.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(["report", "--db"])
        .arg(format!("sqlite:{}", missing.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database file"));
    assert!(!missing.exists());
}

/// A database written by the first release itself (`phieu import` at commit 6671422 on the bundled samples):
/// the migration keeps every stored answer.
#[test]
fn a_database_from_the_first_release_migrates_with_every_answer() {
    let dir = std::env::temp_dir().join(format!("phieu-first-release-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("db.sqlite");
    std::fs::copy(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/db/first_release_schema2_should_migrate.db"),
        &path,
    )
    .unwrap();
    let mut store = db::open(&format!("sqlite:{}", path.display())).unwrap();
    let mut before = vec![];
    store
        .transaction(&mut |tx| {
            before = tx.query(
                "SELECT template, dossier_code, c1, c2, c3, c4, c5, c6, c7, c8, c9, overall FROM ratings \
                 ORDER BY template, dossier_code",
                &[],
            )?;
            Ok(false)
        })
        .unwrap();
    assert_eq!(before.len(), 4);
    assert_eq!(db::schema_versions(store.as_mut()).unwrap(), vec![1, 2]);
    db::migrate(store.as_mut()).unwrap();
    let (ratings, _) = db::load_ratings(store.as_mut()).unwrap();
    assert_eq!(ratings.len(), 4);
    let rows = [
        "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "overall",
    ];
    for (old, new) in before.iter().zip(&ratings) {
        assert_eq!(old[1].as_text(), Some(new.dossier_code.as_str()));
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(
                new.answers.get(*row).cloned().flatten().as_deref(),
                old[2 + i].as_text(),
                "{} {row}",
                new.dossier_code
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn phieu(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn jsonl(recs: &[FinalRecord]) -> String {
    recs.iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect()
}

/// Wrong files are named for what they are, with what to run instead, and leave no database file behind; an
/// unreviewed file is refused with the same status as `export` (1).
#[test]
fn cli_import_names_wrong_files_and_leaves_no_empty_database() {
    let dir = std::env::temp_dir().join(format!("phieu-cli-wrong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_path = dir.join("new.db");
    let url = format!("sqlite:{}", db_path.display());
    let results = dir.join("results.jsonl");
    std::fs::write(
        &results,
        "{\"schema\":\"phieu-result/1\",\"source\":{\"path\":\"a.png\",\"page\":1},\"template\":null}\n",
    )
    .unwrap();
    let (code, _, err) = phieu(&["import", results.to_str().unwrap(), "--db", &url]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("this is a scan's results.jsonl")
            && err.contains("phieu export DIR -o final.jsonl"),
        "{err}"
    );
    assert!(
        !db_path.exists(),
        "a refused import left {}",
        db_path.display()
    );

    let final_csv = dir.join("final.csv");
    std::fs::write(
        &final_csv,
        "\u{feff}batch,path,page,template,dossier_code,dossier_code_by,c1,c1_by\r\n",
    )
    .unwrap();
    let (code, _, err) = phieu(&["import", final_csv.to_str().unwrap(), "--db", &url]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("this is final.csv"), "{err}");
    assert!(!db_path.exists());

    let mut recs = batch1();
    let source = recs[1].source.clone();
    recs[1].unresolved.push(ItemId {
        source,
        kind: ItemKind::Field,
        key: "dossier_code".into(),
    });
    std::fs::write(dir.join("final.jsonl"), jsonl(&recs)).unwrap();
    let (code, _, err) = phieu(&["import", dir.to_str().unwrap(), "--db", &url]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("page 2, field dossier code"), "{err}");
    assert!(
        !db_path.exists(),
        "a refused import left {}",
        db_path.display()
    );

    // `report` checks its flags before it opens anything.
    let (code, _, err) = phieu(&[
        "report",
        "--db",
        &url,
        "--from",
        "2021-05-01",
        "--to",
        "2021-04-01",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--from 2021-05-01 is after --to 2021-04-01"),
        "{err}"
    );
    let (code, _, err) = phieu(&["report", "--db", &url, "-o", "report.pdf"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("report.pdf: report output must end in .html, .csv or .xlsx"),
        "{err}"
    );
    assert!(!db_path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two different paper forms of one dossier: `import` names the dossier and exits 1, `--conflicts` lists both
/// ratings with their ids, `--resolve … --keep` records the choice and the report counts the kept one.
#[test]
fn cli_conflicts_are_listed_and_resolved() {
    let dir = std::env::temp_dir().join(format!("phieu-cli-conflicts-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::create_dir_all(dir.join("b")).unwrap();
    let db_path = dir.join("c.db");
    std::fs::remove_file(&db_path).ok();
    let url = format!("sqlite:{}", db_path.display());
    std::fs::write(dir.join("a/final.jsonl"), jsonl(&batch1())).unwrap();
    let other = record(
        "b2",
        1,
        "gtvt",
        Some("000.00.17.H48-210105-0001"),
        "cccccccccc",
    );
    std::fs::write(dir.join("b/final.jsonl"), jsonl(&[other])).unwrap();
    let (code, _, err) = phieu(&["import", dir.join("a").to_str().unwrap(), "--db", &url]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = phieu(&["import", dir.join("b").to_str().unwrap(), "--db", &url]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("1 dossier(s) have two different paper ratings (000.00.17.H48-210105-0001)"),
        "{err}"
    );
    let (code, out, _) = phieu(&["import", "--conflicts", "--db", &url]);
    assert_eq!(code, Some(1));
    assert!(out.contains("000.00.17.H48-210105-0001 (open"), "{out}");
    let ids: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("paper:")))
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 2, "{out}");
    let (code, _, err) = phieu(&[
        "import",
        "--resolve",
        "000.00.17.H48-210105-0001",
        "--keep",
        "paper:nonsense",
        "--db",
        &url,
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains(&ids[0]) && err.contains(&ids[1]), "{err}");
    let (code, _, err) = phieu(&[
        "import",
        "--resolve",
        "000.00.17.H48-210105-0001",
        "--keep",
        &ids[1],
        "--db",
        &url,
        "--operator",
        "Lan",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, _) = phieu(&["import", "--conflicts", "--db", &url]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("resolved: {} counts", ids[1])),
        "{out}"
    );
    // The kept rating (all c) now counts: satisfied 1 of 3 (its c, the other dossier's b, the code-less form's c).
    let mut store = db::open(&url).unwrap();
    let ds = phieu::store::ratings::load_dataset(store.as_mut()).unwrap();
    let r = report::build(&ds, &[], None, &ReportOptions::default());
    assert_eq!(r.total().forms, 3);
    assert_eq!(
        (r.total().satisfied, r.total().satisfaction_answered),
        (1, 3)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `PHIEU_PG_TLS=1` (CI), the server at `PHIEU_PG_URL` speaks TLS with a certificate from the CA named by
/// the URL's `sslrootcert`: the connection is encrypted, and without that CA the same server is refused
/// (certificate checking is on).
#[test]
fn postgres_tls_checks_the_certificate() {
    if std::env::var("PHIEU_PG_TLS").as_deref() != Ok("1") {
        eprintln!("skipping the TLS test: PHIEU_PG_TLS is not 1");
        return;
    }
    let url = std::env::var("PHIEU_PG_URL").expect("PHIEU_PG_TLS=1 needs PHIEU_PG_URL");
    assert!(url.contains("sslrootcert="), "{url}");
    let mut s = db::open(&url).unwrap();
    let mut ssl = vec![];
    s.transaction(&mut |tx| {
        ssl = tx.query(
            "SELECT CAST(ssl AS TEXT) FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )?;
        Ok(false)
    })
    .unwrap();
    assert_eq!(ssl, vec![vec![Val::Text("true".into())]]);
    let (base, query) = url.split_once('?').unwrap();
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.starts_with("sslrootcert=") && !kv.starts_with("sslmode="))
        .chain(["sslmode=require"])
        .collect();
    let untrusted = format!("{base}?{}", rest.join("&"));
    let err = db::open(&untrusted)
        .err()
        .expect("an unknown CA must be refused");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}
