//! The orchestrator: expands inputs into pages, reads each page through the stages (register → identify →
//! verify → marks → codes → validate) in parallel with rayon, and returns records in input order.

pub mod journal;
pub mod manifest;

pub use journal::Journal;

use crate::read::load::{expand_inputs, LoadError, LoadOptions, PageRef, PageSource};
use crate::read::page::{page_hash, us, Reader, StageTimes};
use crate::results::{PageRecord, PageStatus, SourceRef};
use rayon::prelude::*;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A unit of work: one page of one file.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Which page.
    pub source: PageRef,
    /// SHA-256 of the file's bytes.
    pub file_sha256: String,
}

/// SHA-256 of a file's bytes, hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(crate::util::hex(&h.finalize()))
}

/// SHA-256 of bytes, hex.
pub fn bytes_sha256(bytes: &[u8]) -> String {
    crate::util::hex(&sha2::Sha256::digest(bytes))
}

/// Expands inputs into page units (sorted by path, page) plus records for files that cannot be opened, with
/// the default [`LoadOptions`].
pub fn plan(inputs: &[PathBuf]) -> Plan {
    plan_with(inputs, &LoadOptions::default())
}

/// [`plan`] under the given limits: a file with more pages than `max_pages_per_file` gives units for the
/// pages up to the limit and one `too_many_pages` record for the rest.
pub fn plan_with(inputs: &[PathBuf], limits: &LoadOptions) -> Plan {
    let crate::read::load::Expanded {
        files,
        errors,
        skipped,
    } = expand_inputs(inputs);
    let mut bad: Vec<PageRecord> = errors.iter().map(load_rejection).collect();
    type Counted = (PathBuf, Result<(u32, String, Option<LoadError>), LoadError>);
    let counts: Vec<Counted> = files
        .par_iter()
        .map(|f| {
            // One read serves both the content hash and the page count.
            let counted = (|| {
                let kind = crate::read::load::file_kind(f)
                    .ok_or_else(|| LoadError::Unsupported { path: f.clone() })?;
                let bytes = std::fs::read(f).map_err(|source| LoadError::Io {
                    path: f.clone(),
                    source,
                })?;
                let h = bytes_sha256(&bytes);
                let src = PageSource::from_bytes(f, bytes, kind, limits)?;
                Ok((src.readable_pages(), h, src.too_many_pages()))
            })();
            (f.clone(), counted)
        })
        .collect();
    let mut units = vec![];
    for (f, c) in counts {
        match c {
            Ok((n, h, rest)) => {
                units.extend((1..=n).map(|page| Unit {
                    source: PageRef {
                        path: f.clone(),
                        page,
                    },
                    file_sha256: h.clone(),
                }));
                if let Some(e) = rest {
                    let mut r = load_rejection(&e);
                    r.file_sha256 = Some(h);
                    bad.push(r);
                }
            }
            Err(e) => bad.push(load_rejection(&e)),
        }
    }
    Plan {
        units,
        bad,
        skipped,
    }
}

/// A batch's work: its page units, records for inputs that cannot be read, and files skipped as not scans.
#[derive(Debug, Default)]
pub struct Plan {
    /// Pages to read, sorted by (path, page).
    pub units: Vec<Unit>,
    /// Rejected records for unreadable inputs.
    pub bad: Vec<PageRecord>,
    /// Files in input folders that are not scans.
    pub skipped: Vec<PathBuf>,
}

/// The rejected record for a load error: reasons from [`LoadError::reasons`], the error text names file and page.
fn load_rejection(e: &LoadError) -> PageRecord {
    let mut r = rejected_page(e.path(), e.page(), "unreadable", e.to_string());
    r.reasons = e.reasons();
    r
}

/// Reads every unit in parallel; `on_done` is called after each page (for progress). Output is sorted by
/// (path, page) whatever the completion order.
pub fn run(
    reader: &Reader,
    units: &[Unit],
    out: Option<&Path>,
    times: &StageTimes,
    journal: Option<&Journal>,
    on_done: &(dyn Fn(&PageRecord) + Sync),
) -> Vec<PageRecord> {
    // `open` is the worker's current file: pages of a file are consecutive units and each worker takes units in
    // increasing order, so every worker parses a multi-page file at most once.
    let work = |u: &Unit, open: &mut Option<Opened>| -> PageRecord {
        if let Some(done) = journal.and_then(|j| j.finished(u)) {
            on_done(&done);
            return done;
        }
        let t = std::time::Instant::now();
        if open.as_ref().is_none_or(|(p, _)| *p != u.source.path) {
            // Drop the previous file before parsing the next, so a worker holds one file at a time.
            *open = None;
            *open = Some((
                u.source.path.clone(),
                PageSource::open(&u.source.path, &reader.opts.load),
            ));
        }
        let loaded = match open.as_mut() {
            Some((_, Ok(s))) => Some(s.page(u.source.page).map_err(|e| load_rejection(&e))),
            Some((_, Err(e))) => {
                let mut r = load_rejection(e);
                // An error from opening the file names page 1; this unit's page is the one to report.
                if r.source.page != u.source.page {
                    r.source.page = u.source.page;
                    r.error = Some(format!("{e} (while opening it for page {})", u.source.page));
                }
                Some(Err(r))
            }
            None => None,
        };
        let rec = match loaded {
            Some(Ok(page)) => {
                times.load.fetch_add(us(t), Ordering::Relaxed);
                let mut r = reader.read_page(&page, out, times);
                // A single-image file's bytes already identify its page (and are hashed anyway); hashing
                // megapixels again costs more than reading the page's marks.
                r.page_hash = Some(
                    if crate::read::load::file_kind(&u.source.path)
                        == Some(crate::read::load::FileKind::Raster)
                    {
                        u.file_sha256.clone()
                    } else {
                        page_hash(&page.image)
                    },
                );
                // Every error text names its file and page, whichever stage wrote it.
                let here = format!("{} page {}", u.source.path.display(), u.source.page);
                if let Some(e) = r.error.as_mut().filter(|e| !e.starts_with(&here)) {
                    *e = format!("{here}: {e}");
                }
                r
            }
            Some(Err(r)) => r,
            None => rejected_page(
                &u.source.path,
                u.source.page,
                "unreadable",
                format!(
                    "{} page {}: not opened",
                    u.source.path.display(),
                    u.source.page
                ),
            ),
        };
        let mut rec = rec;
        rec.file_sha256 = Some(u.file_sha256.clone());
        if let Some(j) = journal {
            if let Err(e) = j.append(&rec) {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "phieu: warning: cannot write the resume journal: {e}"
                );
            }
        }
        rec
    };
    // Pages go to a fixed set of workers that each hold one page at a time, so memory is bounded by the worker
    // count. (A rayon task that waits on the model's own thread pool would steal further pages meanwhile, and
    // pages would pile up in flight.)
    let workers = rayon::current_num_threads().max(1).min(units.len().max(1));
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<PageRecord>>> =
        units.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            std::thread::Builder::new()
                // Some third-party image routines recurse deeply on large dark regions.
                .stack_size(64 << 20)
                .spawn_scoped(scope, || {
                    let mut open: Option<Opened> = None;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(u) = units.get(i) else { break };
                        // A bug on one page must not take the batch down: it becomes that page's rejection.
                        let rec = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            work(u, &mut open)
                        }))
                        .unwrap_or_else(|_| {
                            // The decoder may be mid-way through the file; start afresh for the next page.
                            open = None;
                            let msg = format!(
                                "{} page {}: internal error while reading",
                                u.source.path.display(),
                                u.source.page
                            );
                            rejected_page(&u.source.path, u.source.page, "internal_error", msg)
                        });
                        // Progress output is the caller's; it may fail (a closed stderr pipe) but it never
                        // changes or loses the page's record.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            on_done(&rec)
                        }));
                        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(rec);
                    }
                })
                .expect("spawn worker");
        }
    });
    let mut recs: Vec<PageRecord> = slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    recs.sort_by(|a, b| (&a.source.path, a.source.page).cmp(&(&b.source.path, b.source.page)));
    recs
}

/// A worker's current file: its path and the parsed file, or why it could not be opened.
type Opened = (PathBuf, Result<PageSource, LoadError>);

/// A rejected page's record, with the reason and an error text that names the file and page.
fn rejected_page(path: &Path, page: u32, reason: &str, error: String) -> PageRecord {
    let src = SourceRef {
        path: path.to_string_lossy().into_owned(),
        page,
    };
    let mut r = PageRecord::bare(src, PageStatus::Rejected, vec![reason.into()]);
    r.error = Some(error);
    r
}
