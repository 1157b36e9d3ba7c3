//! The one-stop system's export of returned dossiers, read once for every use (scan, review, report): CSV with
//! a header row naming a `code` column (also `dossier_code`, `ma_ho_so`) and, as the use needs, `procedure`,
//! `department`, `counter`, `officer`, `received`, `returned` in any order; other columns are ignored.

use crate::util::{csv_fields, is_iso_day};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A malformed returned-dossiers file, with its line.
#[derive(Debug, thiserror::Error)]
#[error("{path}: line {line}: {reason}")]
pub struct ReturnedError {
    /// The CSV file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// One row of the returned-dossiers export; columns the file lacks are empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnedDossier {
    /// Dossier code.
    pub code: String,
    /// Administrative procedure.
    pub procedure: String,
    /// Department.
    pub department: String,
    /// Counter (desk) that returned the result.
    pub counter: String,
    /// Officer who returned the result.
    pub officer: String,
    /// Received date, `YYYY-MM-DD` (may be empty).
    pub received: String,
    /// Returned date, `YYYY-MM-DD` (may be empty when the column is not required).
    pub returned: String,
}

/// The columns a report needs besides the code.
pub const REPORT_COLUMNS: [&str; 4] = ["department", "counter", "officer", "returned"];

/// Reads the export. `required` names the columns this use needs besides the code. Dates must be real days; a
/// code listed twice keeps its first row.
pub fn read_returned(
    path: &Path,
    text: &str,
    required: &[&str],
) -> Result<Vec<ReturnedDossier>, ReturnedError> {
    let err = |line: usize, reason: String| ReturnedError {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}'))
        .enumerate();
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty file".into()))?;
    let header: Vec<String> = csv_fields(header)
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let code = ["code", "dossier_code", "ma_ho_so"]
        .iter()
        .find_map(|n| col(n))
        .ok_or_else(|| err(1, "no `code` column (the dossier code)".into()))?;
    for name in required {
        if col(name).is_none() {
            return Err(err(1, format!("no `{name}` column")));
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    for (i, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let f = csv_fields(l);
        let get = |name: &str| {
            col(name)
                .and_then(|c| f.get(c))
                .cloned()
                .unwrap_or_default()
        };
        let d = ReturnedDossier {
            code: f.get(code).cloned().unwrap_or_default(),
            procedure: get("procedure"),
            department: get("department"),
            counter: get("counter"),
            officer: get("officer"),
            received: get("received"),
            returned: get("returned"),
        };
        if d.code.is_empty() {
            return Err(err(i + 1, "empty code".into()));
        }
        for (name, v) in [("returned", &d.returned), ("received", &d.received)] {
            let needed = required.contains(&name);
            if (needed || !v.is_empty()) && !is_iso_day(v) {
                return Err(err(i + 1, format!("{name} date `{v}` is not YYYY-MM-DD")));
            }
        }
        if seen.insert(d.code.clone()) {
            out.push(d);
        }
    }
    Ok(out)
}

/// The sorted, distinct codes of the export (what `scan --returned` and `review --returned` use).
pub fn read_returned_codes(path: &Path, text: &str) -> Result<Vec<String>, ReturnedError> {
    let mut codes: Vec<String> = read_returned(path, text, &[])?
        .into_iter()
        .map(|d| d.code)
        .collect();
    codes.sort();
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_the_code_column_wherever_it_is() {
        let p = Path::new("r.csv");
        let t = "officer,Code\ny,000.00.17.H48-210426-0002\nx,000.00.17.H48-210426-0001\n";
        assert_eq!(
            read_returned_codes(p, t).unwrap(),
            ["000.00.17.H48-210426-0001", "000.00.17.H48-210426-0002"]
        );
        let e = read_returned_codes(p, "name,other\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn a_report_needs_its_columns_and_real_dates() {
        let p = Path::new("r.csv");
        let ok = "code,department,counter,officer,returned\nA,GTVT,Q1,Lan,2021-04-26\nA,GTVT,Q2,X,2021-04-27\n";
        let v = read_returned(p, ok, &REPORT_COLUMNS).unwrap();
        assert_eq!(v.len(), 1, "a code listed twice keeps its first row");
        assert_eq!(v[0].counter, "Q1");
        assert!(read_returned(p, "code,department\n", &REPORT_COLUMNS).is_err());
        let bad = "code,department,counter,officer,returned\nA,GTVT,Q1,Lan,2021-02-30\n";
        assert_eq!(read_returned(p, bad, &REPORT_COLUMNS).unwrap_err().line, 2);
    }
}
