//! Decoder conformance: PDF and TIFF files from third-party producers decode to what the reference decoders show.
//!
//! The producers are img2pdf, tiff2pdf, Ghostscript, pikepdf, libtiff's tiffcp, ImageMagick and PIL; the references
//! poppler's pdftoppm and libtiff's tiff2rgba. Pages must match pixel for pixel for lossless encodings and within
//! the tolerance below for JPEG.
//!
//! `tests/conformance/make_corpus.py` writes the files, one reference PNG per page and `index.jsonl`. Colour pages
//! are compared as our loader reads them: the darkest channel, min(R, G, B), of the reference. Fax pages at
//! 204 x 98 dpi, which the loader resamples to square pixels, are checked for their size only. Every case is run
//! and all failures are listed at the end (`--nocapture` also prints a table of every case).
//!
//! Without the tools (python3 with img2pdf, pikepdf, PIL and numpy; poppler-utils, libtiff-tools, Ghostscript,
//! ImageMagick) the test prints a skip message and passes, unless `PHIEU_REQUIRE_TOOLS=1` (CI), where it fails.

use image::GrayImage;
use phieu::read::load::{LoadOptions, PageSource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// JPEG tolerance. Two correct baseline decoders differ in their IDCT rounding and chroma upsampling: by a level
/// or two on average, and by more only next to sharp edges, where upsampling filters differ most. So a JPEG page
/// passes when the mean absolute difference is at most 3 levels and 99.9% of its pixels differ by at most 48;
/// a wrong colour transform, a missing /Decode, a shift or a wrong component order all lie far beyond.
const MAX_MEAN_ABS_DIFF: f64 = 3.0;
/// See [`MAX_MEAN_ABS_DIFF`].
const MAX_P999_DIFF: u8 = 48;
/// CMYK JPEG: poppler converts CMYK to RGB through its own colour transform, which we do not copy (pure black
/// shows as about 31 there, 0 here), so CMYK pages are held to a looser bound; an inverted page differs by ~100.
const MAX_MEAN_ABS_DIFF_CMYK: f64 = 16.0;

/// Encodings the loader refuses, with the reason it gives: for these the test requires that clear refusal (never
/// wrong pixels). Palette TIFF, tiled CCITT TIFF and LZMA TIFF (libtiff's `-c lzma`) come from no scanner we know of.
const REFUSED: [(&str, &str); 3] = [
    ("palette (8-bit colour map)", "unsupported"),
    ("tiled 128x128 CCITT", "tiled CCITT"),
    ("LZMA", "LZMA-compressed TIFF"),
];

/// The fax case: 204 dpi across, 98 down; the loader makes the pixels square by stretching the height.
const FAX_ASPECT: f64 = 204.0 / 98.0;

const TOOLS: [&str; 8] = [
    "python3",
    "pdftoppm",
    "tiff2rgba",
    "tiffcp",
    "tiffsplit",
    "tiff2pdf",
    "gs",
    "convert",
];
const PYTHON_MODULES: [&str; 4] = ["img2pdf", "pikepdf", "PIL", "numpy"];

#[derive(serde::Deserialize)]
struct Case {
    file: String,
    page: u32,
    reference: String,
    lossless: bool,
    colour: bool,
    producer: String,
    encoding: String,
    aspect_resampled: bool,
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// The tools and Python modules the corpus needs that this machine lacks.
fn missing_tools() -> Vec<String> {
    let mut missing: Vec<String> = TOOLS
        .iter()
        .filter(|t| !on_path(t))
        .map(|t| t.to_string())
        .collect();
    if on_path("python3") {
        for m in PYTHON_MODULES {
            let ok = Command::new("python3")
                .args(["-c", &format!("import {m}")])
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                missing.push(format!("python3 module {m}"));
            }
        }
    }
    missing
}

/// What the reference shows, as our loader reads it: grey, or the darkest channel of colour.
fn reference_grey(path: &Path, colour: bool) -> Result<GrayImage, String> {
    let img = image::open(path).map_err(|e| format!("reference {}: {e}", path.display()))?;
    if !colour {
        return Ok(img.to_luma8());
    }
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let raw = rgb
        .pixels()
        .map(|p| p.0[0].min(p.0[1]).min(p.0[2]))
        .collect();
    Ok(GrayImage::from_raw(w, h, raw).expect("size"))
}

/// For a lossless page that differs: a guess at how (inverted, shifted, rotated, flipped), from whole-image tests.
fn diagnose(ours: &GrayImage, reference: &GrayImage) -> Option<String> {
    let (w, h) = reference.dimensions();
    let same = |f: &dyn Fn(u32, u32) -> Option<u8>| {
        let mut n = 0u64;
        let mut bad = 0u64;
        for y in 0..h {
            for x in 0..w {
                if let Some(v) = f(x, y) {
                    n += 1;
                    bad += u64::from(v != reference.get_pixel(x, y).0[0]);
                }
            }
        }
        n > 0 && bad * 1000 <= n
    };
    if ours.dimensions() == (w, h) {
        if same(&|x, y| Some(255 - ours.get_pixel(x, y).0[0])) {
            return Some("inverted".into());
        }
        if same(&|x, y| Some(ours.get_pixel(x, h - 1 - y).0[0])) {
            return Some("flipped upside down".into());
        }
        if same(&|x, y| Some(ours.get_pixel(w - 1 - x, h - 1 - y).0[0])) {
            return Some("rotated 180°".into());
        }
        for dy in -2i64..=2 {
            for dx in -2i64..=2 {
                if (dx, dy) == (0, 0) {
                    continue;
                }
                let at = |x: u32, y: u32| {
                    let (sx, sy) = (i64::from(x) + dx, i64::from(y) + dy);
                    (sx >= 0 && sy >= 0 && sx < i64::from(w) && sy < i64::from(h))
                        .then(|| ours.get_pixel(sx as u32, sy as u32).0[0])
                };
                if same(&at) {
                    return Some(format!(
                        "ours is the reference shifted by {} px right, {} px down",
                        -dx, -dy
                    ));
                }
            }
        }
    } else if ours.dimensions() == (h, w) {
        if same(&|x, y| Some(ours.get_pixel(y, w - 1 - x).0[0])) {
            return Some("ours is the reference rotated 90° clockwise".into());
        }
        if same(&|x, y| Some(ours.get_pixel(h - 1 - y, x).0[0])) {
            return Some("ours is the reference rotated 90° counter-clockwise".into());
        }
    }
    None
}

/// Compares one page; Ok(summary) or Err(what differs).
fn compare(case: &Case, ours: &GrayImage, reference: &GrayImage) -> Result<String, String> {
    let (w, h) = reference.dimensions();
    let (ow, oh) = ours.dimensions();
    if case.aspect_resampled {
        let want = f64::from(h) * FAX_ASPECT;
        return if ow == w && (f64::from(oh) - want).abs() <= 2.0 {
            Ok(format!("ok (resampled {w}x{h} -> {ow}x{oh})"))
        } else {
            Err(format!(
                "size {ow}x{oh}, expected {w}x{want:.0} ({w}x{h} with the height stretched by 204/98)"
            ))
        };
    }
    if (ow, oh) != (w, h) {
        let how = diagnose(ours, reference).map_or(String::new(), |d| format!(" ({d})"));
        return Err(format!("size {ow}x{oh} vs reference {w}x{h}{how}"));
    }
    let mut hist = [0u64; 256];
    let mut first: Option<(u32, u32, u8, u8)> = None;
    for (x, y, r) in reference.enumerate_pixels() {
        let o = ours.get_pixel(x, y).0[0];
        let d = o.abs_diff(r.0[0]);
        hist[d as usize] += 1;
        if d != 0 && first.is_none() {
            first = Some((x, y, o, r.0[0]));
        }
    }
    let n = u64::from(w) * u64::from(h);
    let differing = n - hist[0];
    let sum: u64 = hist.iter().enumerate().map(|(d, c)| d as u64 * c).sum();
    let mean = sum as f64 / n as f64;
    let max = hist.iter().rposition(|&c| c > 0).unwrap_or(0);
    // The smallest difference that 99.9% of the pixels stay within.
    let need = (n * 999).div_ceil(1000);
    let mut acc = 0;
    let p999 = hist
        .iter()
        .position(|&c| {
            acc += c;
            acc >= need
        })
        .unwrap_or(255) as u8;
    if case.lossless {
        match first {
            None => Ok("ok (identical)".into()),
            Some((x, y, o, r)) => {
                let how = diagnose(ours, reference).map_or(String::new(), |d| format!("; {d}"));
                Err(format!(
                    "{differing} of {n} pixels differ (mean {mean:.2}, max {max}); first at ({x}, {y}): ours {o}, \
                     reference {r}{how}"
                ))
            }
        }
    } else if case.encoding.contains("CMYK") && mean <= MAX_MEAN_ABS_DIFF_CMYK {
        Ok(format!(
            "ok (CMYK JPEG: mean {mean:.2}, p99.9 {p999}, max {max})"
        ))
    } else if mean <= MAX_MEAN_ABS_DIFF && p999 <= MAX_P999_DIFF {
        Ok(format!(
            "ok (JPEG: mean {mean:.2}, p99.9 {p999}, max {max})"
        ))
    } else {
        let how = diagnose(ours, reference).map_or(String::new(), |d| format!("; {d}"));
        Err(format!(
            "JPEG beyond tolerance: mean {mean:.2} (max {MAX_MEAN_ABS_DIFF}), p99.9 {p999} (max {MAX_P999_DIFF}), \
             max {max}{how}"
        ))
    }
}

#[test]
fn third_party_files_decode_like_the_reference_decoders() {
    let missing = missing_tools();
    if !missing.is_empty() {
        if std::env::var("PHIEU_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!(
                "PHIEU_REQUIRE_TOOLS=1 but the conformance tools are missing: {}",
                missing.join(", ")
            );
        }
        println!(
            "skipping the decoder conformance test: missing {} (install poppler-utils libtiff-tools ghostscript \
             imagemagick; pip install img2pdf pikepdf pillow numpy)",
            missing.join(", ")
        );
        return;
    }

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("phieu-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = Command::new("python3")
        .arg(manifest.join("tests/conformance/make_corpus.py"))
        .arg(&dir)
        .current_dir(manifest)
        .output()
        .expect("run make_corpus.py");
    assert!(
        out.status.success(),
        "make_corpus.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let index = std::fs::read_to_string(dir.join("index.jsonl")).expect("index.jsonl");
    let cases: Vec<Case> = index
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("index line"))
        .collect();
    assert!(!cases.is_empty(), "make_corpus.py listed no cases");

    let opts = LoadOptions {
        descreen: false,
        paper_balance: false,
        destreak: false,
        ..Default::default()
    };
    let ours_dir = dir.join("ours");
    let mut failures = vec![];
    let mut rows = vec![];
    // Pages the reference found in each file, to check the page count against.
    let mut pages: BTreeMap<&str, u32> = BTreeMap::new();
    for case in &cases {
        *pages.entry(&case.file).or_default() += 1;
        let path: PathBuf = dir.join(&case.file);
        if let Some((_, why)) = REFUSED.iter().find(|(enc, _)| case.encoding.contains(enc)) {
            let r = PageSource::open(&path, &opts).and_then(|mut src| src.page(case.page));
            let status = match r {
                Err(e) if e.to_string().contains(why) => format!("ok (refused: {e})"),
                Err(e) => format!("FAIL: refused for another reason: {e}"),
                Ok(_) => "FAIL: decoded, but the test expects the documented refusal".into(),
            };
            if status.starts_with("FAIL") {
                failures.push(format!("{} p{}: {status}", case.file, case.page));
            }
            rows.push((
                format!("{} p{}", case.file, case.page),
                case.producer.clone(),
                case.encoding.clone(),
                status,
            ));
            continue;
        }
        let result = PageSource::open(&path, &opts)
            .map_err(|e| format!("open error: {e}"))
            .and_then(|mut src| {
                src.page(case.page)
                    .map_err(|e| format!("decode error: {e}"))
            })
            .and_then(|page| {
                let reference = reference_grey(&dir.join(&case.reference), case.colour)?;
                compare(case, &page.image, &reference).map_err(|e| {
                    let _ = std::fs::create_dir_all(&ours_dir);
                    let png = ours_dir.join(format!("{}_p{}.png", case.file, case.page));
                    match page.image.save(&png) {
                        Ok(()) => format!("{e} [ours: {}]", png.display()),
                        Err(_) => e,
                    }
                })
            });
        let status = match &result {
            Ok(s) => s.clone(),
            Err(e) => format!("FAIL: {e}"),
        };
        rows.push((
            format!("{} p{}", case.file, case.page),
            case.producer.clone(),
            case.encoding.clone(),
            status,
        ));
        if let Err(e) = result {
            failures.push(format!(
                "{} page {} ({}, {}): {e}",
                case.file, case.page, case.producer, case.encoding
            ));
        }
    }
    for (file, n) in &pages {
        match PageSource::open(&dir.join(file), &opts) {
            Ok(src) if src.page_count() != *n => {
                let msg = format!("page count {}, the reference shows {n}", src.page_count());
                rows.push((
                    file.to_string(),
                    "-".into(),
                    "page count".into(),
                    format!("FAIL: {msg}"),
                ));
                failures.push(format!("{file}: {msg}"));
            }
            _ => {}
        }
    }

    println!(
        "{:<48} {:<22} {:<52} result",
        "file", "producer", "encoding"
    );
    for (file, producer, encoding, status) in &rows {
        println!("{file:<48} {producer:<22} {encoding:<52} {status}");
    }
    println!(
        "{} of {} cases passed; corpus in {}",
        rows.len() - failures.len(),
        rows.len(),
        dir.display()
    );
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance cases failed (corpus and our decodes kept in {}):\n{}",
        failures.len(),
        rows.len(),
        dir.display(),
        failures.join("\n")
    );
}
