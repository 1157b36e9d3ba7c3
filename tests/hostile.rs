//! Hostile and broken input (issue #9): every case is generated here into a temp folder, mixed with a good page
//! and read by the real binary in one batch. Each broken file or page must get a `rejected` or `needs_review`
//! record whose reason says why and whose error names file and page; the good page is still accepted; the
//! run ends with the documented exit code; and decompression bombs are refused before any allocation (the batch
//! runs under a virtual-memory limit far below what one bomb page would need).
//!
//! Crash inputs found by the fuzzers (`tests/fuzz`) are kept in `tests/hostile/fuzz/` and read here too.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("phieu-hostile-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Clean synthetic pages (seed 7 at 200 dpi): page 2 is a KHĐT form read fully automatically, page 0 a GTVT form,
/// page 3 a KHĐT form without a dossier code. `truth.jsonl` holds each page's transform.
fn synth(dir: &Path) -> Vec<Value> {
    let o = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args([
            "synth", "--clean", "--count", "4", "--seed", "7", "--dpi", "200",
        ])
        .args(["--blank-fraction", "0", "--other-fraction", "0", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(dir.join("truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `phieu scan` on `inputs` under a virtual-memory limit (KiB) and returns (exit code, records, stderr).
fn scan(
    inputs: &Path,
    out: &Path,
    vm_kib: u64,
    extra: &[&str],
) -> (Option<i32>, Vec<Value>, String) {
    let cmd = format!(
        "ulimit -v {vm_kib} && exec \"$0\" scan \"$1\" --quiet --no-crops --jobs 2 --out \"$2\" {}",
        extra.join(" ")
    );
    let o = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .arg(env!("CARGO_BIN_EXE_phieu"))
        .arg(inputs)
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

fn grey(p: &Path) -> image::GrayImage {
    image::open(p).unwrap().to_luma8()
}

fn save_png(img: &image::GrayImage, p: &Path) {
    img.save_with_format(p, image::ImageFormat::Png).unwrap();
}

/// A PNG chunk with its CRC.
fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(kind);
    out.extend(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend(crc.sum().to_be_bytes());
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A valid PNG header declaring `w` x `h` grey pixels, with a few compressed rows of data.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = vec![];
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &zlib(&vec![0u8; 4 * (w as usize + 1)]));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A one-strip uncompressed grey TIFF with `bits` per sample; `data` need not be as long as the header says.
fn raw_tiff(w: u32, h: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let entries: Vec<(u16, u16, u32)> = vec![
        (256, 4, w),                 // ImageWidth
        (257, 4, h),                 // ImageLength
        (258, 3, bits as u32),       // BitsPerSample
        (259, 3, 1),                 // Compression: none
        (262, 3, 1),                 // Photometric: black is zero
        (273, 4, 0),                 // StripOffsets (patched below)
        (277, 3, 1),                 // SamplesPerPixel
        (278, 4, h),                 // RowsPerStrip
        (279, 4, data.len() as u32), // StripByteCounts
    ];
    let ifd_len = 2 + entries.len() * 12 + 4;
    let data_at = 8 + ifd_len as u32;
    let mut out = b"II*\0".to_vec();
    out.extend(8u32.to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, typ, v) in entries {
        let v = if tag == 273 { data_at } else { v };
        out.extend(tag.to_le_bytes());
        out.extend(typ.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        if typ == 3 {
            out.extend((v as u16).to_le_bytes());
            out.extend([0, 0]);
        } else {
            out.extend(v.to_le_bytes());
        }
    }
    out.extend(0u32.to_le_bytes());
    out.extend(data);
    out
}

/// Packs 8-bit grey to `bits` per sample (MSB first, rows padded to a byte).
fn pack(img: &image::GrayImage, bits: u32) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let row = (w * bits).div_ceil(8) as usize;
    let mut out = vec![0u8; row * h as usize];
    for y in 0..h {
        for x in 0..w {
            let v = (img.get_pixel(x, y).0[0] as u32 >> (8 - bits)) as u8;
            let bit = (x * bits) as usize;
            out[y as usize * row + bit / 8] |= v << (8 - bits as usize - bit % 8);
        }
    }
    out
}

/// A PDF whose pages each show one image XObject; `image(i)` gives page i's image stream (None: a text page).
fn pdf(pages: usize, mut image: impl FnMut(usize) -> Option<lopdf::Stream>) -> lopdf::Document {
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let text = doc.add_object(Stream::new(
        dictionary! {},
        b"BT /F1 12 Tf 72 712 Td (Hello) Tj ET".to_vec(),
    ));
    let shown = doc.add_object(Stream::new(
        dictionary! {},
        b"q 595 0 0 842 0 0 cm /Im0 Do Q".to_vec(),
    ));
    let mut kids = vec![];
    for i in 0..pages {
        let (contents, resources) = match image(i) {
            Some(s) => {
                let id = doc.add_object(s);
                (shown, dictionary! {"XObject" => dictionary! {"Im0" => id}})
            }
            None => (text, dictionary! {}),
        };
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => contents, "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        });
        kids.push(Object::Reference(page));
    }
    let n = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => kids, "Count" => n}),
    );
    let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    doc.trailer.set("Root", catalog);
    doc
}

fn jpeg_stream(path: &Path) -> lopdf::Stream {
    use lopdf::dictionary;
    let bytes = std::fs::read(path).unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    let cs = if img.color().has_color() {
        "DeviceRGB"
    } else {
        "DeviceGray"
    };
    lopdf::Stream::new(
        dictionary! {"Type" => "XObject", "Subtype" => "Image", "Width" => img.width() as i64,
        "Height" => img.height() as i64, "ColorSpace" => cs, "BitsPerComponent" => 8, "Filter" => "DCTDecode"},
        bytes,
    )
}

fn save_pdf(mut doc: lopdf::Document, p: &Path) {
    doc.save(p).unwrap();
}

fn record<'a>(recs: &'a [Value], name: &str, page: u64) -> &'a Value {
    recs.iter()
        .find(|r| {
            r["source"]["path"].as_str().unwrap().ends_with(name) && r["source"]["page"] == page
        })
        .unwrap_or_else(|| panic!("no record for {name} page {page}"))
}

fn reasons(r: &Value) -> Vec<&str> {
    r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

/// Asserts status and reason of `name` page `page`; for rejections also that the error names file and page.
fn expect(recs: &[Value], name: &str, page: u64, status: &str, reason: &str) {
    let r = record(recs, name, page);
    assert_eq!(r["status"], status, "{name} p{page}: {r}");
    assert!(
        reason.is_empty() || reasons(r).contains(&reason),
        "{name} p{page} lacks {reason}: {r}"
    );
    if status == "rejected" || reason == "time_budget_exceeded" {
        let e = r["error"].as_str().unwrap_or("");
        assert!(
            e.contains(name) && e.contains(&format!("page {page}")),
            "{name}: error `{e}`"
        );
    }
}

/// 1.5 GiB of address space: plenty for the batch (threads, model, pages of a few megapixels), far below the
/// 2.5 GB that one 50,000 x 50,000 grey page alone would take.
const VM_KIB: u64 = 1536 * 1024;

#[test]
fn hostile_batch_rejects_each_case_and_keeps_the_good_page() {
    let dir = tmp("batch");
    let pages = dir.join("synth");
    let truth = synth(&pages);
    assert_eq!(truth[2]["template"], "khdt");
    let b = dir.join("in");
    std::fs::create_dir_all(&b).unwrap();
    let page = |i: usize| pages.join(format!("synth_{i:05}.jpg"));
    std::fs::copy(page(2), b.join("good.jpg")).unwrap();

    // Broken files.
    std::fs::write(b.join("empty.png"), b"").unwrap();
    let jpg = std::fs::read(page(0)).unwrap();
    std::fs::write(b.join("truncated.jpg"), &jpg[..jpg.len() * 4 / 10]).unwrap();
    let mut png = std::io::Cursor::new(vec![]);
    grey(&page(1))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let png = png.into_inner();
    std::fs::write(b.join("truncated.png"), &png[..png.len() / 2]).unwrap();
    let mut tif = std::io::Cursor::new(vec![]);
    grey(&page(1))
        .write_to(&mut tif, image::ImageFormat::Tiff)
        .unwrap();
    let tif = tif.into_inner();
    std::fs::write(b.join("truncated.tif"), &tif[..tif.len() / 2]).unwrap();
    save_pdf(
        pdf(2, |_| Some(jpeg_stream(&page(1)))),
        &dir.join("whole.pdf"),
    );
    let whole = std::fs::read(dir.join("whole.pdf")).unwrap();
    std::fs::write(b.join("truncated.pdf"), &whole[..whole.len() / 2]).unwrap();

    // Wrong extensions: a JPEG named .tif is read by its content; text named .pdf is not an image.
    std::fs::copy(page(0), b.join("jpeg_named.tif")).unwrap();
    std::fs::write(
        b.join("text_named.pdf"),
        "Kính gửi quý cơ quan\n".repeat(50),
    )
    .unwrap();

    // Decompression bombs: 50,000 x 50,000 declared in PNG, TIFF and PDF headers.
    std::fs::write(b.join("bomb.png"), png_bomb(50_000, 50_000)).unwrap();
    std::fs::write(
        b.join("bomb.tif"),
        raw_tiff(50_000, 50_000, 8, &[255; 4096]),
    )
    .unwrap();
    save_pdf(
        pdf(1, |_| {
            use lopdf::dictionary;
            Some(lopdf::Stream::new(
                dictionary! {"Type" => "XObject", "Subtype" => "Image", "Width" => 50_000, "Height" => 50_000,
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8, "Filter" => "FlateDecode"},
                zlib(&vec![255u8; 1 << 20]),
            ))
        }),
        &b.join("bomb.pdf"),
    );

    // 10,000 pages (one small white image shared by all): the first 2,000 (the default limit) are read, the
    // rest get one record.
    {
        use lopdf::dictionary;
        let mut doc = pdf(0, |_| None);
        let img = doc.add_object(lopdf::Stream::new(
            dictionary! {"Type" => "XObject", "Subtype" => "Image", "Width" => 16, "Height" => 16,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8},
            vec![255u8; 256],
        ));
        let show = doc.add_object(lopdf::Stream::new(dictionary! {}, b"/Im0 Do".to_vec()));
        let pages_id = doc
            .catalog()
            .unwrap()
            .get(b"Pages")
            .unwrap()
            .as_reference()
            .unwrap();
        let kids: Vec<lopdf::Object> = (0..10_000)
            .map(|_| {
                lopdf::Object::Reference(doc.add_object(dictionary! {
                    "Type" => "Page", "Parent" => pages_id, "Contents" => show,
                    "Resources" => dictionary! {"XObject" => dictionary! {"Im0" => img}},
                    "MediaBox" => vec![0.into(), 0.into(), 16.into(), 16.into()],
                }))
            })
            .collect();
        doc.objects.insert(
            pages_id,
            lopdf::Object::Dictionary(
                dictionary! {"Type" => "Pages", "Kids" => kids, "Count" => 10_000},
            ),
        );
        save_pdf(doc, &b.join("pages10000.pdf"));
    }

    // A million nested arrays: the PDF parser recurses per level and would overflow any stack.
    {
        let mut deep =
            b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /A "
                .to_vec();
        deep.extend(std::iter::repeat_n(b'[', 1_000_000));
        deep.extend(b" >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
        std::fs::write(b.join("deep_nesting.pdf"), deep).unwrap();
    }

    // Encrypted with a password we do not have; a PDF page holding only text.
    {
        use lopdf::{dictionary, Object, StringFormat};
        let mut doc = pdf(1, |_| Some(jpeg_stream(&page(1))));
        let enc = doc.add_object(dictionary! {
            "Filter" => "Standard", "V" => 1, "R" => 2, "P" => -44,
            "O" => Object::String(vec![0x5a; 32], StringFormat::Hexadecimal),
            "U" => Object::String(vec![0xa5; 32], StringFormat::Hexadecimal),
        });
        doc.trailer.set("Encrypt", enc);
        let id = Object::String(vec![7; 16], StringFormat::Hexadecimal);
        doc.trailer.set("ID", vec![id.clone(), id]);
        save_pdf(doc, &b.join("encrypted.pdf"));
        save_pdf(
            pdf(2, |i| (i == 0).then(|| jpeg_stream(&page(1)))),
            &b.join("text_page.pdf"),
        );
    }

    // TIFF bit depths: 2, 4 and 16-bit grey are read; 12-bit is refused with the reason.
    let form3 = grey(&page(3));
    let (w, h) = form3.dimensions();
    std::fs::write(b.join("grey2.tif"), raw_tiff(w, h, 2, &pack(&form3, 2))).unwrap();
    std::fs::write(b.join("grey4.tif"), raw_tiff(w, h, 4, &pack(&form3, 4))).unwrap();
    {
        use tiff::encoder::{colortype, TiffEncoder};
        let f = std::fs::File::create(b.join("grey16.tif")).unwrap();
        let wide: Vec<u16> = form3
            .as_raw()
            .iter()
            .map(|&v| (v as u16 * 257) ^ 1)
            .collect();
        TiffEncoder::new(f)
            .unwrap()
            .write_image::<colortype::Gray16>(w, h, &wide)
            .unwrap();
    }
    std::fs::write(b.join("grey12.tif"), raw_tiff(64, 64, 12, &[128; 64 * 96])).unwrap();

    // Pages that decode but are no scan: noise and all black.
    let mut state = 12345u32;
    let noise = image::GrayImage::from_fn(w, h, |_, _| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        image::Luma([(state >> 24) as u8])
    });
    save_png(&noise, &b.join("noise.png"));
    save_png(&image::GrayImage::new(w, h), &b.join("black.png"));

    let out = dir.join("out");
    let t = std::time::Instant::now();
    let (code, recs, err) = scan(&b, &out, VM_KIB, &[]);
    let secs = t.elapsed().as_secs_f64();
    eprintln!("hostile batch: {} records in {secs:.1}s", recs.len());
    assert_eq!(code, Some(3), "exit 3: some inputs unreadable\n{err}");

    expect(&recs, "good.jpg", 1, "accepted", "");
    expect(&recs, "empty.png", 1, "rejected", "empty_file");
    expect(&recs, "truncated.jpg", 1, "rejected", "unreadable");
    expect(&recs, "truncated.png", 1, "rejected", "unreadable");
    expect(&recs, "truncated.tif", 1, "rejected", "unreadable");
    expect(&recs, "truncated.pdf", 1, "rejected", "unreadable");
    expect(&recs, "text_named.pdf", 1, "rejected", "unreadable");
    let renamed = record(&recs, "jpeg_named.tif", 1);
    assert_eq!(renamed["template"], "gtvt", "read by content: {renamed}");
    assert_ne!(renamed["status"], "rejected");
    for bomb in ["bomb.png", "bomb.tif", "bomb.pdf"] {
        expect(&recs, bomb, 1, "rejected", "too_large");
    }
    let big: Vec<&Value> = recs
        .iter()
        .filter(|r| {
            r["source"]["path"]
                .as_str()
                .unwrap()
                .ends_with("pages10000.pdf")
        })
        .collect();
    assert_eq!(
        big.len(),
        2001,
        "2,000 pages read plus one record for the rest"
    );
    assert!(big[..2000].iter().all(|r| r["status"] == "blank"));
    expect(&recs, "pages10000.pdf", 2001, "rejected", "too_many_pages");
    assert!(record(&recs, "pages10000.pdf", 2001)["error"]
        .as_str()
        .unwrap()
        .contains("10000 pages"));
    expect(&recs, "encrypted.pdf", 1, "rejected", "encrypted");
    expect(&recs, "deep_nesting.pdf", 1, "rejected", "unreadable");
    assert_ne!(record(&recs, "text_page.pdf", 1)["status"], "rejected");
    expect(&recs, "text_page.pdf", 2, "rejected", "no_page_image");
    for depth in ["grey2.tif", "grey4.tif", "grey16.tif"] {
        let r = record(&recs, depth, 1);
        assert_eq!(r["template"], "khdt", "{depth} read: {r}");
    }
    expect(&recs, "grey12.tif", 1, "rejected", "unreadable");
    expect(&recs, "noise.png", 1, "rejected", "noise_page");
    expect(&recs, "black.png", 1, "rejected", "dark_page");
    // Every unreadable input is also named on stderr.
    for name in [
        "empty.png",
        "truncated.png",
        "bomb.pdf",
        "encrypted.pdf",
        "pages10000.pdf",
    ] {
        assert!(err.contains(name), "{name} not named on stderr:\n{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Draws a QR code with `content` over the form's QR box (mm → px through the page's true transform).
fn paint_qr(img: &mut image::GrayImage, h: &[[f64; 3]; 3], bbox: [f64; 4], content: &str) {
    let code = qrcode::QrCode::new(content.as_bytes()).unwrap();
    let n = code.width();
    let colors = code.to_colors();
    let px = |x: f64, y: f64| {
        (
            h[0][0] * x + h[0][1] * y + h[0][2],
            h[1][0] * x + h[1][1] * y + h[1][2],
        )
    };
    let (x0, y0) = px(bbox[0] - 2.0, bbox[1] - 2.0);
    let (x1, y1) = px(bbox[2] + 2.0, bbox[3] + 2.0);
    for y in y0 as u32..y1 as u32 {
        for x in x0 as u32..x1 as u32 {
            img.put_pixel(x, y, image::Luma([255]));
        }
    }
    let (qx0, qy0) = px(bbox[0], bbox[1]);
    let (qx1, _) = px(bbox[2], bbox[3]);
    let m = (qx1 - qx0) / n as f64;
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (cx, cy) = ((i % n) as f64, (i / n) as f64);
            for y in (qy0 + cy * m) as u32..(qy0 + (cy + 1.0) * m) as u32 {
                for x in (qx0 + cx * m) as u32..(qx0 + (cx + 1.0) * m) as u32 {
                    img.put_pixel(x, y, image::Luma([0]));
                }
            }
        }
    }
}

#[test]
fn defective_forms_go_to_review_with_the_reason() {
    let dir = tmp("forms");
    let pages = dir.join("synth");
    let truth = synth(&pages);
    let b = dir.join("in");
    std::fs::create_dir_all(&b).unwrap();
    // Page 2 is read fully automatically as it is (checked by the batch test); each case below changes one thing.
    let base = grey(&pages.join("synth_00002.jpg"));
    let hom: [[f64; 3]; 3] =
        serde_json::from_value(truth[2]["transform"]["homography"].clone()).unwrap();
    let t = phieu::forms::template::Template::builtin("khdt").unwrap();
    let (w, h) = base.dimensions();

    let mut half = image::GrayImage::from_pixel(w, h, image::Luma([255]));
    let small = image::imageops::resize(&base, w / 2, h / 2, image::imageops::FilterType::Triangle);
    image::imageops::overlay(&mut half, &small, (w / 4) as i64, (h / 4) as i64);
    save_png(&half, &b.join("half_scale.png"));

    let mut junk = base.clone();
    paint_qr(
        &mut junk,
        &hom,
        t.qr.bbox,
        "http://example.com/?junk=1&x=%00",
    );
    save_png(&junk, &b.join("qr_junk.png"));
    let mut other = base.clone();
    paint_qr(
        &mut other,
        &hom,
        t.qr.bbox,
        "PDG1;T=GTVT;HS=000.00.12.H48-180601-3626",
    );
    save_png(&other, &b.join("qr_other_template.png"));
    let mut unknown = base.clone();
    paint_qr(&mut unknown, &hom, t.qr.bbox, "PDG1;T=XYZ9");
    save_png(&unknown, &b.join("qr_unknown_template.png"));

    // 200 characters of ink written over the dossier-code field, in four lines.
    let mut ink = base.clone();
    let font =
        ab_glyph::FontRef::try_from_slice(include_bytes!("../src/forms/fonts/DejaVuSans.ttf"))
            .unwrap();
    let fb = t.field("dossier_code").unwrap().bbox;
    let text: String = (0..200).map(|i| b"A7x.Q-3kZ9"[i % 10] as char).collect();
    let line_mm = (fb[3] - fb[1]) / 4.0;
    for k in 0..4 {
        let (x, y) = (
            hom[0][0] * fb[0] + hom[0][2],
            hom[1][1] * (fb[1] + k as f64 * line_mm) + hom[1][2],
        );
        imageproc::drawing::draw_text_mut(
            &mut ink,
            image::Luma([20]),
            x as i32,
            y as i32,
            (line_mm * hom[1][1]) as f32,
            &font,
            &text[k * 50..(k + 1) * 50],
        );
    }
    save_png(&ink, &b.join("ink200.png"));

    let (code, recs, err) = scan(&b, &dir.join("out"), VM_KIB, &[]);
    assert_eq!(code, Some(1), "exit 1: pages need review\n{err}");
    expect(&recs, "half_scale.png", 1, "needs_review", "form_scale");
    expect(&recs, "qr_junk.png", 1, "needs_review", "qr_unrecognised");
    expect(
        &recs,
        "qr_other_template.png",
        1,
        "needs_review",
        "template_conflict",
    );
    expect(
        &recs,
        "qr_unknown_template.png",
        1,
        "needs_review",
        "qr_unrecognised",
    );
    let r = record(&recs, "ink200.png", 1);
    assert_eq!(r["status"], "needs_review", "{r}");
    assert_eq!(r["fields"]["dossier_code"]["status"], "needs_review", "{r}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn limits_are_flags() {
    let dir = tmp("limits");
    let b = dir.join("in");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(root().join("samples/synth_00002.jpg"), b.join("a.jpg")).unwrap();
    let (w, h) = image::image_dimensions(b.join("a.jpg")).unwrap();
    // A pixel limit one below the page refuses it; the page's own size passes.
    let below = format!("--max-pixels={}", w as u64 * h as u64 - 1);
    let (code, recs, _) = scan(&b, &dir.join("o1"), VM_KIB, &[&below]);
    assert_eq!(code, Some(3));
    expect(&recs, "a.jpg", 1, "rejected", "too_large");
    let exact = format!("--max-pixels={}", w as u64 * h as u64);
    let (_, recs, _) = scan(&b, &dir.join("o2"), VM_KIB, &[&exact]);
    assert_ne!(record(&recs, "a.jpg", 1)["status"], "rejected");
    // A 1 ms budget cannot be met: the page goes to review, named.
    let (code, recs, _) = scan(&b, &dir.join("o3"), VM_KIB, &["--page-time-budget-ms=1"]);
    assert_eq!(code, Some(1));
    expect(&recs, "a.jpg", 1, "needs_review", "time_budget_exceeded");
    // Three pages per file at most: a four-page TIFF gives pages 1-3 and one record for page 4 onwards.
    let g4 = root().join("tests/fixtures/formats/four_forms_g4_khdt_gtvt_khdt_khdt.tif");
    std::fs::copy(g4, b.join("four.tif")).unwrap();
    std::fs::remove_file(b.join("a.jpg")).unwrap();
    let (_, recs, _) = scan(&b, &dir.join("o4"), VM_KIB, &["--max-pages-per-file=3"]);
    assert_eq!(recs.len(), 4);
    expect(&recs, "four.tif", 4, "rejected", "too_many_pages");
    assert_eq!(record(&recs, "four.tif", 3)["template"], "khdt");
    std::fs::remove_dir_all(&dir).ok();
}

/// Crafted files (a page tree that contains itself, a resource reference loop) and any crash inputs the fuzzers
/// found, kept as regression cases: each must give a record and a normal exit, never a crash or a hang.
#[test]
fn fuzz_regressions_never_crash() {
    let fuzz = root().join("tests/hostile/fuzz");
    let files: Vec<PathBuf> = std::fs::read_dir(&fuzz)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(files.len() >= 2, "the crafted cases are there");
    let dir = tmp("fuzz");
    for f in &files {
        let out = dir.join(f.file_name().unwrap());
        let (code, recs, err) = scan(f, &out, VM_KIB, &[]);
        assert!(
            matches!(code, Some(0..=3)),
            "{}: exit {code:?}\n{err}",
            f.display()
        );
        assert!(!recs.is_empty(), "{}: no record", f.display());
    }
    std::fs::remove_dir_all(&dir).ok();
}
