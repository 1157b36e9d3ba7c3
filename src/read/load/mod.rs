//! Loading pages: expands files and folders into `(file, page)` units and decodes one page at a time to a
//! greyscale image (PNG, JPEG, BMP, JPEG 2000, multi-page TIFF incl. 1-bit Group 4, PDF with one image per page
//! incl. JPEG 2000 and JBIG2), within the limits of [`LoadOptions`] so that no input, however broken or hostile,
//! can exhaust memory or time.
//!
//! Colour pages are reduced to the darkest channel, so blue and red pens keep their contrast against paper.
//! A multi-page file is parsed once per [`PageSource`] and its pages are then decoded one by one.

use image::{DynamicImage, GrayImage};
use serde::{Deserialize, Serialize};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod ccitt;
mod jbig2;
mod jpx;
mod pdf_inline;
mod pdf_page;
mod pdf_repair;
mod streak;
pub use streak::{remove_streaks, Streak};
mod tiff_page;

use pdf_page::decode_pdf_page;

/// Limits that keep hostile or broken inputs from exhausting memory or time. Every limit is checked from the
/// file's headers before the pixels are allocated.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// Largest page, in pixels (width × height). The default, 120 megapixels, is more than three times an A4
    /// page at 600 dpi (35 MP) and about the size of A3 at 600 dpi; anything larger is refused as `too_large`.
    pub max_pixels: u64,
    /// Pages read from one file. Further pages get one `too_many_pages` record for the whole rest of the file.
    pub max_pages_per_file: u32,
    /// Wall time one page may take from the start of its decoding. It is checked between stages; a page past
    /// it goes to review with `time_budget_exceeded`.
    pub page_time_budget: Duration,
    /// Smallest plausible size of the form against the page, linear (0.75: a form printed at 75% or less of
    /// its size on the sheet, e.g. two pages per sheet, goes to review as `form_scale`).
    pub min_form_scale: f64,
    /// Turn halftone (dithered) 1-bit pages back into grey ([`descreen`]). Off only to compare the decoded pixels
    /// with a reference decoder.
    pub descreen: bool,
    /// On a colour page printed on tinted paper (yellow, pink, aged), divide each channel by the paper's before
    /// taking the darkest channel, as a scanner's white balance does: coloured paper filters every colour
    /// printed or written on it, and its darkest channel would otherwise be its dark one (yellow paper's blue
    /// is ~70% of white), taking a third of the contrast of light ticks. Near-neutral paper is left as it is.
    /// Off only to compare the decoded pixels with a reference decoder.
    pub paper_balance: bool,
    /// Paint over scanner streaks (a straight dark line the whole length of the page, from dust on a feeder's
    /// glass), which would otherwise tick every box they cross. Off only to compare decoded pixels.
    pub destreak: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_pixels: 120_000_000,
            max_pages_per_file: 2000,
            page_time_budget: Duration::from_secs(60),
            min_form_scale: 0.75,
            descreen: true,
            paper_balance: true,
            destreak: true,
        }
    }
}

/// Errors while finding or decoding pages; each names the file and, where known, the page.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// File or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The extension is not one we read.
    #[error("{path}: unsupported file type (expected png, jpg, jpeg, tif, tiff or pdf)")]
    Unsupported {
        /// File.
        path: PathBuf,
    },
    /// The file has no bytes at all.
    #[error("{path} page 1: empty file (0 bytes)")]
    Empty {
        /// File.
        path: PathBuf,
    },
    /// The page could not be decoded.
    #[error("{path} page {page}: cannot decode: {reason}")]
    Decode {
        /// File.
        path: PathBuf,
        /// Page number, from 1.
        page: u32,
        /// Cause.
        reason: String,
    },
    /// The page's header declares more pixels than [`LoadOptions::max_pixels`]; nothing was allocated.
    #[error(
        "{path} page {page}: image of {width} x {height} pixels exceeds the limit of {limit} pixels \
         (--max-pixels); refused before decoding"
    )]
    TooLarge {
        /// File.
        path: PathBuf,
        /// Page number, from 1.
        page: u32,
        /// Declared width.
        width: u64,
        /// Declared height.
        height: u64,
        /// The limit.
        limit: u64,
    },
    /// The file has more pages than [`LoadOptions::max_pages_per_file`].
    #[error(
        "{path} page {first_skipped}: the file has {pages} pages; only the first {limit} are read \
         (--max-pages-per-file), pages {first_skipped} onwards are not"
    )]
    TooManyPages {
        /// File.
        path: PathBuf,
        /// Pages found ("more than N" when counting stopped at the limit).
        pages: String,
        /// First page not read.
        first_skipped: u32,
        /// The limit.
        limit: u32,
    },
    /// An encrypted PDF that does not open with an empty password.
    #[error("{path} page 1: encrypted PDF (password protected); save it without a password and scan again")]
    Encrypted {
        /// File.
        path: PathBuf,
    },
    /// A PDF page that holds no image (a text or vector page, not a scan).
    #[error("{path} page {page}: the page has no image (not a scanner PDF page)")]
    NoImage {
        /// File.
        path: PathBuf,
        /// Page number, from 1.
        page: u32,
    },
}

impl LoadError {
    /// The record reasons for this error: always `unreadable` (the page was not read), then the specific cause
    /// where there is one (`empty_file`, `too_large`, `too_many_pages`, `encrypted`, `no_page_image`).
    pub fn reasons(&self) -> Vec<String> {
        let specific = match self {
            LoadError::Io { .. } | LoadError::Unsupported { .. } | LoadError::Decode { .. } => None,
            LoadError::Empty { .. } => Some("empty_file"),
            LoadError::TooLarge { .. } => Some("too_large"),
            LoadError::TooManyPages { .. } => Some("too_many_pages"),
            LoadError::Encrypted { .. } => Some("encrypted"),
            LoadError::NoImage { .. } => Some("no_page_image"),
        };
        std::iter::once("unreadable")
            .chain(specific)
            .map(String::from)
            .collect()
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            LoadError::Io { path, .. }
            | LoadError::Unsupported { path }
            | LoadError::Empty { path }
            | LoadError::Decode { path, .. }
            | LoadError::TooLarge { path, .. }
            | LoadError::TooManyPages { path, .. }
            | LoadError::Encrypted { path }
            | LoadError::NoImage { path, .. } => path,
        }
    }

    /// The page the error is about (1 for whole-file errors; the first skipped page for `too_many_pages`).
    pub fn page(&self) -> u32 {
        match self {
            LoadError::Decode { page, .. }
            | LoadError::TooLarge { page, .. }
            | LoadError::NoImage { page, .. } => *page,
            LoadError::TooManyPages { first_skipped, .. } => *first_skipped,
            _ => 1,
        }
    }
}

/// A page's identity: file and page number (from 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PageRef {
    /// The input file as given (or found under a given folder).
    pub path: PathBuf,
    /// Page number within the file, from 1.
    pub page: u32,
}

/// A decoded page.
pub struct Page {
    /// Where it came from.
    pub source: PageRef,
    /// Greyscale pixels (darkest channel for colour sources).
    pub image: GrayImage,
    /// For a colour source, the colour of its ink at half the page's resolution ([`HUE_SCALE`]). `None` for
    /// grey and 1-bit sources.
    pub hue: Option<Hue>,
    /// When decoding of this page began: the start of its time budget.
    pub started: Instant,
    /// How many of this image's pixels one source pixel spans along the source's coarser axis: 1 for square
    /// pixels, about 2.1 for a fax's 98-dpi rows resampled to its 204-dpi columns. The image looks finer than
    /// what was scanned by this much, which matters to anything read from fine detail (the codes).
    pub stretch: f64,
    /// Scanner streaks painted over on this page (see [`LoadOptions::destreak`]).
    pub streaks: Vec<Streak>,
}

impl Page {
    /// Whether the source had colour.
    pub fn color(&self) -> bool {
        self.hue.is_some()
    }
}

/// File kinds we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// PNG, JPEG, BMP or JPEG 2000: one page.
    Raster,
    /// TIFF: one or more pages.
    Tiff,
    /// PDF: one image per page.
    Pdf,
}

/// The kind of a file by extension.
pub fn file_kind(path: &Path) -> Option<FileKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" | "bmp" | "jp2" | "j2k" | "jpx" | "jpf" | "j2c" => {
            Some(FileKind::Raster)
        }
        "tif" | "tiff" => Some(FileKind::Tiff),
        "pdf" => Some(FileKind::Pdf),
        _ => None,
    }
}

/// The kind of a file by its content, falling back to `by_ext`: a PDF or TIFF saved under a wrong extension is
/// still read as what it is.
fn sniff(bytes: &[u8], by_ext: FileKind) -> FileKind {
    let head = &bytes[..bytes.len().min(1024)];
    if head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || head.starts_with(b"II+\0")
        || head.starts_with(b"MM\0+")
    {
        FileKind::Tiff
    } else if head.windows(5).any(|w| w == b"%PDF-") {
        // The PDF header may follow some junk bytes; readers accept it within the first kilobyte.
        FileKind::Pdf
    } else if head.starts_with(b"\x89PNG") || head.starts_with(b"\xff\xd8") || jpx::is_jpx(head) {
        FileKind::Raster
    } else {
        by_ext
    }
}

/// Expands inputs (files and folders, recursively) into a sorted list of readable files.
/// Files given explicitly with an unknown extension are errors; unknown files inside folders are skipped.
pub fn expand_inputs(inputs: &[PathBuf]) -> Expanded {
    let mut x = Expanded::default();
    for p in inputs {
        match std::fs::metadata(p) {
            Err(source) => x.errors.push(LoadError::Io {
                path: p.clone(),
                source,
            }),
            Ok(m) if m.is_dir() => walk(p, &mut x),
            Ok(_) => {
                if file_kind(p).is_some() {
                    x.files.push(p.clone());
                } else {
                    x.errors.push(LoadError::Unsupported { path: p.clone() });
                }
            }
        }
    }
    x.files.sort();
    x.files.dedup();
    x.skipped.sort();
    x
}

/// Inputs expanded into files.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Files to read, sorted.
    pub files: Vec<PathBuf>,
    /// Inputs that cannot be read.
    pub errors: Vec<LoadError>,
    /// Files inside folders that are not scans (by extension), so the clerk can be told.
    pub skipped: Vec<PathBuf>,
}

fn walk(dir: &Path, x: &mut Expanded) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(source) => {
            x.errors.push(LoadError::Io {
                path: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    for e in rd.flatten() {
        let p = e.path();
        // file_type() does not follow links, so a symlink loop cannot make the walk endless.
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if is_dir {
            // Our own state folder (`.phieu`) and other hidden folders hold no scans.
            if !hidden {
                walk(&p, x);
            }
        } else if file_kind(&p).is_some() {
            x.files.push(p);
        } else if !hidden {
            x.skipped.push(p);
        }
    }
}

/// Number of pages in a file (after opening it once; see [`PageSource`]).
pub fn page_count(path: &Path) -> Result<u32, LoadError> {
    Ok(PageSource::open(path, &LoadOptions::default())?.page_count())
}

/// Decodes page `page` (from 1) of `path`. Opens and parses the file for this one page; use [`PageSource`] to
/// read several pages of one file.
pub fn load_page(path: &Path, page: u32) -> Result<Page, LoadError> {
    PageSource::open(path, &LoadOptions::default())?.page(page)
}

enum Parsed {
    Raster(Vec<u8>),
    Tiff(Box<tiff::decoder::Decoder<Cursor<Vec<u8>>>>),
    Pdf {
        doc: Box<lopdf::Document>,
        pages: Vec<lopdf::ObjectId>,
    },
}

/// One opened input file: parsed once, then decoded page by page. Holds the file's bytes (and, for a PDF, its
/// object table), never more than one decoded page.
pub struct PageSource {
    path: PathBuf,
    opts: LoadOptions,
    parsed: Parsed,
    pages: u32,
    /// Whether `pages` is the exact count (TIFF counting stops past the page limit).
    exact: bool,
}

/// Why a page failed inside the decoders, before path and page are attached.
#[derive(Debug)]
enum Fail {
    Decode(String),
    TooLarge(u64, u64),
    NoImage,
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Decode(s)
    }
}

impl From<&str> for Fail {
    fn from(s: &str) -> Self {
        Fail::Decode(s.to_string())
    }
}

impl PageSource {
    /// Opens `path` and parses its structure (page list, directories); no page is decoded yet.
    pub fn open(path: &Path, opts: &LoadOptions) -> Result<PageSource, LoadError> {
        let by_ext = file_kind(path).ok_or_else(|| LoadError::Unsupported {
            path: path.to_path_buf(),
        })?;
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(path, bytes, by_ext, opts)
    }

    /// Like [`PageSource::open`] for bytes already in memory; `path` only names the source in errors and
    /// `by_ext` is the kind assumed when the content does not tell.
    pub fn from_bytes(
        path: &Path,
        bytes: Vec<u8>,
        by_ext: FileKind,
        opts: &LoadOptions,
    ) -> Result<PageSource, LoadError> {
        let path = path.to_path_buf();
        if bytes.is_empty() {
            return Err(LoadError::Empty { path });
        }
        let dec = |reason: String| LoadError::Decode {
            path: path.clone(),
            page: 1,
            reason,
        };
        let (parsed, pages, exact) = match sniff(&bytes, by_ext) {
            FileKind::Raster => (Parsed::Raster(bytes), 1, true),
            FileKind::Tiff => {
                let mut d = tiff::decoder::Decoder::new(Cursor::new(bytes))
                    .map_err(|e| dec(e.to_string()))?
                    .with_limits(tiff_limits(opts));
                // Walking the directory chain is cheap; stop one past the limit so a file with millions of
                // directories costs no more than the limit. A broken directory ends the file there: it becomes
                // the last page, whose decoding then reports the error.
                let mut n = 1u32;
                let mut exact = true;
                while d.more_images() {
                    if n > opts.max_pages_per_file {
                        exact = false;
                        break;
                    }
                    n += 1;
                    if d.next_image().is_err() {
                        break;
                    }
                }
                (Parsed::Tiff(Box::new(d)), n, exact)
            }
            FileKind::Pdf => {
                // The PDF parser recurses once per nesting level: a file of a million `[` would overflow any
                // stack and abort the whole batch, so such files are refused before parsing.
                match pdf_nesting(&bytes, false) {
                    Ok(d) if d <= MAX_PDF_NESTING => {}
                    Ok(d) => {
                        return Err(dec(format!(
                        "objects nested {d} deep (more than {MAX_PDF_NESTING}): not a scanner PDF"
                    )))
                    }
                    Err(e) => return Err(dec(e)),
                }
                // A damaged cross-reference table (bytes appended after %%EOF, a wrong offset) is rebuilt from
                // the objects in the file, as poppler does, before the page is given up.
                let mut doc = lopdf::Document::load_mem(&bytes)
                    .or_else(|e| {
                        pdf_repair::rebuild_xref(&bytes)
                            .and_then(|fixed| lopdf::Document::load_mem(&fixed).ok())
                            .ok_or(e)
                    })
                    .map_err(|e| dec(e.to_string()))?;
                drop(bytes);
                // PDFs "protected" only against editing open with the empty user password.
                if doc.is_encrypted() && doc.decrypt("").is_err() {
                    return Err(LoadError::Encrypted { path });
                }
                let pages: Vec<_> = doc.get_pages().into_values().collect();
                if pages.is_empty() {
                    return Err(dec("the PDF has no pages".into()));
                }
                let n = u32::try_from(pages.len()).unwrap_or(u32::MAX);
                (
                    Parsed::Pdf {
                        doc: Box::new(doc),
                        pages,
                    },
                    n,
                    true,
                )
            }
        };
        Ok(PageSource {
            path,
            opts: opts.clone(),
            parsed,
            pages,
            exact,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Pages in the file (for TIFF, counting stops one past [`LoadOptions::max_pages_per_file`]).
    pub fn page_count(&self) -> u32 {
        self.pages
    }

    /// Pages to read: the page count capped at the limit.
    pub fn readable_pages(&self) -> u32 {
        self.pages.min(self.opts.max_pages_per_file)
    }

    /// The `too_many_pages` error for this file, if it has more pages than the limit.
    pub fn too_many_pages(&self) -> Option<LoadError> {
        let limit = self.opts.max_pages_per_file;
        (self.pages > limit).then(|| LoadError::TooManyPages {
            path: self.path.clone(),
            pages: if self.exact {
                self.pages.to_string()
            } else {
                format!("more than {limit}")
            },
            first_skipped: limit.saturating_add(1),
            limit,
        })
    }

    /// Decodes page `page` (from 1).
    pub fn page(&mut self, page: u32) -> Result<Page, LoadError> {
        let started = Instant::now();
        let max_pixels = self.opts.max_pixels;
        let img = match &mut self.parsed {
            Parsed::Raster(bytes) if page == 1 => {
                decode_raster(bytes, max_pixels).map(|i| (i, 1.0))
            }
            Parsed::Raster(_) => Err(Fail::Decode("no such page".into())),
            Parsed::Tiff(d) => tiff_page::decode_tiff_page(d, page, max_pixels),
            Parsed::Pdf { doc, pages } => {
                match (page as usize).checked_sub(1).and_then(|i| pages.get(i)) {
                    Some(id) => decode_pdf_page(doc, *id, max_pixels),
                    None => Err(Fail::Decode("no such page".into())),
                }
            }
        };
        let (img, stretch) = img.map_err(|f| match f {
            Fail::Decode(reason) => LoadError::Decode {
                path: self.path.clone(),
                page,
                reason,
            },
            Fail::TooLarge(width, height) => LoadError::TooLarge {
                path: self.path.clone(),
                page,
                width,
                height,
                limit: max_pixels,
            },
            Fail::NoImage => LoadError::NoImage {
                path: self.path.clone(),
                page,
            },
        })?;
        let (mut image, hue) = to_planes(img, self.opts.paper_balance);
        if self.opts.descreen {
            if let Some(g) = descreen(&image) {
                image = g;
            }
        }
        let streaks = if self.opts.destreak {
            remove_streaks(&mut image)
        } else {
            vec![]
        };
        Ok(Page {
            source: PageRef {
                path: self.path.clone(),
                page,
            },
            image,
            hue,
            started,
            stretch,
            streaks,
        })
    }
}

fn check_pixels(w: u64, h: u64, max_pixels: u64) -> Result<(), Fail> {
    if w == 0 || h == 0 {
        return Err(Fail::Decode(format!("image of {w} x {h} pixels")));
    }
    if w.saturating_mul(h) > max_pixels {
        return Err(Fail::TooLarge(w, h));
    }
    Ok(())
}

/// Bytes a decoder may hold for a page at the pixel limit: 4 bytes a pixel (RGBA) plus headroom.
fn alloc_limit(max_pixels: u64) -> u64 {
    max_pixels.saturating_mul(4).saturating_add(64 << 20)
}

fn tiff_limits(opts: &LoadOptions) -> tiff::decoder::Limits {
    let mut l = tiff::decoder::Limits::default();
    // Room for a 16-bit RGB page at the pixel limit; headers are checked against max_pixels first anyway.
    l.decoding_buffer_size =
        usize::try_from(opts.max_pixels.saturating_mul(6)).unwrap_or(usize::MAX);
    l
}

/// PNG or JPEG (or anything the image crate recognises), with the size checked from the header first.
fn decode_raster(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, Fail> {
    if jpx::is_jpx(bytes) {
        return jpx::decode_jpx(bytes, max_pixels);
    }
    let reader = || {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Fail::Decode(e.to_string()))
    };
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| Fail::Decode(e.to_string()))?;
    check_pixels(w as u64, h as u64, max_pixels)?;
    // The JPEG decoder fills a cut-off file with grey and succeeds; half a page must not pass for a page.
    if bytes.starts_with(b"\xff\xd8") {
        let tail = &bytes[bytes.len().saturating_sub(64 << 10)..];
        if !tail.windows(2).any(|w| w == b"\xff\xd9") {
            return Err("truncated JPEG: the file ends before its end-of-image marker".into());
        }
    }
    let mut r = reader()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(alloc_limit(max_pixels));
    r.limits(limits);
    r.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Fail::TooLarge(w as u64, h as u64),
        e => Fail::Decode(e.to_string()),
    })
}

/// A scanner's halftone (dithered) 1-bit page turned back into grey: a page with only black and white pixels
/// whose black comes mostly as tiny dots is low-pass filtered over about 0.4 mm, the size of the dither cell at
/// scanner resolutions, so paper tint becomes light grey and every later stage sees levels, not dots. Thresholded
/// 1-bit pages (solid strokes, few dots) and grey pages are left as they are (`None`).
///
/// The scale comes from the image's own size (an A4 sheet's short side), never from its dpi tag.
pub fn descreen(img: &GrayImage) -> Option<GrayImage> {
    let (w, h) = img.dimensions();
    if w < 64 || h < 64 {
        return None;
    }
    let raw = img.as_raw();
    // Bilevel: every sampled pixel is pure black or pure white.
    if raw.iter().step_by(7).any(|&v| v != 0 && v != 255) {
        return None;
    }
    // Black runs of 1–2 pixels along rows against all black runs, on every 4th row.
    let (mut short, mut runs, mut black) = (0usize, 0usize, 0usize);
    for y in (0..h as usize).step_by(4) {
        let row = &raw[y * w as usize..(y + 1) * w as usize];
        let mut len = 0;
        for &v in row.iter().chain(std::iter::once(&255)) {
            if v == 0 {
                len += 1;
                black += 1;
            } else if len > 0 {
                runs += 1;
                short += (len <= 2) as usize;
                len = 0;
            }
        }
    }
    // A dithered tint is thousands of dots; thresholded text has some short runs at stroke ends only.
    let sampled = (h as usize).div_ceil(4) * w as usize;
    let dotty = runs > 0 && short * 10 >= runs * 6 && short * 200 >= sampled;
    if !dotty || black == 0 {
        return None;
    }
    let px_per_mm = w.min(h) as f64 / 210.0;
    let r = ((0.2 * px_per_mm).round() as u32).clamp(1, 8);
    Some(imageproc::filter::box_filter(img, r, r))
}

/// Why a page that registration found "blank" is no paper scan at all: mostly dark (lid open, inverted or
/// failed scan; reason `dark_page`) or noise with no paper surface (`noise_page`). `None` for a plausible page.
pub fn implausible_page(img: &GrayImage) -> Option<(&'static str, String)> {
    let (w, h) = img.dimensions();
    if w < 2 || h < 2 {
        return None;
    }
    // A grid of samples is enough for whole-page statistics and bounds the cost on huge pages.
    let step = (((w as u64 * h as u64) / 250_000) as f64).sqrt().max(1.0) as u32;
    let (mut n, mut dark, mut jump) = (0u64, 0u64, 0u64);
    for y in (0..h).step_by(step as usize) {
        for x in (0..w - 1).step_by(step as usize) {
            let a = img.get_pixel(x, y).0[0];
            let b = img.get_pixel(x + 1, y).0[0];
            n += 1;
            dark += (a < 128) as u64;
            jump += (a.abs_diff(b) > 60) as u64;
        }
    }
    let (dark, jump) = (dark as f64 / n as f64, jump as f64 / n as f64);
    // Noise first: half of uniform noise is also "dark".
    if jump > 0.2 {
        Some((
            "noise_page",
            format!(
                "{:.0}% of neighbouring pixels jump in brightness: noise, not a paper scan",
                jump * 100.0
            ),
        ))
    } else if dark > 0.5 {
        Some((
            "dark_page",
            format!(
                "{:.0}% of the page is dark: not a paper scan (lid open or inverted?)",
                dark * 100.0
            ),
        ))
    } else {
        None
    }
}

/// Per-channel gains that make a tinted paper neutral (the paper's brightest channel kept), or `None` when the
/// paper is already near neutral (channels within 12%) or too dark to tell. The paper is each channel's 80th
/// percentile, sampled on every third pixel: a form page is mostly paper.
fn paper_gains(rgb: &image::RgbImage) -> Option<[f32; 3]> {
    let mut hist = [[0usize; 256]; 3];
    for p in rgb.pixels().step_by(3) {
        for c in 0..3 {
            hist[c][p.0[c] as usize] += 1;
        }
    }
    let paper = hist.map(|h| crate::raster::percentile_of_counts(&h, 80) as f32);
    let (hi, lo) = (
        paper.iter().cloned().fold(0.0, f32::max),
        paper.iter().cloned().fold(255.0, f32::min),
    );
    (lo >= 64.0 && hi >= 1.12 * lo).then(|| paper.map(|p| hi / p))
}

/// A colour page as RGB, its alpha (if any) shown over white paper.
fn flatten_rgb(img: DynamicImage) -> image::RgbImage {
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other if other.color().has_alpha() => {
            let rgba = other.to_rgba8();
            let (w, h) = rgba.dimensions();
            let raw = rgba
                .pixels()
                .flat_map(|p| [0, 1, 2].map(|c| over_white(p.0[c], p.0[3], false)))
                .collect();
            image::RgbImage::from_raw(w, h, raw).expect("size")
        }
        other => other.to_rgb8(),
    }
}

/// Each pixel's darkest channel, scaled by `gain` per channel first.
fn darkest(rgb: &image::RgbImage, gain: Option<[f32; 3]>) -> GrayImage {
    let (w, h) = rgb.dimensions();
    let raw = rgb
        .pixels()
        .map(|p| match gain {
            None => p.0[0].min(p.0[1]).min(p.0[2]),
            Some(g) => (0..3)
                .map(|c| (p.0[c] as f32 * g[c]).min(255.0))
                .fold(255.0, f32::min)
                .round() as u8,
        })
        .collect();
    GrayImage::from_raw(w, h, raw).expect("size")
}

/// How many page pixels one pixel of a [`Hue`] plane spans on each axis.
pub const HUE_SCALE: u32 = 2;

/// A colour page's ink colour, one pixel per [`HUE_SCALE`] × [`HUE_SCALE`] page pixels, after the paper
/// balance. Printed matter is black; a stamp is red; a citizen's pen is most often blue.
pub struct Hue {
    /// Red minus the greater of green and blue (0 when not red): a stamp's ink.
    pub red: GrayImage,
    /// The greatest channel minus the least: any coloured ink, 0 for black print and grey paper.
    pub chroma: GrayImage,
}

/// The [`Hue`] of every [`HUE_SCALE`]-th pixel on every [`HUE_SCALE`]-th line, each channel scaled by `gain`
/// first. A stamp's or a pen's strokes are wider than that step, and the planes cost half the page's pixels.
fn hue_planes(rgb: &image::RgbImage, gain: Option<[f32; 3]>) -> Hue {
    let (w, h) = rgb.dimensions();
    let s = HUE_SCALE as usize;
    let (rw, rh) = (w.div_ceil(HUE_SCALE), h.div_ceil(HUE_SCALE));
    // Fixed-point gains (1.0 = 256).
    let g = gain.unwrap_or([1.0; 3]).map(|v| (v * 256.0).round() as u32);
    let raw = rgb.as_raw();
    let n = rw as usize * rh as usize;
    let (mut red, mut chroma) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for y in (0..h as usize).step_by(s) {
        let row = &raw[y * w as usize * 3..(y + 1) * w as usize * 3];
        for x in (0..w as usize).step_by(s) {
            let p = &row[3 * x..3 * x + 3];
            let [r, gr, b] = [0, 1, 2].map(|c| ((p[c] as u32 * g[c]) >> 8).min(255) as i32);
            red.push((r - gr.max(b)).max(0) as u8);
            chroma.push((r.max(gr).max(b) - r.min(gr).min(b)) as u8);
        }
    }
    Hue {
        red: GrayImage::from_raw(rw, rh, red).expect("size"),
        chroma: GrayImage::from_raw(rw, rh, chroma).expect("size"),
    }
}

/// The page's grey (as [`to_gray`], with a colour page's paper tint divided out first when `balance`: see
/// [`LoadOptions::paper_balance`]) and, for a colour page, its [`Hue`].
pub fn to_planes(img: DynamicImage, balance: bool) -> (GrayImage, Option<Hue>) {
    if is_grey(&img) {
        return (to_gray(img).0, None);
    }
    let rgb = flatten_rgb(img);
    let gain = if balance { paper_gains(&rgb) } else { None };
    (darkest(&rgb, gain), Some(hue_planes(&rgb, gain)))
}

/// Whether `img` is grey (with or without alpha): [`to_gray`] keeps its luma.
fn is_grey(img: &DynamicImage) -> bool {
    matches!(
        img,
        DynamicImage::ImageLuma8(_)
            | DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA8(_)
            | DynamicImage::ImageLumaA16(_)
    )
}

/// Greyscale by darkest channel for colour images (keeps coloured ink dark), plain luma otherwise.
/// Transparent paper is white paper, as every viewer shows it: a scan saved with its paper transparent would
/// otherwise read as a black page.
pub fn to_gray(img: DynamicImage) -> (GrayImage, bool) {
    match img {
        DynamicImage::ImageLuma8(g) => (g, false),
        DynamicImage::ImageLuma16(_) => (img.to_luma8(), false),
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLumaA16(_) => {
            let la = img.to_luma_alpha8();
            let (w, h) = la.dimensions();
            let raw = la
                .pixels()
                .map(|p| over_white(p.0[0], p.0[1], false))
                .collect();
            (GrayImage::from_raw(w, h, raw).expect("size"), false)
        }
        other => (darkest(&flatten_rgb(other), None), true),
    }
}

/// A sample `c` with coverage `a` over white paper. `premultiplied`: `c` is already scaled by `a` (TIFF's
/// associated alpha); otherwise straight alpha (PNG, TIFF's unassociated alpha), scaled here as libtiff does.
pub(crate) fn over_white(c: u8, a: u8, premultiplied: bool) -> u8 {
    let pm = if premultiplied {
        c as u32
    } else {
        (c as u32 * a as u32 + 127) / 255
    };
    (pm + 255 - a as u32).min(255) as u8
}

/// Deepest nesting of PDF objects (arrays, dictionaries, page-tree levels) we parse; real files stay below 20.
const MAX_PDF_NESTING: usize = 256;

/// Object streams inflate to at most this many bytes before parsing.
const MAX_OBJECT_STREAM: u64 = 64 << 20;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The deepest nesting of arrays and dictionaries in PDF object syntax, skipping strings, comments and stream
/// data, and looking inside Flate object streams (`/ObjStm`, whose objects the parser reads too). An object
/// stream that inflates past [`MAX_OBJECT_STREAM`] is an error.
fn pdf_nesting(bytes: &[u8], inside_object_stream: bool) -> Result<usize, String> {
    let (mut depth, mut max, mut paren) = (0usize, 0usize, 0usize);
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        let c = bytes[i];
        if paren > 0 {
            match c {
                b'\\' => i += 1,
                b'(' => paren += 1,
                b')' => paren -= 1,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'(' => paren = 1,
            b'%' => {
                while i < n && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' => depth = depth.saturating_sub(1),
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                depth += 1;
                max = max.max(depth);
                i += 2;
                continue;
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 2;
                continue;
            }
            b's' if !inside_object_stream
                && bytes[i..].starts_with(b"stream")
                && matches!(bytes.get(i + 6), Some(b'\r' | b'\n')) =>
            {
                let mut start = i + 6;
                if bytes.get(start) == Some(&b'\r') {
                    start += 1;
                }
                if bytes.get(start) == Some(&b'\n') {
                    start += 1;
                }
                let end = find(&bytes[start..], b"endstream").map_or(n, |k| start + k);
                // The stream's own dictionary: from the last `obj` keyword before it.
                let back = &bytes[i.saturating_sub(4096)..i];
                let dict = back
                    .windows(3)
                    .rposition(|w| w == b"obj")
                    .map_or(back, |k| &back[k..]);
                if find(dict, b"/ObjStm").is_some() && find(dict, b"/FlateDecode").is_some() {
                    let mut inner = vec![];
                    let read = flate2::read::ZlibDecoder::new(&bytes[start..end])
                        .take(MAX_OBJECT_STREAM + 1)
                        .read_to_end(&mut inner);
                    if inner.len() as u64 > MAX_OBJECT_STREAM {
                        return Err(format!(
                            "an object stream inflates past {MAX_OBJECT_STREAM} bytes"
                        ));
                    }
                    // A corrupt stream is left to the parser, which reports it.
                    if read.is_ok() {
                        max = max.max(depth + pdf_nesting(&inner, true)?);
                    }
                }
                i = end + "endstream".len();
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(max)
}

/// Inflates a Flate stream into at most `limit` bytes; a stream that would grow past it is a bomb.
fn bounded_inflate(data: &[u8], limit: u64) -> Result<Vec<u8>, Fail> {
    let mut out = vec![];
    flate2::read::ZlibDecoder::new(data)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("bad Flate data: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!("Flate data inflates past {limit} bytes").into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tinted_paper_is_balanced_and_white_paper_left_alone() {
        // Yellow paper (255, 236, 144) with one light pencil tick (150 grey filtered by the paper) in 10 pixels.
        let paper = [255u8, 236, 144];
        let tick = [150u8, (150 * 236 / 255) as u8, (150 * 144 / 255) as u8];
        let mut raw = vec![];
        for i in 0..10 {
            raw.extend_from_slice(if i == 4 { &tick } else { &paper });
        }
        let rgb = image::RgbImage::from_raw(10, 1, raw).unwrap();
        let (plain, _) = to_gray(DynamicImage::ImageRgb8(rgb.clone()));
        let (balanced, hue) = to_planes(DynamicImage::ImageRgb8(rgb), true);
        let colour = hue.is_some();
        assert!(colour);
        assert_eq!((plain[(0, 0)].0[0], plain[(4, 0)].0[0]), (144, 84));
        // The tick keeps the contrast it had on white paper: 255 against ~150.
        assert_eq!(balanced[(0, 0)].0[0], 255);
        assert!((148..=152).contains(&balanced[(4, 0)].0[0]));
        // Near-neutral paper (a warm scanner, within 12%) reads as before.
        let warm = image::RgbImage::from_fn(10, 1, |x, _| {
            if x == 4 {
                [40, 40, 90].into()
            } else {
                [250, 244, 232].into()
            }
        });
        assert_eq!(
            to_planes(DynamicImage::ImageRgb8(warm.clone()), true).0,
            to_gray(DynamicImage::ImageRgb8(warm)).0
        );
    }

    #[test]
    fn transparent_paper_reads_as_white_paper() {
        // Paper fully transparent (stored black), ink opaque black, a half-covered grey, a half-covered red.
        let rgba = image::RgbaImage::from_raw(
            4,
            1,
            vec![0, 0, 0, 0, 0, 0, 0, 255, 100, 100, 100, 128, 255, 0, 0, 128],
        )
        .unwrap();
        let (g, colour) = to_gray(DynamicImage::ImageRgba8(rgba));
        assert!(colour);
        // 100 * 128 / 255 + 127 = 177; red's darkest channel 0 gives 255 - 128 = 127.
        assert_eq!(g.into_raw(), vec![255, 0, 177, 127]);
        let la = image::GrayAlphaImage::from_raw(2, 1, vec![0, 0, 40, 255]).unwrap();
        assert_eq!(
            to_gray(DynamicImage::ImageLumaA8(la)).0.into_raw(),
            vec![255, 40]
        );
        assert_eq!(over_white(100, 128, true), 227, "premultiplied");
    }

    #[test]
    fn a_lossless_jpeg_2000_file_decodes_to_its_exact_pixels() {
        // Written by PIL (OpenJPEG), reversible 5/3 wavelet: pixel (x, y) = (24 y + x) * 7 mod 256.
        let bytes = include_bytes!("../../../tests/fixtures/formats/grey_24x16_lossless.jp2");
        assert_eq!(
            sniff(bytes, FileKind::Tiff),
            FileKind::Raster,
            "found by content"
        );
        let g = decode_raster(bytes, 1 << 20).unwrap().to_luma8();
        assert_eq!(g.dimensions(), (24, 16));
        for (x, y, p) in g.enumerate_pixels() {
            assert_eq!(p.0[0] as u32, (24 * y + x) * 7 % 256, "pixel ({x}, {y})");
        }
        assert!(matches!(
            decode_raster(bytes, 100),
            Err(Fail::TooLarge(24, 16))
        ));
    }

    #[test]
    fn colour_pages_keep_blue_ink_dark() {
        let mut rgb = image::RgbImage::from_pixel(4, 1, image::Rgb([250, 248, 240]));
        rgb.put_pixel(1, 0, image::Rgb([40, 60, 200]));
        let (g, color) = to_gray(DynamicImage::ImageRgb8(rgb));
        assert!(color);
        assert!(g.get_pixel(1, 0).0[0] <= 40);
        assert!(g.get_pixel(0, 0).0[0] >= 240);
    }

    #[test]
    fn unknown_extension_is_an_error_naming_the_file() {
        let x = expand_inputs(&[PathBuf::from("Cargo.toml")]);
        let (files, errs) = (x.files, x.errors);
        assert!(files.is_empty());
        assert!(errs[0].to_string().contains("Cargo.toml"));
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut buf = Cursor::new(vec![]);
        GrayImage::from_pixel(w, h, image::Luma([200]))
            .write_to(&mut buf, image::ImageFormat::Png)
            .unwrap();
        buf.into_inner()
    }

    #[test]
    fn a_page_over_the_pixel_limit_is_refused_from_its_header() {
        let opts = LoadOptions {
            max_pixels: 100,
            ..LoadOptions::default()
        };
        let mut src =
            PageSource::from_bytes(Path::new("big.png"), png(20, 10), FileKind::Raster, &opts)
                .unwrap();
        let e = src.page(1).err().expect("refused");
        assert!(
            matches!(
                e,
                LoadError::TooLarge {
                    width: 20,
                    height: 10,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.reasons(), ["unreadable", "too_large"]);
        assert!(e.to_string().contains("big.png page 1"), "{e}");
        let mut ok =
            PageSource::from_bytes(Path::new("ok.png"), png(10, 10), FileKind::Raster, &opts)
                .unwrap();
        assert_eq!(ok.page(1).unwrap().image.dimensions(), (10, 10));
    }

    #[test]
    fn content_decides_over_a_wrong_extension() {
        let mut src = PageSource::from_bytes(
            Path::new("really-a-png.pdf"),
            png(8, 6),
            FileKind::Pdf,
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(src.page(1).unwrap().image.dimensions(), (8, 6));
    }

    #[test]
    fn two_and_four_bit_grey_unpack_to_the_full_range() {
        // 2-bit: samples 0,1,2,3 in one byte; 4-bit: 0x0F then 0xF0.
        let g = tiff_page::unpack_bits(&[0b00_01_10_11], 4, 1, 2, false)
            .ok()
            .unwrap();
        assert_eq!(g.as_raw(), &[0, 85, 170, 255]);
        let g = tiff_page::unpack_bits(&[0x0F], 2, 1, 4, true).ok().unwrap();
        assert_eq!(g.as_raw(), &[255, 0]);
        assert!(
            tiff_page::unpack_bits(&[0], 4, 2, 2, false).is_err(),
            "short data is an error"
        );
    }

    #[test]
    fn black_and_noise_pages_are_not_paper_but_a_white_page_is() {
        let black = GrayImage::new(300, 400);
        assert_eq!(implausible_page(&black).map(|r| r.0), Some("dark_page"));
        let mut state = 1u32;
        let noise = GrayImage::from_fn(300, 400, |_, _| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            image::Luma([(state >> 24) as u8])
        });
        assert_eq!(implausible_page(&noise).map(|r| r.0), Some("noise_page"));
        let mut paper = GrayImage::from_pixel(300, 400, image::Luma([235]));
        // A dark scanner border along one side is still paper.
        for y in 0..400 {
            for x in 0..40 {
                paper.put_pixel(x, y, image::Luma([10]));
            }
        }
        assert_eq!(implausible_page(&paper), None);
    }

    #[test]
    fn pdf_nesting_counts_arrays_and_dictionaries_but_not_strings_or_streams() {
        let pdf = b"1 0 obj << /A [ [ 1 ] ] /S (a [[[ string) >> endobj\n\
                    2 0 obj << /Length 5 >> stream\n[[[[[\nendstream endobj % [[[[ comment\n";
        assert_eq!(pdf_nesting(pdf, false), Ok(3));
        let deep = [b"<< /A ".as_slice(), &[b'['; 5000]].concat();
        assert_eq!(pdf_nesting(&deep, false), Ok(5001));
        let e = PageSource::from_bytes(
            Path::new("deep.pdf"),
            [b"%PDF-1.4\n".as_slice(), &deep].concat(),
            FileKind::Pdf,
            &LoadOptions::default(),
        )
        .err()
        .expect("refused");
        assert!(e.to_string().contains("nested 5001 deep"), "{e}");
    }

    #[test]
    fn a_flate_bomb_is_cut_off_at_the_limit() {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::best());
        e.write_all(&vec![0u8; 1 << 20]).unwrap();
        let z = e.finish().unwrap();
        assert!(bounded_inflate(&z, 1000).is_err());
        assert_eq!(bounded_inflate(&z, 1 << 20).ok().unwrap().len(), 1 << 20);
    }
}
