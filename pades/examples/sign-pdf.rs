//! Signs a PDF at a PAdES baseline level with a PEM key (RSA, P-256, P-384, Ed25519).
//!
//! cargo run --release -p pades --example sign-pdf -- IN.pdf OUT.pdf --key KEY.pem
//!     --cert CERT.pem --chain CHAIN.pem --level B-B|B-T|B-LT|B-LTA [--tsa URL]
//!     [--visible PAGE,X1,Y1,X2,Y2] [--certify 1|2|3] [--field NAME]
//!
//! For B-LT and B-LTA the chain must reach the root, so every CA's revocation data can be
//! fetched (OCSP from the AIA, else the CRL distribution points).

mod common;

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use common::flow::{self, Job, Level};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let (mut key, mut cert, mut chain, mut level, mut tsa) = (None, None, None, None, None);
    let mut options = pades::SignatureOptions::new(now());
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--key" => key = Some(value()?),
            "--cert" => cert = Some(value()?),
            "--chain" => chain = Some(value()?),
            "--level" => level = Some(value()?.parse::<Level>()?),
            "--tsa" => tsa = Some(value()?),
            "--field" => options.field_name = Some(value()?),
            "--certify" => {
                options.certify = Some(match value()?.as_str() {
                    "1" => pades::MdpPermission::NoChanges,
                    "2" => pades::MdpPermission::FormFilling,
                    "3" => pades::MdpPermission::Annotations,
                    other => bail!("--certify takes 1, 2 or 3, not {other}"),
                })
            }
            "--visible" => {
                let v: Vec<f32> = value()?
                    .split(',')
                    .map(|s| s.trim().parse::<f32>())
                    .collect::<Result<_, _>>()
                    .context("--visible PAGE,X1,Y1,X2,Y2")?;
                let [page, x1, y1, x2, y2] = v[..] else {
                    bail!("--visible PAGE,X1,Y1,X2,Y2");
                };
                options.visible = Some(pades::Visible {
                    page: page as usize,
                    rect: [x1, y1, x2, y2],
                });
            }
            s if s.starts_with("--") => bail!("unknown option {s}"),
            _ => positional.push(a),
        }
    }
    let [input, output] = &positional[..] else {
        bail!(
            "usage: sign-pdf IN.pdf OUT.pdf --key KEY.pem --cert CERT.pem --chain CHAIN.pem --level B-B|B-T|B-LT|B-LTA [--tsa URL]"
        );
    };
    let read = |p: &Option<String>, what: &str| -> Result<Vec<u8>> {
        let p = p
            .as_ref()
            .with_context(|| format!("--{what} is required"))?;
        std::fs::read(p).with_context(|| format!("reading {p}"))
    };
    let job = Job {
        key: flow::softkey::load_key(&read(&key, "key")?)?,
        cert: openssl::x509::X509::from_pem(&read(&cert, "cert")?)?.to_der()?,
        chain: match &chain {
            Some(_) => flow::pem_chain(&read(&chain, "chain")?)?,
            None => Vec::new(),
        },
        level: level.context("--level is required")?,
        tsa,
        now: now(),
        options,
    };
    let pdf = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(flow::sign(&pdf, job))?;
    std::fs::write(output, out).with_context(|| format!("writing {output}"))?;
    Ok(())
}

#[expect(
    clippy::disallowed_methods,
    reason = "a command-line tool signs at the current time"
)]
fn now() -> SystemTime {
    SystemTime::now()
}
