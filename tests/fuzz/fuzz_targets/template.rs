//! Fuzz target: arbitrary text as a `phieu-form/1` template. Parsing must fail cleanly or give a template that
//! every later stage can rely on (its field patterns compile, its geometry queries do not panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phieu::forms::template::Template;
use phieu::read::validate::CodePattern;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Template::from_json(text, Path::new("fuzz.json")) {
        for f in &t.fields {
            CodePattern::from_regex(&f.pattern).expect("a validated template's patterns compile");
        }
        let _ = t.marker_centers();
        let _ = t.table_rules_y();
        let _ = t.boxes().count();
    }
});
