//! The report as terminal tables and as CSV (UTF-8 with BOM, numbers and dates in the report's language).

use super::fmt::Lang;
use super::{Level, Report, ReportRow, Stats};
use crate::store::channel::Channel;
use crate::util::csv_escape;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// `13,50 / 18`, or the mean alone when the ratings of the group have different scales.
pub(crate) fn mean_of(l: Lang, s: &Stats) -> String {
    match (s.mean_score(), s.score_scale()) {
        (Some(m), Some(max)) => format!("{} / {max}", l.num(m, 2)),
        (Some(m), None) => l.num(m, 2),
        (None, _) => "-".into(),
    }
}

/// The figure columns of a row.
pub(crate) fn figure_headers(l: Lang) -> Vec<&'static str> {
    vec![
        l.t("trả kết quả", "returned"),
        l.t("được đánh giá", "rated"),
        l.t("tỷ lệ đánh giá", "coverage"),
        l.t("giấy", "paper"),
        l.t("máy tính bảng", "tablet"),
        l.t("web", "web"),
        l.t("phiếu tính", "ratings"),
        l.t("chưa kiểm tra", "unchecked"),
        l.t("điểm TB", "mean score"),
        l.t("hài lòng", "satisfied"),
    ]
}

/// The figures of a row, formatted.
pub(crate) fn figures(l: Lang, s: &Stats) -> Vec<String> {
    vec![
        l.int(s.returned),
        l.int(s.rated_returned),
        l.pct(s.coverage()),
        l.int(s.rated_by_channel[0]),
        l.int(s.rated_by_channel[1]),
        l.int(s.rated_by_channel[2]),
        l.int(s.forms),
        l.int(s.unreviewed),
        mean_of(l, s),
        l.pct(s.satisfaction()),
    ]
}

/// A plain text table; columns from `right` on are right-aligned.
fn text_table(header: &[&str], rows: &[Vec<String>], right: usize) -> String {
    let w: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(w[i] - c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if i >= right {
                s.push_str(&pad);
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    let dashes: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
    out.push_str(&line(dashes.iter().map(String::as_str).collect()));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

impl Report {
    /// The period in words.
    pub(crate) fn period_text(&self) -> String {
        let l = self.opts.lang;
        match (&self.opts.from, &self.opts.to) {
            (None, None) => l.t("mọi ngày", "all dates").into(),
            (f, t) => format!(
                "{} {} {}",
                f.as_deref()
                    .map_or(l.t("đầu", "the start").to_string(), |d| l.date(d)),
                l.t("đến", "to"),
                t.as_deref()
                    .map_or(l.t("cuối", "the end").to_string(), |d| l.date(d))
            ),
        }
    }

    /// The headline: what each figure rests on.
    pub(crate) fn headline(&self) -> String {
        let l = self.opts.lang;
        let t = self.total();
        format!(
            "{}: {} {} ({} {}), {} {} ({} {} {} {}), {} {} ({} {} {}), {} {} ({} {})",
            self.period_text(),
            l.int(t.forms),
            l.t("phiếu được tính", "counted ratings"),
            l.int(t.unreviewed),
            l.t("chưa kiểm tra", "unchecked"),
            l.t("tỷ lệ đánh giá", "coverage"),
            l.pct(t.coverage()),
            l.int(t.rated_returned),
            l.t("trên", "of"),
            l.int(t.returned),
            l.t("hồ sơ đã trả", "returned dossiers"),
            l.t("hài lòng", "satisfied"),
            l.pct(t.satisfaction()),
            l.t("trên", "on"),
            l.int(t.satisfaction_answered),
            l.t("phiếu", "ratings"),
            l.t("điểm TB", "mean score"),
            mean_of(l, &t),
            l.int(t.scored),
            l.t("phiếu đủ 9 tiêu chí", "fully answered ratings"),
        )
    }
}

fn key_cells(l: Lang, x: &ReportRow) -> Vec<String> {
    vec![
        l.name(&x.department),
        l.name(&x.counter),
        if x.officer.is_empty() {
            l.t("(cả quầy)", "(all)").into()
        } else {
            l.name(&x.officer)
        },
    ]
}

/// The report as terminal tables.
pub fn to_text(r: &Report) -> String {
    let l = r.opts.lang;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {}",
        l.t("Báo cáo mức độ hài lòng", "Satisfaction report"),
        r.headline()
    );
    if !r.has_returned {
        let _ = writeln!(
            out,
            "{}",
            l.t(
                "(không có --returned: không có số liệu quầy, cán bộ, tỷ lệ đánh giá)",
                "(no --returned file: no counters, officers or coverage)"
            )
        );
    }
    if r.opts.reviewed_only {
        let _ = writeln!(
            out,
            "{} {}",
            l.int(r.excluded_unreviewed),
            l.t(
                "phiếu chưa kiểm tra đã bị loại (--reviewed-only)",
                "unchecked ratings left out (--reviewed-only)"
            )
        );
    }
    let fh = figure_headers(l);
    let mut h = vec![l.t("sở", "department")];
    h.extend(&fh);
    let rows: Vec<Vec<String>> = r
        .level(Level::Department)
        .map(|x| [vec![x.department.clone()], figures(l, &x.stats)].concat())
        .collect();
    let _ = write!(
        out,
        "\n{}\n{}",
        l.t("Theo sở", "Per department"),
        text_table(&h, &rows, 1)
    );
    if r.has_returned {
        let mut h = vec![
            l.t("sở", "department"),
            l.t("quầy", "counter"),
            l.t("cán bộ", "officer"),
        ];
        h.extend(&fh);
        h.push("");
        let rows: Vec<Vec<String>> = r
            .counter_rows()
            .into_iter()
            .map(|x| {
                let low = x
                    .stats
                    .coverage()
                    .is_some_and(|c| c < r.opts.coverage_threshold);
                [
                    key_cells(l, x),
                    figures(l, &x.stats),
                    vec![if low {
                        l.t("THẤP", "LOW").into()
                    } else {
                        String::new()
                    }],
                ]
                .concat()
            })
            .collect();
        let _ = write!(
            out,
            "\n{}\n{}",
            l.t("Theo quầy và cán bộ", "Per counter and officer"),
            text_table(&h, &rows, 3)
        );
    }
    let mut h = vec![l.period_kind(r.period_kind)];
    h.extend(&fh);
    let rows: Vec<Vec<String>> = r
        .level_by_period(Level::Total)
        .map(|x| [vec![l.period(&x.period)], figures(l, &x.stats)].concat())
        .collect();
    let _ = write!(
        out,
        "\n{}\n{}",
        l.t("Xu hướng", "Trend"),
        text_table(&h, &rows, 1)
    );
    if r.has_returned {
        let low = r.below_threshold();
        let _ = writeln!(
            out,
            "\n{} {}: {}",
            l.t(
                "Dưới ngưỡng tỷ lệ đánh giá",
                "Below the coverage threshold of"
            ),
            l.pct(Some(r.opts.coverage_threshold)),
            if low.is_empty() {
                l.t("không có", "none")
            } else {
                ""
            }
        );
        for x in low {
            let _ = writeln!(
                out,
                "  {}: {} ({} {} {})",
                x.who(),
                l.pct(x.stats.coverage()),
                l.int(x.stats.rated_returned),
                l.t("trên", "of"),
                l.int(x.stats.returned)
            );
        }
        let _ = writeln!(
            out,
            "{}: {}",
            l.t("Tỷ lệ đánh giá giảm", "Coverage dropped"),
            if r.drops.is_empty() {
                l.t("không có", "none")
            } else {
                ""
            }
        );
        for d in &r.drops {
            let who = if d.officer.is_empty() {
                format!("{} / {}", d.department, d.counter)
            } else {
                format!("{} / {} / {}", d.department, d.counter, d.officer)
            };
            let _ = writeln!(
                out,
                "  {who}: {} ({}) → {} ({})",
                l.pct(Some(d.from.1)),
                l.period(&d.from.0),
                l.pct(Some(d.to.1)),
                l.period(&d.to.0)
            );
        }
        let rewards = r.reward_candidates();
        let _ = writeln!(
            out,
            "{}: {}",
            l.t("Đề xuất khen thưởng", "Reward candidates"),
            if rewards.is_empty() {
                l.t("không có", "none")
            } else {
                ""
            }
        );
        for x in rewards {
            let _ = writeln!(
                out,
                "  {}: {} {}, {} {} ({} {})",
                x.who(),
                l.t("tỷ lệ đánh giá", "coverage"),
                l.pct(x.stats.coverage()),
                l.t("hài lòng", "satisfied"),
                l.pct(x.stats.satisfaction()),
                l.int(x.stats.returned),
                l.t("hồ sơ", "dossiers")
            );
        }
        let _ = writeln!(
            out,
            "{}: {}",
            l.t(
                "Hồ sơ đã trả chưa được đánh giá (danh sách trong tệp HTML/XLSX/CSV)",
                "Returned dossiers nobody rated (listed in the HTML/XLSX/CSV files)"
            ),
            l.int(r.followup.len() as u64)
        );
        if r.unmatched > 0 {
            let _ = writeln!(
                out,
                "{} {} {}",
                l.int(r.unmatched),
                l.t(
                    "phiếu có mã hồ sơ không có trong tệp trả kết quả (tính vào quầy",
                    "rated dossiers are not in the returned file (counted under"
                ),
                format_args!("{})", l.unknown())
            );
        }
    }
    if r.no_code > 0 {
        let _ = writeln!(
            out,
            "{} {}",
            l.int(r.no_code),
            l.t(
                "phiếu không có mã hồ sơ (chỉ tính ở cấp sở)",
                "ratings without a dossier code (counted at department level only)"
            )
        );
    }
    if r.not_counted > 0 {
        let _ = writeln!(
            out,
            "{} {}",
            l.int(r.not_counted),
            l.t(
                "phiếu khác của hồ sơ đã có phiếu được tính (kênh khác, hoặc phiếu giấy thứ hai) được lưu nhưng không \
                 tính lần nữa",
                "further ratings of dossiers already counted (another channel, or a second paper form) are kept but \
                 not counted again"
            )
        );
    }
    if !r.conflicts.is_empty() {
        let _ = writeln!(
            out,
            "{} {} ({} {})",
            l.int(r.conflicts.len() as u64),
            l.t(
                "hồ sơ có các phiếu khác nhau",
                "dossiers have disagreeing ratings"
            ),
            l.int(r.open_conflicts() as u64),
            l.t(
                "cần chọn: phieu import --conflicts",
                "need a choice: phieu import --conflicts"
            )
        );
    }
    out
}

/// The report as CSV (UTF-8 with BOM, for Excel): one line per group and period; numbers in the report's
/// language (quoted where they hold a comma).
pub fn to_csv(r: &Report) -> String {
    let l = r.opts.lang;
    let mut head: Vec<String> = [
        l.t("cấp", "level"),
        l.t("sở", "department"),
        l.t("quầy", "counter"),
        l.t("cán bộ", "officer"),
        l.t("kỳ", "period"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    head.extend(figure_headers(l).iter().map(|s| s.to_string()));
    head.push(l.t("số phiếu có điểm", "scored ratings").into());
    head.push(
        l.t("số trả lời mức hài lòng", "satisfaction answers")
            .into(),
    );
    head.push(l.t("dưới ngưỡng", "below threshold").into());
    // One column per (form version, row, option / blank / unchecked), for every form that was rated.
    let keys: BTreeSet<&super::FormKey> = r.rows.iter().flat_map(|x| x.stats.dist.keys()).collect();
    let mut columns: Vec<(super::FormKey, usize, usize)> = vec![];
    for key in keys {
        let Some(t) = r.form(key) else { continue };
        for (i, row) in t.rows.iter().enumerate() {
            for (k, o) in row
                .options
                .iter()
                .map(|o| o.id.as_str())
                .chain(["blank", "unchecked"])
                .enumerate()
            {
                head.push(format!("{}_v{}_{}_{o}", t.template_id, t.version, row.id));
                columns.push((key.clone(), i, k));
            }
        }
    }
    let mut out = String::from("\u{feff}");
    out.push_str(
        &head
            .iter()
            .map(|h| csv_escape(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for x in &r.rows {
        let s = &x.stats;
        let low = matches!(x.level, Level::Counter | Level::Officer)
            && s.coverage().is_some_and(|c| c < r.opts.coverage_threshold);
        let mut cells = vec![
            x.level.name().to_string(),
            x.department.clone(),
            x.counter.clone(),
            x.officer.clone(),
            if x.period.is_empty() {
                String::new()
            } else {
                l.period(&x.period)
            },
        ];
        cells.extend(figures(l, s));
        cells.push(l.int(s.scored));
        cells.push(l.int(s.satisfaction_answered));
        cells.push(if low { "x".into() } else { String::new() });
        for (key, i, k) in &columns {
            let n = s
                .dist
                .get(key)
                .and_then(|c| c.get(*i))
                .and_then(|c| c.get(*k));
            cells.push(n.copied().unwrap_or(0).to_string());
        }
        out.push_str(
            &cells
                .iter()
                .map(|c| csv_escape(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// The follow-up list as CSV (UTF-8 with BOM): the returned dossiers nobody rated, per department, counter and
/// day.
pub fn followup_csv(r: &Report) -> String {
    let l = r.opts.lang;
    let mut out = String::from("\u{feff}");
    let head = [
        l.t("sở", "department"),
        l.t("quầy", "counter"),
        l.t("ngày trả", "returned on"),
        l.t("cán bộ", "officer"),
        l.t("mã hồ sơ", "dossier code"),
        l.t("thủ tục", "procedure"),
    ];
    out.push_str(&head.join(","));
    out.push_str("\r\n");
    for d in &r.followup {
        let cells = [
            d.department.clone(),
            d.counter.clone(),
            l.date(&d.returned),
            d.officer.clone(),
            d.code.clone(),
            d.procedure.clone(),
        ];
        out.push_str(
            &cells
                .iter()
                .map(|c| csv_escape(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// Channels that rated a group, for notes: `giấy 120, máy tính bảng 80, trang web 10`.
pub(crate) fn channel_note(l: Lang, s: &Stats) -> String {
    Channel::ALL
        .iter()
        .map(|&c| format!("{} {}", l.channel(c), l.int(s.by_channel[c.index()])))
        .collect::<Vec<_>>()
        .join(", ")
}
