//! Input formats as scanners write them: multi-page 1-bit CCITT Group 4 TIFF, PDF with one JPEG per page,
//! multi-page greyscale TIFF, PDF with a JPEG 2000 page, and a broken file that must be named while the rest of
//! the batch goes on.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("phieu-fmt-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn scan(inputs: &[&Path], out: &Path) -> (Option<i32>, Vec<Value>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .arg("scan")
        .args(inputs)
        .args(["--quiet", "--no-crops", "--out"])
        .arg(out)
        .output()
        .unwrap();
    let recs = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        o.status.code(),
        recs,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// (page number, template id or "-") of each record, in output order.
fn pages_and_templates(recs: &[Value]) -> Vec<(u64, &str)> {
    recs.iter()
        .map(|r| {
            (
                r["source"]["page"].as_u64().unwrap(),
                r["template"].as_str().unwrap_or("-"),
            )
        })
        .collect()
}

/// The template mm -> image px map a record's registration found.
fn homography(rec: &Value) -> phieu::geom::Homography {
    let m = &rec["registration"]["homography"];
    let at = |r: usize, c: usize| m[r][c].as_f64().unwrap();
    phieu::geom::Homography(std::array::from_fn(|r| std::array::from_fn(|c| at(r, c))))
}

/// The template a record was read with.
fn template_of(rec: &Value) -> phieu::forms::template::Template {
    phieu::forms::template::Template::builtin(rec["template"].as_str().unwrap()).unwrap()
}

/// Every row of `other` reads as in `clean`: the same choice with the same status.
fn rows_read_alike(clean: &Value, other: &Value) {
    for (row, a) in clean["answers"].as_object().unwrap() {
        let s = &other["answers"][row];
        assert_eq!(
            (&s["choice"], &s["status"]),
            (&a["choice"], &a["status"]),
            "row {row}"
        );
    }
}

#[test]
fn multi_page_group4_tiff_reads_every_page() {
    let f = root().join("tests/fixtures/formats/four_forms_g4_khdt_gtvt_khdt_khdt.tif");
    let out = tmp("g4");
    let (_, recs, _) = scan(&[&f], &out.join("o"));
    let got = pages_and_templates(&recs);
    assert_eq!(
        got,
        vec![(1, "khdt"), (2, "gtvt"), (3, "khdt"), (4, "khdt")]
    );
    std::fs::remove_dir_all(&out).ok();
}

/// A scanner-style PDF: each page one full-page DCT (JPEG) image.
fn jpeg_pdf(pages: &[PathBuf], out: &Path) {
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut kids = vec![];
    for p in pages {
        let bytes = std::fs::read(p).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        let (w, h) = (img.width() as i64, img.height() as i64);
        let cs = if img.color().has_color() {
            "DeviceRGB"
        } else {
            "DeviceGray"
        };
        let img_id = doc.add_object(Stream::new(
            dictionary! {"Type" => "XObject", "Subtype" => "Image", "Width" => w, "Height" => h,
            "ColorSpace" => cs, "BitsPerComponent" => 8, "Filter" => "DCTDecode"},
            bytes,
        ));
        let content = format!("q {w} 0 0 {h} 0 0 cm /Im0 Do Q");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "MediaBox" => vec![0.into(), 0.into(), w.into(), h.into()],
            "Contents" => content_id,
            "Resources" => dictionary! {"XObject" => dictionary! {"Im0" => img_id}},
        });
        kids.push(Object::Reference(page_id));
    }
    let n = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => kids, "Count" => n}),
    );
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog);
    doc.save(out).unwrap();
}

#[test]
fn scanner_pdf_with_jpeg_pages_reads_every_page() {
    let dir = tmp("pdf");
    let pdf = dir.join("batch.pdf");
    jpeg_pdf(
        &[
            root().join("samples/synth_00002.jpg"),
            root().join("samples/synth_00001.jpg"),
        ],
        &pdf,
    );
    let (_, recs, _) = scan(&[&pdf], &dir.join("o"));
    let got = pages_and_templates(&recs);
    assert_eq!(got, vec![(1, "khdt"), (2, "gtvt")]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn jpeg_2000_pdf_reads_like_its_jpeg() {
    // img2pdf of ImageMagick's JPEG 2000 (quality 30) of samples/synth_00002.jpg: the page must read as the JPEG
    // does, answer for answer and code for code.
    let dir = tmp("jpx");
    let pdf = root().join("tests/fixtures/formats/jpeg2000_pdf_khdt_should_read_like_its_jpeg.pdf");
    let jpg = root().join("samples/synth_00002.jpg");
    let (_, recs, _) = scan(&[&pdf, &jpg], &dir.join("o"));
    assert_eq!(recs.len(), 2);
    // What each row and field says; coverage, confidence and so whether a person checks a row differ with the
    // lossy coding.
    let read = |r: &Value| {
        let rows: Vec<_> = r["answers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, a)| (k.clone(), a["choice"].clone()))
            .collect();
        let fields: Vec<_> = r["fields"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, f)| (k.clone(), f["value"].clone(), f["status"].clone()))
            .collect();
        (r["template"].clone(), rows, fields)
    };
    assert_eq!(recs[0]["template"], "khdt");
    assert_eq!(read(&recs[0]), read(&recs[1]));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn multi_page_grey_tiff_reads_every_page() {
    use tiff::encoder::{colortype, TiffEncoder};
    let dir = tmp("tiff");
    let path = dir.join("two.tif");
    let mut enc = TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
    for s in ["samples/synth_00003.jpg", "samples/synth_00002.jpg"] {
        let g = image::open(root().join(s)).unwrap().to_luma8();
        enc.write_image::<colortype::Gray8>(g.width(), g.height(), g.as_raw())
            .unwrap();
    }
    drop(enc);
    let (_, recs, _) = scan(&[&path], &dir.join("o"));
    let got: Vec<&str> = recs
        .iter()
        .map(|r| r["template"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(got, vec!["gtvt", "khdt"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn broken_file_is_named_and_the_batch_goes_on() {
    let dir = tmp("broken");
    std::fs::write(dir.join("broken.png"), b"not an image at all").unwrap();
    std::fs::copy(root().join("samples/synth_00001.jpg"), dir.join("good.jpg")).unwrap();
    let (code, recs, err) = scan(&[&dir], &dir.join("o"));
    assert_eq!(code, Some(3), "exit code 3 = some inputs unreadable");
    assert!(err.contains("broken.png"), "{err}");
    assert_eq!(recs.len(), 2);
    let broken = recs
        .iter()
        .find(|r| {
            r["source"]["path"]
                .as_str()
                .unwrap()
                .ends_with("broken.png")
        })
        .unwrap();
    assert_eq!(broken["status"], "rejected");
    assert!(broken["error"].as_str().unwrap().contains("broken.png"));
    let good = recs
        .iter()
        .find(|r| r["source"]["path"].as_str().unwrap().ends_with("good.jpg"))
        .unwrap();
    assert_eq!(good["template"], "gtvt");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fax_resolution_codes_go_to_a_person() {
    use tiff::encoder::{colortype, Rational, TiffEncoder};
    let dir = tmp("fax");
    let path = dir.join("fax_204x98_codes_should_need_review.tif");
    let mut enc = TiffEncoder::new(std::fs::File::create(&path).unwrap()).unwrap();
    for s in ["samples/synth_00002.jpg", "samples/synth_00003.jpg"] {
        // A fax's "normal" mode: every other row, written as 204 × 98 dpi.
        let g = image::open(root().join(s)).unwrap().to_luma8();
        let half = image::imageops::resize(
            &g,
            g.width(),
            g.height() * 98 / 204,
            image::imageops::FilterType::Triangle,
        );
        let mut img = enc
            .new_image::<colortype::Gray8>(half.width(), half.height())
            .unwrap();
        img.x_resolution(Rational { n: 204, d: 1 });
        img.y_resolution(Rational { n: 98, d: 1 });
        img.write_data(half.as_raw()).unwrap();
    }
    drop(enc);
    let (_, recs, _) = scan(&[&path], &dir.join("o"));
    assert_eq!(pages_and_templates(&recs), vec![(1, "khdt"), (2, "gtvt")]);
    let mut ocr_fields = 0;
    for r in &recs {
        for (id, f) in r["fields"].as_object().unwrap() {
            if f["source"] != "ocr" {
                continue;
            }
            ocr_fields += 1;
            assert_eq!(f["status"], "needs_review", "{id}: {f}");
            let reasons = f["reasons"].as_array().unwrap();
            assert!(reasons.iter().any(|x| x == "low_resolution"), "{id}: {f}");
        }
    }
    assert!(ocr_fields > 0, "no code was read by the OCR on these pages");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn scanner_streak_through_an_option_column_reads_like_the_clean_page() {
    // Dust on a feeder's glass draws a dark line down the whole page; through the second option column it
    // crosses a box in every row, and read as it is it ticks them.
    let dir = tmp("streak");
    let clean = root().join("samples/synth_00002.jpg");
    let (_, recs, _) = scan(&[&clean], &dir.join("clean"));
    let b = template_of(&recs[0]).rows[0].options[1].bbox;
    let x = homography(&recs[0]).apply([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0])[0] as u32;
    let mut g = image::open(&clean).unwrap().to_luma8();
    for y in 0..g.height() {
        for dx in 0..3 {
            g.put_pixel(x + dx, y, [55].into());
        }
    }
    let streaked = dir.join("streaked.png");
    g.save(&streaked).unwrap();
    let (_, srecs, _) = scan(&[&streaked], &dir.join("streaked"));
    assert!(
        !srecs[0]["registration"]["streaks_removed"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        srecs[0]["registration"]
    );
    rows_read_alike(&recs[0], &srecs[0]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn page_cut_through_its_markers_and_first_column_reads_like_the_clean_page() {
    // A scanner's frame cut 20 mm off the left (both left markers and the table's first rule) and 12 mm off the
    // bottom (half the disc): only the table can place the page, and two forms share its shape, so the field
    // boxes must tell where it sits.
    let dir = tmp("cut_table");
    let clean = root().join("samples/synth_00002.jpg");
    let (_, recs, _) = scan(&[&clean], &dir.join("clean"));
    let g = image::open(&clean).unwrap().to_luma8();
    let mm = g.width() as f64 / 210.0;
    let (left, bottom) = ((20.0 * mm) as u32, (12.0 * mm) as u32);
    let cut =
        image::imageops::crop_imm(&g, left, 0, g.width() - left, g.height() - bottom).to_image();
    let path = dir.join("cut.png");
    cut.save(&path).unwrap();
    let (_, crecs, _) = scan(&[&path], &dir.join("cut"));
    let reg = &crecs[0]["registration"];
    assert_eq!(reg["fit"], "table", "{}", crecs[0]);
    assert_eq!(reg["verified"], true, "{reg}");
    assert_eq!(crecs[0]["template"], recs[0]["template"]);
    rows_read_alike(&recs[0], &crecs[0]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn copy_thresholded_until_only_markers_and_boxes_remain_goes_to_a_person() {
    // A copy made so light that its thin rules, its text and its QR broke up keeps its corner markers and the
    // option boxes' heavier outlines. The table's rules cannot place the template, but the boxes show the page is
    // one of our forms: a person must see it, it is not `not_a_form`.
    let dir = tmp("boxes_only");
    let clean = root().join("samples/synth_00002.jpg");
    let (_, recs, _) = scan(&[&clean], &dir.join("clean"));
    let (t, h) = (template_of(&recs[0]), homography(&recs[0]));
    // Areas kept, template mm: each marker's square and a 0.6 mm band around each option box's outline.
    let mut keep: Vec<([f64; 4], Option<[f64; 4]>)> = vec![];
    for mk in &t.markers {
        let ([x, y], s) = (mk.center, mk.size / 2.0 + 1.0);
        keep.push(([x - s, y - s, x + s, y + s], None));
    }
    for (_, _, b) in t.boxes() {
        let outer = [b[0] - 0.6, b[1] - 0.6, b[2] + 0.6, b[3] + 0.6];
        let inner = [b[0] + 0.6, b[1] + 0.6, b[2] - 0.6, b[3] - 0.6];
        keep.push((outer, Some(inner)));
    }
    let g = image::open(&clean).unwrap().to_luma8();
    let within = |p: [f64; 2], b: &[f64; 4]| {
        let (a, c) = (h.apply([b[0], b[1]]), h.apply([b[2], b[3]]));
        p[0] >= a[0] && p[0] <= c[0] && p[1] >= a[1] && p[1] <= c[1]
    };
    let light = image::GrayImage::from_fn(g.width(), g.height(), |x, y| {
        let p = [x as f64 + 0.5, y as f64 + 0.5];
        let kept = keep
            .iter()
            .any(|(outer, inner)| within(p, outer) && !inner.is_some_and(|i| within(p, &i)));
        image::Luma([if kept { g.get_pixel(x, y).0[0] } else { 250 }])
    });
    let path = dir.join("light.png");
    light.save(&path).unwrap();
    let (_, lrecs, _) = scan(&[&path], &dir.join("light"));
    assert_eq!(lrecs[0]["status"], "needs_review", "{}", lrecs[0]);
    assert!(
        lrecs[0]["reasons"]
            .as_array()
            .unwrap()
            .contains(&Value::from("layout_uncertain")),
        "{}",
        lrecs[0]
    );
    std::fs::remove_dir_all(&dir).ok();
}
