//! A test PKI made with the `openssl` command line at test time: root, issuing CA, a signer per
//! algorithm, a TSA (critical EKU timeStamping), a TSA with a non-critical EKU, and a delegated
//! OCSP responder. Everything says "not qualified".

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// Runs a command and fails with its output if it does not succeed (or cannot start).
pub fn run(dir: &Path, program: &str, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| {
            format!("cannot run `{program}`: is it installed? (apt-get install openssl)")
        })?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok([out.stdout, out.stderr].concat())
}

pub fn openssl(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    run(dir, "openssl", args)
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "qsign-signer-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by its own id) when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub struct Identity {
    pub name: String,
    pub key: PKey<Private>,
    pub cert_der: Vec<u8>,
}

pub struct Pki {
    pub dir: TempDir,
    pub root: Identity,
    pub ca: Identity,
    pub rsa: Identity,
    pub p256: Identity,
    pub p384: Identity,
    pub ed25519: Identity,
    /// Revoked in the OCSP index and in the CA's CRL.
    pub revoked: Identity,
    /// Names only a CRL distribution point (no OCSP).
    pub crl_only: Identity,
    /// Its AIA names the test server's responder built on our OCSP encoder.
    pub dev_ocsp: Identity,
    /// Its AIA names a responder that answers for another certificate.
    pub wrong_ocsp: Identity,
    /// Its AIA names a responder whose answers are badly signed.
    pub badsig_ocsp: Identity,
    pub tsa: Identity,
    pub tsa_noncritical: Identity,
    pub ocsp: Identity,
    pub ocsp_port: u16,
    pub http_port: u16,
}

const EXT: &str = r#"
[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://127.0.0.1:HTTP/root.crl
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:http://127.0.0.1:OCSP/
crlDistributionPoints = URI:http://127.0.0.1:HTTP/ca.crl
[leaf_crl]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://127.0.0.1:HTTP/ca.crl
[leaf_devocsp]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:http://127.0.0.1:HTTP/ocsp-dev
[leaf_wrongocsp]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:http://127.0.0.1:HTTP/ocsp-wrong-cert
[leaf_badsigocsp]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:http://127.0.0.1:HTTP/ocsp-bad-signature
[tsa]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
authorityInfoAccess = OCSP;URI:http://127.0.0.1:OCSP/
[tsa_noncritical]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ocsp]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"#;

fn genkey(dir: &Path, name: &str, alg: &str) -> Result<()> {
    let out = format!("{name}.key");
    let mut args = vec!["genpkey", "-out", &out];
    let spec: Vec<&str> = match alg {
        "rsa" => vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "p256" => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "p384" => vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "ed25519" => vec!["-algorithm", "ED25519"],
        other => bail!("unknown key algorithm {other}"),
    };
    args.extend(spec);
    openssl(dir, &args)?;
    Ok(())
}

fn load(dir: &Path, name: &str) -> Result<Identity> {
    let key_pem = dir.join(format!("{name}.key"));
    let cert_pem = dir.join(format!("{name}.pem"));
    let key = PKey::private_key_from_pem(&std::fs::read(&key_pem)?)?;
    let cert_der = X509::from_pem(&std::fs::read(&cert_pem)?)?.to_der()?;
    std::fs::write(dir.join(format!("{name}.der")), &cert_der)?;
    Ok(Identity {
        name: name.to_string(),
        key,
        cert_der,
    })
}

fn issue(
    dir: &Path,
    name: &str,
    alg: &str,
    ext: &str,
    issuer: &str,
    serial: &str,
) -> Result<Identity> {
    genkey(dir, name, alg)?;
    let subj = format!("/O=qsign test PKI (not qualified)/CN={name}");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &subj,
            "-config",
            "ext.cnf",
            "-out",
            &format!("{name}.csr"),
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-set_serial",
            serial,
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            ext,
            "-out",
            &format!("{name}.pem"),
        ],
    )?;
    load(dir, name)
}

impl Pki {
    pub fn new() -> Result<Self> {
        let dir = TempDir::new("pki")?;
        let d = dir.0.clone();
        let ocsp_port = free_port()?;
        let http_port = free_port()?;
        std::fs::write(
            d.join("ext.cnf"),
            EXT.replace("OCSP/", &format!("{ocsp_port}/"))
                .replace("HTTP/", &format!("{http_port}/")),
        )?;
        genkey(&d, "root", "p384")?;
        openssl(
            &d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "root.key",
                "-subj",
                "/O=qsign test PKI (not qualified)/CN=qsign test root",
                "-days",
                "60",
                "-config",
                "ext.cnf",
                "-extensions",
                "root",
                "-set_serial",
                "0x01",
                "-out",
                "root.pem",
            ],
        )?;
        let root = load(&d, "root")?;
        let ca = issue(&d, "ca", "p256", "ca", "root", "0x02")?;
        let rsa = issue(&d, "rsa", "rsa", "leaf", "ca", "0x1001")?;
        let p256 = issue(&d, "p256", "p256", "leaf", "ca", "0x1002")?;
        let p384 = issue(&d, "p384", "p384", "leaf", "ca", "0x1003")?;
        let ed25519 = issue(&d, "ed25519", "ed25519", "leaf", "ca", "0x1004")?;
        let revoked = issue(&d, "revoked", "p256", "leaf", "ca", "0x1005")?;
        let crl_only = issue(&d, "crl_only", "p256", "leaf_crl", "ca", "0x1006")?;
        let tsa = issue(&d, "tsa", "rsa", "tsa", "ca", "0x1007")?;
        let dev_ocsp = issue(&d, "dev_ocsp", "p256", "leaf_devocsp", "ca", "0x100A")?;
        let wrong_ocsp = issue(&d, "wrong_ocsp", "p256", "leaf_wrongocsp", "ca", "0x100B")?;
        let badsig_ocsp = issue(&d, "badsig_ocsp", "p256", "leaf_badsigocsp", "ca", "0x100C")?;
        let tsa_noncritical = issue(
            &d,
            "tsa_noncritical",
            "p256",
            "tsa_noncritical",
            "ca",
            "0x1008",
        )?;
        let ocsp = issue(&d, "ocsp", "p256", "ocsp", "ca", "0x1009")?;
        std::fs::write(
            d.join("chain.pem"),
            [
                std::fs::read(d.join("ca.pem"))?,
                std::fs::read(d.join("root.pem"))?,
            ]
            .concat(),
        )?;
        let mut index = String::new();
        for (serial, name) in [
            ("1001", "rsa"),
            ("1002", "p256"),
            ("1003", "p384"),
            ("1004", "ed25519"),
            ("1006", "crl_only"),
            ("1007", "tsa"),
            ("1008", "tsa_noncritical"),
        ] {
            index.push_str(&format!(
                "V\t491231235959Z\t\t{serial}\tunknown\t/O=qsign test PKI (not qualified)/CN={name}\n"
            ));
        }
        index.push_str(
            "R\t491231235959Z\t250101000000Z\t1005\tunknown\t/O=qsign test PKI (not qualified)/CN=revoked\n",
        );
        std::fs::write(d.join("index.txt"), index)?;
        std::fs::write(d.join("index.txt.attr"), "unique_subject = no\n")?;
        Ok(Self {
            dir,
            root,
            ca,
            rsa,
            p256,
            p384,
            ed25519,
            revoked,
            crl_only,
            dev_ocsp,
            wrong_ocsp,
            badsig_ocsp,
            tsa,
            tsa_noncritical,
            ocsp,
            ocsp_port,
            http_port,
        })
    }

    /// Starts `openssl ocsp` serving the index with the delegated responder. Its `-port` takes no
    /// host, so it listens on the wildcard address; the tests only ever contact 127.0.0.1.
    pub fn start_ocsp_responder(&self) -> Result<ChildGuard> {
        let child = Command::new("openssl")
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-port",
                &self.ocsp_port.to_string(),
                "-rsigner",
                "ocsp.pem",
                "-rkey",
                "ocsp.key",
                "-CA",
                "ca.pem",
                "-nmin",
                "10",
            ])
            .current_dir(&self.dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start `openssl ocsp`: is openssl installed?")?;
        let mut guard = ChildGuard(child);
        // A probing connection would be answered as a malformed request and end the responder,
        // so wait for its own word that it listens.
        let stderr = guard.0.stderr.take().context("ocsp stderr")?;
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
        for line in lines.by_ref() {
            if line?.contains("waiting for OCSP client connections") {
                // Keep draining its log so the pipe never fills.
                std::thread::spawn(move || for _ in lines {});
                return Ok(guard);
            }
        }
        bail!(
            "`openssl ocsp` did not start listening on port {}",
            self.ocsp_port
        )
    }
}
