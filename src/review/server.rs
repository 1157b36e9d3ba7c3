//! `phieu review DIR`: a local web server for the operator's review page. Every request must carry the random
//! token printed with the URL; only files under DIR are served; every decision is validated against the queue and
//! the template, then appended (fsynced) to `DIR/review.jsonl` before the page hears it was saved.

use super::{Batch, DecisionLog, Decisions, Item, ReviewError, ReviewOptions, DECISIONS_FILE};
use crate::geom::Homography;
use crate::results::write_atomic;
use crate::store::final_record::{ItemId, ItemKind};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Errors starting or running the review server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The scan folder or the decision log could not be read.
    #[error(transparent)]
    Review(#[from] ReviewError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        cause: std::io::Error,
    },
    /// The runtime failed.
    #[error("review server: {0}")]
    Runtime(std::io::Error),
    /// The returned-dossiers list could not be read.
    #[error("{path}: {reason}")]
    Returned {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Options of `phieu review`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where to listen (loopback and a free port by default).
    pub listen: SocketAddr,
    /// Operator name written with every decision.
    pub operator: String,
    /// Returned dossier codes (the one-stop system's export) offered as nearest candidates for codes.
    pub returned: Vec<String>,
    /// Height of the whole-page view, px.
    pub page_height_px: u32,
    /// Token required on every request; random when `None`.
    pub token: Option<String>,
    /// Templates and other review options.
    pub review: ReviewOptions,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            operator: "operator".into(),
            returned: vec![],
            page_height_px: 1000,
            token: None,
            review: ReviewOptions::default(),
        }
    }
}

/// 128 random bits as hex.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("the operating system's random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Live {
    batch: Batch,
    decisions: Decisions,
    log: DecisionLog,
}

struct App {
    dir: PathBuf,
    token: String,
    operator: String,
    returned: Vec<String>,
    page_height_px: u32,
    live: Mutex<Live>,
}

type Shared = Arc<App>;

/// Runs the server until the process is stopped. `on_ready` gets the URL (with the token) once listening.
pub fn serve(
    dir: &Path,
    opts: ServeOptions,
    on_ready: impl FnOnce(&str),
) -> Result<(), ServerError> {
    let batch = Batch::load(dir, &opts.review)?;
    let (log, old) = DecisionLog::open(&dir.join(DECISIONS_FILE))?;
    let dir = dir.canonicalize().map_err(|source| ReviewError::Io {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    let app = Arc::new(App {
        dir,
        token: opts.token.clone().unwrap_or_else(random_token),
        operator: opts.operator.clone(),
        returned: opts.returned.clone(),
        page_height_px: opts.page_height_px.clamp(200, 4000),
        live: Mutex::new(Live {
            batch,
            decisions: Decisions::from_log(&old),
            log,
        }),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(ServerError::Runtime)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: opts.listen,
                cause: source,
            })?;
        let addr = listener.local_addr().map_err(ServerError::Runtime)?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        on_ready(&format!(
            "http://{host}:{}/?token={}",
            addr.port(),
            app.token
        ));
        axum::serve(listener, router(app))
            .await
            .map_err(ServerError::Runtime)
    })
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/items", get(items))
        .route("/api/decide", post(decide))
        .route("/api/file", get(file))
        .route("/api/page", get(page_image))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            require_token,
        ))
        .with_state(app)
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({"error": msg.into()}))).into_response()
}

async fn require_token(
    State(app): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="));
    // Compare every byte so the time taken says nothing about how much of a guess was right.
    let ok = given.is_some_and(|g| {
        g.len() == app.token.len()
            && g.bytes()
                .zip(app.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !ok {
        return error(StatusCode::FORBIDDEN, "missing or wrong token");
    }
    let mut res = next.run(req).await;
    // The page is for this operator only: no caching by shared proxies, no framing by other sites.
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    h.insert("x-frame-options", "DENY".parse().expect("static"));
    h.insert(
        "referrer-policy",
        "no-referrer".parse().expect("static header"),
    );
    res
}

async fn index() -> Response {
    let html = include_str!("page.html")
        .replace("/*CSS*/", include_str!("page.css"))
        .replace("//JS", include_str!("page.js"));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// One option button of an item.
#[derive(Serialize)]
struct OptionView {
    key: String,
    value: Option<String>,
    label: String,
}

/// A code field's grammar for live validation in the browser.
#[derive(Serialize)]
struct CodeView {
    pattern: String,
    example: String,
}

#[derive(Serialize)]
struct DecisionView {
    value: Option<String>,
    operator: String,
    at: String,
}

/// An item as the page shows it.
#[derive(Serialize)]
struct ItemView {
    id: ItemId,
    title: String,
    proposal: Option<String>,
    confidence: f64,
    reason: String,
    crop: Option<String>,
    suggestion: Option<String>,
    candidates: Vec<String>,
    options: Vec<OptionView>,
    code: Option<CodeView>,
    decision: Option<DecisionView>,
    page_box: Option<[f64; 4]>,
    page_mm: Option<[f64; 2]>,
    page_upright: bool,
    page_available: bool,
}

#[derive(Serialize)]
struct ItemsView {
    operator: String,
    remaining: usize,
    items: Vec<ItemView>,
}

/// The key that picks option `k` of a row: `1`..`9`, then `a`..`z` for longer scales (`0` is blank).
fn option_key(k: usize) -> String {
    match k {
        0..=8 => (k + 1).to_string(),
        _ => char::from(b'a' + ((k - 9) % 26) as u8).to_string(),
    }
}

fn opt(key: &str, value: Option<&str>, label: &str) -> OptionView {
    OptionView {
        key: key.into(),
        value: value.map(String::from),
        label: label.into(),
    }
}

/// Returned codes closest to `code` (edit distance ≤ 3), nearest first, at most three.
fn nearest(code: &str, returned: &[String]) -> Vec<String> {
    let mut v: Vec<(usize, &String)> = returned
        .iter()
        .map(|c| (crate::read::validate::edit_distance(code, c), c))
        .filter(|(d, _)| *d <= 3)
        .collect();
    v.sort();
    v.into_iter().take(3).map(|(_, c)| c.clone()).collect()
}

fn view(app: &App, live: &Live) -> ItemsView {
    let items = live.batch.items(&live.decisions);
    let remaining = items
        .iter()
        .filter(|i| live.decisions.get(&i.id).is_none())
        .count();
    let views = items.into_iter().map(|i| item_view(app, live, i)).collect();
    ItemsView {
        operator: app.operator.clone(),
        remaining,
        items: views,
    }
}

fn item_view(app: &App, live: &Live, i: Item) -> ItemView {
    let rec = live.batch.record(&i.id.source);
    let t = i.template.as_deref().and_then(|t| live.batch.template(t));
    let upright = rec.is_some_and(|r| r.registration.is_some());
    let mut options = vec![];
    let mut code = None;
    let mut page_box = None;
    let title;
    match i.id.kind {
        ItemKind::Answer => {
            let row = t.and_then(|t| t.rows.iter().find(|r| r.id == i.id.key));
            title = match row {
                Some(r) => match r.number {
                    Some(n) => format!("Câu {n}. {}", r.label),
                    None => r.label.clone(),
                },
                None => i.id.key.clone(),
            };
            if let Some(r) = row {
                for (k, o) in r.options.iter().enumerate() {
                    options.push(opt(&option_key(k), Some(&o.id), &o.label));
                }
                page_box = Some(r.band);
            }
            options.push(opt("0", None, "Để trống (không chọn ô nào)"));
        }
        ItemKind::Field => {
            let f = t.and_then(|t| t.field(&i.id.key));
            title = f
                .map(|f| f.label.clone())
                .unwrap_or_else(|| i.id.key.clone());
            if let Some(f) = f {
                code = Some(CodeView {
                    pattern: f.pattern.clone(),
                    example: f.example.clone(),
                });
                page_box = Some(f.bbox);
            }
            // No key: inside the code box `0` is a digit.
            options.push(opt("", None, "Để trống (không có mã)"));
        }
        ItemKind::Page => {
            title = "Cả trang: máy không đọc được".into();
            if i.template.is_some() {
                options.push(opt("1", Some("keep"), "Giữ phiếu, nhập tay từng ô"));
            } else {
                for (k, t) in live.batch.templates.iter().enumerate() {
                    options.push(opt(
                        &(k + 1).to_string(),
                        Some(&format!("keep:{}", t.reference())),
                        &format!("Giữ, phiếu {} ({})", t.form_code, t.reference()),
                    ));
                }
            }
            options.push(opt(
                "0",
                Some("discard"),
                "Loại bỏ (không phải phiếu để nhập)",
            ));
        }
    }
    let candidates = match (&i.id.kind, &i.proposal) {
        (ItemKind::Field, Some(p))
            if t.and_then(|t| t.field(&i.id.key)).map(|f| f.role())
                == Some(crate::forms::template::FieldRole::DossierCode) =>
        {
            nearest(p, &app.returned)
        }
        _ => vec![],
    };
    let decision = live.decisions.get(&i.id).map(|d| DecisionView {
        value: d.value.clone(),
        operator: d.operator.clone(),
        at: d.at.clone(),
    });
    ItemView {
        title,
        proposal: i.proposal,
        confidence: i.confidence,
        reason: i.reason,
        crop: i.crop,
        suggestion: i.suggestion,
        candidates,
        options,
        code,
        decision,
        page_box,
        page_mm: t.map(|t| t.page_mm),
        page_upright: upright,
        page_available: rec.is_some_and(|r| source_path(&app.dir, &r.source.path).is_some()),
        id: i.id,
    }
}

fn lock(app: &App) -> std::sync::MutexGuard<'_, Live> {
    // A panic while holding the lock cannot leave a half-applied decision (the log is appended first), so a
    // poisoned lock is still safe to use.
    app.live.lock().unwrap_or_else(|e| e.into_inner())
}

async fn items(State(app): State<Shared>) -> Response {
    let live = lock(&app);
    Json(view(&app, &live)).into_response()
}

#[derive(Deserialize)]
struct DecideBody {
    item: ItemId,
    value: Option<String>,
}

async fn decide(
    State(app): State<Shared>,
    body: Result<Json<DecideBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let mut guard = lock(&app);
    let live = &mut *guard;
    let d = live
        .batch
        .decision(&body.item, body.value, &app.operator, &live.decisions);
    if let Err(e) = live.batch.validate(&d, &live.decisions) {
        return error(StatusCode::BAD_REQUEST, e.to_string());
    }
    if let Err(e) = live.log.append(&d) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    }
    live.decisions.record(d);
    Json(view(&app, live)).into_response()
}

#[derive(Deserialize)]
struct FileQuery {
    path: String,
}

/// Resolves a path relative to `dir`, refusing anything that could leave it (absolute paths, `..`, links
/// pointing outside).
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = dir.join(p).canonicalize().ok()?;
    full.starts_with(dir).then_some(full)
}

async fn file(State(app): State<Shared>, Query(q): Query<FileQuery>) -> Response {
    let Some(p) = inside(&app.dir, &q.path) else {
        return error(StatusCode::NOT_FOUND, "no such file in the scan folder");
    };
    let kind = match p.extension().and_then(|e| e.to_str()) {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => return error(StatusCode::NOT_FOUND, "only images are served"),
    };
    match tokio::fs::read(&p).await {
        Ok(b) => ([(header::CONTENT_TYPE, kind)], b).into_response(),
        Err(_) => error(StatusCode::NOT_FOUND, "no such file in the scan folder"),
    }
}

/// The scan's input file for a record path: as written (relative to where the scan ran, usually the current
/// folder), or relative to the scan folder's parent.
fn source_path(dir: &Path, recorded: &str) -> Option<PathBuf> {
    let p = Path::new(recorded);
    if p.is_file() {
        return Some(p.to_path_buf());
    }
    let alt = dir.parent()?.join(p);
    alt.is_file().then_some(alt)
}

#[derive(Deserialize)]
struct PageQuery {
    path: String,
    page: u32,
}

async fn page_image(State(app): State<Shared>, Query(q): Query<PageQuery>) -> Response {
    // Only pages named in results.jsonl can be shown: the query picks a record, never a file.
    let rec = {
        let live = lock(&app);
        live.batch
            .records
            .iter()
            .find(|r| r.source.path == q.path && r.source.page == q.page)
            .cloned()
    };
    let Some(rec) = rec else {
        return error(StatusCode::NOT_FOUND, "no such page in this scan");
    };
    let app2 = app.clone();
    let res = tokio::task::spawn_blocking(move || whole_page(&app2, &rec)).await;
    match res {
        Ok(Ok(png)) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The whole page as a PNG: warped upright to template millimetres through the scan's registration (so the
/// item's box can be outlined in template coordinates), or the page as scanned when it was never registered.
/// Cached under `DIR/.phieu/pages/`.
fn whole_page(app: &App, rec: &crate::results::PageRecord) -> Result<Vec<u8>, String> {
    use sha2::Digest;
    let key = {
        let mut h = sha2::Sha256::new();
        h.update(rec.source.path.as_bytes());
        h.update(rec.source.page.to_le_bytes());
        h.update(rec.page_hash.as_deref().unwrap_or("").as_bytes());
        h.update(app.page_height_px.to_le_bytes());
        h.finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let cache = app
        .dir
        .join(".phieu")
        .join("pages")
        .join(format!("{key}.png"));
    if let Ok(b) = std::fs::read(&cache) {
        return Ok(b);
    }
    let src = source_path(&app.dir, &rec.source.path)
        .ok_or_else(|| format!("{}: source file not found", rec.source.path))?;
    let page = crate::read::load::load_page(&src, rec.source.page).map_err(|e| e.to_string())?;
    let img = match &rec.registration {
        Some(reg) => {
            // The page size of the form the scan read, among the batch's forms (any authored form too).
            let page_mm = app
                .live
                .lock()
                .ok()
                .and_then(|l| {
                    let t = rec.template.as_deref()?;
                    crate::forms::template::Template::find(&l.batch.templates, t, rec.form_version)
                        .map(|t| t.page_mm)
                })
                .unwrap_or([210.0, 297.0]);
            let px_per_mm = app.page_height_px as f64 / page_mm[1];
            crate::raster::warp_region(
                &page.image,
                &Homography(reg.homography),
                [0.0, 0.0, page_mm[0], page_mm[1]],
                px_per_mm,
            )
        }
        None => {
            let (w, h) = page.image.dimensions();
            let scale = app.page_height_px as f64 / h.max(1) as f64;
            image::imageops::resize(
                &page.image,
                ((w as f64 * scale).round() as u32).max(1),
                app.page_height_px,
                image::imageops::FilterType::Triangle,
            )
        }
    };
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    let bytes = buf.into_inner();
    // The cache only saves time; failing to write it must not hide the page.
    write_atomic(&cache, &bytes).ok();
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_folder_are_refused() {
        let dir = std::env::temp_dir().join(format!("phieu-serve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("review")).unwrap();
        std::fs::write(dir.join("review/a.png"), b"x").unwrap();
        let dir = dir.canonicalize().unwrap();
        assert!(inside(&dir, "review/a.png").is_some());
        assert!(inside(&dir, "review/../review/a.png").is_none());
        assert!(inside(&dir, "../etc/passwd").is_none());
        assert!(inside(&dir, "/etc/passwd").is_none());
        assert!(inside(&dir, "review/missing.png").is_none());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn tokens_are_128_random_bits() {
        let a = random_token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_token());
    }

    #[test]
    fn nearest_returned_codes_come_first() {
        let returned = vec![
            "000.00.17.H48-210426-0001".to_string(),
            "000.00.17.H48-210426-0002".to_string(),
            "999.99.99.X99-991231-9999".to_string(),
        ];
        assert_eq!(
            nearest("000.00.17.H48-210426-0001", &returned),
            returned[..2].to_vec()
        );
    }
}
