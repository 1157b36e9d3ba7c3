//! Helpers for the review tests: a scanned sample folder, a `phieu review` child process, and a minimal HTTP/1.1
//! client on std (enough for our server and for chromedriver's JSON wire protocol).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (scans run from there, so record paths are `samples/...`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh temp folder for one test.
pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("phieu-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Scans the bundled samples into `out` (some pages need review, so `scan` exits 1).
pub fn scan_samples(out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .args(["scan", "samples", "--quiet", "--out"])
        .arg(out)
        .current_dir(root())
        .output()
        .expect("phieu runs");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs `phieu export DIR -o OUT [extra]`, returns the exit code and stderr.
pub fn export(dir: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_phieu"))
        .arg("export")
        .arg(dir)
        .arg("-o")
        .arg(out)
        .args(extra)
        .current_dir(root())
        .output()
        .expect("phieu runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A running `phieu review` server.
pub struct Server {
    child: Child,
    /// The URL it printed (with the token).
    pub url: String,
    /// `host:port`.
    pub addr: String,
    /// The token.
    pub token: String,
}

impl Server {
    /// Starts `phieu review DIR --operator NAME`, waits for the URL on stdout.
    pub fn start(dir: &Path, operator: &str) -> Server {
        Self::start_with(dir, operator, &[])
    }

    /// Starts `phieu review DIR --operator NAME EXTRA...`.
    pub fn start_with(dir: &Path, operator: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_phieu"))
            .arg("review")
            .arg(dir)
            .args(["--operator", operator])
            .args(extra)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("phieu review starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).ok();
            tx.send(line).ok();
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server printed its URL");
        let url = line.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let rest = url.trim_start_matches("http://");
        let addr = rest.split('/').next().unwrap().to_string();
        let token = url.split("token=").nth(1).unwrap().to_string();
        Server {
            child,
            url,
            addr,
            token,
        }
    }

    /// Kills the server abruptly (as a crash or Ctrl-C would).
    pub fn kill(mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// `path_and_query` with the token appended.
    pub fn with_token(&self, path: &str) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}token={}", self.token)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A response: status code and body bytes.
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn http(addr: &str, method: &str, path: &str, body: Option<&serde_json::Value>) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    // Some servers (chromedriver) keep the connection open despite `Connection: close`: read by length.
    let mut raw = vec![];
    let mut buf = [0u8; 65536];
    let (split, head) = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break (i, String::from_utf8_lossy(&raw[..i]).to_ascii_lowercase());
        }
        let n = s.read(&mut buf).expect("HTTP response");
        assert!(n > 0, "connection closed before the headers");
        raw.extend_from_slice(&buf[..n]);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .expect("status");
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let have = raw.len() - (split + 4);
        let complete = match length {
            Some(n) => have >= n,
            None if chunked => raw.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        let n = s.read(&mut buf).expect("HTTP body");
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let mut body = raw[split + 4..].to_vec();
    if let Some(n) = length {
        body.truncate(n);
    }
    if chunked {
        body = dechunk(&body);
    }
    Resp { status, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
}

/// Waits until `f` returns `Some`, or panics after `secs` with `what`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(x) = f() {
            return x;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The decision lines saved in `DIR/review.jsonl`.
pub fn saved_decisions(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("review.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The true values of the samples: (file name, key) → value.
pub fn truth() -> std::collections::HashMap<(String, String), Option<String>> {
    let mut m = std::collections::HashMap::new();
    let text = std::fs::read_to_string(root().join("samples/truth.jsonl")).unwrap();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let path = v["path"].as_str().unwrap().to_string();
        if let Some(a) = v["answers"].as_object() {
            for (k, x) in a {
                m.insert((path.clone(), k.clone()), x.as_str().map(String::from));
            }
        }
        if let Some(f) = v["fields"].as_object() {
            for (k, x) in f {
                m.insert(
                    (path.clone(), k.clone()),
                    x["value"].as_str().map(String::from),
                );
            }
        }
    }
    m
}
