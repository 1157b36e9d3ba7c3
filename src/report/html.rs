//! The report as one self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched), laid out for
//! A4: headline cards that say what each figure rests on, the trend per week or month, coverage per counter over
//! time, flags, reward candidates, answer breakdowns, disagreements and the follow-up list.

use super::fmt::Lang;
use super::text::{channel_note, figure_headers, figures, mean_of};
use super::{Level, Report, ReportRow, Stats, UNKNOWN};
use crate::forms::template::Template;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Disagreements shown on the page (the open paper conflicts come first); the workbook lists them all.
const HTML_CONFLICTS: usize = 100;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Colour of option `k` of `n` (best first, green to amber to red); `k == n` is blank (grey), beyond unchecked.
fn option_color(k: usize, n: usize) -> String {
    const SCALE: [(f64, [f64; 3]); 3] = [
        (0.0, [46.0, 125.0, 50.0]),
        (0.5, [249.0, 168.0, 37.0]),
        (1.0, [198.0, 40.0, 40.0]),
    ];
    if k == n {
        return "#b0b0b0".into();
    }
    if k > n {
        return "#7e57c2".into();
    }
    let t = if n <= 1 {
        0.0
    } else {
        k as f64 / (n - 1) as f64
    };
    let (lo, hi) = if t <= 0.5 {
        (SCALE[0], SCALE[1])
    } else {
        (SCALE[1], SCALE[2])
    };
    let f = (t - lo.0) / (hi.0 - lo.0);
    let c: Vec<u8> = (0..3)
        .map(|i| (lo.1[i] + (hi.1[i] - lo.1[i]) * f).round() as u8)
        .collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Horizontal bars of shares (0..1), with a dashed threshold line; bars under it are red.
fn svg_share_bars(items: &[(String, f64, String)], threshold: Option<f64>) -> String {
    let (label_w, bar_w, h) = (250.0, 330.0, 18.0);
    let height = items.len() as f64 * h + 30.0;
    let mut s = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {height}\" \
         font-family=\"sans-serif\" font-size=\"11\">",
        label_w + bar_w + 110.0
    );
    for (i, (label, v, note)) in items.iter().enumerate() {
        let y = i as f64 * h + 4.0;
        let low = threshold.is_some_and(|t| *v < t);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{:.1}\" \
             height=\"{}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{}</text>",
            label_w - 6.0,
            y + 12.0,
            esc(label),
            v.clamp(0.0, 1.0) * bar_w,
            h - 5.0,
            if low { "#c62828" } else { "#1565c0" },
            label_w + v.clamp(0.0, 1.0) * bar_w + 4.0,
            y + 12.0,
            esc(note)
        );
    }
    let axis_y = items.len() as f64 * h + 4.0;
    for k in 0..=4 {
        let x = label_w + k as f64 * bar_w / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{axis_y}\" stroke=\"#ddd\"/><text x=\"{x}\" y=\"{}\" \
             text-anchor=\"middle\" fill=\"#555\">{}%</text>",
            axis_y + 14.0,
            k * 25
        );
    }
    if let Some(t) = threshold {
        let x = label_w + t.clamp(0.0, 1.0) * bar_w;
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{axis_y}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>"
        );
    }
    s.push_str("</svg>");
    s
}

/// 100% stacked bars of each option / blank / unchecked per rating row.
fn svg_distribution(l: Lang, dist: &[Vec<u64>], t: &Template) -> String {
    let (label_w, bar_w, h) = (60.0, 600.0, 20.0);
    let height = dist.len() as f64 * h + 40.0;
    let mut s = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {height}\" \
         font-family=\"sans-serif\" font-size=\"11\">",
        label_w + bar_w + 10.0
    );
    for (i, c) in dist.iter().enumerate() {
        let n: u64 = c.iter().sum();
        let y = i as f64 * h + 2.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y + 13.0,
            esc(&t.rows[i].id)
        );
        let mut x = label_w;
        let opts = t.rows[i].options.len();
        for (k, &v) in c.iter().enumerate() {
            let w = if n == 0 {
                0.0
            } else {
                v as f64 / n as f64 * bar_w
            };
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/>",
                h - 4.0,
                option_color(k, opts)
            );
            if w > 34.0 {
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#fff\">{}</text>",
                    x + w / 2.0,
                    y + 13.0,
                    l.pct(Some(v as f64 / n as f64))
                );
            }
            x += w;
        }
    }
    let ly = dist.len() as f64 * h + 18.0;
    let options = &t.rows[0].options;
    let names: Vec<String> = options
        .iter()
        .map(|o| format!("{} ({} {})", o.id, o.score, l.t("điểm", "points")))
        .chain([
            l.t("bỏ trống", "blank").to_string(),
            l.t("chưa kiểm tra", "unchecked").to_string(),
        ])
        .collect();
    let step = bar_w / names.len() as f64;
    for (k, name) in names.iter().enumerate() {
        let x = label_w + k as f64 * step;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"11\" height=\"11\" fill=\"{}\"/><text x=\"{}\" y=\"{ly}\">{}</text>",
            ly - 10.0,
            option_color(k, options.len()),
            x + 15.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// Per period: returned dossiers (grey bars), rated ones (blue bars, left axis), coverage (red) and satisfaction
/// (green) lines on the right axis. At most ~30 labels, so a long range stays readable.
fn svg_trend(l: Lang, periods: &[&ReportRow]) -> String {
    let (left, w, h, top) = (56.0, 560.0, 190.0, 10.0);
    let n = periods.len().max(1) as f64;
    let max = periods
        .iter()
        .map(|m| m.stats.returned.max(m.stats.forms))
        .max()
        .unwrap_or(0)
        .max(1)
        .div_ceil(4)
        * 4;
    let max = max as f64;
    let step = w / n;
    let mut s = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" \
         font-family=\"sans-serif\" font-size=\"10\">",
        left + w + 44.0,
        h + top + 56.0
    );
    let base = top + h;
    for k in 0..=4 {
        let y = base - k as f64 * h / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e0e0e0\"/><text x=\"{}\" y=\"{}\" \
             text-anchor=\"end\" fill=\"#333\">{}</text><text x=\"{}\" y=\"{}\" fill=\"#555\">{}%</text>",
            left + w,
            left - 4.0,
            y + 4.0,
            l.int((max * k as f64 / 4.0) as u64),
            left + w + 4.0,
            y + 4.0,
            k * 25
        );
    }
    let mut sat = vec![];
    let mut cov = vec![];
    let label_every = (n / 30.0).ceil().max(1.0) as usize;
    for (i, m) in periods.iter().enumerate() {
        let x = left + i as f64 * step;
        let rh = m.stats.returned as f64 / max * h;
        let bh = m.stats.rated_returned.max(if m.stats.returned == 0 {
            m.stats.forms
        } else {
            0
        }) as f64
            / max
            * h;
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{rh:.1}\" fill=\"#cfd8dc\"/>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#64b5f6\"/>",
            x + step * 0.1,
            base - rh,
            step * 0.8,
            x + step * 0.25,
            base - bh,
            step * 0.5
        );
        if i % label_every == 0 {
            let cx = x + step / 2.0;
            let _ = write!(
                s,
                "<text x=\"{cx:.1}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-40 {cx:.1} {})\" \
                 fill=\"#333\">{}</text>",
                base + 12.0,
                base + 12.0,
                esc(&l.period(&m.period))
            );
        }
        let cx = x + step / 2.0;
        if let Some(v) = m.stats.satisfaction() {
            sat.push(format!("{cx:.1},{:.1}", base - v * h));
        }
        if let Some(v) = m.stats.coverage() {
            cov.push(format!("{cx:.1},{:.1}", base - v * h));
        }
    }
    for (pts, color) in [(sat, "#2e7d32"), (cov, "#c62828")] {
        if !pts.is_empty() {
            let _ = write!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                pts.join(" ")
            );
            for p in pts {
                let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(
                    s,
                    "<circle cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"{color}\"/>"
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// Coverage per counter over the periods: one line per counter, the threshold dashed.
fn svg_counter_lines(l: Lang, r: &Report) -> String {
    let (left, w, h, top): (f64, f64, f64, f64) = (40.0, 440.0, 160.0, 10.0);
    let periods = &r.periods;
    let n = periods.len().max(1) as f64;
    let step = w / n;
    let mut series: BTreeMap<String, Vec<(usize, f64)>> = BTreeMap::new();
    for x in r.level_by_period(Level::Counter) {
        if x.counter == UNKNOWN {
            continue;
        }
        let Some(i) = periods.iter().position(|p| *p == x.period) else {
            continue;
        };
        if let Some(c) = x.stats.coverage() {
            series
                .entry(format!("{} · {}", x.department, x.counter))
                .or_default()
                .push((i, c));
        }
    }
    const COLORS: [&str; 8] = [
        "#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457",
    ];
    let legend_h = 14.0 * series.len() as f64;
    let mut s = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" \
         font-family=\"sans-serif\" font-size=\"10\">",
        left + w + 230.0,
        (h + top + 50.0).max(legend_h + 10.0)
    );
    let base = top + h;
    for k in 0..=4 {
        let y = base - k as f64 * h / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#e0e0e0\"/><text x=\"{}\" y=\"{}\" \
             text-anchor=\"end\" fill=\"#555\">{}%</text>",
            left + w,
            left - 4.0,
            y + 4.0,
            k * 25
        );
    }
    let ty = base - r.opts.coverage_threshold.clamp(0.0, 1.0) * h;
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{ty:.1}\" x2=\"{}\" y2=\"{ty:.1}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>",
        left + w
    );
    let label_every = (n / 16.0).ceil().max(1.0) as usize;
    for (i, p) in periods.iter().enumerate() {
        if i % label_every == 0 {
            let cx = left + i as f64 * step + step / 2.0;
            let _ = write!(
                s,
                "<text x=\"{cx:.1}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-40 {cx:.1} {})\" \
                 fill=\"#333\">{}</text>",
                base + 12.0,
                base + 12.0,
                esc(&l.period(p))
            );
        }
    }
    for (k, (name, pts)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let p: Vec<String> = pts
            .iter()
            .map(|(i, c)| {
                format!(
                    "{:.1},{:.1}",
                    left + *i as f64 * step + step / 2.0,
                    base - c * h
                )
            })
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"/>",
            p.join(" ")
        );
        let ly = 12.0 + k as f64 * 14.0;
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{color}\"/><text x=\"{}\" y=\"{ly}\">{}</text>",
            left + w + 12.0,
            ly - 4.0,
            left + w + 26.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

fn figures_table(
    out: &mut String,
    l: Lang,
    key_headers: &[&str],
    rows: &[(Vec<String>, &Stats)],
    threshold: Option<f64>,
) {
    out.push_str("<table><thead><tr>");
    for h in key_headers.iter().chain(figure_headers(l).iter()) {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for (keys, s) in rows {
        let low = threshold.is_some_and(|t| s.coverage().is_some_and(|c| c < t));
        let _ = write!(out, "<tr{}>", if low { " class=\"low\"" } else { "" });
        for k in keys {
            let _ = write!(out, "<td>{}</td>", esc(k));
        }
        for f in figures(l, s) {
            let _ = write!(out, "<td class=\"n\">{}</td>", esc(&f));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// A headline card: the figure, and what it rests on.
fn card(o: &mut String, title: &str, value: &str, basis: &str) {
    let _ = write!(
        o,
        "<div class=\"card\"><span>{}</span><b>{}</b><small>{}</small></div>",
        esc(title),
        esc(value),
        esc(basis)
    );
}

/// The report as one self-contained HTML page, laid out for A4 printing.
pub fn to_html(r: &Report) -> String {
    let l = r.opts.lang;
    let t = r.total();
    let mut o = format!(
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font-family:'DejaVu Sans',Arial,sans-serif;margin:16px;color:#222;font-size:11px;max-width:190mm}}\
         h1{{font-size:18px;margin:0 0 4px}}h2{{font-size:14px;margin:16px 0 6px;border-bottom:1px solid #999}}\
         .cards{{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}}\
         .card{{border:1px solid #bbb;border-radius:6px;padding:6px 10px;flex:1 1 0;min-width:34mm}}\
         .card span{{color:#555}}.card b{{display:block;font-size:20px}}.card small{{color:#555}}\
         table{{border-collapse:collapse;margin:6px 0;width:100%}}\
         th,td{{border:1px solid #ccc;padding:2px 4px}}th{{background:#eee;font-weight:600}}\
         td.n{{text-align:right;white-space:nowrap}}td:first-child{{white-space:nowrap}}table{{font-size:10px}}\
         tr.low td{{background:#ffebee}}.note{{color:#555}}.codes{{font-size:9px;word-break:break-all}}\
         svg.chart{{width:100%;height:auto;max-width:190mm}}section{{break-inside:avoid;page-break-inside:avoid}}\
         section.long{{break-inside:auto;page-break-inside:auto}}thead{{display:table-header-group}}\
         tr{{break-inside:avoid}}@page{{size:A4;margin:10mm}}@media print{{body{{margin:0}}}}</style></head><body>",
        l.t("vi", "en"),
        l.t("Báo cáo mức độ hài lòng", "Satisfaction report")
    );
    let _ = write!(
        o,
        "<h1>{}</h1><div class=\"note\">{}: {}. {}</div>",
        l.t(
            "Báo cáo mức độ hài lòng của người dân — mọi kênh đánh giá",
            "Citizen satisfaction report — every rating channel"
        ),
        l.t("Kỳ báo cáo", "Period"),
        esc(&r.period_text()),
        l.t(
            "Mỗi hồ sơ được tính một lần (phiếu giấy ưu tiên, trừ khi người duyệt chọn phiếu khác). Tỷ lệ đánh giá = \
             hồ sơ đã trả có phiếu / hồ sơ đã trả. Hài lòng = (rất hài lòng + hài lòng) / số trả lời đã kiểm tra. \
             Điểm TB: a = 2, b = 1, c = 0 trên 9 tiêu chí (tối đa 18), chỉ phiếu trả lời đủ và đã kiểm tra. Giá trị \
             máy đọc chưa được người kiểm tra không được tính là câu trả lời.",
            "Each dossier counts once (its paper form first, unless a person chose another rating). Coverage = \
             returned dossiers with a rating / returned dossiers. Satisfied = (very satisfied + satisfied) / checked \
             answers. Mean score: a = 2, b = 1, c = 0 over the nine criteria (18 max), fully answered and checked \
             ratings only. Machine readings nobody checked are never counted as answers."
        )
    );
    o.push_str("<div class=\"cards\">");
    card(
        &mut o,
        l.t("Tỷ lệ đánh giá", "Coverage"),
        &l.pct(t.coverage()),
        &format!(
            "{} {} {} {}",
            l.int(t.rated_returned),
            l.t("trên", "of"),
            l.int(t.returned),
            l.t("hồ sơ đã trả", "returned dossiers")
        ),
    );
    card(
        &mut o,
        l.t("Hài lòng", "Satisfied"),
        &l.pct(t.satisfaction()),
        &format!(
            "{} {} {} {}",
            l.t("dựa trên", "rests on"),
            l.int(t.satisfaction_answered),
            l.t("trên", "of"),
            format_args!("{} {}", l.int(t.forms), l.t("phiếu", "ratings"))
        ),
    );
    card(
        &mut o,
        l.t("Điểm trung bình", "Mean score"),
        &mean_of(l, &t),
        &format!(
            "{} {} {} {} {}",
            l.t("dựa trên", "rests on"),
            l.int(t.scored),
            l.t("trên", "of"),
            l.int(t.forms),
            l.t("phiếu (đủ 9 tiêu chí)", "ratings (all nine answered)")
        ),
    );
    card(
        &mut o,
        l.t("Phiếu được tính", "Counted ratings"),
        &l.int(t.forms),
        &channel_note(l, &t),
    );
    card(
        &mut o,
        l.t("Chưa kiểm tra", "Unchecked"),
        &l.int(t.unreviewed),
        &if r.opts.reviewed_only {
            format!(
                "{} {}",
                l.int(r.excluded_unreviewed),
                l.t(
                    "phiếu đã loại (--reviewed-only)",
                    "ratings left out (--reviewed-only)"
                )
            )
        } else {
            l.t(
                "phiếu còn giá trị máy đọc chưa duyệt (loại bằng --reviewed-only)",
                "ratings with machine readings nobody checked (--reviewed-only leaves them out)",
            )
            .to_string()
        },
    );
    o.push_str("</div>");

    // Trend.
    let trend: Vec<&ReportRow> = r
        .level_by_period(Level::Total)
        .filter(|x| x.period != UNKNOWN)
        .collect();
    let _ = write!(
        o,
        "<section><h2>{} ({})</h2><div class=\"note\">{}</div>{}",
        l.t("Xu hướng", "Trend"),
        l.t(
            if r.period_kind == super::PeriodKind::Month {
                "theo tháng"
            } else {
                "theo tuần"
            },
            if r.period_kind == super::PeriodKind::Month {
                "by month"
            } else {
                "by week"
            }
        ),
        l.t(
            "Cột xám: hồ sơ đã trả; cột xanh: hồ sơ được đánh giá (trục trái). Đường đỏ: tỷ lệ đánh giá; đường \
             xanh lá: hài lòng (trục phải).",
            "Grey bars: returned dossiers; blue bars: rated dossiers (left axis). Red line: coverage; green line: \
             satisfied (right axis)."
        ),
        svg_trend(l, &trend)
    );
    let mut h = vec![l.t("kỳ", "period")];
    h.extend(figure_headers(l));
    let rows: Vec<(Vec<String>, &Stats)> = r
        .level_by_period(Level::Total)
        .map(|x| (vec![l.period(&x.period)], &x.stats))
        .collect();
    figures_table(&mut o, l, &[l.t("kỳ", "period")], &rows, None);
    o.push_str("</section>");

    if r.has_returned {
        let th = r.opts.coverage_threshold;
        // Flags first: what the director acts on.
        let _ = write!(o, "<section><h2>{}</h2><ul>", l.t("Cần chú ý", "Flags"));
        let low = r.below_threshold();
        let _ = write!(
            o,
            "<li><b>{} {}:</b> {}</li>",
            l.t("Tỷ lệ đánh giá dưới", "Coverage below"),
            l.pct(Some(th)),
            if low.is_empty() {
                l.t("không có", "none").to_string()
            } else {
                low.iter()
                    .map(|x| {
                        esc(&format!(
                            "{} ({}, {}/{})",
                            x.who(),
                            l.pct(x.stats.coverage()),
                            l.int(x.stats.rated_returned),
                            l.int(x.stats.returned)
                        ))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
        let _ = write!(
            o,
            "<li><b>{} {} {}:</b> {}</li>",
            l.t("Tỷ lệ đánh giá giảm ít nhất", "Coverage fell by at least"),
            l.num(r.opts.drop_threshold * 100.0, 0),
            l.t(
                "điểm phần trăm so với kỳ trước",
                "percentage points from the period before"
            ),
            if r.drops.is_empty() {
                l.t("không có", "none").to_string()
            } else {
                r.drops
                    .iter()
                    .map(|d| {
                        let who = if d.officer.is_empty() {
                            format!("{} / {}", d.department, d.counter)
                        } else {
                            format!("{} / {} / {}", d.department, d.counter, d.officer)
                        };
                        esc(&format!(
                            "{who}: {} ({}) → {} ({})",
                            l.pct(Some(d.from.1)),
                            l.period(&d.from.0),
                            l.pct(Some(d.to.1)),
                            l.period(&d.to.0)
                        ))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
        o.push_str("</ul>");
        let rewards = r.reward_candidates();
        let _ = write!(
            o,
            "<h2>{}</h2><div class=\"note\">{} {}, {} {}, {} {} {}.</div>",
            l.t("Đề xuất khen thưởng", "Reward candidates"),
            l.t("Tỷ lệ đánh giá ≥", "Coverage ≥"),
            l.pct(Some(r.opts.reward_coverage)),
            l.t("hài lòng ≥", "satisfied ≥"),
            l.pct(Some(r.opts.reward_satisfaction)),
            l.t("ít nhất", "at least"),
            l.int(r.opts.reward_min_returned),
            l.t("hồ sơ đã trả", "returned dossiers")
        );
        let rows: Vec<(Vec<String>, &Stats)> = rewards
            .iter()
            .map(|x| {
                (
                    vec![x.department.clone(), x.counter.clone(), x.officer.clone()],
                    &x.stats,
                )
            })
            .collect();
        if rows.is_empty() {
            let _ = write!(o, "<p>{}</p>", l.t("Không có.", "None."));
        } else {
            figures_table(
                &mut o,
                l,
                &[
                    l.t("sở", "department"),
                    l.t("quầy", "counter"),
                    l.t("cán bộ", "officer"),
                ],
                &rows,
                None,
            );
        }
        o.push_str("</section>");

        let _ = write!(
            o,
            "<section><h2>{} ({} {})</h2>",
            l.t(
                "Tỷ lệ đánh giá theo quầy và cán bộ",
                "Coverage per counter and officer"
            ),
            l.t("ngưỡng", "threshold"),
            l.pct(Some(th))
        );
        let mut items: Vec<(String, f64, String)> = vec![];
        let mut rows: Vec<(Vec<String>, &Stats)> = vec![];
        for x in r.counter_rows().into_iter() {
            let label = if x.officer.is_empty() {
                format!("{} · {}", x.department, l.name(&x.counter))
            } else {
                format!("    {}", l.name(&x.officer))
            };
            if let Some(c) = x.stats.coverage() {
                items.push((
                    label,
                    c,
                    format!(
                        "{} ({}/{})",
                        l.pct(Some(c)),
                        l.int(x.stats.rated_returned),
                        l.int(x.stats.returned)
                    ),
                ));
            }
            rows.push((
                vec![
                    x.department.clone(),
                    l.name(&x.counter),
                    if x.officer.is_empty() {
                        l.t("(cả quầy)", "(all)").into()
                    } else {
                        l.name(&x.officer)
                    },
                ],
                &x.stats,
            ));
        }
        o.push_str(&svg_share_bars(&items, Some(th)));
        figures_table(
            &mut o,
            l,
            &[
                l.t("sở", "department"),
                l.t("quầy", "counter"),
                l.t("cán bộ", "officer"),
            ],
            &rows,
            Some(th),
        );
        if r.unmatched > 0 {
            let _ = write!(
                o,
                "<p class=\"note\">{} {} {}.</p>",
                l.int(r.unmatched),
                l.t(
                    "phiếu có mã hồ sơ không có trong tệp trả kết quả; được tính vào quầy",
                    "rated dossiers are not in the returned-dossiers file; they are counted under"
                ),
                l.unknown()
            );
        }
        o.push_str("</section>");

        // Coverage per counter over time: chart and matrix.
        let _ = write!(
            o,
            "<section><h2>{}</h2>{}<table><thead><tr><th>{}</th>",
            l.t(
                "Tỷ lệ đánh giá của từng quầy theo thời gian",
                "Coverage per counter over time"
            ),
            svg_counter_lines(l, r),
            l.t("quầy", "counter")
        );
        for p in &r.periods {
            let _ = write!(o, "<th>{}</th>", esc(&l.period(p)));
        }
        o.push_str("</tr></thead><tbody>");
        for c in r.level(Level::Counter) {
            let _ = write!(
                o,
                "<tr><td>{} · {}</td>",
                esc(&c.department),
                esc(&l.name(&c.counter))
            );
            for p in &r.periods {
                let s = r.find(Level::Counter, &c.department, &c.counter, "", p);
                let cov = s.and_then(Stats::coverage);
                let low = cov.is_some_and(|v| v < th);
                let _ = write!(
                    o,
                    "<td class=\"n\"{}>{}</td>",
                    if low {
                        " style=\"background:#ffebee\""
                    } else {
                        ""
                    },
                    l.pct(cov)
                );
            }
            o.push_str("</tr>");
        }
        o.push_str("</tbody></table></section>");
    }

    o.push_str(&format!(
        "<section><h2>{}</h2>",
        l.t("Theo sở", "Per department")
    ));
    let rows: Vec<(Vec<String>, &Stats)> = r
        .level(Level::Department)
        .map(|x| (vec![x.department.clone()], &x.stats))
        .collect();
    figures_table(&mut o, l, &[l.t("sở", "department")], &rows, None);
    if r.no_code > 0 {
        let _ = write!(
            o,
            "<p class=\"note\">{} {}</p>",
            l.int(r.no_code),
            l.t(
                "phiếu không có mã hồ sơ được tính ở cấp sở (không có quầy, cán bộ).",
                "ratings without a dossier code are counted at department level (no counter or officer)."
            )
        );
    }
    o.push_str("</section>");

    for d in r.level(Level::Department) {
        for (key, counts) in &d.stats.dist {
            let Some(t) = r.form(key) else { continue };
            let _ = write!(
                o,
                "<section><h2>{} — {}, {} {} v{}</h2>{}<table><thead><tr><th>{}</th><th>{}</th>",
                l.t("Trả lời theo tiêu chí", "Answers per criterion"),
                esc(&d.department),
                l.t("mẫu", "form"),
                esc(&t.form_code),
                t.version,
                svg_distribution(l, counts, t),
                l.t("dòng", "row"),
                l.t("tiêu chí", "criterion")
            );
            for opt in &t.rows[0].options {
                let _ = write!(o, "<th>{}</th>", esc(&opt.id));
            }
            let _ = write!(
                o,
                "<th>{}</th><th>{}</th></tr></thead><tbody>",
                l.t("bỏ trống", "blank"),
                l.t("chưa kiểm tra", "unchecked")
            );
            for (row, c) in t.rows.iter().zip(counts) {
                let n: u64 = c.iter().sum();
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td>",
                    esc(&row.id),
                    esc(&row.label)
                );
                for &v in c {
                    let _ = write!(
                        o,
                        "<td class=\"n\">{} ({})</td>",
                        l.int(v),
                        l.pct(Some(v as f64 / n.max(1) as f64))
                    );
                }
                o.push_str("</tr>");
            }
            o.push_str("</tbody></table></section>");
        }
    }

    if !r.conflicts.is_empty() {
        let _ = write!(
            o,
            "<section class=\"long\"><h2>{} ({})</h2><div class=\"note\">{}</div><table><thead><tr><th>{}</th>\
             <th>{}</th><th>ID</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            l.t("Hồ sơ có các phiếu khác nhau", "Dossiers with disagreeing ratings"),
            l.int(r.conflicts.len() as u64),
            l.t(
                "Phiếu được tính đứng đầu. Chọn phiếu khác: phieu import --resolve MÃ_HỒ_SƠ --keep ID",
                "The counted rating is first. To keep another: phieu import --resolve DOSSIER --keep ID"
            ),
            l.t("mã hồ sơ", "dossier"),
            l.t("kênh", "channel"),
            l.t("trả lời", "answers"),
            l.t("nguồn", "source")
        );
        for c in r.conflicts.iter().take(HTML_CONFLICTS) {
            for (n, x) in c.ratings.iter().enumerate() {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if n == 0 {
                        esc(&c.dossier_code)
                    } else {
                        String::new()
                    },
                    esc(l.channel(x.channel)),
                    if x.counted {
                        l.t(" ✔ tính", " ✔ counted")
                    } else {
                        ""
                    },
                    esc(&x.id),
                    esc(&x.answers),
                    esc(&x.source)
                );
            }
        }
        o.push_str("</tbody></table>");
        if r.conflicts.len() > HTML_CONFLICTS {
            let _ = write!(
                o,
                "<p class=\"note\">… {} {}</p>",
                l.int((r.conflicts.len() - HTML_CONFLICTS) as u64),
                l.t(
                    "hồ sơ nữa: xem bảng tính .xlsx hoặc phieu import --conflicts",
                    "more: see the .xlsx workbook or phieu import --conflicts"
                )
            );
        }
        o.push_str("</section>");
    }

    if r.has_returned {
        let _ = write!(
            o,
            "<section class=\"long\"><h2>{} ({})</h2><div class=\"note\">{}</div><table><thead><tr><th>{}</th>\
             <th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            l.t(
                "Hồ sơ đã trả chưa được đánh giá, theo quầy và ngày",
                "Returned dossiers nobody rated, per counter and day"
            ),
            l.int(r.followup.len() as u64),
            l.t(
                "Không có phiếu trên kênh nào (giấy, máy tính bảng, web).",
                "No rating on any channel (paper, tablet, website)."
            ),
            l.t("sở", "department"),
            l.t("quầy", "counter"),
            l.t("ngày trả", "returned on"),
            l.t("số hồ sơ", "dossiers"),
            l.t("mã hồ sơ (cán bộ)", "dossier codes (officer)")
        );
        let mut groups: BTreeMap<(&str, &str, &str), Vec<String>> = BTreeMap::new();
        for d in &r.followup {
            groups
                .entry((&d.department, &d.counter, &d.returned))
                .or_default()
                .push(format!("{} ({})", d.code, d.officer));
        }
        for ((dept, counter, day), codes) in groups {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"codes\">{}</td></tr>",
                esc(dept),
                esc(counter),
                esc(&l.date(day)),
                l.int(codes.len() as u64),
                esc(&codes.join(", "))
            );
        }
        o.push_str("</tbody></table></section>");
    }
    o.push_str("</body></html>\n");
    o
}
