//! Every stored rating across channels, as the report and the conflict listing read them: paper forms with a
//! dossier code (`ratings`, and `rating_conflicts` kept aside), tablet and website ratings and paper forms
//! without a code (`channel_ratings`), and the people's choices of which rating of a dossier counts
//! (`rating_resolutions`). One rule, [`Dataset::counted`], picks the one rating per dossier that is counted.

use crate::store::channel::Channel;
use crate::store::db::{DbError, Store, Val};
use std::collections::BTreeMap;

/// One stored rating of any channel.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRating {
    /// What `phieu import --conflicts` lists and `--keep` takes: `paper:HASH12` for a paper form with a dossier
    /// code, the natural key of any other rating (`tablet:id:123`, `web:h:…`, `paper:gtvt:PAGEHASH`).
    pub id: String,
    /// Where it was given.
    pub channel: Channel,
    /// The dossier; `None` for a rating without a code (counted at department level).
    pub dossier_code: Option<String>,
    /// The department the electronic export named, or a code-less paper form's department.
    pub department: Option<String>,
    /// Template id of its form.
    pub template: String,
    /// Form version.
    pub form_version: u32,
    /// Day it was given (`YYYY-MM-DD`), known for electronic ratings.
    pub rated_on: Option<String>,
    /// Row id → option id (`None` = blank).
    pub answers: BTreeMap<String, Option<String>>,
    /// The score when every criterion is answered.
    pub score: Option<i64>,
    /// Keys of the review items still open on it (`c3`, `dossier_code`, `page`): its values there are the
    /// machine's proposals, imported with `--allow-unreviewed`.
    pub unresolved: Vec<String>,
    /// A second, different rating kept aside (never counted unless a person keeps it).
    pub aside: bool,
    /// Where it came from, for people: `batch B, FILE page N` or `FILE line N`.
    pub source: String,
}

impl StoredRating {
    /// Whether any of its values still waits for a person.
    pub fn unreviewed(&self) -> bool {
        !self.unresolved.is_empty()
    }
}

/// Everything the report needs from the database.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Every rating, aside ones included.
    pub ratings: Vec<StoredRating>,
    /// Dossier code → the id of the rating a person chose to count.
    pub resolutions: BTreeMap<String, String>,
}

/// A dossier with disagreeing ratings.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The dossier (or `(no code) FILE page N` for two readings of a code-less page).
    pub dossier_code: String,
    /// Indexes into [`Dataset::ratings`], the counted one first.
    pub ratings: Vec<usize>,
    /// Two paper forms (or two readings of one page): a person must choose; otherwise ratings of different
    /// channels that disagree on a row both answered (listed; the paper form counts unless a person chooses).
    pub same_channel: bool,
    /// The rating a person chose, if any.
    pub resolved: Option<String>,
}

fn text(v: &Val) -> String {
    v.as_text().unwrap_or("").to_string()
}

fn unresolved_keys(v: &Val) -> Vec<String> {
    v.as_text()
        .and_then(|t| serde_json::from_str::<Vec<crate::store::final_record::ItemId>>(t).ok())
        .map(|items| items.into_iter().map(|i| i.key).collect())
        .unwrap_or_default()
}

/// Reads every rating and resolution.
pub fn load_dataset(store: &mut dyn Store) -> Result<Dataset, DbError> {
    let mut ds = Dataset::default();
    store.transaction(&mut |tx| {
        let mut answers: BTreeMap<(String, String, String), BTreeMap<String, Option<String>>> =
            BTreeMap::new();
        for a in tx.query(
            "SELECT template, dossier_code, row_id, option_id FROM rating_answers",
            &[],
        )? {
            answers
                .entry((text(&a[0]), text(&a[1]), String::new()))
                .or_default()
                .insert(text(&a[2]), a[3].as_text().map(String::from));
        }
        for a in tx.query(
            "SELECT template, dossier_code, content_hash, row_id, option_id FROM conflict_answers",
            &[],
        )? {
            answers
                .entry((text(&a[0]), text(&a[1]), text(&a[2])))
                .or_default()
                .insert(text(&a[3]), a[4].as_text().map(String::from));
        }
        for (table, aside) in [("ratings", false), ("rating_conflicts", true)] {
            let rows = tx.query(
                &format!(
                    "SELECT template, dossier_code, form_version, score, unresolved, content_hash, batch, \
                     source_path, page FROM {table} ORDER BY template, dossier_code, content_hash"
                ),
                &[],
            )?;
            for r in rows {
                let hash = text(&r[5]);
                let key = (
                    text(&r[0]),
                    text(&r[1]),
                    if aside { hash.clone() } else { String::new() },
                );
                ds.ratings.push(StoredRating {
                    id: format!("paper:{}", &hash[..12.min(hash.len())]),
                    channel: Channel::Paper,
                    dossier_code: Some(text(&r[1])),
                    department: None,
                    template: text(&r[0]),
                    form_version: r[2].as_int().unwrap_or(1) as u32,
                    rated_on: None,
                    answers: answers.remove(&key).unwrap_or_default(),
                    score: r[3].as_int(),
                    unresolved: unresolved_keys(&r[4]),
                    aside,
                    source: format!(
                        "batch {}, {} page {}",
                        text(&r[6]),
                        text(&r[7]),
                        r[8].as_int().unwrap_or(0)
                    ),
                });
            }
        }
        for r in tx.query(
            "SELECT rating_key, channel, dossier_code, department, template, form_version, rated_at, answers, \
             score, unresolved, aside, source_path, source_line, batch FROM channel_ratings ORDER BY rating_key",
            &[],
        )? {
            let channel = Channel::parse(&text(&r[1])).unwrap_or(Channel::Paper);
            let source = if channel == Channel::Paper {
                format!("batch {}, {} page {}", text(&r[13]), text(&r[11]), r[12].as_int().unwrap_or(0))
            } else {
                format!("{} line {}", text(&r[11]), r[12].as_int().unwrap_or(0))
            };
            ds.ratings.push(StoredRating {
                id: text(&r[0]),
                channel,
                dossier_code: r[2].as_text().map(String::from),
                department: r[3].as_text().map(String::from),
                template: text(&r[4]),
                form_version: r[5].as_int().unwrap_or(1) as u32,
                rated_on: r[6].as_text().map(|t| t.chars().take(10).collect()),
                answers: serde_json::from_str(r[7].as_text().unwrap_or("{}")).unwrap_or_default(),
                score: r[8].as_int(),
                unresolved: unresolved_keys(&r[9]),
                aside: r[10].as_int() == Some(1),
                source,
            });
        }
        for r in tx.query("SELECT dossier_code, kept FROM rating_resolutions", &[])? {
            ds.resolutions.insert(text(&r[0]), text(&r[1]));
        }
        Ok(false)
    })?;
    Ok(ds)
}

/// Whether two ratings give different options on a row both answered.
pub fn disagree(a: &StoredRating, b: &StoredRating) -> bool {
    a.answers
        .iter()
        .any(|(k, v)| v.is_some() && b.answers.get(k).is_some_and(|w| w.is_some() && w != v))
}

impl Dataset {
    /// Indexes of the ratings of each dossier code.
    pub fn by_dossier(&self) -> BTreeMap<&str, Vec<usize>> {
        let mut m: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in self.ratings.iter().enumerate() {
            if let Some(c) = &r.dossier_code {
                m.entry(c.as_str()).or_default().push(i);
            }
        }
        m
    }

    /// The rating counted for a dossier among `candidates` (indexes): the one a person kept; else its paper form
    /// (signed by the citizen and checked in review; the first one imported when two disagree); else the earliest
    /// electronic rating. Ratings kept aside count only when a person keeps them.
    pub fn counted(&self, dossier: &str, candidates: &[usize]) -> Option<usize> {
        if let Some(kept) = self.resolutions.get(dossier) {
            if let Some(&i) = candidates.iter().find(|&&i| &self.ratings[i].id == kept) {
                return Some(i);
            }
        }
        let live = candidates
            .iter()
            .copied()
            .filter(|&i| !self.ratings[i].aside);
        live.min_by(|&a, &b| {
            let (ra, rb) = (&self.ratings[a], &self.ratings[b]);
            (ra.channel, &ra.rated_on, &ra.id).cmp(&(rb.channel, &rb.rated_on, &rb.id))
        })
    }

    /// Dossiers whose ratings disagree: paper conflicts kept aside (a person must choose) and ratings of
    /// different channels that disagree, each with the counted rating first.
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = vec![];
        for (code, idx) in self.by_dossier() {
            if idx.len() < 2 {
                continue;
            }
            let same = idx.iter().any(|&i| self.ratings[i].aside);
            let cross = idx.iter().enumerate().any(|(n, &i)| {
                idx[n + 1..].iter().any(|&j| {
                    self.ratings[i].channel != self.ratings[j].channel
                        && disagree(&self.ratings[i], &self.ratings[j])
                })
            });
            if !same && !cross {
                continue;
            }
            let counted = self.counted(code, &idx);
            let mut ratings: Vec<usize> = counted.into_iter().collect();
            ratings.extend(idx.iter().filter(|&&i| Some(i) != counted));
            out.push(Conflict {
                dossier_code: code.to_string(),
                ratings,
                same_channel: same,
                resolved: self.resolutions.get(code).cloned(),
            });
        }
        // Two readings of one code-less page.
        let mut pages: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in self.ratings.iter().enumerate() {
            if r.dossier_code.is_none() && r.channel == Channel::Paper {
                let base = r.id.split('~').next().unwrap_or(&r.id).to_string();
                pages.entry(base).or_default().push(i);
            }
        }
        for idx in pages.into_values().filter(|v| v.len() > 1) {
            let mut idx = idx;
            idx.sort_by_key(|&i| self.ratings[i].aside);
            out.push(Conflict {
                dossier_code: format!("(no code) {}", self.ratings[idx[0]].source),
                ratings: idx,
                same_channel: true,
                resolved: None,
            });
        }
        out
    }

    /// Conflicts that still need a person: two paper ratings of one dossier, nobody chose.
    pub fn open_conflicts(&self) -> usize {
        self.conflicts()
            .iter()
            .filter(|c| c.same_channel && c.resolved.is_none())
            .count()
    }
}

/// One line per rating of a conflict: id, channel, answers, source.
pub fn describe(r: &StoredRating) -> String {
    let answers: Vec<String> = r
        .answers
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("-")))
        .collect();
    format!(
        "{} [{}{}] {} ({})",
        r.id,
        r.channel.as_str(),
        if r.aside { ", kept aside" } else { "" },
        answers.join(" "),
        r.source
    )
}

/// Errors of `--resolve`.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// No rating of this dossier has that id.
    #[error("dossier {dossier} has no rating `{keep}`; its ratings are: {ids}")]
    NoSuchRating {
        /// The dossier.
        dossier: String,
        /// The id asked for.
        keep: String,
        /// The ids it has.
        ids: String,
    },
}

/// Records that `keep` is the rating of `dossier` that counts (the last choice wins; every rating stays stored).
pub fn resolve(
    store: &mut dyn Store,
    dossier: &str,
    keep: &str,
    operator: &str,
) -> Result<(), ResolveError> {
    let ds = load_dataset(store)?;
    let ids: Vec<&str> = ds
        .ratings
        .iter()
        .filter(|r| r.dossier_code.as_deref() == Some(dossier))
        .map(|r| r.id.as_str())
        .collect();
    if !ids.contains(&keep) {
        return Err(ResolveError::NoSuchRating {
            dossier: dossier.into(),
            keep: keep.into(),
            ids: if ids.is_empty() {
                "none".into()
            } else {
                ids.join(", ")
            },
        });
    }
    store.transaction(&mut |tx| {
        tx.execute(
            "INSERT INTO rating_resolutions (dossier_code, kept, operator, decided_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (dossier_code) DO UPDATE SET kept = excluded.kept, operator = excluded.operator, \
             decided_at = excluded.decided_at",
            &[
                Val::Text(dossier.into()),
                Val::Text(keep.into()),
                Val::Text(operator.into()),
                Val::Text(crate::util::now_rfc3339()),
            ],
        )?;
        Ok(true)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(id: &str, channel: Channel, overall: &str, aside: bool) -> StoredRating {
        StoredRating {
            id: id.into(),
            channel,
            dossier_code: Some("D1".into()),
            department: None,
            template: "gtvt".into(),
            form_version: 1,
            rated_on: None,
            answers: [("overall".to_string(), Some(overall.to_string()))].into(),
            score: None,
            unresolved: vec![],
            aside,
            source: String::new(),
        }
    }

    #[test]
    fn one_counted_rating_per_dossier_and_its_conflicts() {
        let mut ds = Dataset {
            ratings: vec![
                rating("web:1", Channel::Web, "a", false),
                rating("tablet:1", Channel::Tablet, "a", false),
                rating("paper:1", Channel::Paper, "c", false),
                rating("paper:2", Channel::Paper, "b", true),
            ],
            ..Default::default()
        };
        let all = [0, 1, 2, 3];
        assert_eq!(ds.counted("D1", &all), Some(2), "the paper form counts");
        assert_eq!(ds.counted("D1", &[0, 1]), Some(1), "then the tablet");
        assert_eq!(
            ds.counted("D1", &[3]),
            None,
            "a rating kept aside never counts by itself"
        );
        let c = ds.conflicts();
        assert_eq!(c.len(), 1);
        assert!(c[0].same_channel && c[0].resolved.is_none());
        assert_eq!(c[0].ratings[0], 2);
        assert_eq!(ds.open_conflicts(), 1);
        ds.resolutions.insert("D1".into(), "paper:2".into());
        assert_eq!(ds.counted("D1", &all), Some(3), "a person's choice counts");
        assert_eq!(ds.open_conflicts(), 0);
        // Channels that agree on every row both answered are no conflict.
        let agree = Dataset {
            ratings: vec![
                rating("tablet:1", Channel::Tablet, "a", false),
                rating("paper:1", Channel::Paper, "a", false),
            ],
            ..Default::default()
        };
        assert!(agree.conflicts().is_empty());
    }
}
