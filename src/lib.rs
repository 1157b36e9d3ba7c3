//! phieu: reads scanned satisfaction-rating forms ("Phiếu đánh giá mức độ hài lòng") into structured,
//! reviewed ratings.
//!
//! The folders follow the flow: [`read`] holds the reading stages (load → register → identify → marks → codes →
//! validate), [`batch`] runs them over a batch in parallel with its journal and manifest, [`results`] is the
//! per-page contract they write, [`review`] is the operator's tool, [`store`] the final records and the database,
//! [`report`] the director's report, and [`forms`] the templates and the renderer. The simulator, evaluator and
//! benchmark are in [`tools`] behind the `tools` feature. The `phieu` binary (`src/main.rs`, `src/cli/`) only
//! parses flags and calls these.

pub mod batch;
pub mod forms;
pub mod geom;
pub mod raster;
pub mod read;
pub mod report;
pub mod results;
pub mod returned;
pub mod review;
pub mod store;
#[cfg(feature = "tools")]
pub mod tools;
pub mod util;

/// Program version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
