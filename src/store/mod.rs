//! Storage after review: the final per-form record (`phieu-final/1`) and the database it is imported into
//! (SQLite or PostgreSQL), exactly once per form.

pub mod db;
pub mod final_record;
