//! Electronic ratings (tablet at the counter, the center's website) from the one-stop system's CSV export: the
//! column mapping file (`phieu-channel-map/1`), the parse with a line-numbered error per bad row (the other rows
//! still come in), and the typed [`ChannelRating`] the database stores, keyed so that a re-import changes nothing.

use crate::forms::template::Template;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Schema tag of a mapping file.
pub const MAP_SCHEMA: &str = "phieu-channel-map/1";

/// Where a rating was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A scanned paper form (`phieu scan` … `phieu export`).
    Paper,
    /// The tablet at the counter.
    Tablet,
    /// The center's website.
    Web,
}

impl Channel {
    /// Every channel, in report order.
    pub const ALL: [Channel; 3] = [Channel::Paper, Channel::Tablet, Channel::Web];

    /// `paper`, `tablet` or `web` (the stored value).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Paper => "paper",
            Channel::Tablet => "tablet",
            Channel::Web => "web",
        }
    }

    /// The stored value back.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Index into per-channel arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Errors reading the export or the mapping as a whole (a bad row is a [`RowError`] instead).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The file could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        reason: String,
    },
    /// The mapping file is malformed.
    #[error("{path}: not a column mapping ({MAP_SCHEMA}): {reason}")]
    Map {
        /// The mapping file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The header row lacks a needed column, or the file is another kind of file.
    #[error("{path}: line 1: {reason}")]
    Header {
        /// The export.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One bad row of the export: it is not imported, the others are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: line {line}: {reason}")]
pub struct RowError {
    /// The export.
    pub path: PathBuf,
    /// 1-based line of the row in the file.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

/// How the export's columns and values map onto ours (`--map FILE.json`). Every key is optional: a column
/// that is not mapped is looked for under our own name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelMap {
    /// Always [`MAP_SCHEMA`].
    #[serde(default)]
    pub schema: String,
    /// Our column name → the export's header: `id`, `dossier_code`, `channel`, `rated_at`, `department`, `form`,
    /// and the form's row ids (`c1`…`c9`, `overall`).
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// The export's channel values → `tablet` or `web` (added to the built-in names).
    #[serde(default)]
    pub channels: BTreeMap<String, String>,
    /// The export's answer values → option ids (`Rất hài lòng` → `a`), added to the option ids and labels.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// The form (template id) of rows without a `form` column value; by default the form whose department
    /// matches the row's `department`, else the only built-in form that fits.
    #[serde(default)]
    pub form: Option<String>,
    /// The channel of every row when the export has no channel column.
    #[serde(default)]
    pub channel: Option<String>,
    /// Field separator (one character); by default `,`, or `;` / tab when the header row uses it.
    #[serde(default)]
    pub delimiter: Option<char>,
}

impl ChannelMap {
    /// Reads and checks a mapping file.
    pub fn load(path: &Path) -> Result<ChannelMap, ChannelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ChannelError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let m: ChannelMap = serde_json::from_str(&text).map_err(|e| ChannelError::Map {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if m.schema != MAP_SCHEMA {
            return Err(ChannelError::Map {
                path: path.to_path_buf(),
                reason: format!("`schema` is `{}`, expected `{MAP_SCHEMA}`", m.schema),
            });
        }
        for (k, v) in &m.channels {
            if !matches!(v.as_str(), "tablet" | "web") {
                return Err(ChannelError::Map {
                    path: path.to_path_buf(),
                    reason: format!("channel `{k}` maps to `{v}`; use `tablet` or `web`"),
                });
            }
        }
        Ok(m)
    }
}

/// One electronic rating, checked against its form.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRating {
    /// The natural key: `CHANNEL:id:ID` when the export has a rating id, else `CHANNEL:h:HASH` of the row's
    /// content (dossier, time, form, answers), so the same row imported again is the same rating.
    pub key: String,
    /// Tablet or web.
    pub channel: Channel,
    /// The dossier code; `None` when the row has none (counted at department level).
    pub dossier_code: Option<String>,
    /// The department the export names, if any.
    pub department: Option<String>,
    /// Template id of the form the answers belong to.
    pub template: String,
    /// Its version.
    pub form_version: u32,
    /// When it was given: `YYYY-MM-DD` or `YYYY-MM-DD HH:MM[:SS]`.
    pub rated_at: String,
    /// Row id → option id, for the rows the row answers (an empty cell is a question not answered or not asked).
    pub answers: BTreeMap<String, Option<String>>,
    /// The form's score when every criterion is answered.
    pub score: Option<i64>,
    /// SHA-256 of the content (what makes two rows with one key the same rating).
    pub content_hash: String,
    /// 1-based line in the export.
    pub line: u64,
}

/// Names a tablet or website rating by, besides `tablet` and `web`.
const CHANNEL_NAMES: [(&str, Channel); 10] = [
    ("tablet", Channel::Tablet),
    ("máy tính bảng", Channel::Tablet),
    ("kiosk", Channel::Tablet),
    ("tại quầy", Channel::Tablet),
    ("counter", Channel::Tablet),
    ("web", Channel::Web),
    ("website", Channel::Web),
    ("trực tuyến", Channel::Web),
    ("online", Channel::Web),
    ("cổng dịch vụ công", Channel::Web),
];

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// `YYYY-MM-DD`, `YYYY-MM-DD[ T]HH:MM[:SS]`, `DD/MM/YYYY[ HH:MM[:SS]]` → `YYYY-MM-DD[ HH:MM[:SS]]`.
pub fn parse_time(s: &str) -> Option<String> {
    let s = s.trim();
    let (day, time) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let iso = if day.contains('/') {
        let p: Vec<&str> = day.split('/').collect();
        if p.len() != 3 || p[2].len() != 4 {
            return None;
        }
        format!("{}-{:0>2}-{:0>2}", p[2], p[1], p[0])
    } else {
        day.to_string()
    };
    if !crate::util::is_iso_day(&iso) {
        return None;
    }
    let time = time.trim_end_matches('Z');
    if time.is_empty() {
        return Some(iso);
    }
    let t: Vec<&str> = time.split(':').collect();
    let ok = (2..=3).contains(&t.len())
        && t.iter()
            .all(|x| x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()))
        && t[0] < "24"
        && t[1] < "60"
        && t.get(2).is_none_or(|s| *s < "61");
    ok.then(|| format!("{iso} {time}"))
}

/// What the export holds: the ratings that parsed, and one error per row that did not.
#[derive(Debug, Clone, Default)]
pub struct ChannelFile {
    /// Good rows, in file order (a row repeating an earlier row's key and content is left out).
    pub ratings: Vec<ChannelRating>,
    /// Bad rows.
    pub errors: Vec<RowError>,
}

/// Reads the one-stop system's export of electronic ratings. `forms` are the forms the answers may belong to.
pub fn read_channel_csv(
    path: &Path,
    bytes: &[u8],
    map: &ChannelMap,
    forms: &[Template],
) -> Result<ChannelFile, ChannelError> {
    let header_err = |reason: String| ChannelError::Header {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first_text = String::from_utf8_lossy(first);
    let delimiter = map.delimiter.unwrap_or_else(|| {
        if first_text.contains('\t') && !first_text.contains(',') {
            '\t'
        } else if first_text.contains(';') && !first_text.contains(',') {
            ';'
        } else {
            ','
        }
    });
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter as u8)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| header_err(e.to_string()))?
        .iter()
        .map(norm)
        .collect();
    if header.iter().any(|h| h == "schema" || h.starts_with("{")) {
        return Err(header_err(
            "this is a JSON file, not the one-stop system's CSV export of ratings".into(),
        ));
    }
    if header.iter().any(|h| h.ends_with("_by")) && header.iter().any(|h| h == "batch") {
        return Err(header_err(
            "this is final.csv, the spreadsheet copy of final records; `phieu import` reads the JSON lines: \
             run `phieu export DIR -o final.jsonl` and import final.jsonl"
                .into(),
        ));
    }
    let col = |ours: &str| -> Option<usize> {
        let name = map
            .columns
            .get(ours)
            .map(|s| norm(s))
            .unwrap_or_else(|| ours.to_string());
        header.iter().position(|h| *h == name)
    };
    let code_col = col("dossier_code");
    let channel_col = col("channel");
    let time_col = col("rated_at").ok_or_else(|| {
        header_err(format!(
            "no `{}` column (the time of the rating); map the export's column in the mapping file under \
             columns.rated_at",
            map.columns
                .get("rated_at")
                .map_or("rated_at", String::as_str)
        ))
    })?;
    if code_col.is_none() {
        // Every rating needs a dossier column, even if some rows leave it empty.
        return Err(header_err(
            "no `dossier_code` column; map the export's column in the mapping file under columns.dossier_code"
                .into(),
        ));
    }
    if channel_col.is_none() && map.channel.is_none() {
        return Err(header_err(
            "no `channel` column; map it under columns.channel, or set `channel` in the mapping file".into(),
        ));
    }
    let dept_col = col("department");
    let form_col = col("form");
    let id_col = col("id");
    let mut row_ids: Vec<String> = vec![];
    for t in forms {
        for r in &t.rows {
            if !row_ids.contains(&r.id) && col(&r.id).is_some() {
                row_ids.push(r.id.clone());
            }
        }
    }
    if row_ids.is_empty() {
        return Err(header_err(
            "no answer column (c1…c9 or overall); map the export's columns under columns.ROW_ID"
                .into(),
        ));
    }
    let values: BTreeMap<String, String> = map
        .values
        .iter()
        .map(|(k, v)| (norm(k), v.clone()))
        .collect();
    let channels: BTreeMap<String, String> = map
        .channels
        .iter()
        .map(|(k, v)| (norm(k), v.clone()))
        .collect();
    let mut out = ChannelFile::default();
    let mut seen: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                out.errors.push(RowError {
                    path: path.to_path_buf(),
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let bad = |reason: String| RowError {
            path: path.to_path_buf(),
            line,
            reason,
        };
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let cell = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").trim();
        let channel_text = match channel_col {
            Some(c) => rec.get(c).unwrap_or("").to_string(),
            None => map.channel.clone().unwrap_or_default(),
        };
        let channel = channels
            .get(&norm(&channel_text))
            .and_then(|c| Channel::parse(c))
            .or_else(|| {
                CHANNEL_NAMES
                    .iter()
                    .find(|(n, _)| *n == norm(&channel_text))
                    .map(|(_, c)| *c)
            });
        let channel = match channel {
            Some(Channel::Paper) | None => {
                out.errors.push(bad(format!(
                    "channel `{channel_text}` is neither tablet nor web (add it under `channels` in the mapping \
                     file; paper forms come in through `phieu export`)"
                )));
                continue;
            }
            Some(c) => c,
        };
        let Some(rated_at) = parse_time(cell(Some(time_col))) else {
            out.errors.push(bad(format!(
                "time `{}` is not a date (YYYY-MM-DD or DD/MM/YYYY, optionally with HH:MM[:SS])",
                cell(Some(time_col))
            )));
            continue;
        };
        let code = Some(cell(code_col).to_string()).filter(|c| !c.is_empty());
        let department = Some(cell(dept_col).to_string()).filter(|c| !c.is_empty());
        let form_id = Some(cell(form_col).to_lowercase())
            .filter(|c| !c.is_empty())
            .or_else(|| map.form.clone());
        let form = match &form_id {
            Some(id) => forms
                .iter()
                .filter(|t| t.template_id == *id)
                .max_by_key(|t| t.version),
            None => {
                let by_dept: Vec<&Template> = forms
                    .iter()
                    .filter(|t| {
                        department
                            .as_deref()
                            .is_some_and(|d| norm(d) == norm(&t.department))
                    })
                    .collect();
                by_dept.into_iter().max_by_key(|t| t.version)
            }
        };
        let Some(form) = form else {
            out.errors.push(bad(match form_id {
                Some(id) => format!("form `{id}` is not known"),
                None => "no form: give a `form` column, a `department` naming a form's department, or `form` \
                         in the mapping file"
                    .into(),
            }));
            continue;
        };
        let mut answers = BTreeMap::new();
        let mut problem = None;
        for row in &form.rows {
            let Some(c) = col(&row.id) else { continue };
            let v = rec.get(c).unwrap_or("").trim();
            if v.is_empty() {
                // Not answered, or not asked on this channel (a tablet records only the overall level).
                continue;
            }
            let n = norm(v);
            let opt = values
                .get(&n)
                .filter(|id| row.options.iter().any(|o| &o.id == *id))
                .cloned()
                .or_else(|| {
                    row.options
                        .iter()
                        .find(|o| norm(&o.id) == n || norm(&o.label) == n)
                        .map(|o| o.id.clone())
                });
            match opt {
                Some(o) => {
                    answers.insert(row.id.clone(), Some(o));
                }
                None => {
                    let ids: Vec<String> = row
                        .options
                        .iter()
                        .map(|o| format!("{} ({})", o.id, o.label))
                        .collect();
                    problem = Some(format!(
                        "{}: `{v}` is none of the options {} (map it under `values`)",
                        row.id,
                        ids.join(", ")
                    ));
                    break;
                }
            }
        }
        if let Some(p) = problem {
            out.errors.push(bad(p));
            continue;
        }
        if answers.is_empty() {
            out.errors.push(bad("no answer in the row".into()));
            continue;
        }
        let score = form
            .score(|id| answers.get(id).and_then(|v| v.as_deref()))
            .map(i64::from);
        let mut h = sha2::Sha256::new();
        h.update(format!(
            "{}\n{}\n{}\n{}\n{}\n{rated_at}\n",
            channel.as_str(),
            code.as_deref().unwrap_or(""),
            department.as_deref().unwrap_or(""),
            form.template_id,
            form.version
        ));
        for (k, v) in &answers {
            h.update(format!("{k}={}\n", v.as_deref().unwrap_or("-")));
        }
        let content_hash = crate::util::hex(&h.finalize());
        let id = cell(id_col);
        let key = if id.is_empty() {
            format!("{}:h:{}", channel.as_str(), &content_hash[..24])
        } else {
            format!("{}:id:{id}", channel.as_str())
        };
        if let Some((hash, first)) = seen.get(&key) {
            if *hash != content_hash {
                out.errors.push(bad(format!(
                    "rating id `{id}` is already on line {first} with other values (the first is kept)"
                )));
            }
            continue;
        }
        seen.insert(key.clone(), (content_hash.clone(), line));
        out.ratings.push(ChannelRating {
            key,
            channel,
            dossier_code: code,
            department,
            template: form.template_id.clone(),
            form_version: form.version,
            rated_at,
            answers,
            score,
            content_hash,
            line,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_export_formats() {
        assert_eq!(parse_time("2021-04-26").as_deref(), Some("2021-04-26"));
        assert_eq!(
            parse_time("26/04/2021 08:15").as_deref(),
            Some("2021-04-26 08:15")
        );
        assert_eq!(
            parse_time("2021-04-26T08:15:30Z").as_deref(),
            Some("2021-04-26 08:15:30")
        );
        assert_eq!(parse_time("31/02/2021"), None);
        assert_eq!(parse_time("2021-04-26 25:00"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn rows_map_through_the_mapping_and_bad_rows_are_named() {
        let map = ChannelMap {
            schema: MAP_SCHEMA.into(),
            columns: [
                ("dossier_code", "Mã hồ sơ"),
                ("channel", "Kênh"),
                ("rated_at", "Thời gian"),
                ("overall", "Mức độ"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
            values: [("5".to_string(), "a".to_string())].into(),
            form: Some("gtvt".into()),
            ..Default::default()
        };
        let csv = "\u{feff}Mã hồ sơ;Kênh;Thời gian;Mức độ\n\
                   A-210426-0001;Máy tính bảng;26/04/2021 08:15;Rất hài lòng\n\
                   ;web;2021-04-27;5\n\
                   A-210426-0003;fax;2021-04-27;a\n\
                   A-210426-0004;web;2021-04-27;tuyệt\n\
                   A-210426-0001;Máy tính bảng;26/04/2021 08:15;Rất hài lòng\n";
        let f = read_channel_csv(
            Path::new("e.csv"),
            csv.as_bytes(),
            &map,
            &Template::builtins(),
        )
        .unwrap();
        assert_eq!(f.ratings.len(), 2, "{:?}", f.errors);
        assert_eq!(f.ratings[0].channel, Channel::Tablet);
        assert_eq!(f.ratings[0].answers["overall"].as_deref(), Some("a"));
        assert_eq!(f.ratings[0].rated_at, "2021-04-26 08:15");
        assert_eq!(f.ratings[1].dossier_code, None);
        assert_eq!(f.ratings[1].answers["overall"].as_deref(), Some("a"));
        let lines: Vec<u64> = f.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [4, 5]);
        assert!(f.errors[0]
            .to_string()
            .starts_with("e.csv: line 4: channel `fax`"));
    }

    #[test]
    fn final_csv_is_named_for_what_it_is() {
        let e = read_channel_csv(
            Path::new("final.csv"),
            b"batch,path,page,template,dossier_code,dossier_code_by\n",
            &ChannelMap::default(),
            &Template::builtins(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("phieu export DIR -o final.jsonl"),
            "{e}"
        );
    }
}
