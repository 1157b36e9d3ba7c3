//! The resume journal: finished pages appended as they complete, so an interrupted run restarts where it stopped.

use super::Unit;
use crate::results::PageRecord;
use std::path::Path;

/// The resume journal: one record per finished page, appended as pages complete, so an interrupted run
/// (even `kill -9`) restarts without redoing or duplicating pages. Keyed by (file SHA-256, page).
pub struct Journal {
    file: std::sync::Mutex<std::fs::File>,
    done: std::collections::HashMap<(String, u32), PageRecord>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` and loads the finished pages; a torn last line is ignored.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let mut done = std::collections::HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                if let Ok(r) = serde_json::from_str::<PageRecord>(line) {
                    if let Some(h) = r.file_sha256.clone() {
                        done.insert((h, r.source.page), r);
                    }
                }
            }
        }
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        // A torn line from a killed run must not glue onto the next record.
        let needs_nl = std::fs::read(path)
            .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
            .unwrap_or(false);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        if needs_nl {
            std::io::Write::write_all(&mut file, b"\n")?;
        }
        Ok(Journal {
            file: std::sync::Mutex::new(file),
            done,
        })
    }

    /// A finished record for this unit, if any (re-targeted to the unit's current path).
    pub fn finished(&self, u: &Unit) -> Option<PageRecord> {
        self.done
            .get(&(u.file_sha256.clone(), u.source.page))
            .map(|r| {
                let mut r = r.clone();
                r.source.path = u.source.path.to_string_lossy().into_owned();
                r
            })
    }

    /// Appends a finished record (one line, flushed).
    pub fn append(&self, r: &PageRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_string(r).expect("records serialize");
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        std::io::Write::write_all(&mut *f, line.as_bytes())?;
        std::io::Write::flush(&mut *f)
    }
}
