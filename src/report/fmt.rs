//! Numbers, dates, periods and labels as the reader expects them: Vietnamese by default (`99,8%`, `13,50`,
//! `10.000`, `26/04/2021`, `Tuần 17/2021`), English on request (`99.8%`, `13.50`, `10,000`, `26/04/2021`).

use super::{PeriodKind, UNKNOWN};
use crate::store::channel::Channel;

/// The language of labels and numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese (the default).
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The Vietnamese or the English text.
    pub fn t<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    fn decimal(self) -> char {
        self.t(",", ".").chars().next().unwrap_or('.')
    }

    fn thousands(self) -> char {
        self.t(".", ",").chars().next().unwrap_or(',')
    }

    /// An integer with thousands separators: `10.000` / `10,000`.
    pub fn int(self, n: u64) -> String {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(self.thousands());
            }
            out.push(c);
        }
        out
    }

    /// A number with `places` decimals: `13,50`.
    pub fn num(self, x: f64, places: usize) -> String {
        let s = format!("{x:.places$}");
        let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
        let neg = int.starts_with('-');
        let digits = int.trim_start_matches('-');
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        out.push_str(&self.int(digits.parse().unwrap_or(0)));
        if !frac.is_empty() {
            out.push(self.decimal());
            out.push_str(frac);
        }
        out
    }

    /// A share as a percentage with one decimal, `-` when undefined: `99,8%`.
    pub fn pct(self, x: Option<f64>) -> String {
        x.map_or("-".into(), |x| format!("{}%", self.num(x * 100.0, 1)))
    }

    /// `YYYY-MM-DD` as `26/04/2021`.
    pub fn date(self, iso: &str) -> String {
        if iso.len() >= 10 && crate::util::is_iso_day(&iso[..10]) {
            format!("{}/{}/{}", &iso[8..10], &iso[5..7], &iso[..4])
        } else {
            iso.to_string()
        }
    }

    /// A period key as people read it: `04/2021`, `Tuần 17/2021` / `04/2021`, `week 17/2021`.
    pub fn period(self, key: &str) -> String {
        if key.is_empty() {
            return self.t("cả kỳ", "whole period").into();
        }
        if key == UNKNOWN {
            return self.unknown().into();
        }
        if let Some((y, w)) = key.split_once("-W") {
            return format!(
                "{} {}/{y}",
                self.t("Tuần", "week"),
                w.trim_start_matches('0')
            );
        }
        match key.split_once('-') {
            Some((y, m)) => format!("{m}/{y}"),
            None => key.into(),
        }
    }

    /// `(không rõ)` / `(unknown)`.
    pub fn unknown(self) -> &'static str {
        self.t("(không rõ)", UNKNOWN)
    }

    /// A name that may be [`UNKNOWN`].
    pub fn name(self, s: &str) -> String {
        if s == UNKNOWN {
            self.unknown().into()
        } else {
            s.into()
        }
    }

    /// The period kind's name.
    pub fn period_kind(self, k: PeriodKind) -> &'static str {
        match k {
            PeriodKind::Month => self.t("tháng", "month"),
            _ => self.t("tuần", "week"),
        }
    }

    /// A channel's name.
    pub fn channel(self, c: Channel) -> &'static str {
        match c {
            Channel::Paper => self.t("phiếu giấy", "paper"),
            Channel::Tablet => self.t("máy tính bảng", "tablet"),
            Channel::Web => self.t("trang web", "website"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_numbers_and_dates() {
        let vi = Lang::Vi;
        assert_eq!(vi.pct(Some(0.998)), "99,8%");
        assert_eq!(vi.num(13.5, 2), "13,50");
        assert_eq!(vi.int(10000), "10.000");
        assert_eq!(vi.num(12345.678, 1), "12.345,7");
        assert_eq!(vi.date("2021-04-26"), "26/04/2021");
        assert_eq!(vi.period("2021-W17"), "Tuần 17/2021");
        assert_eq!(vi.period("2021-04"), "04/2021");
        assert_eq!(vi.pct(None), "-");
        let en = Lang::En;
        assert_eq!(en.pct(Some(0.998)), "99.8%");
        assert_eq!(en.int(10000), "10,000");
        assert_eq!(en.period("2021-W07"), "week 7/2021");
    }
}
