//! phieu: reads scanned satisfaction-rating forms ("Phiếu đánh giá mức độ hài lòng") into structured,
//! reviewed ratings. One module per pipeline stage; `main.rs` only parses flags and wires them.

pub mod bench;
pub mod db;
pub mod eval;
pub mod export;
pub mod final_record;
pub mod geom;
pub mod identify;
pub mod load;
pub mod marks;
pub mod ocr;
pub mod pdf;
pub mod pipeline;
pub mod register;
pub mod render;
pub mod report;
pub mod review;
pub mod synth;
pub mod template;
pub mod validate;

/// Program version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
