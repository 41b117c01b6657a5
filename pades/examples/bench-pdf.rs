//! Benchmark (not a test): PAdES B-B of a large PDF with a P-256 test key, against SHA-256 of
//! the same bytes in the same run.
//!
//!   bench-pdf make OUT.pdf [MB]       writes a PDF of about MB megabytes (default 20): pages
//!                                     with incompressible image streams
//!   bench-pdf sign IN.pdf OUT.pdf     reads IN, then times sha256(IN) and the whole signing
//!                                     (pades prepare + CAdES + ECDSA + finish), then writing
//!                                     OUT (page cache, no fsync)
//!
//! Key generation and file reading are outside the timings; there is no TSA at B-B. Run it
//! under `/usr/bin/time -v` for the peak memory (see pades/bench/run.sh).

#[path = "../../signer/examples/common/softkey.rs"]
#[allow(
    dead_code,
    reason = "the benchmark makes its key in process instead of loading one"
)]
mod softkey;

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509Builder, X509NameBuilder};
use sha2::Digest as _;
use signer::cades::{self, Content, SignParams};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["make", out] => make(out, 20),
        ["make", out, mb] => make(out, mb.parse()?),
        ["sign", input, output] => sign(input, output),
        _ => bail!("usage: bench-pdf make OUT.pdf [MB] | bench-pdf sign IN.pdf OUT.pdf"),
    }
}

fn make(out: &str, mb: usize) -> Result<()> {
    const IMAGE: usize = 1024 * 1024;
    let pages = mb.max(1);
    let mut pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    let mut obj = |pdf: &mut Vec<u8>, n: usize, body: &[u8]| {
        offsets.push((n, pdf.len()));
        pdf.extend_from_slice(format!("{n} 0 obj\n").as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    };
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    obj(&mut pdf, 1, b"<</Type/Catalog/Pages 2 0 R>>");
    obj(
        &mut pdf,
        2,
        format!("<</Type/Pages/Count {pages}/Kids[{}]>>", kids.join(" ")).as_bytes(),
    );
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..pages {
        let (page, content, image) = (3 + 3 * i, 4 + 3 * i, 5 + 3 * i);
        obj(
            &mut pdf,
            page,
            format!(
                "<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents {content} 0 R/Resources<</XObject<</Im0 {image} 0 R>>>>>>"
            )
            .as_bytes(),
        );
        let c = b"q 512 0 0 512 41 165 cm /Im0 Do Q";
        let mut body = format!("<</Length {}>>\nstream\n", c.len()).into_bytes();
        body.extend_from_slice(c);
        body.extend_from_slice(b"\nendstream");
        obj(&mut pdf, content, &body);
        let mut data = Vec::with_capacity(IMAGE);
        while data.len() < IMAGE {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(IMAGE);
        let mut body = format!(
            "<</Type/XObject/Subtype/Image/Width 1024/Height 1024/ColorSpace/DeviceGray/BitsPerComponent 8/Length {IMAGE}>>\nstream\n"
        )
        .into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\nendstream");
        obj(&mut pdf, image, &body);
    }
    let size = 3 + 3 * pages;
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f\r\n").as_bytes());
    offsets.sort();
    for (_, o) in &offsets {
        pdf.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<</Size {size}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    std::fs::write(out, &pdf).with_context(|| format!("writing {out}"))?;
    println!("wrote {out}: {} bytes, {pages} pages", pdf.len());
    Ok(())
}

#[expect(
    clippy::disallowed_methods,
    reason = "a benchmark signs at the current time"
)]
fn now() -> SystemTime {
    SystemTime::now()
}

fn sign(input: &str, output: &str) -> Result<()> {
    // Outside the timings: the key, its certificate and reading the file.
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, "qsign bench signer (not qualified)")?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = BigNum::from_u32(1)?.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (nb, na) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(1)?);
    b.set_not_before(&nb)?;
    b.set_not_after(&na)?;
    b.sign(&key, MessageDigest::sha256())?;
    let cert = b.build().to_der()?;
    let t = Instant::now();
    let pdf = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let read = t.elapsed();

    let t = Instant::now();
    let reference = sha2::Sha256::digest(&pdf);
    let sha = t.elapsed();

    let t = Instant::now();
    let alg = softkey::default_algorithm(softkey::key_kind(&key)?);
    let prepared = pades::prepare(&pdf, &pades::SignatureOptions::new(now()))?;
    let prepare = t.elapsed();
    let cp = cades::prepare(&SignParams {
        signer_cert: &cert,
        chain: &[],
        algorithm: alg,
        content: Content::Detached(prepared.digest().clone()),
        signing_time: None,
    })?;
    let signature = softkey::sign(&key, alg, &cp.to_be_signed())?;
    let cms = cp.finish(&signature)?.to_der()?;
    let signed = prepared.finish(&cms)?;
    let in_memory = t.elapsed();
    let mut out = std::io::BufWriter::new(std::fs::File::create(output)?);
    signed.write_to(&pdf, &mut out)?;
    out.flush()?;
    drop(out);
    let total = t.elapsed();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "file: {} bytes (read {:.1} ms, not timed)",
        pdf.len(),
        ms(read)
    );
    println!(
        "sha256 of the file:            {:8.1} ms  ({:02x?}..)",
        ms(sha),
        &reference.get(..4).unwrap_or_default()
    );
    println!("pades::prepare (parse + hash): {:8.1} ms", ms(prepare));
    println!(
        "sign in memory (all phases):   {:8.1} ms  = {:.2} x sha256",
        ms(in_memory),
        ms(in_memory) / ms(sha)
    );
    println!(
        "sign + write output file:      {:8.1} ms  = {:.2} x sha256",
        ms(total),
        ms(total) / ms(sha)
    );
    Ok(())
}
