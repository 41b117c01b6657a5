//! Test environment: a test PKI made with the openssl CLI, one HTTP server on 127.0.0.1 that
//! answers RFC 3161 requests with `openssl ts -reply`, OCSP requests with `openssl ocsp`
//! (responder mode over the `openssl ca` index) and serves the CRLs, and the outside judges:
//! qpdf, pdfsig and pyHanko.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use crate::flow::{self, Job, Level};

pub struct Env {
    pub pki: PathBuf,
    pub base: String,
    pub work: PathBuf,
}

static ENV: OnceLock<Env> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn env() -> &'static Env {
    ENV.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("pades-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let pki = root.join("pki");
        let work = root.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/make-pki.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&pki)
            .arg(&base)
            .output()
            .expect("bash and the openssl CLI are needed to make the test PKI");
        assert!(
            out.status.success(),
            "make-pki.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = pki.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &dir);
                });
            }
        });
        Env { pki, base, work }
    })
}

fn serve(mut conn: TcpStream, pki: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("").to_string(),
    );
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let q = pki.join(format!("req-{n}.der"));
    let r = pki.join(format!("resp-{n}.der"));
    std::fs::write(&q, &body)?;
    let (status, ctype, data) = match (method, path.as_str()) {
        ("POST", "/tsa") => {
            let ok = Command::new("openssl")
                .current_dir(pki)
                .args([
                    "ts",
                    "-reply",
                    "-config",
                    "tsa.cnf",
                    "-section",
                    "tsa_config",
                    "-queryfile",
                ])
                .arg(&q)
                .args([
                    "-inkey",
                    "tsa.key",
                    "-signer",
                    "tsa.pem",
                    "-chain",
                    "inter.pem",
                    "-out",
                ])
                .arg(&r)
                .output()?;
            if ok.status.success() {
                ("200 OK", "application/timestamp-reply", std::fs::read(&r)?)
            } else {
                ("500 Internal Server Error", "text/plain", ok.stderr)
            }
        }
        // A TSA that answers with a token for another imprint.
        ("POST", "/tsa-wrong-imprint") => {
            let other = pki.join(format!("other-{n}.tsq"));
            let q = Command::new("openssl")
                .args(["ts", "-query", "-sha256", "-cert", "-digest"])
                .arg("11".repeat(32))
                .arg("-out")
                .arg(&other)
                .output()?;
            let ok = Command::new("openssl")
                .current_dir(pki)
                .args([
                    "ts",
                    "-reply",
                    "-config",
                    "tsa.cnf",
                    "-section",
                    "tsa_config",
                    "-queryfile",
                ])
                .arg(&other)
                .args([
                    "-inkey",
                    "tsa.key",
                    "-signer",
                    "tsa.pem",
                    "-chain",
                    "inter.pem",
                    "-out",
                ])
                .arg(&r)
                .output()?;
            if q.status.success() && ok.status.success() {
                ("200 OK", "application/timestamp-reply", std::fs::read(&r)?)
            } else {
                ("500 Internal Server Error", "text/plain", ok.stderr)
            }
        }
        ("POST", "/ocsp") => {
            let ok = Command::new("openssl")
                .current_dir(pki)
                .args([
                    "ocsp",
                    "-index",
                    "index.txt",
                    "-CA",
                    "inter.pem",
                    "-rsigner",
                    "ocsp.pem",
                    "-rkey",
                    "ocsp.key",
                    "-ndays",
                    "1",
                    "-reqin",
                ])
                .arg(&q)
                .arg("-respout")
                .arg(&r)
                .output()?;
            if ok.status.success() {
                ("200 OK", "application/ocsp-response", std::fs::read(&r)?)
            } else {
                ("500 Internal Server Error", "text/plain", ok.stderr)
            }
        }
        ("GET", "/root.crl") => (
            "200 OK",
            "application/pkix-crl",
            std::fs::read(pki.join("root.crl"))?,
        ),
        ("GET", "/inter.crl") => (
            "200 OK",
            "application/pkix-crl",
            std::fs::read(pki.join("inter.crl"))?,
        ),
        _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    )?;
    conn.write_all(&data)?;
    conn.flush()
}

#[allow(
    clippy::disallowed_methods,
    reason = "the tests sign at the current time, as the TSA and OCSP responder do"
)]
pub fn now() -> SystemTime {
    SystemTime::now()
}

pub fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

/// A signing job with the test signer of `kind` (rsa, p256, p384, ed25519).
pub fn job(kind: &str, level: Level) -> Job {
    let e = env();
    let read = |n: &str| std::fs::read(e.pki.join(n)).unwrap();
    let mut chain = flow::pem_chain(&read("inter.pem")).unwrap();
    chain.extend(flow::pem_chain(&read("root.pem")).unwrap());
    Job {
        key: flow::softkey::load_key(&read(&format!("signer-{kind}.key"))).unwrap(),
        cert: openssl::x509::X509::from_pem(&read(&format!("signer-{kind}.pem")))
            .unwrap()
            .to_der()
            .unwrap(),
        chain,
        level,
        tsa: Some(format!("{}/tsa", e.base)),
        now: now(),
        options: pades::SignatureOptions::new(now()),
    }
}

pub fn sign(pdf: &[u8], job: Job) -> anyhow::Result<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(flow::sign(pdf, job))
}

/// Writes `bytes` to a fresh file in the work folder.
pub fn save(name: &str, bytes: &[u8]) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let p = env().work.join(format!("{n:03}-{name}"));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn tool(cmd: &str, hint: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "`{cmd}` is missing: {hint}");
    Command::new(cmd)
}

pub fn python() -> PathBuf {
    let p = std::env::var_os("QSIGN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/.venv/bin/python")
        });
    assert!(
        p.exists(),
        "no Python for pyHanko at {}: set QSIGN_PYTHON or run `python3 -m venv conformance/.venv && conformance/.venv/bin/pip install -r conformance/requirements-formats.txt`",
        p.display()
    );
    p
}

/// `qpdf --check` must exit 0 (no errors, no warnings).
pub fn qpdf_check(path: &Path) {
    let out = tool("qpdf", "apt-get install -y qpdf")
        .arg("--check")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0),
        "qpdf --check {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// pdfsig's report; asserts `expected` signatures, each cryptographically valid, and, when
/// `last_total`, that the last one covers the whole document.
pub fn pdfsig(path: &Path, expected: usize, last_total: bool) -> String {
    pdfsig_with_timestamps(path, expected, 0, last_total)
}

/// Like [`pdfsig`], the last `timestamps` of them document timestamps: poppler shows those but
/// cannot verify them ("Unimplemented Feature"), so only their signer and coverage are checked
/// here; pyHanko validates them.
pub fn pdfsig_with_timestamps(
    path: &Path,
    expected: usize,
    timestamps: usize,
    last_total: bool,
) -> String {
    let out = tool("pdfsig", "apt-get install -y poppler-utils")
        .arg(path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let blocks: Vec<&str> = text.split("Signature #").skip(1).collect();
    assert_eq!(blocks.len(), expected, "pdfsig {}: {text}", path.display());
    for (i, b) in blocks.iter().enumerate() {
        if i + timestamps >= blocks.len() {
            assert!(
                b.contains("Common Name: qsign test TSA"),
                "pdfsig {}: {text}",
                path.display()
            );
        } else {
            assert!(
                b.contains("Signature Validation: Signature is Valid."),
                "pdfsig {}: {text}",
                path.display()
            );
        }
    }
    if last_total {
        assert!(
            blocks.last().unwrap().contains("Total document signed"),
            "pdfsig {}: {text}",
            path.display()
        );
    }
    text
}

/// pyHanko's verdict at `level` against the test root; must be valid.
pub fn pyhanko(path: &Path, level: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/pyhanko_validate.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(path)
        .arg("--trust")
        .arg(env().pki.join("root.pem"))
        .args(["--level", level])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pyHanko {level} {}: {text}",
        path.display()
    );
    text
}

/// The original must be an exact prefix, and the output must pass qpdf.
pub fn check_prefix_and_qpdf(original: &[u8], signed: &[u8], name: &str) -> PathBuf {
    assert!(
        signed.len() > original.len() && signed.starts_with(original),
        "{name}: the original is not a prefix of the output"
    );
    let p = save(name, signed);
    qpdf_check(&p);
    p
}

/// Rewrites `pdf` with qpdf and the given options.
pub fn qpdf_rewrite(pdf: &[u8], args: &[&str]) -> Vec<u8> {
    let i = save("qpdf-in.pdf", pdf);
    let o = env().work.join(format!(
        "qpdf-out-{}.pdf",
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let out = tool("qpdf", "apt-get install -y qpdf")
        .args(args)
        .arg(&i)
        .arg(&o)
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0),
        "qpdf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(o).unwrap()
}

/// A PDF written by hand: `objects` as (number, body), a classic xref table, and `trailer`
/// entries besides /Size.
pub fn handmade(objects: &[(u32, String)], trailer: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (n, body) in objects {
        offsets.push((*n, out.len()));
        out.extend_from_slice(format!("{n} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let size = objects.iter().map(|(n, _)| n + 1).max().unwrap_or(1);
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f\r\n").as_bytes());
    for i in 1..size {
        match offsets.iter().find(|(n, _)| *n == i) {
            Some((_, o)) => out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes()),
            None => out.extend_from_slice(b"0000000000 65535 f\r\n"),
        }
    }
    out.extend_from_slice(
        format!("trailer\n<</Size {size} {trailer}>>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

pub fn page_content() -> String {
    let c = "BT /F1 24 Tf 72 720 Td (Hello, qsign) Tj ET";
    format!("<</Length {}>>\nstream\n{c}\nendstream", c.len())
}
