//! Developer tools behind the `tools` feature: the scan simulator, the evaluator against a truth file, and the
//! benchmark, which times the real pipeline's stages.

pub mod bench;
pub mod eval;
pub mod synth;
