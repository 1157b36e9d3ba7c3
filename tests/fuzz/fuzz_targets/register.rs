//! Fuzz target: an arbitrary small grey page through registration, identification and verification. Nothing
//! may panic or loop, whatever the pixels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phieu::read::identify::{identify, IdentifyOptions};
use phieu::read::register::{register, verify, RegisterOptions, RegisterOutcome};
use phieu::forms::template::Template;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    // Sizes from 1 to 800 px (3.8 px/mm on A4 at most, above the smallest scale registration accepts); the
    // pixels repeat the rest of the input to fill the page.
    let w = 1 + (u16::from_le_bytes([data[0], data[1]]) % 800) as u32;
    let h = 1 + (u16::from_le_bytes([data[2], data[3]]) % 800) as u32;
    let px = &data[4..];
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        if px.is_empty() {
            image::Luma([255])
        } else {
            image::Luma([px[((y * w + x) as usize) % px.len()]])
        }
    });
    let opts = RegisterOptions::default();
    if let RegisterOutcome::Registered(mut reg) = register(&img, &[], &opts) {
        let templates = Template::builtins();
        let id = identify(&img, &reg, &templates, &IdentifyOptions::default());
        let t = id
            .template
            .as_ref()
            .and_then(|tid| templates.iter().find(|t| &t.template_id == tid))
            .unwrap_or(&templates[0]);
        verify(&img, &mut reg, t, &opts);
    }
});
