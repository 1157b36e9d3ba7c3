//! Storage after review: the final per-form record (`phieu-final/1`), the one-stop system's export of tablet and
//! website ratings, and the database they are imported into (SQLite or PostgreSQL), exactly once per rating.

pub mod channel;
pub mod db;
pub mod final_record;
pub mod ratings;
