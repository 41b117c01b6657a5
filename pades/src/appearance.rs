//! Signature widget appearances: an empty form for invisible signatures, and a framed box with
//! the signer's name and the signing time for visible ones (Helvetica, WinAnsi).

use std::time::SystemTime;

use lopdf::{Dictionary, Object};

use crate::PadesError;

/// Where a visible signature goes.
#[derive(Debug, Clone)]
pub struct Visible {
    /// Zero-based page index.
    pub page: usize,
    /// `[x1 y1 x2 y2]` in default user space.
    pub rect: [f32; 4],
}

fn form(width: f32, height: f32) -> Dictionary {
    let mut d = Dictionary::new();
    d.set("Type", Object::Name(b"XObject".to_vec()));
    d.set("Subtype", Object::Name(b"Form".to_vec()));
    d.set(
        "BBox",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(0),
            Object::Real(width),
            Object::Real(height),
        ]),
    );
    d
}

pub(crate) fn empty() -> (Dictionary, Vec<u8>) {
    (form(0.0, 0.0), Vec::new())
}

/// Writes `text` as a PDF literal string in WinAnsi, `?` for what it cannot show.
fn literal(text: &str, out: &mut Vec<u8>) {
    out.push(b'(');
    for c in text.chars() {
        let b = u32::from(c);
        match c {
            '(' | ')' | '\\' => {
                out.push(b'\\');
                out.push(c as u8);
            }
            ' '..='~' => out.push(c as u8),
            _ if (0xA0..=0xFF).contains(&b) => {
                out.extend_from_slice(format!("\\{b:03o}").as_bytes());
            }
            _ => out.push(b'?'),
        }
    }
    out.push(b')');
}

pub(crate) fn visible(
    v: &Visible,
    signer: Option<&str>,
    time: SystemTime,
) -> Result<(Dictionary, Vec<u8>), PadesError> {
    let [x1, y1, x2, y2] = v.rect;
    let (w, h) = ((x2 - x1).abs(), (y2 - y1).abs());
    if !(w.is_finite() && h.is_finite()) || w < 1.0 || h < 1.0 {
        return Err(PadesError::Structure(
            "the visible signature rectangle is empty",
        ));
    }
    let (y, mo, d, hh, mi, s) = crate::sign::civil(time)?;
    let when = format!("{y:04}-{mo:02}-{d:02} {hh:02}:{mi:02}:{s:02} UTC");
    let first = format!("Digitally signed by {}", signer.unwrap_or("(unknown)"));
    let second = format!("Date: {when}");
    // Helvetica averages about half an em per character: shrink the text to fit the width.
    let longest = first.chars().count().max(second.chars().count()) as f32;
    let size = (h / 3.0).min((w - 8.0) / (0.52 * longest)).clamp(3.0, 12.0);
    let mut c = Vec::new();
    c.extend_from_slice(
        format!(
            "q 0.96 g 0 0 {w:.2} {h:.2} re f Q\nq 0.2 G 0.8 w 0.4 0.4 {:.2} {:.2} re S Q\n",
            w - 0.8,
            h - 0.8
        )
        .as_bytes(),
    );
    c.extend_from_slice(
        format!(
            "BT 0 g /F1 {size:.2} Tf 4 {:.2} Td {:.2} TL ",
            h - size - 3.0,
            size * 1.2
        )
        .as_bytes(),
    );
    literal(
        &format!("Digitally signed by {}", signer.unwrap_or("(unknown)")),
        &mut c,
    );
    c.extend_from_slice(b" Tj T* ");
    literal(&second, &mut c);
    c.extend_from_slice(b" Tj ET\n");

    let mut font = Dictionary::new();
    font.set("Type", Object::Name(b"Font".to_vec()));
    font.set("Subtype", Object::Name(b"Type1".to_vec()));
    font.set("BaseFont", Object::Name(b"Helvetica".to_vec()));
    font.set("Encoding", Object::Name(b"WinAnsiEncoding".to_vec()));
    let mut fonts = Dictionary::new();
    fonts.set("F1", Object::Dictionary(font));
    let mut resources = Dictionary::new();
    resources.set("Font", Object::Dictionary(fonts));
    let mut d = form(w, h);
    d.set("Resources", Object::Dictionary(resources));
    Ok((d, c))
}
