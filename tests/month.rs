//! A generated 10,000-dossier month across every channel: paper forms (final.jsonl, two batches, with a second
//! different paper rating for some dossiers, forms without a dossier code and records still under review),
//! tablet and website ratings (the one-stop system's CSV with its own Vietnamese column names, a mapping file,
//! rows without a dossier code and bad rows), and the returned-dossiers export. It is imported (paper through the
//! library, the CSV through the real binary) and reported on SQLite and, when `PHIEU_PG_URL` is set, PostgreSQL;
//! every figure is checked against a computation made here from the generated data, not through the report code.
//! Re-importing every file changes nothing. `PHIEU_MONTH_DIR=DIR` keeps the generated files there (the
//! benchmark in BENCHMARKS.md times the release binary on them).

use phieu::forms::template::Template;
use phieu::report::{self, Level, PeriodKind, ReportOptions};
use phieu::results::SourceRef;
use phieu::store::db::{self, Store};
use phieu::store::final_record::{
    DecidedBy, FinalRecord, FinalValue, ItemId, ItemKind, FINAL_SCHEMA,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A small deterministic generator (xorshift64*), so the test needs no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const DEPTS: [(&str, &str); 2] = [
    ("Sở Giao thông vận tải", "gtvt"),
    ("Sở Kế hoạch và Đầu tư", "khdt"),
];
/// (department index, counter, officers, paper / tablet / web rating chance; the paper chance falls to the
/// second value in the last week, for counter 3)
type Counter = (usize, &'static str, [&'static str; 2], [f64; 3], f64);
const COUNTERS: [Counter; 5] = [
    (0, "Quầy 1", ["An", "Bình"], [0.55, 0.30, 0.08], 0.55),
    (0, "Quầy 2", ["Chi", "Dũng"], [0.20, 0.15, 0.05], 0.20),
    (0, "Quầy 3", ["Giang", "Hà"], [0.60, 0.25, 0.05], 0.05),
    (1, "Quầy 4", ["Khánh", "Lan"], [0.45, 0.45, 0.10], 0.45),
    (1, "Quầy 5", ["Minh", "Nga"], [0.05, 0.70, 0.10], 0.05),
];
const ROWS: [&str; 10] = [
    "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "overall",
];
const LABELS: [&str; 3] = ["Rất hài lòng", "Hài lòng", "Không hài lòng"];

/// One generated rating, as the test's own truth.
#[derive(Clone, Debug)]
struct TRating {
    /// 0 paper, 1 tablet, 2 web.
    channel: usize,
    code: Option<String>,
    dept: usize,
    answers: BTreeMap<&'static str, Option<char>>,
    unresolved: Vec<&'static str>,
    /// A second, different paper form of the same dossier (kept aside).
    second: bool,
    /// The day of an electronic rating (its CSV time).
    rated_day: Option<u32>,
}

struct Returned {
    code: String,
    counter: usize,
    officer: usize,
    day: u32,
}

struct Month {
    returned: Vec<Returned>,
    ratings: Vec<TRating>,
    paper1: Vec<FinalRecord>,
    paper2: Vec<FinalRecord>,
    csv: String,
    returned_csv: String,
    map: String,
}

fn answer(rng: &mut Rng, blank: f64) -> Option<char> {
    if rng.chance(blank) {
        None
    } else {
        // Mostly good answers, as real ratings are.
        Some(match rng.below(10) {
            0..=5 => 'a',
            6..=8 => 'b',
            _ => 'c',
        })
    }
}

fn full_answers(rng: &mut Rng) -> BTreeMap<&'static str, Option<char>> {
    ROWS.iter().map(|&r| (r, answer(rng, 0.03))).collect()
}

fn final_record(t: &TRating, batch: &str, page: u32) -> FinalRecord {
    let v = |s: Option<String>| FinalValue {
        value: s,
        decided_by: DecidedBy::Machine,
        confidence: 0.99,
        operator: None,
        decided_at: None,
    };
    let points = |c: char| match c {
        'a' => 2,
        'b' => 1,
        _ => 0,
    };
    let score = ROWS[..9]
        .iter()
        .map(|r| t.answers[r].map(points))
        .sum::<Option<i32>>();
    let source = SourceRef {
        path: format!("scans/{batch}.pdf"),
        page,
    };
    FinalRecord {
        schema: FINAL_SCHEMA.into(),
        batch: batch.into(),
        source: source.clone(),
        page_hash: Some(format!("{batch}-{page:05}")),
        template: DEPTS[t.dept].1.into(),
        form_version: 1,
        fields: [("dossier_code".to_string(), v(t.code.clone()))].into(),
        answers: t
            .answers
            .iter()
            .map(|(k, a)| (k.to_string(), v(a.map(String::from))))
            .collect(),
        score,
        unresolved: t
            .unresolved
            .iter()
            .map(|k| ItemId {
                source: source.clone(),
                kind: ItemKind::Answer,
                key: k.to_string(),
            })
            .collect(),
    }
}

fn generate(n: usize) -> Month {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut m = Month {
        returned: vec![],
        ratings: vec![],
        paper1: vec![],
        paper2: vec![],
        csv: String::from(
            "\u{feff}STT;Mã hồ sơ;Kênh đánh giá;Thời gian đánh giá;Đơn vị;Mức độ hài lòng;TC1;TC2;TC3;TC4;TC5;TC6;\
             TC7;TC8;TC9\n",
        ),
        returned_csv: String::from("code,procedure,department,counter,officer,received,returned\n"),
        map: r#"{"schema": "phieu-channel-map/1",
  "columns": {"id": "STT", "dossier_code": "Mã hồ sơ", "channel": "Kênh đánh giá",
              "rated_at": "Thời gian đánh giá", "department": "Đơn vị", "overall": "Mức độ hài lòng",
              "c1": "TC1", "c2": "TC2", "c3": "TC3", "c4": "TC4", "c5": "TC5", "c6": "TC6", "c7": "TC7",
              "c8": "TC8", "c9": "TC9"},
  "channels": {"Ki-ốt tại quầy": "tablet", "Cổng DVC": "web"},
  "values": {"3": "a", "2": "b", "1": "c"}}"#
            .into(),
    };
    let mut csv_id = 1000;
    let mut page1 = 0;
    let mut page2 = 0;
    let push_csv = |m: &mut Month, csv_id: &mut u32, t: &TRating, day: u32, rng: &mut Rng| {
        *csv_id += 1;
        let channel = if t.channel == 1 {
            "Ki-ốt tại quầy"
        } else {
            "Cổng DVC"
        };
        let overall = t.answers.get("overall").copied().flatten();
        // Tablets give the level as 3/2/1, the website as the label.
        let overall = match (t.channel, overall) {
            (_, None) => String::new(),
            (1, Some(c)) => (3 - (c as u8 - b'a')).to_string(),
            (_, Some(c)) => LABELS[(c as u8 - b'a') as usize].to_string(),
        };
        let crit: Vec<String> = ROWS[..9]
            .iter()
            .map(|r| {
                t.answers
                    .get(r)
                    .copied()
                    .flatten()
                    .map_or(String::new(), String::from)
            })
            .collect();
        let time = format!(
            "{:02}/04/2021 {:02}:{:02}",
            day,
            8 + rng.below(9),
            rng.below(60)
        );
        m.csv.push_str(&format!(
            "{csv_id};{};{channel};{time};{};{overall};{}\n",
            t.code.as_deref().unwrap_or(""),
            DEPTS[t.dept].0,
            crit.join(";")
        ));
    };
    for i in 0..n {
        let counter = rng.below(COUNTERS.len() as u64) as usize;
        let officer = rng.below(2) as usize;
        let day = 1 + rng.below(30) as u32;
        let received = day.saturating_sub(rng.below(5) as u32).max(1);
        let code = format!("000.00.17.H48-2104{received:02}-{:05}", i + 1);
        let (dept, cname, officers, p, late_paper) = COUNTERS[counter];
        m.returned_csv.push_str(&format!(
            "{code},Thủ tục {},{},{cname},{},2021-04-{received:02},2021-04-{day:02}\n",
            i % 7,
            DEPTS[dept].0,
            officers[officer]
        ));
        m.returned.push(Returned {
            code: code.clone(),
            counter,
            officer,
            day,
        });
        let paper_p = if day >= 26 { late_paper } else { p[0] };
        if rng.chance(paper_p) {
            let mut t = TRating {
                channel: 0,
                code: Some(code.clone()),
                dept,
                answers: full_answers(&mut rng),
                unresolved: vec![],
                second: false,
                rated_day: None,
            };
            if rng.chance(0.04) {
                t.unresolved.push(ROWS[rng.below(10) as usize]);
            }
            page1 += 1;
            m.paper1.push(final_record(&t, "p1", page1));
            m.ratings.push(t.clone());
            if rng.chance(0.02) {
                // The same dossier on a second, different paper form.
                let mut u = t.clone();
                u.second = true;
                u.unresolved.clear();
                u.answers.insert(
                    "overall",
                    Some(if t.answers["overall"] == Some('c') {
                        'a'
                    } else {
                        'c'
                    }),
                );
                page2 += 1;
                m.paper2.push(final_record(&u, "p2", page2));
                m.ratings.push(u);
            }
        }
        for channel in [1, 2] {
            if rng.chance(p[channel]) {
                let answers = if channel == 1 {
                    [("overall", answer(&mut rng, 0.0))].into()
                } else {
                    full_answers(&mut rng)
                };
                let t = TRating {
                    channel,
                    code: Some(code.clone()),
                    dept,
                    answers,
                    unresolved: vec![],
                    second: false,
                    rated_day: Some(day),
                };
                push_csv(&mut m, &mut csv_id, &t, day, &mut rng);
                m.ratings.push(t);
            }
        }
    }
    // Paper forms whose dossier field is empty, and paper ratings of dossiers not in the returned file.
    for k in 0..60 {
        let t = TRating {
            channel: 0,
            code: (k % 3 == 0).then(|| format!("000.00.17.H48-210415-9{k:04}")),
            dept: k % 2,
            answers: full_answers(&mut rng),
            unresolved: vec![],
            second: false,
            rated_day: None,
        };
        page1 += 1;
        m.paper1.push(final_record(&t, "p1", page1));
        m.ratings.push(t);
    }
    // Electronic ratings without a dossier code, and bad rows.
    for k in 0..40 {
        let t = TRating {
            channel: 1 + k % 2,
            code: None,
            dept: k % 2,
            answers: [("overall", answer(&mut rng, 0.0))].into(),
            unresolved: vec![],
            second: false,
            rated_day: Some(1 + (k as u32 % 30)),
        };
        push_csv(&mut m, &mut csv_id, &t, 1 + (k as u32 % 30), &mut rng);
        m.ratings.push(t);
    }
    for bad in [
        "9001;000.00.17.H48-210401-00001;Ki-ốt tại quầy;31/04/2021 08:00;Sở Giao thông vận tải;3;;;;;;;;;",
        "9002;000.00.17.H48-210401-00001;Fax;01/04/2021 08:00;Sở Giao thông vận tải;3;;;;;;;;;",
        "9003;000.00.17.H48-210401-00001;Cổng DVC;01/04/2021 08:00;Sở Giao thông vận tải;tuyệt vời;;;;;;;;;",
        "9004;000.00.17.H48-210401-00001;Cổng DVC;01/04/2021 08:00;Sở Giao thông vận tải;;;;;;;;;;",
    ] {
        m.csv.push_str(bad);
        m.csv.push('\n');
    }
    m
}

/// The figures of one group, computed here from the generated data.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expect {
    forms: u64,
    unreviewed: u64,
    returned: u64,
    rated: u64,
    by_channel: [u64; 3],
    scored: u64,
    score_sum: i64,
    sat_answered: u64,
    satisfied: u64,
}

fn check(label: &str, got: &phieu::report::Stats, want: &Expect) {
    let g = Expect {
        forms: got.forms,
        unreviewed: got.unreviewed,
        returned: got.returned,
        rated: got.rated_returned,
        by_channel: got.rated_by_channel,
        scored: got.scored,
        score_sum: got.score_sum,
        sat_answered: got.satisfaction_answered,
        satisfied: got.satisfied,
    };
    assert_eq!(&g, want, "{label}");
}

/// The expected figures: one counted rating per dossier (a person's choice, else the first paper form, else the
/// tablet, else the website), ratings without a code at department level; per department, counter, officer and
/// ISO week of April 2021.
fn expected(
    m: &Month,
    reviewed_only: bool,
) -> (BTreeMap<(u8, String), Expect>, usize, BTreeSet<String>) {
    let week = |day: u32| format!("2021-W{}", (day + 2) / 7 + 13);
    let by_code: BTreeMap<&str, &Returned> =
        m.returned.iter().map(|r| (r.code.as_str(), r)).collect();
    let usable = |t: &TRating| !reviewed_only || t.unresolved.is_empty();
    let mut per_code: BTreeMap<&str, Vec<&TRating>> = BTreeMap::new();
    let mut counted: Vec<&TRating> = vec![];
    for t in &m.ratings {
        match &t.code {
            Some(c) if usable(t) => per_code.entry(c).or_default().push(t),
            None if usable(t) => counted.push(t),
            _ => {}
        }
    }
    let mut channels: BTreeMap<&str, [bool; 3]> = BTreeMap::new();
    for (code, ts) in &per_code {
        let live: Vec<&&TRating> = ts.iter().filter(|t| !t.second).collect();
        let best = live.iter().min_by_key(|t| t.channel);
        if let Some(b) = best {
            counted.push(b);
            let mut ch = [false; 3];
            for t in &live {
                ch[t.channel] = true;
            }
            channels.insert(code, ch);
        }
    }
    let mut groups: BTreeMap<(u8, String), Expect> = BTreeMap::new();
    let keys = |dept: usize, who: Option<(usize, usize)>, day: Option<u32>| {
        let mut k = vec![];
        for p in [String::new()].into_iter().chain(day.map(week)) {
            k.push((0u8, format!("|{p}")));
            k.push((1, format!("{}|{p}", DEPTS[dept].0)));
            if let Some((c, o)) = who {
                k.push((2, format!("{}|{p}", COUNTERS[c].1)));
                k.push((3, format!("{}|{p}", COUNTERS[c].2[o])));
            }
        }
        k
    };
    for t in &counted {
        let ret = t.code.as_deref().and_then(|c| by_code.get(c));
        let who = ret.map(|r| (r.counter, r.officer));
        // The returned day; else the day in the dossier code (`-2104DD-`); else the electronic rating's own day.
        let code_day = t
            .code
            .as_deref()
            .map(|c| c.split('-').nth(1).unwrap()[4..6].parse::<u32>().unwrap());
        let day = ret.map(|r| r.day).or(code_day).or(t.rated_day);
        let open = |r: &str| t.unresolved.contains(&r);
        for k in keys(t.dept, who, day) {
            let e = groups.entry(k).or_default();
            e.forms += 1;
            e.unreviewed += u64::from(!t.unresolved.is_empty());
            let crit: Option<i64> = ROWS[..9]
                .iter()
                .map(|r| {
                    if open(r) {
                        None
                    } else {
                        t.answers.get(r).copied().flatten().map(|c| match c {
                            'a' => 2,
                            'b' => 1,
                            _ => 0,
                        })
                    }
                })
                .sum();
            if let Some(s) = crit {
                e.scored += 1;
                e.score_sum += s;
            }
            if let Some(Some(o)) = t.answers.get("overall").filter(|_| !open("overall")) {
                e.sat_answered += 1;
                e.satisfied += u64::from(*o != 'c');
            }
        }
    }
    let mut follow = BTreeSet::new();
    for r in &m.returned {
        let (dept, _, _, _, _) = COUNTERS[r.counter];
        let ch = channels.get(r.code.as_str());
        if !m
            .ratings
            .iter()
            .any(|t| t.code.as_deref() == Some(r.code.as_str()))
        {
            follow.insert(r.code.clone());
        }
        for k in keys(dept, Some((r.counter, r.officer)), Some(r.day)) {
            let e = groups.entry(k).or_default();
            e.returned += 1;
            if let Some(ch) = ch {
                e.rated += 1;
                for (n, &rated) in ch.iter().enumerate() {
                    e.by_channel[n] += u64::from(rated);
                }
            }
        }
    }
    let seconds = m.ratings.iter().filter(|t| t.second).count();
    (groups, seconds, follow)
}

fn check_report(m: &Month, r: &report::Report, reviewed_only: bool) {
    let (want, seconds, follow) = expected(m, reviewed_only);
    let mut checked = 0;
    for ((level, key), e) in &want {
        let (name, period) = key.split_once('|').unwrap();
        let got = match level {
            0 => r.find(Level::Total, "", "", "", period),
            1 => r.find(Level::Department, name, "", "", period),
            2 => r
                .rows
                .iter()
                .find(|x| x.level == Level::Counter && x.counter == name && x.period == period)
                .map(|x| &x.stats),
            _ => r
                .rows
                .iter()
                .find(|x| x.level == Level::Officer && x.officer == name && x.period == period)
                .map(|x| &x.stats),
        };
        let got = got.unwrap_or_else(|| panic!("no report row for {level} {key}"));
        check(
            &format!("level {level} {key} (reviewed only: {reviewed_only})"),
            got,
            e,
        );
        checked += 1;
    }
    assert!(checked > 60, "{checked} groups checked");
    let got_follow: BTreeSet<String> = r.followup.iter().map(|d| d.code.clone()).collect();
    assert_eq!(got_follow, follow, "follow-up list");
    let same = r.conflicts.iter().filter(|c| c.same_channel).count();
    assert_eq!(same, seconds, "paper conflicts");
    // Counter 3's paper rating fell in the last week: its coverage drop is flagged.
    assert!(
        r.drops
            .iter()
            .any(|d| d.counter == "Quầy 3" && d.officer.is_empty()),
        "{:?}",
        r.drops
    );
    // Counter 2 is below 50% coverage over the month; Quầy 4 is not.
    let low: Vec<&str> = r
        .below_threshold()
        .iter()
        .filter(|x| x.officer.is_empty())
        .map(|x| x.counter.as_str())
        .collect();
    assert!(
        low.contains(&"Quầy 2") && !low.contains(&"Quầy 4"),
        "{low:?}"
    );
}

fn run_month(store: &mut dyn Store, url: &str, tag: &str) {
    let m = generate(10_000);
    let dir = match std::env::var("PHIEU_MONTH_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => std::env::temp_dir().join(format!("phieu-month-{}-{tag}", std::process::id())),
    };
    std::fs::create_dir_all(dir.join("p1")).unwrap();
    std::fs::create_dir_all(dir.join("p2")).unwrap();
    let write_jsonl = |p: &Path, recs: &[FinalRecord]| {
        let text: String = recs
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        std::fs::write(p, text).unwrap();
    };
    write_jsonl(&dir.join("p1/final.jsonl"), &m.paper1);
    write_jsonl(&dir.join("p2/final.jsonl"), &m.paper2);
    std::fs::write(dir.join("electronic.csv"), &m.csv).unwrap();
    std::fs::write(dir.join("map.json"), &m.map).unwrap();
    std::fs::write(dir.join("returned.csv"), &m.returned_csv).unwrap();

    let t0 = Instant::now();
    let opts = db::ImportOptions {
        allow_unreviewed: true,
    };
    db::import_path(store, &dir.join("p1"), &Template::builtins(), &opts).unwrap();
    db::import_path(store, &dir.join("p2"), &Template::builtins(), &opts).unwrap();
    let t_paper = t0.elapsed();
    let import_csv = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_phieu"))
            .args(["import", "--db", url, "--map"])
            .arg(dir.join("map.json"))
            .arg(dir.join("electronic.csv"))
            .output()
            .unwrap()
    };
    let t1 = Instant::now();
    let out = import_csv();
    let t_csv = t1.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    // Four bad rows, each named by its line; the rest is imported (exit 3).
    assert_eq!(out.status.code(), Some(3), "{err}");
    let bad_lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("electronic.csv: line"))
        .collect();
    assert_eq!(bad_lines.len(), 4, "{err}");
    let csv_lines = m.csv.lines().count();
    assert!(
        err.contains(&format!(
            "electronic.csv: line {}: time `31/04/2021 08:00`",
            csv_lines - 3
        )),
        "{err}"
    );

    let ds = phieu::store::ratings::load_dataset(store).unwrap();
    let imported = m.ratings.len();
    assert_eq!(
        ds.ratings.len(),
        imported,
        "every rating is stored, none dropped"
    );
    let returned = phieu::returned::read_returned(
        &dir.join("returned.csv"),
        &m.returned_csv,
        &phieu::returned::REPORT_COLUMNS,
    )
    .unwrap();
    let t2 = Instant::now();
    let opts = ReportOptions {
        period: PeriodKind::Auto,
        ..Default::default()
    };
    let r = report::build(&ds, &[], Some(&returned), &opts);
    let t_report = t2.elapsed();
    assert_eq!(r.period_kind, PeriodKind::Week, "a month is shown by week");
    assert_eq!(
        r.periods,
        ["2021-W13", "2021-W14", "2021-W15", "2021-W16", "2021-W17"]
    );
    check_report(&m, &r, false);
    let r2 = report::build(
        &ds,
        &[],
        Some(&returned),
        &ReportOptions {
            reviewed_only: true,
            ..opts.clone()
        },
    );
    check_report(&m, &r2, true);
    assert!(r2.excluded_unreviewed > 0);
    let html = report::to_html(&r);
    assert!(html.contains("Tuần 17/2021") && html.contains("<svg"));
    let xlsx = report::to_xlsx(&r).unwrap();
    assert!(xlsx.starts_with(b"PK"));
    eprintln!(
        "month {tag}: {} paper records, {} CSV rows: paper import {:.2?}, CSV import (binary) {:.2?}, report \
         {:.2?}",
        m.paper1.len() + m.paper2.len(),
        csv_lines - 1,
        t_paper,
        t_csv,
        t_report
    );

    // Exactly once: importing every file again changes nothing.
    let before = db::dump(store).unwrap();
    let again = db::import_path(
        store,
        &dir.join("p1"),
        &Template::builtins(),
        &db::ImportOptions {
            allow_unreviewed: true,
        },
    )
    .unwrap();
    assert!(again.iter().all(|o| !o.committed && o.new == 0));
    db::import_path(
        store,
        &dir.join("p2"),
        &Template::builtins(),
        &db::ImportOptions {
            allow_unreviewed: true,
        },
    )
    .unwrap();
    let out = import_csv();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" 0 new"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        db::dump(store).unwrap(),
        before,
        "a re-import changed the database"
    );

    // A person keeps the second paper form of one conflicting dossier: it counts from now on.
    let c = r.conflicts.iter().find(|c| c.same_channel).unwrap();
    let second = c.ratings.iter().find(|x| !x.counted).unwrap().id.clone();
    phieu::store::ratings::resolve(store, &c.dossier_code, &second, "test").unwrap();
    let ds = phieu::store::ratings::load_dataset(store).unwrap();
    let r3 = report::build(&ds, &[], Some(&returned), &opts);
    let c3 = r3
        .conflicts
        .iter()
        .find(|x| x.dossier_code == c.dossier_code)
        .unwrap();
    assert_eq!(c3.resolved.as_deref(), Some(second.as_str()));
    assert_eq!(c3.ratings[0].id, second);
    assert!(c3.ratings[0].counted);
    assert_eq!(r3.open_conflicts(), r.open_conflicts() - 1);
    if std::env::var("PHIEU_MONTH_DIR").is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_month_of_ten_thousand_dossiers_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("phieu-month-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("month.db");
    std::fs::remove_file(&path).ok();
    let url = format!("sqlite:{}", path.display());
    let mut store = db::open(&url).unwrap();
    run_month(store.as_mut(), &url, "sqlite");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_month_of_ten_thousand_dossiers_on_postgres() {
    let Ok(url) = std::env::var("PHIEU_PG_URL") else {
        if std::env::var("PHIEU_REQUIRE_PG").as_deref() == Ok("1") {
            panic!("PHIEU_REQUIRE_PG=1 but PHIEU_PG_URL is not set");
        }
        eprintln!("skipping the PostgreSQL month: PHIEU_PG_URL is not set");
        return;
    };
    // tests/import.rs uses the same database; this test takes its own schema so both can run at once.
    let mut admin = db::open(&url).unwrap();
    admin
        .transaction(&mut |tx| {
            tx.execute_batch(
                "DROP SCHEMA IF EXISTS phieu_month CASCADE; CREATE SCHEMA phieu_month;",
            )?;
            Ok(true)
        })
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{sep}options=-csearch_path%3Dphieu_month");
    let mut store = db::open(&url).unwrap();
    run_month(store.as_mut(), &url, "postgres");
}
