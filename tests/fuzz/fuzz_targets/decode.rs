//! Fuzz target: any bytes, under any of our extensions, through the page decoders. Nothing may panic, and
//! nothing may allocate beyond the pixel limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phieu::read::load::{FileKind, LoadOptions, PageSource};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let (kind, name) = match sel % 3 {
        0 => (FileKind::Raster, "fuzz.png"),
        1 => (FileKind::Tiff, "fuzz.tif"),
        _ => (FileKind::Pdf, "fuzz.pdf"),
    };
    // A small pixel limit keeps each run fast and proves the limit holds for every decoder.
    let opts = LoadOptions {
        max_pixels: 4_000_000,
        max_pages_per_file: 8,
        ..LoadOptions::default()
    };
    if let Ok(mut src) = PageSource::from_bytes(Path::new(name), bytes.to_vec(), kind, &opts) {
        for p in 1..=src.readable_pages().min(4) {
            if let Ok(page) = src.page(p) {
                let (w, h) = page.image.dimensions();
                assert!(w as u64 * h as u64 <= opts.max_pixels, "{w} x {h} over the limit");
            }
        }
    }
});
