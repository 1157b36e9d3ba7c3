//! The ratings database and `phieu import`: a small [`Store`] trait with SQLite (bundled) and PostgreSQL (TLS
//! with certificate checking, as `sslmode` says) backends, one set of versioned migrations for both, and the
//! exactly-once import of final records (`phieu-final/1`: natural key template + dossier code, one transaction
//! per batch, a second different rating for a dossier kept aside as a conflict, never overwriting the first; a
//! form without a dossier code keyed by its page) and of the one-stop system's tablet and website ratings
//! (`channel_ratings`, keyed by the export's rating id or the row's content).

use crate::forms::template::Template;
use crate::store::final_record::{read_final_jsonl, DecidedBy, FinalRecord, FINAL_SCHEMA};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors of the database layer and the import.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported database.
    #[error("unsupported database URL `{0}` (use sqlite:PATH or postgres://USER@HOST:PORT/DB)")]
    Url(String),
    /// The database could not be opened or reached.
    #[error("{url}: cannot open the database: {reason}")]
    Open {
        /// The URL (without password).
        url: String,
        /// Cause.
        reason: String,
    },
    /// A statement failed.
    #[error("database error while {context}: {reason}")]
    Sql {
        /// What was being done.
        context: String,
        /// Cause.
        reason: String,
    },
    /// The database holds a schema version this program does not know (written by a newer phieu).
    #[error("the database has schema version {found}, newer than this program's {known}; use a newer phieu")]
    TooNew {
        /// Highest version found.
        found: i64,
        /// Highest version known here.
        known: i64,
    },
    /// The input file could not be read or parsed.
    #[error("{path}: {reason}")]
    Input {
        /// Final-records file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The input holds records that still need review.
    #[error(
        "{path}: {records} record(s) still need review (first: {first}); nothing was imported. Finish the review \
         and export again, or pass --allow-unreviewed"
    )]
    Unreviewed {
        /// Final-records file.
        path: PathBuf,
        /// Number of records with unresolved items.
        records: usize,
        /// The first such record and item.
        first: String,
    },
}

fn sql_err(context: &str) -> impl Fn(&dyn std::fmt::Display) -> DbError + '_ {
    move |e| DbError::Sql {
        context: context.to_string(),
        reason: e.to_string(),
    }
}

/// A value bound to or read from a statement; the common ground of both backends.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// An integer (BIGINT).
    Int(i64),
    /// A float (DOUBLE PRECISION).
    Real(f64),
    /// Text.
    Text(String),
}

impl Val {
    /// Text or NULL.
    pub fn opt_text(s: Option<&str>) -> Val {
        s.map_or(Val::Null, |s| Val::Text(s.to_string()))
    }
    /// The text, if this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// Statements inside one open transaction. SQL uses `?` placeholders; the PostgreSQL backend numbers them.
pub trait Tx {
    /// Runs one statement; returns the number of rows changed.
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError>;
    /// Runs a query; returns every row.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, DbError>;
    /// Runs several `;`-separated statements without parameters (a migration step).
    fn execute_batch(&mut self, sql: &str) -> Result<(), DbError>;
}

/// A database the ratings live in.
pub trait Store {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Runs `f` in one transaction: committed when `f` returns `Ok(true)`, rolled back on `Ok(false)` or an
    /// error. Returns what `f` returned.
    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<bool, DbError>,
    ) -> Result<bool, DbError>;
}

/// The embedded SQLite backend (`sqlite:PATH`).
pub struct SqliteStore {
    conn: rusqlite::Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<SqliteStore, DbError> {
        let open_err = |e: &dyn std::fmt::Display| DbError::Open {
            url: format!("sqlite:{}", path.display()),
            reason: e.to_string(),
        };
        let conn = rusqlite::Connection::open(path).map_err(|e| open_err(&e))?;
        // Another importer holding the write lock is waited for rather than failing at once.
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| open_err(&e))?;
        conn.execute_batch("PRAGMA foreign_keys = ON;")
            .map_err(|e| open_err(&e))?;
        Ok(SqliteStore { conn })
    }
}

struct SqliteTx<'a>(rusqlite::Transaction<'a>);

fn to_sqlite(v: &Val) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        Val::Null => Value::Null,
        Val::Int(i) => Value::Integer(*i),
        Val::Real(f) => Value::Real(*f),
        Val::Text(s) => Value::Text(s.clone()),
    }
}

impl Tx for SqliteTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        self.0
            .execute(
                sql,
                rusqlite::params_from_iter(params.iter().map(to_sqlite)),
            )
            .map(|n| n as u64)
            .map_err(|e| sql_err(sql)(&e))
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, DbError> {
        use rusqlite::types::ValueRef;
        let mut st = self.0.prepare(sql).map_err(|e| sql_err(sql)(&e))?;
        let n = st.column_count();
        let rows = st
            .query_map(
                rusqlite::params_from_iter(params.iter().map(to_sqlite)),
                |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                ValueRef::Null => Val::Null,
                                ValueRef::Integer(i) => Val::Int(i),
                                ValueRef::Real(f) => Val::Real(f),
                                ValueRef::Text(t) | ValueRef::Blob(t) => {
                                    Val::Text(String::from_utf8_lossy(t).into_owned())
                                }
                            })
                        })
                        .collect::<Result<Vec<Val>, rusqlite::Error>>()
                },
            )
            .map_err(|e| sql_err(sql)(&e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| sql_err(sql)(&e))
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.0.execute_batch(sql).map_err(|e| sql_err(sql)(&e))
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<bool, DbError>,
    ) -> Result<bool, DbError> {
        // IMMEDIATE takes the write lock up front, so two importers queue instead of deadlocking on upgrade.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sql_err("starting a transaction")(&e))?;
        let mut t = SqliteTx(tx);
        let commit = f(&mut t)?;
        if commit {
            t.0.commit()
                .map_err(|e| sql_err("committing the transaction")(&e))?;
        } else {
            t.0.rollback()
                .map_err(|e| sql_err("rolling back the transaction")(&e))?;
        }
        Ok(commit)
    }
}

/// The PostgreSQL backend (`postgres://...`, TLS as `sslmode` says).
pub struct PgStore {
    client: postgres::Client,
    /// Prepared statements by SQL text (valid for the connection's life; the schema only changes through
    /// migrations, which are never prepared).
    statements: std::collections::HashMap<String, postgres::Statement>,
}

/// How a PostgreSQL URL asks for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTls {
    /// `disable`, `prefer` or `require` (`verify-ca` and `verify-full` are `require`: the certificate and the
    /// host name are always checked when TLS is used).
    pub mode: &'static str,
    /// A PEM file of CA certificates to trust besides the system's (`sslrootcert=FILE`).
    pub root_cert: Option<PathBuf>,
    /// The URL as the driver reads it (`sslrootcert` removed, `sslmode` one it knows).
    pub url: String,
}

/// Reads `sslmode` and `sslrootcert` from a PostgreSQL URL. Without `sslmode`, a server on this machine
/// (localhost, 127.0.0.1, ::1, a socket) is `prefer` and any other is `require`: the central database across the
/// network is never reached in clear text unless the URL says `sslmode=disable`.
pub fn pg_tls(url: &str) -> Result<PgTls, DbError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = None;
    let mut root_cert = None;
    let mut rest = vec![];
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "sslmode" => {
                mode = Some(match v {
                    "disable" => "disable",
                    "allow" | "prefer" => "prefer",
                    "require" | "verify-ca" | "verify-full" => "require",
                    _ => {
                        return Err(DbError::Open {
                            url: redact(url),
                            reason: format!(
                            "sslmode={v}: use disable, prefer, require, verify-ca or verify-full"
                        ),
                        })
                    }
                })
            }
            "sslrootcert" => root_cert = Some(PathBuf::from(v)),
            _ => rest.push(kv),
        }
    }
    let host = base
        .split_once("://")
        .map_or("", |(_, r)| r)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or(host)
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let local = host.is_empty()
        || host.starts_with('%')
        || matches!(host, "localhost" | "127.0.0.1" | "::1");
    let mode = mode.unwrap_or(if local { "prefer" } else { "require" });
    rest.push(match mode {
        "disable" => "sslmode=disable",
        "prefer" => "sslmode=prefer",
        _ => "sslmode=require",
    });
    Ok(PgTls {
        mode,
        root_cert,
        url: format!("{base}?{}", rest.join("&")),
    })
}

/// A TLS client that checks the server's certificate against the system's CAs (and `sslrootcert`) and its
/// host name.
fn pg_tls_connector(
    root_cert: Option<&Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if let Some(p) = root_cert {
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(p)
            .map_err(|e| format!("sslrootcert {}: {e}", p.display()))?;
        for c in certs {
            let c = c.map_err(|e| format!("sslrootcert {}: {e}", p.display()))?;
            roots
                .add(c)
                .map_err(|e| format!("sslrootcert {}: {e}", p.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PgStore {
    /// Connects to the server, over TLS unless the URL says `sslmode=disable` (see [`pg_tls`]).
    pub fn open(url: &str) -> Result<PgStore, DbError> {
        let open_err = |reason: String| DbError::Open {
            url: redact(url),
            reason,
        };
        let tls = pg_tls(url)?;
        let client = if tls.mode == "disable" {
            postgres::Client::connect(&tls.url, postgres::NoTls)
        } else {
            let connector = pg_tls_connector(tls.root_cert.as_deref()).map_err(open_err)?;
            postgres::Client::connect(&tls.url, connector)
        }
        .map_err(|e| {
            let mut reason = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                reason.push_str(&format!(": {s}"));
                src = s.source();
            }
            open_err(reason)
        })?;
        Ok(PgStore {
            client,
            statements: Default::default(),
        })
    }
}

/// The URL with any password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `?` placeholders numbered `$1, $2, ...` for PostgreSQL (our SQL has no `?` inside literals).
fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

impl postgres::types::ToSql for Val {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => i.to_string().to_sql(ty, out),
            },
            Val::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => f.to_string().to_sql(ty, out),
            },
            Val::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        // The conversion is chosen per column type in `to_sql`.
        true
    }

    postgres::types::to_sql_checked!();
}

struct PgTx<'a>(
    postgres::Transaction<'a>,
    &'a mut std::collections::HashMap<String, postgres::Statement>,
);

impl PgTx<'_> {
    /// The statement prepared once per connection: an import runs the same few statements thousands of
    /// times, and preparing each costs a round trip.
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(st) = self.1.get(sql) {
            return Ok(st.clone());
        }
        let st = self
            .0
            .prepare(pg_sql(sql).as_str())
            .map_err(|e| sql_err(sql)(&e))?;
        self.1.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

fn pg_params(params: &[Val]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

impl Tx for PgTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let st = self.statement(sql)?;
        self.0
            .execute(&st, &pg_params(params))
            .map_err(|e| sql_err(sql)(&e))
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, DbError> {
        use postgres::types::Type;
        let st = self.statement(sql)?;
        let rows = self
            .0
            .query(&st, &pg_params(params))
            .map_err(|e| sql_err(sql)(&e))?;
        rows.iter()
            .map(|r| {
                r.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let v = match *c.type_() {
                            Type::INT8 => r.try_get::<_, Option<i64>>(i).map(|v| v.map(Val::Int)),
                            Type::INT4 => r
                                .try_get::<_, Option<i32>>(i)
                                .map(|v| v.map(|x| Val::Int(x.into()))),
                            Type::INT2 => r
                                .try_get::<_, Option<i16>>(i)
                                .map(|v| v.map(|x| Val::Int(x.into()))),
                            Type::FLOAT8 => {
                                r.try_get::<_, Option<f64>>(i).map(|v| v.map(Val::Real))
                            }
                            _ => r.try_get::<_, Option<String>>(i).map(|v| v.map(Val::Text)),
                        };
                        v.map(|v| v.unwrap_or(Val::Null))
                            .map_err(|e| sql_err(sql)(&e))
                    })
                    .collect()
            })
            .collect()
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.0.batch_execute(sql).map_err(|e| sql_err(sql)(&e))
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Tx) -> Result<bool, DbError>,
    ) -> Result<bool, DbError> {
        let tx = self
            .client
            .transaction()
            .map_err(|e| sql_err("starting a transaction")(&e))?;
        let mut t = PgTx(tx, &mut self.statements);
        let commit = f(&mut t)?;
        if commit {
            t.0.commit()
                .map_err(|e| sql_err("committing the transaction")(&e))?;
        } else {
            t.0.rollback()
                .map_err(|e| sql_err("rolling back the transaction")(&e))?;
        }
        Ok(commit)
    }
}

/// The file of a `sqlite:` URL (`sqlite:///abs/path` and `sqlite://rel` are accepted as well as `sqlite:path`).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let p = url.strip_prefix("sqlite:")?;
    let p = p.strip_prefix("//").unwrap_or(p);
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// Opens a database that must already exist (what `report` and `import --conflicts` read): a `sqlite:` file
/// that is not there is an error, never a new empty database.
pub fn open_existing(url: &str) -> Result<Box<dyn Store>, DbError> {
    if let Some(p) = sqlite_path(url) {
        if !p.is_file() {
            return Err(DbError::Open {
                url: url.to_string(),
                reason: format!(
                    "no database file {} (check the path; `phieu import` creates it)",
                    p.display()
                ),
            });
        }
    }
    open(url)
}

/// Opens a database by URL: `sqlite:PATH` (file created when missing) or `postgres://` / `postgresql://`.
pub fn open(url: &str) -> Result<Box<dyn Store>, DbError> {
    if url.starts_with("sqlite:") {
        let Some(p) = sqlite_path(url) else {
            return Err(DbError::Url(url.to_string()));
        };
        Ok(Box::new(SqliteStore::open(&p)?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PgStore::open(url)?))
    } else {
        Err(DbError::Url(url.to_string()))
    }
}

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version, from 1, applied in order.
    pub version: i64,
    /// What it does.
    pub name: &'static str,
    /// The statements (portable SQL: TEXT, BIGINT, DOUBLE PRECISION, no auto-increment).
    pub sql: &'static str,
}

/// Every schema step this program knows. Never edit a released step; add a new one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "batches, ratings, rating_conflicts, import_log",
        sql: "
CREATE TABLE batches (
    batch TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    first_imported_at TEXT NOT NULL
);
CREATE TABLE ratings (
    template TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    batch TEXT NOT NULL REFERENCES batches (batch),
    source_path TEXT NOT NULL,
    page BIGINT NOT NULL,
    page_hash TEXT,
    enterprise_code TEXT,
    c1 TEXT, c2 TEXT, c3 TEXT, c4 TEXT, c5 TEXT, c6 TEXT, c7 TEXT, c8 TEXT, c9 TEXT,
    overall TEXT,
    score BIGINT,
    decided_by TEXT NOT NULL,
    unresolved TEXT,
    content_hash TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (template, dossier_code)
);
CREATE TABLE rating_conflicts (
    template TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    batch TEXT NOT NULL REFERENCES batches (batch),
    source_path TEXT NOT NULL,
    page BIGINT NOT NULL,
    page_hash TEXT,
    enterprise_code TEXT,
    c1 TEXT, c2 TEXT, c3 TEXT, c4 TEXT, c5 TEXT, c6 TEXT, c7 TEXT, c8 TEXT, c9 TEXT,
    overall TEXT,
    score BIGINT,
    decided_by TEXT NOT NULL,
    unresolved TEXT,
    kept_batch TEXT NOT NULL,
    kept_source_path TEXT NOT NULL,
    kept_page BIGINT NOT NULL,
    imported_at TEXT NOT NULL,
    PRIMARY KEY (template, dossier_code, content_hash)
);
CREATE TABLE import_log (
    batch TEXT NOT NULL REFERENCES batches (batch),
    source TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    program TEXT NOT NULL,
    new_records BIGINT NOT NULL,
    already_present BIGINT NOT NULL,
    conflicts BIGINT NOT NULL,
    skipped BIGINT NOT NULL
);
",
    },
    Migration {
        version: 2,
        name: "index ratings by dossier code",
        sql: "CREATE INDEX ratings_dossier_code ON ratings (dossier_code);",
    },
    Migration {
        version: 3,
        name: "answers per (form, version, row, option); form versions; the forms themselves",
        // The answers of every stored rating move from the fixed columns c1..c9, overall into rows of their
        // own, so any form fits; ratings stored before versions existed are version 1.
        sql: "
CREATE TABLE forms (
    template TEXT NOT NULL,
    form_version BIGINT NOT NULL,
    definition TEXT NOT NULL,
    first_imported_at TEXT NOT NULL,
    PRIMARY KEY (template, form_version)
);
ALTER TABLE ratings ADD COLUMN form_version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE rating_conflicts ADD COLUMN form_version BIGINT NOT NULL DEFAULT 1;
CREATE TABLE rating_answers (
    template TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    form_version BIGINT NOT NULL,
    row_id TEXT NOT NULL,
    option_id TEXT,
    PRIMARY KEY (template, dossier_code, row_id)
);
CREATE TABLE conflict_answers (
    template TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    form_version BIGINT NOT NULL,
    row_id TEXT NOT NULL,
    option_id TEXT,
    PRIMARY KEY (template, dossier_code, content_hash, row_id)
);
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c1', c1 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c2', c2 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c3', c3 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c4', c4 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c5', c5 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c6', c6 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c7', c7 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c8', c8 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'c9', c9 FROM ratings;
INSERT INTO rating_answers (template, dossier_code, form_version, row_id, option_id) SELECT template, dossier_code, 1, 'overall', overall FROM ratings;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c1', c1 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c2', c2 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c3', c3 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c4', c4 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c5', c5 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c6', c6 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c7', c7 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c8', c8 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'c9', c9 FROM rating_conflicts;
INSERT INTO conflict_answers (template, dossier_code, content_hash, form_version, row_id, option_id) SELECT template, dossier_code, content_hash, 1, 'overall', overall FROM rating_conflicts;
ALTER TABLE ratings DROP COLUMN c1;
ALTER TABLE rating_conflicts DROP COLUMN c1;
ALTER TABLE ratings DROP COLUMN c2;
ALTER TABLE rating_conflicts DROP COLUMN c2;
ALTER TABLE ratings DROP COLUMN c3;
ALTER TABLE rating_conflicts DROP COLUMN c3;
ALTER TABLE ratings DROP COLUMN c4;
ALTER TABLE rating_conflicts DROP COLUMN c4;
ALTER TABLE ratings DROP COLUMN c5;
ALTER TABLE rating_conflicts DROP COLUMN c5;
ALTER TABLE ratings DROP COLUMN c6;
ALTER TABLE rating_conflicts DROP COLUMN c6;
ALTER TABLE ratings DROP COLUMN c7;
ALTER TABLE rating_conflicts DROP COLUMN c7;
ALTER TABLE ratings DROP COLUMN c8;
ALTER TABLE rating_conflicts DROP COLUMN c8;
ALTER TABLE ratings DROP COLUMN c9;
ALTER TABLE rating_conflicts DROP COLUMN c9;
ALTER TABLE ratings DROP COLUMN overall;
ALTER TABLE rating_conflicts DROP COLUMN overall;
",
    },
    Migration {
        version: 4,
        name: "channel_ratings (tablet, web, and paper forms without a dossier code); rating_resolutions",
        // Ratings not keyed by a paper form's dossier code live here, each under its own natural key, with the
        // answers as one JSON object (row id -> option id or null). `aside` = 1 marks a second, different
        // reading of a page already stored (kept, never counted). `rating_resolutions` records which rating of
        // a dossier counts when its ratings disagree.
        sql: "
CREATE TABLE channel_ratings (
    rating_key TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    dossier_code TEXT,
    department TEXT,
    template TEXT NOT NULL,
    form_version BIGINT NOT NULL,
    rated_at TEXT,
    answers TEXT NOT NULL,
    score BIGINT,
    unresolved TEXT,
    aside BIGINT NOT NULL,
    source_path TEXT NOT NULL,
    source_line BIGINT NOT NULL,
    batch TEXT,
    page_hash TEXT,
    decided_by TEXT,
    content_hash TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE INDEX channel_ratings_dossier_code ON channel_ratings (dossier_code);
CREATE TABLE rating_resolutions (
    dossier_code TEXT PRIMARY KEY,
    kept TEXT NOT NULL,
    operator TEXT NOT NULL,
    decided_at TEXT NOT NULL
);
",
    },
];

/// Applies the missing schema steps, each in its own transaction; returns the versions applied now.
pub fn migrate(store: &mut dyn Store) -> Result<Vec<i64>, DbError> {
    migrate_to(store, i64::MAX)
}

/// [`migrate`], but only up to schema version `target` (tests build the databases of earlier releases this way).
pub fn migrate_to(store: &mut dyn Store, target: i64) -> Result<Vec<i64>, DbError> {
    store.transaction(&mut |tx| {
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             applied_at TEXT NOT NULL);",
        )?;
        Ok(true)
    })?;
    let known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    let mut applied = vec![];
    for m in MIGRATIONS.iter().filter(|m| m.version <= target) {
        let done = store.transaction(&mut |tx| {
            let found = tx
                .query("SELECT MAX(version) FROM schema_migrations", &[])?
                .first()
                .and_then(|r| r.first().and_then(Val::as_int))
                .unwrap_or(0);
            if found > known {
                return Err(DbError::TooNew { found, known });
            }
            let present = !tx
                .query(
                    "SELECT version FROM schema_migrations WHERE version = ?",
                    &[Val::Int(m.version)],
                )?
                .is_empty();
            if present {
                return Ok(false);
            }
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                &[
                    Val::Int(m.version),
                    Val::Text(m.name.into()),
                    Val::Text(crate::util::now_rfc3339()),
                ],
            )?;
            Ok(true)
        })?;
        if done {
            applied.push(m.version);
        }
    }
    Ok(applied)
}

/// The schema versions recorded in the database, in order.
pub fn schema_versions(store: &mut dyn Store) -> Result<Vec<i64>, DbError> {
    let mut out = vec![];
    store.transaction(&mut |tx| {
        out = tx
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )?
            .iter()
            .filter_map(|r| r.first().and_then(Val::as_int))
            .collect();
        Ok(false)
    })?;
    Ok(out)
}

/// The rows of the two forms the first schema stored in fixed columns (`c1`..`c9`, `overall`); records of
/// those forms keep the content hash they had then, so a re-import after the upgrade is still "already present".
pub const LEGACY_ROWS: [&str; 10] = [
    "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "overall",
];

/// Options of `phieu import`.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Import records that still have unresolved items (their machine proposals), instead of refusing the file.
    pub allow_unreviewed: bool,
}

/// What importing one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BatchOutcome {
    /// Batch id.
    pub batch: String,
    /// Records of this batch in the input.
    pub records: usize,
    /// Ratings added.
    pub new: usize,
    /// Records whose dossier already has the same rating (this batch imported before, or the same form again).
    pub already_present: usize,
    /// Records rating an already rated dossier differently, kept aside now in `rating_conflicts`.
    pub conflicts: usize,
    /// Such conflicting records that were already kept aside by an earlier import.
    pub conflicts_known: usize,
    /// Records without a dossier code, imported at department level (`channel_ratings`, channel `paper`).
    pub no_code: usize,
    /// Records whose form nobody named (a page left unread with `--allow-unreviewed`): nothing to count them
    /// on, not imported.
    pub skipped_no_form: usize,
    /// Whether anything was written (a batch that changes nothing is rolled back, leaving the database as is).
    pub committed: bool,
}

impl std::fmt::Display for BatchOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "batch {}: {} records: {} new, {} already present, {} conflicts kept aside ({} already kept); {} \
             without a dossier code (imported at department level); {} without a form (not imported)",
            self.batch,
            self.records,
            self.new,
            self.already_present,
            self.conflicts,
            self.conflicts_known,
            self.no_code,
            self.skipped_no_form
        )
    }
}

/// Finds the final-records file: PATH itself, or PATH/final.jsonl when PATH is a folder.
pub fn final_records_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("final.jsonl")
    } else {
        path.to_path_buf()
    }
}

/// Reads and checks the final records at `path` (a file or a folder holding `final.jsonl`).
pub fn read_final_records(path: &Path) -> Result<(PathBuf, Vec<FinalRecord>), DbError> {
    let file = final_records_path(path);
    if path.is_dir() && !file.exists() && path.join("results.jsonl").exists() {
        return Err(DbError::Input {
            path: path.to_path_buf(),
            reason: "a scan folder without final.jsonl: review it and export it first (`phieu review DIR`, then \
                     `phieu export DIR -o DIR/final.jsonl`), then import final.jsonl"
                .into(),
        });
    }
    let text = std::fs::read_to_string(&file).map_err(|e| DbError::Input {
        path: file.clone(),
        reason: e.to_string(),
    })?;
    if let Some(reason) = wrong_kind(&text) {
        return Err(DbError::Input { path: file, reason });
    }
    let records = read_final_jsonl(&text).map_err(|reason| DbError::Input {
        path: file.clone(),
        reason: format!("not final records ({FINAL_SCHEMA}, what `phieu export` writes): {reason}"),
    })?;
    Ok((file, records))
}

/// Names the kind of file the user gave instead of final records, and what to run instead.
fn wrong_kind(text: &str) -> Option<String> {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())?
        .trim_start_matches('\u{feff}');
    if first.contains("\"phieu-result/1\"") {
        return Some(
            "this is a scan's results.jsonl (phieu-result/1), not final records. Review the scan and export it \
             first: `phieu review DIR`, then `phieu export DIR -o final.jsonl`, and import final.jsonl"
                .into(),
        );
    }
    if first.contains("\"phieu-decision/1\"") {
        return Some(
            "this is the review log (review.jsonl), not final records: run `phieu export DIR -o final.jsonl` and \
             import final.jsonl"
                .into(),
        );
    }
    if !first.starts_with('{') {
        let head = first.to_ascii_lowercase();
        if head.contains("_by") && head.starts_with("batch,") {
            return Some(
                "this is final.csv, the spreadsheet copy of final records; import the JSON lines instead: \
                 `phieu export DIR -o final.jsonl`, then `phieu import final.jsonl`"
                    .into(),
            );
        }
        return Some(
            "not final records (phieu-final/1 JSON lines, what `phieu export DIR -o final.jsonl` writes). An \
             export of tablet or website ratings must be a .csv file"
                .into(),
        );
    }
    None
}

/// Checks the records before anything is written: schema tag, rating values, and (unless allowed) that nothing
/// still needs review. Any problem refuses the whole input.
pub fn check_records(
    file: &Path,
    records: &[FinalRecord],
    templates: &[Template],
    opts: &ImportOptions,
) -> Result<(), DbError> {
    let bad = |i: usize, r: &FinalRecord, why: String| DbError::Input {
        path: file.to_path_buf(),
        reason: format!(
            "record {} ({} page {}): {why}",
            i + 1,
            r.source.path,
            r.source.page
        ),
    };
    for (i, r) in records.iter().enumerate() {
        if r.schema != FINAL_SCHEMA {
            return Err(bad(
                i,
                r,
                format!("schema `{}`, expected `{FINAL_SCHEMA}`", r.schema),
            ));
        }
        // A page whose form nobody has named yet (unread, review pending) has no template; it can only come in
        // with --allow-unreviewed, and is then skipped like a record without a code.
        if r.batch.trim().is_empty() || (r.template.trim().is_empty() && r.unresolved.is_empty()) {
            return Err(bad(i, r, "empty batch or template".into()));
        }
        if r.template.trim().is_empty() {
            continue;
        }
        let Some(t) = form(templates, &r.template, r.form_version) else {
            return Err(bad(
                i,
                r,
                format!(
                    "form `{}` version {} is not known here; pass its template file with --template",
                    r.template, r.form_version
                ),
            ));
        };
        for (k, v) in &r.answers {
            let Some(row) = t.rows.iter().find(|x| &x.id == k) else {
                return Err(bad(
                    i,
                    r,
                    format!("row `{k}` is not on form {} v{}", t.template_id, t.version),
                ));
            };
            if let Some(val) = v.value.as_deref() {
                if !row.options.iter().any(|o| o.id == val) {
                    let ids: Vec<&str> = row.options.iter().map(|o| o.id.as_str()).collect();
                    return Err(bad(
                        i,
                        r,
                        format!("row {k}: value {val:?} is none of its options {ids:?} (or null)"),
                    ));
                }
            }
        }
    }
    if !opts.allow_unreviewed {
        let open: Vec<&FinalRecord> = records
            .iter()
            .filter(|r| !r.unresolved.is_empty())
            .collect();
        if let Some(r) = open.first() {
            let item = &r.unresolved[0];
            let what = match item.kind {
                crate::store::final_record::ItemKind::Answer => format!("row {}", item.key),
                crate::store::final_record::ItemKind::Field => {
                    format!("field {}", item.key.replace('_', " "))
                }
                crate::store::final_record::ItemKind::Page => "the whole page".to_string(),
            };
            return Err(DbError::Unreviewed {
                path: file.to_path_buf(),
                records: open.len(),
                first: format!("{} page {}, {what}", r.source.path, r.source.page),
            });
        }
    }
    Ok(())
}

/// The template with this id and version.
fn form<'a>(templates: &'a [Template], id: &str, version: u32) -> Option<&'a Template> {
    templates
        .iter()
        .find(|t| t.template_id == id && t.version == version)
}

/// The values that make two records the same rating: template, version, dossier, enterprise code and the
/// answers.
fn content_hash(r: &FinalRecord, code: &str) -> String {
    let mut h = sha2::Sha256::new();
    let field = |k: &str| {
        r.fields
            .get(k)
            .and_then(|v| v.value.clone())
            .unwrap_or_default()
    };
    h.update(format!(
        "{}\n{code}\n{}\n",
        r.template,
        field("enterprise_code")
    ));
    let legacy = r.form_version == 1 && r.answers.keys().all(|k| LEGACY_ROWS.contains(&k.as_str()));
    if legacy {
        for row in LEGACY_ROWS {
            let v = r.answers.get(row).and_then(|v| v.value.as_deref());
            h.update(format!("{row}={}\n", v.unwrap_or("-")));
        }
    } else {
        h.update(format!("version={}\n", r.form_version));
        for (row, v) in &r.answers {
            h.update(format!("{row}={}\n", v.value.as_deref().unwrap_or("-")));
        }
    }
    crate::util::hex(&h.finalize())
}

/// Who decided each value, as JSON: id → `machine` or `person:OPERATOR`.
fn decided_by(r: &FinalRecord) -> String {
    let mut m = BTreeMap::new();
    for (k, v) in r.fields.iter().chain(r.answers.iter()) {
        let who = match v.decided_by {
            DecidedBy::Machine => "machine".to_string(),
            DecidedBy::Person => format!("person:{}", v.operator.as_deref().unwrap_or("")),
        };
        m.insert(k.clone(), who);
    }
    serde_json::to_string(&m).unwrap_or_default()
}

/// Column values shared by `ratings` and `rating_conflicts`, after the key.
fn record_values(r: &FinalRecord, now: &str) -> Vec<Val> {
    let mut v = vec![
        Val::Text(r.batch.clone()),
        Val::Text(r.source.path.clone()),
        Val::Int(r.source.page.into()),
        Val::opt_text(r.page_hash.as_deref()),
        Val::opt_text(
            r.fields
                .get("enterprise_code")
                .and_then(|v| v.value.as_deref()),
        ),
    ];
    v.push(Val::Int(r.form_version.into()));
    v.push(r.score.map_or(Val::Null, |s| Val::Int(s.into())));
    v.push(Val::Text(decided_by(r)));
    v.push(if r.unresolved.is_empty() {
        Val::Null
    } else {
        Val::Text(serde_json::to_string(&r.unresolved).unwrap_or_default())
    });
    v.push(Val::Text(now.to_string()));
    v
}

const RECORD_COLUMNS: &str =
    "batch, source_path, page, page_hash, enterprise_code, form_version, score, decided_by, unresolved, \
     imported_at";

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Imports checked records: one transaction per batch (in batch order), rolled back when it would change
/// nothing. `source` names the input in `batches` and `import_log`.
pub fn import_records(
    store: &mut dyn Store,
    source: &str,
    records: &[FinalRecord],
    templates: &[Template],
) -> Result<Vec<BatchOutcome>, DbError> {
    let mut by_batch: BTreeMap<&str, Vec<&FinalRecord>> = BTreeMap::new();
    for r in records {
        by_batch.entry(r.batch.as_str()).or_default().push(r);
    }
    let mut outcomes = vec![];
    for (batch, mut recs) in by_batch {
        // Deterministic order, so which of two differing forms is kept first does not depend on file order.
        recs.sort_by(|a, b| a.source.cmp(&b.source));
        let mut out = BatchOutcome::default();
        let committed = store.transaction(&mut |tx| {
            out = import_batch(tx, batch, source, &recs, templates)?;
            Ok(out.committed)
        })?;
        out.committed = committed;
        outcomes.push(out);
    }
    Ok(outcomes)
}

fn import_batch(
    tx: &mut dyn Tx,
    batch: &str,
    source: &str,
    recs: &[&FinalRecord],
    templates: &[Template],
) -> Result<BatchOutcome, DbError> {
    let now = crate::util::now_rfc3339();
    let mut out = BatchOutcome {
        batch: batch.to_string(),
        records: recs.len(),
        ..Default::default()
    };
    let new_batch = record_batch(tx, batch, source, &now)?;
    let n_cols = 3 + RECORD_COLUMNS.split(',').count();
    let insert_rating = format!(
        "INSERT INTO ratings (template, dossier_code, content_hash, {RECORD_COLUMNS}) VALUES ({}) \
         ON CONFLICT (template, dossier_code) DO NOTHING",
        placeholders(n_cols)
    );
    let insert_conflict = format!(
        "INSERT INTO rating_conflicts (template, dossier_code, content_hash, {RECORD_COLUMNS}, kept_batch, \
         kept_source_path, kept_page) VALUES ({}) ON CONFLICT (template, dossier_code, content_hash) DO NOTHING",
        placeholders(n_cols + 3)
    );
    let mut stored_forms = std::collections::BTreeSet::new();
    for r in recs {
        if r.template.trim().is_empty() {
            out.skipped_no_form += 1;
            continue;
        }
        let code = dossier_code_of(r, templates);
        // The form itself is stored once per version, so the report reads labels, points and the satisfaction
        // rule of exactly the form each rating was made on.
        let fkey = (r.template.clone(), r.form_version);
        if let Some(t) =
            form(templates, &r.template, r.form_version).filter(|_| stored_forms.insert(fkey))
        {
            tx.execute(
                "INSERT INTO forms (template, form_version, definition, first_imported_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (template, form_version) DO NOTHING",
                &[
                    Val::Text(t.template_id.clone()),
                    Val::Int(t.version.into()),
                    Val::Text(serde_json::to_string(t).unwrap_or_default()),
                    Val::Text(now.clone()),
                ],
            )?;
        }
        let Some(code) = code else {
            // A form whose dossier field is empty is still a rating: kept at department level, keyed by its page.
            let hash = content_hash(r, "");
            match insert_no_code(tx, r, &hash, templates, &now)? {
                Insert::New => {
                    out.new += 1;
                    out.no_code += 1;
                }
                Insert::Present => out.already_present += 1,
                Insert::Conflict => out.conflicts += 1,
                Insert::ConflictKnown => out.conflicts_known += 1,
            }
            continue;
        };
        let code = code.as_str();
        let hash = content_hash(r, code);
        let mut params = vec![
            Val::Text(r.template.clone()),
            Val::Text(code.to_string()),
            Val::Text(hash.clone()),
        ];
        params.extend(record_values(r, &now));
        if tx.execute(&insert_rating, &params)? > 0 {
            insert_answers(tx, r, code, None)?;
            out.new += 1;
            continue;
        }
        let kept = tx.query(
            "SELECT content_hash, batch, source_path, page FROM ratings WHERE template = ? AND dossier_code = ?",
            &[Val::Text(r.template.clone()), Val::Text(code.to_string())],
        )?;
        let Some(kept) = kept.into_iter().next() else {
            return Err(DbError::Sql {
                context: format!("importing {code}"),
                reason: "the existing rating vanished during the import".into(),
            });
        };
        if kept[0].as_text() == Some(hash.as_str()) {
            out.already_present += 1;
            continue;
        }
        params.extend(kept[1..4].iter().cloned());
        if tx.execute(&insert_conflict, &params)? > 0 {
            insert_answers(tx, r, code, Some(&hash))?;
            out.conflicts += 1;
        } else {
            out.conflicts_known += 1;
        }
    }
    out.committed = new_batch || out.new > 0 || out.conflicts > 0;
    if out.committed {
        let counts = [
            out.new,
            out.already_present,
            out.conflicts,
            out.skipped_no_form,
        ];
        log_import(tx, batch, source, &now, counts)?;
    }
    Ok(out)
}

/// Notes a batch the first time it is imported; `true` when it is new.
fn record_batch(tx: &mut dyn Tx, batch: &str, source: &str, now: &str) -> Result<bool, DbError> {
    Ok(tx.execute(
        "INSERT INTO batches (batch, source, first_imported_at) VALUES (?, ?, ?) ON CONFLICT (batch) DO NOTHING",
        &[
            Val::Text(batch.into()),
            Val::Text(source.into()),
            Val::Text(now.into()),
        ],
    )? > 0)
}

/// One line of the import log: `counts` are new, already present, conflicts and skipped (paper records without a
/// form, or bad rows of a ratings CSV).
fn log_import(
    tx: &mut dyn Tx,
    batch: &str,
    source: &str,
    now: &str,
    counts: [usize; 4],
) -> Result<(), DbError> {
    let mut params = vec![
        Val::Text(batch.into()),
        Val::Text(source.into()),
        Val::Text(now.into()),
        Val::Text(format!("phieu {}", crate::VERSION)),
    ];
    params.extend(counts.iter().map(|&n| Val::Int(n as i64)));
    tx.execute(
        "INSERT INTO import_log (batch, source, imported_at, program, new_records, already_present, conflicts, \
         skipped) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        &params,
    )?;
    Ok(())
}

/// The record's dossier code: the value of its form's dossier-code field (`dossier_code` when the form is not
/// known here), trimmed; `None` when empty.
fn dossier_code_of(r: &FinalRecord, templates: &[Template]) -> Option<String> {
    let id = form(templates, &r.template, r.form_version)
        .and_then(|t| t.field_with_role(crate::forms::template::FieldRole::DossierCode))
        .map_or("dossier_code", |f| f.id.as_str());
    r.fields
        .get(id)
        .and_then(|v| v.value.as_deref())
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
}

/// What storing one rating under its natural key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Stored now.
    New,
    /// The same rating was stored before.
    Present,
    /// Another rating is stored under the key; this one is kept aside now.
    Conflict,
    /// Kept aside by an earlier import.
    ConflictKnown,
}

const CHANNEL_COLUMNS: &str = "rating_key, channel, dossier_code, department, template, form_version, rated_at, \
     answers, score, unresolved, aside, source_path, source_line, batch, page_hash, decided_by, content_hash, \
     imported_at";

/// Inserts one row of `channel_ratings` (values in [`CHANNEL_COLUMNS`] order, `aside` at index 10) under its key;
/// when the key holds other content, keeps this one aside under `KEY~HASH`.
fn insert_channel_row(tx: &mut dyn Tx, mut v: Vec<Val>) -> Result<Insert, DbError> {
    let sql = format!(
        "INSERT INTO channel_ratings ({CHANNEL_COLUMNS}) VALUES ({}) ON CONFLICT (rating_key) DO NOTHING",
        placeholders(18)
    );
    if tx.execute(&sql, &v)? > 0 {
        return Ok(Insert::New);
    }
    let key = v[0].as_text().unwrap_or("").to_string();
    let hash = v[16].as_text().unwrap_or("").to_string();
    let stored = tx.query(
        "SELECT content_hash FROM channel_ratings WHERE rating_key = ?",
        &[Val::Text(key.clone())],
    )?;
    if stored.first().and_then(|r| r[0].as_text()) == Some(hash.as_str()) {
        return Ok(Insert::Present);
    }
    v[0] = Val::Text(format!("{key}~{}", &hash[..16]));
    v[10] = Val::Int(1);
    Ok(if tx.execute(&sql, &v)? > 0 {
        Insert::Conflict
    } else {
        Insert::ConflictKnown
    })
}

/// Answers as the JSON object `channel_ratings.answers` holds.
fn answers_json<'a>(answers: impl Iterator<Item = (&'a String, Option<&'a str>)>) -> String {
    let m: BTreeMap<&String, Option<&str>> = answers.collect();
    serde_json::to_string(&m).unwrap_or_default()
}

/// A paper form without a dossier code, keyed by template and page (its pixel hash, else batch, file and page).
fn insert_no_code(
    tx: &mut dyn Tx,
    r: &FinalRecord,
    hash: &str,
    templates: &[Template],
    now: &str,
) -> Result<Insert, DbError> {
    let page = r
        .page_hash
        .clone()
        .unwrap_or_else(|| format!("{}/{}#{}", r.batch, r.source.path, r.source.page));
    let department = form(templates, &r.template, r.form_version).map(|t| t.department.clone());
    insert_channel_row(
        tx,
        vec![
            Val::Text(format!("paper:{}:{page}", r.template)),
            Val::Text("paper".into()),
            Val::Null,
            Val::opt_text(department.as_deref()),
            Val::Text(r.template.clone()),
            Val::Int(r.form_version.into()),
            Val::Null,
            Val::Text(answers_json(
                r.answers.iter().map(|(k, v)| (k, v.value.as_deref())),
            )),
            r.score.map_or(Val::Null, |s| Val::Int(s.into())),
            if r.unresolved.is_empty() {
                Val::Null
            } else {
                Val::Text(serde_json::to_string(&r.unresolved).unwrap_or_default())
            },
            Val::Int(0),
            Val::Text(r.source.path.clone()),
            Val::Int(r.source.page.into()),
            Val::Text(r.batch.clone()),
            Val::opt_text(r.page_hash.as_deref()),
            Val::Text(decided_by(r)),
            Val::Text(hash.to_string()),
            Val::Text(now.to_string()),
        ],
    )
}

/// What importing an export of electronic ratings did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChannelOutcome {
    /// Good rows in the file.
    pub rows: usize,
    /// Ratings added.
    pub new: usize,
    /// Ratings stored before (the same row imported again).
    pub already_present: usize,
    /// Rows whose rating id was stored before with other values: kept aside now (the first one counts).
    pub conflicts: usize,
    /// Such rows kept aside by an earlier import.
    pub conflicts_known: usize,
    /// Of the new ratings, those without a dossier code (counted at department level).
    pub no_code: usize,
    /// Bad rows (not imported; each has its line-numbered error).
    pub bad_rows: usize,
    /// Whether anything was written.
    pub committed: bool,
}

impl std::fmt::Display for ChannelOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows: {} new ({} without a dossier code, imported at department level), {} already present, {} \
             conflicts kept aside ({} already kept), {} bad rows (not imported)",
            self.rows,
            self.new,
            self.no_code,
            self.already_present,
            self.conflicts,
            self.conflicts_known,
            self.bad_rows
        )
    }
}

/// Imports the electronic ratings of one export file in one transaction (rolled back when it changes nothing).
/// `file_sha256` names the import in `batches` and `import_log` (`csv:` + its first 16 hex digits).
pub fn import_channel_ratings(
    store: &mut dyn Store,
    source: &str,
    file_sha256: &str,
    file: &crate::store::channel::ChannelFile,
) -> Result<ChannelOutcome, DbError> {
    let batch = format!("csv:{}", &file_sha256[..16.min(file_sha256.len())]);
    let mut out = ChannelOutcome::default();
    let committed = store.transaction(&mut |tx| {
        let now = crate::util::now_rfc3339();
        out = ChannelOutcome {
            rows: file.ratings.len(),
            bad_rows: file.errors.len(),
            ..Default::default()
        };
        let new_batch = record_batch(tx, &batch, source, &now)?;
        for r in &file.ratings {
            let v = vec![
                Val::Text(r.key.clone()),
                Val::Text(r.channel.as_str().into()),
                Val::opt_text(r.dossier_code.as_deref()),
                Val::opt_text(r.department.as_deref()),
                Val::Text(r.template.clone()),
                Val::Int(r.form_version.into()),
                Val::Text(r.rated_at.clone()),
                Val::Text(answers_json(
                    r.answers.iter().map(|(k, v)| (k, v.as_deref())),
                )),
                r.score.map_or(Val::Null, Val::Int),
                Val::Null,
                Val::Int(0),
                Val::Text(source.into()),
                Val::Int(r.line as i64),
                Val::Text(batch.clone()),
                Val::Null,
                Val::Null,
                Val::Text(r.content_hash.clone()),
                Val::Text(now.clone()),
            ];
            match insert_channel_row(tx, v)? {
                Insert::New => {
                    out.new += 1;
                    out.no_code += usize::from(r.dossier_code.is_none());
                }
                Insert::Present => out.already_present += 1,
                Insert::Conflict => out.conflicts += 1,
                Insert::ConflictKnown => out.conflicts_known += 1,
            }
        }
        let commit = new_batch || out.new > 0 || out.conflicts > 0;
        if commit {
            let counts = [out.new, out.already_present, out.conflicts, out.bad_rows];
            log_import(tx, &batch, source, &now, counts)?;
        }
        Ok(commit)
    })?;
    out.committed = committed;
    Ok(out)
}

/// A record's answers, one row each: into `rating_answers`, or with the conflict's content hash into
/// `conflict_answers`.
fn insert_answers(
    tx: &mut dyn Tx,
    r: &FinalRecord,
    code: &str,
    conflict: Option<&str>,
) -> Result<(), DbError> {
    let (table, hash_col, hash_val) = match conflict {
        None => ("rating_answers", "", ""),
        Some(_) => ("conflict_answers", "content_hash, ", "?, "),
    };
    let sql = format!(
        "INSERT INTO {table} (template, dossier_code, {hash_col}form_version, row_id, option_id) \
         VALUES (?, ?, {hash_val}?, ?, ?)"
    );
    // One statement per record (a round trip each on PostgreSQL), not one per row.
    let tuple = sql[sql.find("VALUES ").map_or(0, |i| i + 7)..].to_string();
    let mut all = sql.clone();
    let mut p = vec![];
    for (i, (row, v)) in r.answers.iter().enumerate() {
        if i > 0 {
            all.push_str(", ");
            all.push_str(&tuple);
        }
        p.extend([Val::Text(r.template.clone()), Val::Text(code.to_string())]);
        p.extend(conflict.map(|h| Val::Text(h.to_string())));
        p.extend([
            Val::Int(r.form_version.into()),
            Val::Text(row.clone()),
            Val::opt_text(v.value.as_deref()),
        ]);
    }
    if !p.is_empty() {
        tx.execute(&all, &p)?;
    }
    Ok(())
}

/// Reads, checks and imports a final-records file (or a folder holding `final.jsonl`) into an open store,
/// migrating the schema first.
pub fn import_path(
    store: &mut dyn Store,
    path: &Path,
    templates: &[Template],
    opts: &ImportOptions,
) -> Result<Vec<BatchOutcome>, DbError> {
    let (file, records) = read_final_records(path)?;
    migrate(store)?;
    // Forms stored by earlier imports are known too, so a record of an old version still imports.
    let mut known = templates.to_vec();
    for t in load_forms(store)? {
        if form(&known, &t.template_id, t.version).is_none() {
            known.push(t);
        }
    }
    check_records(&file, &records, &known, opts)?;
    import_records(store, &file.to_string_lossy(), &records, &known)
}

/// The forms stored with the ratings, one per (template, version).
pub fn load_forms(store: &mut dyn Store) -> Result<Vec<Template>, DbError> {
    let mut out = vec![];
    store.transaction(&mut |tx| {
        let rows = tx.query(
            "SELECT template, form_version, definition FROM forms ORDER BY template, form_version",
            &[],
        )?;
        for r in rows {
            let def = r[2].as_text().unwrap_or("");
            let t =
                Template::from_json(def, Path::new("(forms table)")).map_err(|e| DbError::Sql {
                    context: "reading the stored forms".into(),
                    reason: e.to_string(),
                })?;
            out.push(t);
        }
        Ok(false)
    })?;
    Ok(out)
}

/// One stored rating, as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRow {
    /// Template id.
    pub template: String,
    /// Form version.
    pub form_version: u32,
    /// Dossier code.
    pub dossier_code: String,
    /// Answers by row id: the chosen option id, `None` = blank.
    pub answers: BTreeMap<String, Option<String>>,
    /// Score when every criterion is answered.
    pub score: Option<i64>,
}

/// Every stored rating (ordered by template, dossier code) and the number of conflicts kept aside.
pub fn load_ratings(store: &mut dyn Store) -> Result<(Vec<RatingRow>, usize), DbError> {
    let mut ratings = vec![];
    let mut conflicts = 0;
    store.transaction(&mut |tx| {
        let rows = tx.query(
            "SELECT template, dossier_code, form_version, score FROM ratings ORDER BY template, dossier_code",
            &[],
        )?;
        let mut by_key: BTreeMap<(String, String), RatingRow> = BTreeMap::new();
        for r in &rows {
            let row = RatingRow {
                template: r[0].as_text().unwrap_or("").to_string(),
                dossier_code: r[1].as_text().unwrap_or("").to_string(),
                form_version: r[2].as_int().unwrap_or(1) as u32,
                answers: BTreeMap::new(),
                score: r[3].as_int(),
            };
            by_key.insert((row.template.clone(), row.dossier_code.clone()), row);
        }
        for a in tx.query(
            "SELECT template, dossier_code, row_id, option_id FROM rating_answers",
            &[],
        )? {
            let key = (
                a[0].as_text().unwrap_or("").to_string(),
                a[1].as_text().unwrap_or("").to_string(),
            );
            if let Some(r) = by_key.get_mut(&key) {
                r.answers.insert(
                    a[2].as_text().unwrap_or("").to_string(),
                    a[3].as_text().map(String::from),
                );
            }
        }
        ratings = by_key.into_values().collect();
        conflicts = tx
            .query("SELECT COUNT(*) FROM rating_conflicts", &[])?
            .first()
            .and_then(|r| r.first().and_then(Val::as_int))
            .unwrap_or(0) as usize;
        Ok(false)
    })?;
    Ok((ratings, conflicts))
}

/// Every row of every table, as text, in a fixed order (for comparing database contents in tests and audits).
pub fn dump(store: &mut dyn Store) -> Result<BTreeMap<String, Vec<String>>, DbError> {
    let mut out = BTreeMap::new();
    store.transaction(&mut |tx| {
        for (table, order) in [
            ("schema_migrations", "version"),
            ("batches", "batch"),
            ("ratings", "template, dossier_code"),
            ("rating_conflicts", "template, dossier_code, content_hash"),
            ("rating_answers", "template, dossier_code, row_id"),
            (
                "conflict_answers",
                "template, dossier_code, content_hash, row_id",
            ),
            ("forms", "template, form_version"),
            ("channel_ratings", "rating_key"),
            ("rating_resolutions", "dossier_code"),
            ("import_log", "imported_at, batch, new_records"),
        ] {
            let rows = tx.query(&format!("SELECT * FROM {table} ORDER BY {order}"), &[])?;
            out.insert(
                table.to_string(),
                rows.iter().map(|r| format!("{r:?}")).collect(),
            );
        }
        Ok(false)
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            pg_sql("INSERT INTO t (a, b) VALUES (?, ?)"),
            "INSERT INTO t (a, b) VALUES ($1, $2)"
        );
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://u:secret@127.0.0.1:5432/db"),
            "postgres://u:***@127.0.0.1:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn sslmode_is_read_from_the_url_and_the_network_default_is_tls() {
        let t = pg_tls("postgres://u@127.0.0.1:5432/db").unwrap();
        assert_eq!(
            (t.mode, t.url.as_str()),
            ("prefer", "postgres://u@127.0.0.1:5432/db?sslmode=prefer")
        );
        let t = pg_tls("postgres://u@db.example.vn/db").unwrap();
        assert_eq!(t.mode, "require");
        let t = pg_tls("postgres://u@db.example.vn/db?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=5")
            .unwrap();
        assert_eq!(t.mode, "require");
        assert_eq!(t.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            t.url,
            "postgres://u@db.example.vn/db?connect_timeout=5&sslmode=require"
        );
        assert_eq!(
            pg_tls("postgres://u@h/db?sslmode=disable").unwrap().mode,
            "disable"
        );
        assert!(pg_tls("postgres://u@h/db?sslmode=maybe").is_err());
    }

    #[test]
    fn a_mistyped_sqlite_path_is_not_created() {
        let p = std::env::temp_dir().join(format!("phieu-no-such-{}.db", std::process::id()));
        let e = open_existing(&format!("sqlite:{}", p.display()))
            .err()
            .unwrap();
        assert!(e.to_string().contains("no database file"), "{e}");
        assert!(!p.exists());
    }

    #[test]
    fn unknown_urls_are_refused() {
        assert!(matches!(open("mysql://x"), Err(DbError::Url(_))));
        assert!(matches!(open("sqlite:"), Err(DbError::Url(_))));
    }

    #[test]
    fn timestamps_look_like_rfc3339() {
        let t = crate::util::now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }
}
