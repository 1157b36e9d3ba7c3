//! The report as an .xlsx workbook (`rust_xlsxwriter`): numbers stay numbers (percent and two-decimal formats,
//! shown with the reader's Excel decimal separator), dates are date cells shown `dd/mm/yyyy`. Sheets: summary,
//! counters and officers, per period, flags and reward candidates, follow-up list, disagreements, answers.

use super::fmt::Lang;
use super::text::figure_headers;
use super::{Level, Report, ReportError, ReportRow, Stats};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

fn xerr(e: XlsxError) -> ReportError {
    ReportError::Xlsx(e.to_string())
}

struct Fmts {
    head: Format,
    pct: Format,
    mean: Format,
    int: Format,
    date: Format,
    low: Format,
}

fn header(ws: &mut Worksheet, f: &Fmts, row: u32, cells: &[&str]) -> Result<(), XlsxError> {
    for (c, h) in cells.iter().enumerate() {
        ws.write_string_with_format(row, c as u16, *h, &f.head)?;
    }
    Ok(())
}

/// Writes the figure columns of one group from column `col`.
fn figures(ws: &mut Worksheet, f: &Fmts, row: u32, col: u16, s: &Stats) -> Result<(), XlsxError> {
    let ints = [
        s.returned,
        s.rated_returned,
        0,
        s.rated_by_channel[0],
        s.rated_by_channel[1],
        s.rated_by_channel[2],
        s.forms,
        s.unreviewed,
    ];
    for (k, v) in ints.iter().enumerate() {
        let c = col + k as u16;
        if k == 2 {
            if let Some(cov) = s.coverage() {
                ws.write_number_with_format(row, c, cov, &f.pct)?;
            }
            continue;
        }
        ws.write_number_with_format(row, c, *v as f64, &f.int)?;
    }
    if let Some(m) = s.mean_score() {
        ws.write_number_with_format(row, col + 8, m, &f.mean)?;
    }
    if let Some(v) = s.satisfaction() {
        ws.write_number_with_format(row, col + 9, v, &f.pct)?;
    }
    Ok(())
}

fn keyed_rows(
    ws: &mut Worksheet,
    f: &Fmts,
    l: Lang,
    keys: &[&str],
    rows: &[(Vec<String>, &Stats, bool)],
) -> Result<(), XlsxError> {
    let mut h: Vec<&str> = keys.to_vec();
    h.extend(figure_headers(l));
    header(ws, f, 0, &h)?;
    for (i, (k, s, low)) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (c, v) in k.iter().enumerate() {
            if *low {
                ws.write_string_with_format(row, c as u16, v, &f.low)?;
            } else {
                ws.write_string(row, c as u16, v)?;
            }
        }
        figures(ws, f, row, k.len() as u16, s)?;
    }
    ws.set_freeze_panes(1, keys.len() as u16)?;
    for c in 0..keys.len() as u16 {
        ws.set_column_width(c, 24)?;
    }
    ws.set_column_range_width(keys.len() as u16, (keys.len() + 10) as u16, 12)?;
    Ok(())
}

fn who_cells(l: Lang, x: &ReportRow) -> Vec<String> {
    vec![
        x.department.clone(),
        l.name(&x.counter),
        if x.officer.is_empty() {
            l.t("(cả quầy)", "(all)").into()
        } else {
            l.name(&x.officer)
        },
    ]
}

/// The workbook's bytes.
pub fn to_xlsx(r: &Report) -> Result<Vec<u8>, ReportError> {
    build(r).map_err(xerr)
}

fn build(r: &Report) -> Result<Vec<u8>, XlsxError> {
    let l = r.opts.lang;
    let f = Fmts {
        head: Format::new().set_bold().set_background_color("#EEEEEE"),
        pct: Format::new().set_num_format("0.0%"),
        mean: Format::new().set_num_format("0.00"),
        int: Format::new().set_num_format("#,##0"),
        date: Format::new().set_num_format("dd/mm/yyyy"),
        low: Format::new().set_background_color("#FFEBEE"),
    };
    let mut wb = Workbook::new();
    let t = r.total();

    // Summary.
    let ws = wb.add_worksheet();
    ws.set_name(l.t("Tổng hợp", "Summary"))?;
    ws.write_string_with_format(
        0,
        0,
        l.t("Báo cáo mức độ hài lòng", "Satisfaction report"),
        &Format::new().set_bold().set_font_size(14),
    )?;
    ws.write_string(
        1,
        0,
        format!("{}: {}", l.t("Kỳ báo cáo", "Period"), r.period_text()),
    )?;
    header(
        ws,
        &f,
        3,
        &[
            l.t("chỉ số", "figure"),
            l.t("giá trị", "value"),
            l.t("dựa trên", "rests on"),
            l.t("trên", "of"),
        ],
    )?;
    let lines: [(&str, Option<f64>, &Format, u64, u64); 5] = [
        (
            l.t("Tỷ lệ đánh giá", "Coverage"),
            t.coverage(),
            &f.pct,
            t.rated_returned,
            t.returned,
        ),
        (
            l.t("Hài lòng", "Satisfied"),
            t.satisfaction(),
            &f.pct,
            t.satisfaction_answered,
            t.forms,
        ),
        (
            l.t("Điểm trung bình", "Mean score"),
            t.mean_score(),
            &f.mean,
            t.scored,
            t.forms,
        ),
        (
            l.t("Phiếu được tính", "Counted ratings"),
            Some(t.forms as f64),
            &f.int,
            t.forms,
            t.forms,
        ),
        (
            l.t("Phiếu chưa kiểm tra", "Unchecked ratings"),
            Some(t.unreviewed as f64),
            &f.int,
            t.unreviewed,
            t.forms,
        ),
    ];
    for (i, (name, v, fmt, on, of)) in lines.iter().enumerate() {
        let row = 4 + i as u32;
        ws.write_string(row, 0, *name)?;
        if let Some(v) = v {
            ws.write_number_with_format(row, 1, *v, fmt)?;
        }
        ws.write_number_with_format(row, 2, *on as f64, &f.int)?;
        ws.write_number_with_format(row, 3, *of as f64, &f.int)?;
    }
    let mut h = vec![l.t("sở", "department")];
    h.extend(figure_headers(l));
    header(ws, &f, 11, &h)?;
    for (i, x) in r.level(Level::Department).enumerate() {
        let row = 12 + i as u32;
        ws.write_string(row, 0, &x.department)?;
        figures(ws, &f, row, 1, &x.stats)?;
    }
    ws.set_column_width(0, 30)?;
    ws.set_column_range_width(1, 11, 13)?;

    // Counters and officers.
    let ws = wb.add_worksheet();
    ws.set_name(l.t("Quầy - cán bộ", "Counters"))?;
    let rows: Vec<(Vec<String>, &Stats, bool)> = r
        .counter_rows()
        .into_iter()
        .map(|x| {
            (
                who_cells(l, x),
                &x.stats,
                x.stats
                    .coverage()
                    .is_some_and(|c| c < r.opts.coverage_threshold),
            )
        })
        .collect();
    keyed_rows(
        ws,
        &f,
        l,
        &[
            l.t("sở", "department"),
            l.t("quầy", "counter"),
            l.t("cán bộ", "officer"),
        ],
        &rows,
    )?;

    // Per period, every level.
    let ws = wb.add_worksheet();
    ws.set_name(l.t("Theo kỳ", "By period"))?;
    let rows: Vec<(Vec<String>, &Stats, bool)> = r
        .rows
        .iter()
        .filter(|x| !x.period.is_empty())
        .map(|x| {
            let mut k = vec![l.period(&x.period)];
            match x.level {
                Level::Total => k.extend([
                    l.t("(tất cả)", "(all)").into(),
                    String::new(),
                    String::new(),
                ]),
                Level::Department => k.extend([x.department.clone(), String::new(), String::new()]),
                _ => k.extend(who_cells(l, x)),
            }
            (k, &x.stats, false)
        })
        .collect();
    keyed_rows(
        ws,
        &f,
        l,
        &[
            l.t("kỳ", "period"),
            l.t("sở", "department"),
            l.t("quầy", "counter"),
            l.t("cán bộ", "officer"),
        ],
        &rows,
    )?;

    // Flags and rewards.
    let ws = wb.add_worksheet();
    ws.set_name(l.t("Cảnh báo - khen thưởng", "Flags and rewards"))?;
    header(
        ws,
        &f,
        0,
        &[
            l.t("loại", "kind"),
            l.t("đơn vị", "who"),
            l.t("tỷ lệ đánh giá", "coverage"),
            l.t("hài lòng", "satisfied"),
            l.t("chi tiết", "detail"),
        ],
    )?;
    let mut row = 1;
    for x in r.below_threshold() {
        ws.write_string(row, 0, l.t("dưới ngưỡng", "below threshold"))?;
        ws.write_string(row, 1, x.who())?;
        if let Some(c) = x.stats.coverage() {
            ws.write_number_with_format(row, 2, c, &f.pct)?;
        }
        if let Some(s) = x.stats.satisfaction() {
            ws.write_number_with_format(row, 3, s, &f.pct)?;
        }
        ws.write_string(
            row,
            4,
            format!("{}/{}", x.stats.rated_returned, x.stats.returned),
        )?;
        row += 1;
    }
    for d in &r.drops {
        ws.write_string(row, 0, l.t("giảm", "dropped"))?;
        let who = if d.officer.is_empty() {
            format!("{} / {}", d.department, d.counter)
        } else {
            format!("{} / {} / {}", d.department, d.counter, d.officer)
        };
        ws.write_string(row, 1, who)?;
        ws.write_number_with_format(row, 2, d.to.1, &f.pct)?;
        ws.write_string(
            row,
            4,
            format!(
                "{} {} → {} {}",
                l.period(&d.from.0),
                l.pct(Some(d.from.1)),
                l.period(&d.to.0),
                l.pct(Some(d.to.1))
            ),
        )?;
        row += 1;
    }
    for x in r.reward_candidates() {
        ws.write_string(row, 0, l.t("đề xuất khen thưởng", "reward candidate"))?;
        ws.write_string(row, 1, x.who())?;
        if let Some(c) = x.stats.coverage() {
            ws.write_number_with_format(row, 2, c, &f.pct)?;
        }
        if let Some(s) = x.stats.satisfaction() {
            ws.write_number_with_format(row, 3, s, &f.pct)?;
        }
        ws.write_string(
            row,
            4,
            format!("{}/{}", x.stats.rated_returned, x.stats.returned),
        )?;
        row += 1;
    }
    ws.set_column_width(0, 22)?;
    ws.set_column_width(1, 50)?;
    ws.set_column_width(4, 40)?;

    // Follow-up list.
    let ws = wb.add_worksheet();
    ws.set_name(l.t("Chưa đánh giá", "Not rated"))?;
    header(
        ws,
        &f,
        0,
        &[
            l.t("sở", "department"),
            l.t("quầy", "counter"),
            l.t("ngày trả", "returned on"),
            l.t("cán bộ", "officer"),
            l.t("mã hồ sơ", "dossier code"),
            l.t("thủ tục", "procedure"),
        ],
    )?;
    for (i, d) in r.followup.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &d.department)?;
        ws.write_string(row, 1, &d.counter)?;
        match ExcelDateTime::parse_from_str(&d.returned) {
            Ok(dt) => ws.write_datetime_with_format(row, 2, &dt, &f.date)?,
            Err(_) => ws.write_string(row, 2, &d.returned)?,
        };
        ws.write_string(row, 3, &d.officer)?;
        ws.write_string(row, 4, &d.code)?;
        ws.write_string(row, 5, &d.procedure)?;
    }
    if !r.followup.is_empty() {
        ws.autofilter(0, 0, r.followup.len() as u32, 5)?;
    }
    ws.set_freeze_panes(1, 0)?;
    for (c, w) in [28, 14, 12, 20, 30, 30].iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }

    // Disagreements.
    let ws = wb.add_worksheet();
    ws.set_name(l.t("Khác biệt", "Disagreements"))?;
    header(
        ws,
        &f,
        0,
        &[
            l.t("mã hồ sơ", "dossier"),
            l.t("loại", "kind"),
            l.t("kênh", "channel"),
            l.t("được tính", "counted"),
            "ID",
            l.t("trả lời", "answers"),
            l.t("nguồn", "source"),
        ],
    )?;
    let mut row = 1;
    for c in &r.conflicts {
        for x in &c.ratings {
            ws.write_string(row, 0, &c.dossier_code)?;
            ws.write_string(
                row,
                1,
                match (c.same_channel, &c.resolved) {
                    (_, Some(_)) => l.t("đã chọn", "resolved"),
                    (true, None) => l.t("hai phiếu giấy: cần chọn", "two paper ratings: choose"),
                    (false, None) => l.t("các kênh khác nhau", "channels disagree"),
                },
            )?;
            ws.write_string(row, 2, l.channel(x.channel))?;
            ws.write_string(row, 3, if x.counted { "x" } else { "" })?;
            ws.write_string(row, 4, &x.id)?;
            ws.write_string(row, 5, &x.answers)?;
            ws.write_string(row, 6, &x.source)?;
            row += 1;
        }
    }
    ws.set_freeze_panes(1, 0)?;
    for (c, w) in [28, 26, 14, 9, 36, 60, 40].iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }

    // Answers per criterion.
    let ws = wb.add_worksheet();
    ws.set_name(l.t("Trả lời", "Answers"))?;
    let mut row = 0;
    for d in r.level(Level::Department) {
        for (key, counts) in &d.stats.dist {
            let Some(t) = r.form(key) else { continue };
            ws.write_string_with_format(
                row,
                0,
                format!("{} — {} v{}", d.department, t.form_code, t.version),
                &f.head,
            )?;
            row += 1;
            let mut h: Vec<String> = vec![
                l.t("dòng", "row").into(),
                l.t("tiêu chí", "criterion").into(),
            ];
            h.extend(t.rows[0].options.iter().map(|o| o.id.clone()));
            h.push(l.t("bỏ trống", "blank").into());
            h.push(l.t("chưa kiểm tra", "unchecked").into());
            let hs: Vec<&str> = h.iter().map(String::as_str).collect();
            header(ws, &f, row, &hs)?;
            row += 1;
            for (rs, c) in t.rows.iter().zip(counts) {
                ws.write_string(row, 0, &rs.id)?;
                ws.write_string(row, 1, &rs.label)?;
                for (k, v) in c.iter().enumerate() {
                    ws.write_number_with_format(row, 2 + k as u16, *v as f64, &f.int)?;
                }
                row += 1;
            }
            row += 1;
        }
    }
    ws.set_column_width(1, 60)?;
    wb.save_to_buffer()
}
