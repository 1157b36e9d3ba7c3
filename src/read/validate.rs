//! Field grammars and value checks: a code pattern compiled to fixed-length character-class sequences (for
//! grammar-constrained decoding), and the semantic checks on dossier codes (real date, agency list, QR agreement).

use crate::forms::template::DateSpec;
use serde::Serialize;

/// One position of a code: the set of characters allowed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharClass(pub Vec<char>);

impl CharClass {
    fn digits() -> Self {
        CharClass(('0'..='9').collect())
    }
    /// Whether `c` is allowed.
    pub fn allows(&self, c: char) -> bool {
        self.0.contains(&c)
    }
}

/// A field pattern as alternatives of fixed-length class sequences, e.g. `\d{10}(-\d{3})?` → two sequences.
#[derive(Debug, Clone)]
pub struct CodePattern {
    /// Each alternative is one class per character.
    pub alternatives: Vec<Vec<CharClass>>,
}

impl CodePattern {
    /// Compiles the regex subset our templates use: `^ $ \d \. literal [A-Z0-9] {n} (...)?`.
    pub fn from_regex(re: &str) -> Result<CodePattern, String> {
        let chars: Vec<char> = re.chars().collect();
        // Parse into a list of (items, optional) segments.
        let mut segs: Vec<(Vec<CharClass>, bool)> = vec![(vec![], false)];
        let mut i = 0;
        let mut in_group = false;
        while i < chars.len() {
            let c = chars[i];
            let class = match c {
                '^' | '$' => {
                    i += 1;
                    continue;
                }
                '(' => {
                    if in_group {
                        return Err("nested groups are not supported".into());
                    }
                    in_group = true;
                    segs.push((vec![], false));
                    i += 1;
                    continue;
                }
                ')' => {
                    if !in_group {
                        return Err("unbalanced `)`".into());
                    }
                    in_group = false;
                    let opt = chars.get(i + 1) == Some(&'?');
                    segs.last_mut().unwrap().1 = opt;
                    segs.push((vec![], false));
                    i += if opt { 2 } else { 1 };
                    continue;
                }
                '\\' => {
                    let n = *chars.get(i + 1).ok_or("dangling backslash")?;
                    i += 2;
                    match n {
                        'd' => CharClass::digits(),
                        other => CharClass(vec![other]),
                    }
                }
                '[' => {
                    let end = chars[i..]
                        .iter()
                        .position(|&x| x == ']')
                        .ok_or("unclosed [")?
                        + i;
                    let body = &chars[i + 1..end];
                    let mut set = vec![];
                    let mut j = 0;
                    while j < body.len() {
                        if j + 2 < body.len() && body[j + 1] == '-' {
                            set.extend(body[j]..=body[j + 2]);
                            j += 3;
                        } else {
                            set.push(body[j]);
                            j += 1;
                        }
                    }
                    i = end + 1;
                    CharClass(set)
                }
                '.' | '*' | '+' | '|' => return Err(format!("unsupported regex operator `{c}`")),
                lit => {
                    i += 1;
                    CharClass(vec![lit])
                }
            };
            // Quantifiers: `{n}`, `{m,n}` and `?`; optional copies become optional segments of their own.
            let (min, max) = match chars.get(i) {
                Some('{') => {
                    let end = chars[i..]
                        .iter()
                        .position(|&x| x == '}')
                        .ok_or("unclosed {")?
                        + i;
                    let n: String = chars[i + 1..end].iter().collect();
                    i = end + 1;
                    let bad = || format!("bad repeat `{{{n}}}`");
                    match n.split_once(',') {
                        Some((lo, hi)) => (
                            lo.trim().parse::<usize>().map_err(|_| bad())?,
                            hi.trim().parse::<usize>().map_err(|_| bad())?,
                        ),
                        None => {
                            let k = n.trim().parse::<usize>().map_err(|_| bad())?;
                            (k, k)
                        }
                    }
                }
                Some('?') => {
                    i += 1;
                    (0, 1)
                }
                _ => (1, 1),
            };
            if min > max || max > 64 {
                return Err(format!("bad repeat {min}..{max}"));
            }
            if max > min && in_group {
                return Err("optional items inside a group are not supported".into());
            }
            for _ in 0..min {
                segs.last_mut().unwrap().0.push(class.clone());
            }
            for _ in min..max {
                segs.push((vec![class.clone()], true));
                segs.push((vec![], false));
            }
        }
        if in_group {
            return Err("unclosed group".into());
        }
        let mut alts: Vec<Vec<CharClass>> = vec![vec![]];
        for (items, opt) in segs {
            if opt {
                if alts.len() > 256 {
                    return Err("too many optional parts".into());
                }
                let with: Vec<_> = alts
                    .iter()
                    .map(|a| a.iter().cloned().chain(items.iter().cloned()).collect())
                    .collect();
                alts.extend(with);
            } else {
                for a in &mut alts {
                    a.extend(items.iter().cloned());
                }
            }
        }
        alts.retain(|a| !a.is_empty());
        let mut seen: Vec<Vec<CharClass>> = vec![];
        alts.retain(|a| {
            let new = !seen.contains(a);
            if new {
                seen.push(a.clone());
            }
            new
        });
        if alts.is_empty() {
            return Err("empty pattern".into());
        }
        Ok(CodePattern { alternatives: alts })
    }

    /// Whether `s` matches one alternative.
    pub fn matches(&self, s: &str) -> bool {
        let cs: Vec<char> = s.chars().collect();
        self.alternatives
            .iter()
            .any(|a| a.len() == cs.len() && a.iter().zip(&cs).all(|(k, &c)| k.allows(c)))
    }

    /// Every character any alternative allows.
    pub fn charset(&self) -> Vec<char> {
        let mut v: Vec<char> = self
            .alternatives
            .iter()
            .flatten()
            .flat_map(|c| c.0.iter().copied())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Why a value that matches its pattern is still doubtful.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueProblem {
    /// Does not match the field's pattern.
    Pattern,
    /// The yymmdd part is not a real date between 2018 and the scan day.
    BadDate,
    /// The agency prefix is not in the configured list.
    UnknownAgency,
    /// The QR's `HS=` code differs from the read value.
    QrMismatch,
    /// The code is not in the returned-dossiers list.
    NotInReturned,
    /// Several returned dossiers are one edit away.
    AmbiguousNearest,
}

impl ValueProblem {
    /// The wire name written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueProblem::Pattern => "pattern",
            ValueProblem::BadDate => "bad_date",
            ValueProblem::UnknownAgency => "unknown_agency",
            ValueProblem::QrMismatch => "qr_mismatch",
            ValueProblem::NotInReturned => "not_in_returned",
            ValueProblem::AmbiguousNearest => "ambiguous_nearest",
        }
    }
}

/// Options for semantic checks on dossier codes.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Dossier codes the one-stop system returned (sorted); empty = no system-of-record check.
    pub returned: Vec<String>,
    /// Allowed agency prefixes (`ddd.dd.dd.Ldd`); empty = any.
    pub agencies: Vec<String>,
    /// Latest acceptable received date as (yy, mm, dd); `None` = no upper bound.
    pub today: Option<(u32, u32, u32)>,
}

/// Whether the date a code carries (where `date` says) is a real day from 2018 up to `today` (yy, mm, dd).
pub fn code_date_ok(code: &str, date: &DateSpec, today: Option<(u32, u32, u32)>) -> bool {
    let Some((y, m, d)) = date.date_of(code) else {
        return false;
    };
    let yy = y - 2000;
    if !(18..100).contains(&yy) {
        return false;
    }
    match today {
        Some(t) => (yy as u32, m, d) <= t,
        None => true,
    }
}

/// Semantic problems of a pattern-valid dossier code; `date` is where the field's template says the code
/// carries its day of receipt (no date check without it).
pub fn dossier_problems(
    code: &str,
    date: Option<&DateSpec>,
    opts: &ValidateOptions,
) -> Vec<ValueProblem> {
    let mut out = vec![];
    if date.is_some_and(|d| !code_date_ok(code, d, opts.today)) {
        out.push(ValueProblem::BadDate);
    }
    if !opts.agencies.is_empty() {
        let prefix = code.split('-').next().unwrap_or("");
        if !opts.agencies.iter().any(|a| a == prefix) {
            out.push(ValueProblem::UnknownAgency);
        }
    }
    out
}

/// How a read dossier code relates to the system of record's returned dossiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnedMatch {
    /// The code is in the list.
    Found,
    /// Not in the list; exactly one listed code is one edit away (a proposal for the operator, never applied).
    Nearest(String),
    /// Not in the list; several listed codes are one edit away.
    AmbiguousNearest,
    /// Not in the list and nothing close.
    NotFound,
}

/// Looks a code up in the sorted returned-dossiers list.
pub fn match_returned(code: &str, returned: &[String]) -> ReturnedMatch {
    if returned.binary_search_by(|c| c.as_str().cmp(code)).is_ok() {
        return ReturnedMatch::Found;
    }
    let near: Vec<&String> = returned
        .iter()
        .filter(|c| c.len().abs_diff(code.len()) <= 1 && edit_distance(c, code) == 1)
        .take(2)
        .collect();
    match near.as_slice() {
        [one] => ReturnedMatch::Nearest((*one).clone()),
        [] => ReturnedMatch::NotFound,
        _ => ReturnedMatch::AmbiguousNearest,
    }
}

/// Today's date as (yy, mm, dd), from the system clock (UTC).
pub fn today_yymmdd() -> (u32, u32, u32) {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    let (y, m, d) = crate::util::civil_from_days(days);
    ((y % 100) as u32, m, d)
}

/// Levenshtein distance over chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantifiers_mean_what_they_mean_in_a_regex() {
        let p = CodePattern::from_regex(r"^[A-Z]\d?-\d{3}$").unwrap();
        assert!(p.matches("A-123") && p.matches("A1-123"));
        assert!(!p.matches("A?-123") && !p.matches("A12-123") && !p.matches("A-12"));
        let p = CodePattern::from_regex(r"^\d{2,4}$").unwrap();
        assert!(p.matches("12") && p.matches("123") && p.matches("1234"));
        assert!(!p.matches("1") && !p.matches("12345"));
        assert_eq!(p.alternatives.len(), 3, "no duplicate alternatives");
        assert!(CodePattern::from_regex(r"^(\d?)$").is_err());
        assert!(CodePattern::from_regex(r"^\d{3,1}$").is_err());
    }

    #[test]
    fn dossier_pattern_compiles_to_25_positions() {
        let p = CodePattern::from_regex(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}$").unwrap();
        assert_eq!(p.alternatives.len(), 1);
        assert_eq!(p.alternatives[0].len(), 25);
        assert!(p.matches("000.00.17.H48-210426-0001"));
        assert!(!p.matches("000.00.17.H48-210426-000"));
        assert!(!p.matches("000.00.17.h48-210426-0001"));
    }

    #[test]
    fn optional_branch_suffix_gives_two_alternatives() {
        let p = CodePattern::from_regex(r"^\d{10}(-\d{3})?$").unwrap();
        assert_eq!(p.alternatives.len(), 2);
        assert!(p.matches("4300861234"));
        assert!(p.matches("4300861234-001"));
        assert!(!p.matches("4300861234-01"));
    }

    fn yymmdd() -> DateSpec {
        DateSpec {
            separator: "-".into(),
            segment: 1,
            format: "yymmdd".into(),
        }
    }

    #[test]
    fn impossible_or_future_dates_are_rejected() {
        let d = yymmdd();
        let ok = |c: &str, t| code_date_ok(c, &d, t);
        assert!(ok("000.00.17.H48-210426-0001", Some((26, 11, 26))));
        assert!(!ok("000.00.17.H48-210231-0001", None));
        assert!(!ok("000.00.17.H48-170426-0001", None));
        assert!(!ok("000.00.17.H48-271226-0001", Some((26, 11, 26))));
        assert!(ok("000.00.17.H48-240229-0001", None));
        assert!(!ok("000.00.17.H48-250229-0001", None));
    }

    #[test]
    fn the_date_is_where_the_template_says() {
        let d = DateSpec {
            separator: "-".into(),
            segment: 2,
            format: "ddmmyy".into(),
        };
        assert!(code_date_ok("TN51-00001-310725", &d, None));
        assert!(!code_date_ok("TN51-00001-320725", &d, None));
        assert!(!code_date_ok("TN51-310725-00001", &d, None));
        // No date spec, no date check.
        assert!(dossier_problems("X-1", None, &ValidateOptions::default()).is_empty());
        assert_eq!(
            dossier_problems(
                "000.00.17.H48-210231-0001",
                Some(&yymmdd()),
                &ValidateOptions::default()
            ),
            [ValueProblem::BadDate]
        );
    }

    #[test]
    fn returned_list_lookup_proposes_only_a_unique_neighbour() {
        let list: Vec<String> = [
            "000.00.17.H48-210426-0001",
            "000.00.17.H48-210426-0002",
            "000.00.17.H48-210427-0009",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            match_returned("000.00.17.H48-210426-0001", &list),
            ReturnedMatch::Found
        );
        assert_eq!(
            match_returned("000.00.17.H48-210426-0003", &list),
            ReturnedMatch::AmbiguousNearest
        );
        assert_eq!(
            match_returned("000.00.17.H48-210427-0008", &list),
            ReturnedMatch::Nearest("000.00.17.H48-210427-0009".into())
        );
        assert_eq!(
            match_returned("111.00.17.H48-210427-0008", &list),
            ReturnedMatch::NotFound
        );
    }

    #[test]
    fn today_is_a_plausible_date() {
        let (y, m, d) = today_yymmdd();
        assert!(y >= 24 && (1..=12).contains(&m) && (1..=31).contains(&d));
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("abc", "abd"), 1);
        assert_eq!(edit_distance("abc", "ab"), 1);
    }
}
