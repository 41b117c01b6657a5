//! End-to-end tests of PAdES signing. Every signed output is judged by tools we did not write:
//! qpdf --check, poppler's pdfsig and pyHanko's validator against the test root; the original
//! must be an exact prefix of the output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed step is a failed test"
)]

#[path = "../examples/common/flow.rs"]
mod flow;
mod support;

use flow::Level;
use pades::PadesError;
use support::*;

fn pdftex() -> Vec<u8> {
    data("pdftex-mime-spec.pdf")
}

fn level_case(level: Level, name: &str) {
    let original = pdftex();
    let signed = sign(&original, job("p256", level)).unwrap();
    let p = check_prefix_and_qpdf(&original, &signed, &format!("{name}.pdf"));
    match level {
        Level::B | Level::T => {
            pdfsig(&p, 1, true);
        }
        // The DSS (and the document timestamp) follow the signature.
        Level::Lt => {
            pdfsig(&p, 1, false);
        }
        Level::Lta => {
            pdfsig_with_timestamps(&p, 2, 1, true);
        }
    }
    let verdict = pyhanko(&p, name);
    assert!(
        verdict.contains(&format!("VALID: 1 signature(s) at {name}")),
        "{verdict}"
    );
}

#[test]
fn b_b_validates() {
    level_case(Level::B, "B-B");
}

#[test]
fn b_t_validates() {
    level_case(Level::T, "B-T");
}

#[test]
fn b_lt_validates_offline() {
    level_case(Level::Lt, "B-LT");
}

#[test]
fn b_lta_validates_with_document_timestamp() {
    level_case(Level::Lta, "B-LTA");
}

#[test]
fn every_key_kind_signs() {
    let original = data("cairo-libtasn1-p1-3.pdf");
    for kind in ["rsa", "p384", "ed25519"] {
        let signed = sign(&original, job(kind, Level::T)).unwrap();
        let p = check_prefix_and_qpdf(&original, &signed, &format!("kind-{kind}.pdf"));
        // poppler's pdfsig (NSS) does not verify Ed25519 CMS signatures.
        if kind != "ed25519" {
            pdfsig(&p, 1, true);
        }
        pyhanko(&p, "B-T");
    }
}

#[test]
fn corpus_signs_at_b_b() {
    let base = pdftex();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("pdftex".into(), base.clone()),
        ("cairo".into(), data("cairo-libtasn1-p1-3.pdf")),
        (
            "qpdf-xref-table".into(),
            qpdf_rewrite(&base, &["--object-streams=disable"]),
        ),
        (
            "qpdf-object-streams".into(),
            qpdf_rewrite(
                &data("cairo-libtasn1-p1-3.pdf"),
                &["--object-streams=generate"],
            ),
        ),
        (
            "qpdf-linearized".into(),
            qpdf_rewrite(&base, &["--linearize"]),
        ),
        (
            "qpdf-linearized-objstm".into(),
            qpdf_rewrite(&base, &["--linearize", "--object-streams=generate"]),
        ),
        ("qpdf-qdf".into(), qpdf_rewrite(&base, &["--qdf"])),
    ];
    cases.push(("indirect-form-annots".into(), indirect_form_pdf()));
    for (name, original) in cases {
        let signed =
            sign(&original, job("p256", Level::B)).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let p = check_prefix_and_qpdf(&original, &signed, &format!("corpus-{name}.pdf"));
        pdfsig(&p, 1, true);
        pyhanko(&p, "B-B");
    }
}

/// A hand-written file whose /AcroForm, /Fields and page /Annots are all indirect and which
/// already holds a text field named Signature1.
fn indirect_form_pdf() -> Vec<u8> {
    handmade(
        &[
            (1, "<</Type/Catalog/Pages 2 0 R/AcroForm 5 0 R>>".into()),
            (2, "<</Type/Pages/Kids[3 0 R]/Count 1>>".into()),
            (3, "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R/Annots 7 0 R/Resources<</Font<</F1 8 0 R>>>>>>".into()),
            (4, page_content()),
            (5, "<</Fields 6 0 R/DA(/Helv 0 Tf 0 g)>>".into()),
            (6, "[9 0 R]".into()),
            (7, "[9 0 R]".into()),
            (8, "<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>".into()),
            (9, "<</Type/Annot/Subtype/Widget/FT/Tx/T(Signature1)/Rect[72 600 272 620]/P 3 0 R/V(hello)>>".into()),
        ],
        "/Root 1 0 R",
    )
}

#[test]
fn indirect_form_gets_a_unique_field_name() {
    let original = indirect_form_pdf();
    let prepared = pades::prepare(&original, &pades::SignatureOptions::new(now())).unwrap();
    assert_eq!(prepared.field_name(), "Signature2");
    let inc = String::from_utf8_lossy(prepared.increment()).into_owned();
    let head = inc.split("/Contents <").next().unwrap_or_default();
    // The indirect arrays are rewritten in place; the catalog and the page are untouched.
    assert!(inc.contains("\n6 0 obj\n[9 0 R 11 0 R]"), "{head}");
    assert!(inc.contains("\n7 0 obj\n[9 0 R 11 0 R]"), "{head}");
    assert!(
        !inc.contains("\n1 0 obj") && !inc.contains("\n3 0 obj"),
        "{head}"
    );
    let mut opts = pades::SignatureOptions::new(now());
    opts.field_name = Some("Signature1".into());
    assert!(
        matches!(pades::prepare(&original, &opts), Err(PadesError::FieldNameTaken(n)) if n == "Signature1")
    );
}

#[test]
fn second_signature_keeps_the_first_valid() {
    let original = pdftex();
    let once = sign(&original, job("p256", Level::T)).unwrap();
    let twice = sign(&once, job("rsa", Level::T)).unwrap();
    assert!(twice.starts_with(&once));
    let p = check_prefix_and_qpdf(&original, &twice, "twice.pdf");
    pdfsig(&p, 2, true);
    let verdict = pyhanko(&p, "B-T");
    assert!(verdict.contains("VALID: 2 signature(s)"), "{verdict}");
    assert_eq!(pades::signature_contents(&twice).unwrap().len(), 2);
}

#[test]
fn visible_certification_signature_then_approval() {
    let original = data("cairo-libtasn1-p1-3.pdf");
    let mut j = job("p256", Level::T);
    j.options.certify = Some(pades::MdpPermission::FormFilling);
    j.options.visible = Some(pades::Visible {
        page: 1,
        rect: [72.0, 72.0, 300.0, 120.0],
    });
    j.options.reason = Some("Approved".into());
    let certified = sign(&original, j).unwrap();
    let p = check_prefix_and_qpdf(&original, &certified, "certified.pdf");
    pdfsig(&p, 1, true);
    let verdict = pyhanko(&p, "B-T");
    assert!(verdict.contains("certif"), "{verdict}");
    // A later approval signature is allowed by /P 2 and keeps the certification valid.
    let approved = sign(&certified, job("p384", Level::T)).unwrap();
    let p = check_prefix_and_qpdf(&original, &approved, "certified-approved.pdf");
    pdfsig(&p, 2, true);
    pyhanko(&p, "B-T");
    // A second certification is refused.
    let mut j = job("p256", Level::B);
    j.options.certify = Some(pades::MdpPermission::NoChanges);
    let err = sign(&certified, j).unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<PadesError>(),
            Some(PadesError::CertificationNotFirst)
        ),
        "{err:#}"
    );
}

#[test]
fn no_changes_certification_refuses_more_signatures() {
    let original = pdftex();
    let mut j = job("p256", Level::B);
    j.options.certify = Some(pades::MdpPermission::NoChanges);
    let certified = sign(&original, j).unwrap();
    let err = pades::prepare(&certified, &pades::SignatureOptions::new(now())).unwrap_err();
    assert!(matches!(err, PadesError::ChangesNotPermitted), "{err}");
}

#[test]
fn oversized_container_is_refused() {
    let original = pdftex();
    let mut o = pades::SignatureOptions::new(now());
    o.contents_capacity = 100;
    let prepared = pades::prepare(&original, &o).unwrap();
    let err = prepared.finish(&[0x30; 101]).unwrap_err();
    assert!(
        matches!(
            err,
            PadesError::ContentsTooLarge {
                needed: 101,
                capacity: 100
            }
        ),
        "{err}"
    );
    o.contents_capacity = 0;
    assert!(matches!(
        pades::prepare(&original, &o),
        Err(PadesError::InvalidCapacity(0))
    ));
}

#[test]
fn digest_covers_exactly_the_byte_ranges() {
    use sha2::Digest as _;
    let original = pdftex();
    let prepared = pades::prepare(&original, &pades::SignatureOptions::new(now())).unwrap();
    let digest = prepared.digest().as_bytes().to_vec();
    let signed = prepared.finish(&[0x30, 0x00]).unwrap();
    let mut whole = original.clone();
    signed.append_to(&mut whole).unwrap();
    let text = String::from_utf8_lossy(&whole[original.len()..]).into_owned();
    let br = text
        .split("/ByteRange [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    let v: Vec<usize> = br.split_whitespace().map(|s| s.parse().unwrap()).collect();
    assert_eq!(v[0], 0);
    assert_eq!(v[2] + v[3], whole.len());
    assert_eq!(whole[v[1]], b'<');
    assert_eq!(whole[v[2] - 1], b'>');
    assert!(whole[v[1] + 1..v[1] + 5].eq_ignore_ascii_case(b"3000"));
    let mut h = sha2::Sha256::new();
    h.update(&whole[..v[1]]);
    h.update(&whole[v[2]..]);
    assert_eq!(h.finalize().to_vec(), digest);
}

fn hostile_cases() -> Vec<(&'static str, Vec<u8>)> {
    let base = pdftex();
    let mut cases = vec![
        ("empty", Vec::new()),
        ("not a pdf", b"hello, this is not a PDF at all".to_vec()),
        ("truncated half", base[..base.len() / 2].to_vec()),
        ("truncated tail", base[..base.len() - 40].to_vec()),
    ];
    // startxref pointing into the middle of an object.
    let mut broken = base.clone();
    let at = broken.windows(9).rposition(|w| w == b"startxref").unwrap();
    broken.truncate(at);
    broken.extend_from_slice(b"startxref\n1234\n%%EOF\n");
    cases.push(("broken startxref", broken));
    // An xref table whose offsets are garbage.
    let table = qpdf_rewrite(&base, &["--object-streams=disable"]);
    let mut garbage = table.clone();
    let x = garbage.windows(5).rposition(|w| w == b"xref\n").unwrap();
    for b in garbage[x + 5..].iter_mut().take(400) {
        if b.is_ascii_digit() {
            *b = b'7';
        }
    }
    cases.push(("garbage xref offsets", garbage));
    // Two revisions whose /Prev point at each other.
    let one = handmade(
        &[
            (1, "<</Type/Catalog/Pages 2 0 R>>".into()),
            (2, "<</Type/Pages/Kids[3 0 R]/Count 1>>".into()),
            (
                3,
                "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>".into(),
            ),
        ],
        "/Root 1 0 R",
    );
    let first_xref: usize = String::from_utf8_lossy(&one)
        .rsplit("startxref\n")
        .next()
        .unwrap()
        .trim_end_matches("\n%%EOF\n")
        .trim()
        .parse()
        .unwrap();
    let mut looped = one.clone();
    let second = looped.len();
    looped.extend_from_slice(format!("xref\n0 1\n0000000000 65535 f\r\ntrailer\n<</Size 4/Root 1 0 R/Prev {second}>>\nstartxref\n{second}\n%%EOF\n").as_bytes());
    cases.push(("/Prev loop to itself", looped));
    let mut pingpong = one.clone();
    let s = std::str::from_utf8(&pingpong[..]).unwrap_or("").to_string();
    let _ = s;
    let second = pingpong.len();
    pingpong.extend_from_slice(format!("xref\n0 1\n0000000000 65535 f\r\ntrailer\n<</Size 4/Root 1 0 R/Prev {first_xref}>>\nstartxref\n{second}\n%%EOF\n").as_bytes());
    // Make the first section point forward to the second one.
    let old = b"/Root 1 0 R>>".to_vec();
    let pos = pingpong.windows(old.len()).position(|w| w == old).unwrap();
    let new = format!("/Root 1 0 R/Prev {second:>5}>>");
    let mut pp = pingpong[..pos].to_vec();
    pp.extend_from_slice(new.as_bytes());
    pp.extend_from_slice(&pingpong[pos + old.len()..]);
    cases.push(("/Prev ping-pong", pp));
    // A page tree that claims a billion pages.
    cases.push((
        "huge /Count",
        handmade(
            &[
                (1, "<</Type/Catalog/Pages 2 0 R>>".into()),
                (2, "<</Type/Pages/Kids[3 0 R]/Count 999999999>>".into()),
                (
                    3,
                    "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>".into(),
                ),
            ],
            "/Root 1 0 R",
        ),
    ));
    // Deeply nested arrays in the catalog.
    let deep = format!(
        "<</Type/Catalog/Pages 2 0 R/X {}{}>>",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    cases.push((
        "deep nesting",
        handmade(
            &[
                (1, deep),
                (2, "<</Type/Pages/Kids[3 0 R]/Count 1>>".into()),
                (
                    3,
                    "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>".into(),
                ),
            ],
            "/Root 1 0 R",
        ),
    ));
    // A page tree that is a chain 200 levels deep, and one that loops.
    let mut objs = vec![(1, "<</Type/Catalog/Pages 2 0 R>>".to_string())];
    for i in 2..202u32 {
        objs.push((i, format!("<</Type/Pages/Kids[{} 0 R]/Count 1>>", i + 1)));
    }
    objs.push((202, "<</Type/Page/MediaBox[0 0 612 792]>>".into()));
    cases.push(("deep page tree", handmade(&objs, "/Root 1 0 R")));
    cases.push((
        "page tree loop",
        handmade(
            &[
                (1, "<</Type/Catalog/Pages 2 0 R>>".into()),
                (2, "<</Type/Pages/Kids[3 0 R]/Count 1>>".into()),
                (3, "<</Type/Pages/Kids[2 0 R]/Count 1>>".into()),
            ],
            "/Root 1 0 R",
        ),
    ));
    // Found by fuzzing: a subsection that numbers the entries from 8 while the objects at those
    // offsets are 1 to 6, so the table and the object headers disagree.
    let shifted = handmade(
        &[
            (1, "<</Type/Catalog/Pages 2 0 R/AcroForm 5 0 R>>".into()),
            (2, "<</Type/Pages/Kids[3 0 R]/Count 1>>".into()),
            (
                3,
                "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Annots 6 0 R>>".into(),
            ),
            (5, "<</Fields[]>>".into()),
            (6, "[]".into()),
        ],
        "/Root 1 0 R",
    );
    let text = String::from_utf8_lossy(&shifted).replace("xref\n0 7\n", "xref\n8 7\n");
    assert!(text.contains("xref\n8 7\n"));
    cases.push(("xref numbering shifted", text.into_bytes()));
    cases.push((
        "xref numbering shifted (fuzz find)",
        data("fuzz-xref-numbering-shifted.pdf"),
    ));
    cases.push((
        "encrypted (AES-256)",
        qpdf_rewrite(&base, &["--encrypt", "user", "owner", "256", "--"]),
    ));
    cases.push((
        "encrypted (RC4, empty user password)",
        qpdf_rewrite(
            &base,
            &[
                "--allow-weak-crypto",
                "--encrypt",
                "",
                "owner",
                "128",
                "--use-aes=n",
                "--",
            ],
        ),
    ));
    cases
}

#[test]
fn hostile_inputs_get_clear_errors() {
    for (name, bytes) in hostile_cases() {
        let r = std::panic::catch_unwind(|| {
            pades::prepare(&bytes, &pades::SignatureOptions::new(now())).map(|_| ())
        });
        let r = r.unwrap_or_else(|_| panic!("{name}: panicked"));
        let err = r.err().unwrap_or_else(|| panic!("{name}: accepted"));
        let msg = err.to_string();
        assert!(!msg.is_empty());
        if name.starts_with("encrypted") {
            assert!(matches!(err, PadesError::Encrypted), "{name}: {err}");
        }
        if name == "empty" || name == "not a pdf" {
            assert!(matches!(err, PadesError::NotPdf), "{name}: {err}");
        }
        println!("{name}: {msg}");
        // The DSS path reads the same way.
        assert!(
            pades::add_dss(&bytes, &pades::ValidationData::default()).is_err(),
            "{name}"
        );
    }
}

#[test]
fn dss_needs_a_signature() {
    let err = pades::add_dss(&pdftex(), &pades::ValidationData::default()).unwrap_err();
    assert!(matches!(err, PadesError::NoSignature), "{err}");
}

#[test]
fn the_judges_reject_what_they_should() {
    let original = pdftex();
    let signed = sign(&original, job("p256", Level::T)).unwrap();
    // A B-T file has no DSS: pyHanko must refuse it at B-LT.
    let p = save("bt-as-blt.pdf", &signed);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/pyhanko_validate.py");
    let run = |p: &std::path::Path, level: &str| {
        std::process::Command::new(python())
            .arg(&script)
            .arg(p)
            .arg("--trust")
            .arg(env().pki.join("root.pem"))
            .args(["--level", level])
            .output()
            .unwrap()
    };
    assert!(!run(&p, "B-LT").status.success());
    // One byte changed inside the signed range: both judges must see it.
    let mut tampered = signed.clone();
    let at = original.len() / 2;
    tampered[at] ^= 0x01;
    let p = save("tampered.pdf", &tampered);
    let out = run(&p, "B-T");
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = std::process::Command::new("pdfsig")
        .arg(&p)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Signature is Valid."));
}

#[test]
fn second_b_lt_signature_extends_the_dss() {
    let original = data("cairo-libtasn1-p1-3.pdf");
    let once = sign(&original, job("p256", Level::Lt)).unwrap();
    let twice = sign(&once, job("rsa", Level::Lt)).unwrap();
    let p = check_prefix_and_qpdf(&original, &twice, "lt-twice.pdf");
    pdfsig(&p, 2, false);
    let verdict = pyhanko(&p, "B-LT");
    assert!(
        verdict.contains("VALID: 2 signature(s) at B-LT"),
        "{verdict}"
    );
    // The second DSS revision keeps the first one's entries and adds its own.
    let dss_line = verdict.lines().find(|l| l.starts_with("DSS:")).unwrap();
    let certs: usize = dss_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(certs >= 6, "{dss_line}");
}

#[test]
fn visible_signature_is_drawn() {
    let original = data("cairo-libtasn1-p1-3.pdf");
    let mut j = job("p256", Level::B);
    j.options.visible = Some(pades::Visible {
        page: 0,
        rect: [300.0, 40.0, 560.0, 100.0],
    });
    let signed = sign(&original, j).unwrap();
    let p = check_prefix_and_qpdf(&original, &signed, "visible.pdf");
    pdfsig(&p, 1, true);
    pyhanko(&p, "B-B");
    // Render the rectangle's area with poppler and the unsigned original: the signed one must
    // have dark pixels (the frame and the text) where the original has none.
    let dark = |path: &std::path::Path| -> usize {
        let out = std::process::Command::new("pdftoppm")
            .args([
                "-f", "1", "-l", "1", "-r", "72", "-gray", "-x", "300", "-y", "0", "-W", "260",
                "-H", "800",
            ])
            .arg(path)
            .output()
            .expect("pdftoppm (poppler-utils) is needed");
        assert!(out.status.success());
        // PGM: header of three lines, then one byte per pixel.
        let body = out
            .stdout
            .splitn(4, |b| *b == b'\n')
            .nth(3)
            .unwrap()
            .to_vec();
        body.iter().filter(|&&v| v < 128).count()
    };
    let before = dark(&save("visible-original.pdf", &original));
    let after = dark(&p);
    assert!(
        after > before + 200,
        "dark pixels before {before}, after {after}"
    );
}

#[test]
fn a_bad_timestamp_gives_no_signature() {
    let original = pdftex();
    for (path, expect) in [("/tsa-wrong-imprint", "imprint"), ("/no-such-tsa", "404")] {
        let mut j = job("p256", Level::T);
        j.tsa = Some(format!("{}{path}", env().base));
        let err = sign(&original, j).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.to_lowercase().contains(expect), "{path}: {text}");
    }
}
