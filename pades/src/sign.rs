//! Preparing a signature or document timestamp: the signature field and widget, the `/Sig` or
//! `/DocTimeStamp` dictionary with a reserved `/Contents` and a fixed-width `/ByteRange`, the
//! digest of the byte ranges, and filling `/Contents` once the signature container exists.

use std::time::{SystemTime, UNIX_EPOCH};

use lopdf::{Dictionary, Object, ObjectId, StringFormat};
use signer::{Digest, DigestAlgorithm};

use crate::PadesError;
use crate::appearance::{self, Visible};
use crate::doc::{self, Loaded};
use crate::update::Update;

/// Largest `/Contents` reservation accepted, in bytes of DER.
const MAX_CAPACITY: usize = 1024 * 1024;
/// Width reserved for `/ByteRange [0 a b c]`: four integers of up to 10 digits.
const BYTE_RANGE_WIDTH: usize = 48;

/// What a certification signature still allows (`/DocMDP` `/P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdpPermission {
    /// No change at all.
    NoChanges = 1,
    /// Filling in forms and signing.
    FormFilling = 2,
    /// Form filling, signing and annotations.
    Annotations = 3,
}

/// How to sign: field, time, description and look.
#[derive(Debug, Clone)]
pub struct SignatureOptions {
    /// Name of the new signature field; `Signature1`, `Signature2`, … when `None`.
    pub field_name: Option<String>,
    /// Signing time written to `/M` (the signed attributes carry none at B-B).
    pub signing_time: SystemTime,
    /// Digest of the byte ranges.
    pub digest: DigestAlgorithm,
    /// Bytes reserved for the DER signature container, timestamps included.
    pub contents_capacity: usize,
    /// `/Name`: the signer's name as shown by viewers.
    pub name: Option<String>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// `/ContactInfo`.
    pub contact_info: Option<String>,
    /// A visible appearance; the signature is invisible when `None`.
    pub visible: Option<Visible>,
    /// Make this a certification signature with these permissions.
    pub certify: Option<MdpPermission>,
}

impl SignatureOptions {
    /// Invisible approval signature, SHA-256, 32 KiB reserved.
    pub fn new(signing_time: SystemTime) -> Self {
        Self {
            field_name: None,
            signing_time,
            digest: DigestAlgorithm::Sha256,
            contents_capacity: 32 * 1024,
            name: None,
            reason: None,
            location: None,
            contact_info: None,
            visible: None,
            certify: None,
        }
    }
}

/// How to add a document timestamp (`/SubFilter /ETSI.RFC3161`).
#[derive(Debug, Clone)]
pub struct TimestampOptions {
    /// Name of the new field; `Signature1`, … when `None`.
    pub field_name: Option<String>,
    /// Digest of the byte ranges (the imprint sent to the TSA).
    pub digest: DigestAlgorithm,
    /// Bytes reserved for the DER timestamp token.
    pub contents_capacity: usize,
}

impl Default for TimestampOptions {
    fn default() -> Self {
        Self {
            field_name: None,
            digest: DigestAlgorithm::Sha256,
            contents_capacity: 16 * 1024,
        }
    }
}

/// An incremental update waiting for its signature container.
///
/// The signed document is the original bytes followed by [`Signed::increment`]; the digest
/// covers both except the reserved `/Contents` value.
pub struct Prepared {
    original_len: usize,
    increment: Vec<u8>,
    /// Offset in `increment` of the hex digits of `/Contents` (after `<`).
    hex_at: usize,
    capacity: usize,
    digest: Digest,
    field_name: String,
}

/// The finished update: append it to the original bytes.
pub struct Signed {
    original_len: usize,
    increment: Vec<u8>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("original_len", &self.original_len)
            .field("increment_len", &self.increment.len())
            .field("capacity", &self.capacity)
            .field("digest", &self.digest)
            .field("field_name", &self.field_name)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("original_len", &self.original_len)
            .field("increment_len", &self.increment.len())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// Digest of the byte ranges: the `message-digest` of the CAdES signature, or the imprint
    /// of the document timestamp.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Name of the signature field this update adds.
    pub fn field_name(&self) -> &str {
        &self.field_name
    }

    /// The update with `/Contents` still zeroed.
    pub fn increment(&self) -> &[u8] {
        &self.increment
    }

    /// Bytes reserved for the signature container.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Places the DER signature container (CMS SignedData, or a timestamp token) in
    /// `/Contents`.
    pub fn finish(mut self, container: &[u8]) -> Result<Signed, PadesError> {
        if container.len() > self.capacity {
            return Err(PadesError::ContentsTooLarge {
                needed: container.len(),
                capacity: self.capacity,
            });
        }
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let end = self
            .hex_at
            .checked_add(container.len().saturating_mul(2))
            .ok_or(PadesError::Structure("contents offset overflow"))?;
        let slot = self
            .increment
            .get_mut(self.hex_at..end)
            .ok_or(PadesError::Structure("contents placeholder out of range"))?;
        for (pair, byte) in slot.chunks_exact_mut(2).zip(container) {
            if let [hi, lo] = pair {
                *hi = HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
                *lo = HEX.get(usize::from(byte & 15)).copied().unwrap_or(b'0');
            }
        }
        Ok(Signed {
            original_len: self.original_len,
            increment: self.increment,
        })
    }
}

impl Signed {
    /// The bytes to append to the original document.
    pub fn increment(&self) -> &[u8] {
        &self.increment
    }

    /// Length of the document this update extends.
    pub fn original_len(&self) -> usize {
        self.original_len
    }

    /// Writes the whole signed document: `original` (which must be the document given to
    /// `prepare`) followed by the update.
    pub fn write_to<W: std::io::Write>(
        &self,
        original: &[u8],
        mut out: W,
    ) -> Result<(), PadesError> {
        if original.len() != self.original_len {
            return Err(PadesError::Structure("not the document that was prepared"));
        }
        out.write_all(original)?;
        out.write_all(&self.increment)?;
        out.flush()?;
        Ok(())
    }

    /// Appends the update to `document`, which must be the one given to `prepare`.
    pub fn append_to(&self, document: &mut Vec<u8>) -> Result<(), PadesError> {
        if document.len() != self.original_len {
            return Err(PadesError::Structure("not the document that was prepared"));
        }
        document.extend_from_slice(&self.increment);
        Ok(())
    }

    /// The update as bytes.
    pub fn into_increment(self) -> Vec<u8> {
        self.increment
    }
}

/// Prepares a PAdES signature (`/SubFilter /ETSI.CAdES.detached`) over `original`.
pub fn prepare(original: &[u8], options: &SignatureOptions) -> Result<Prepared, PadesError> {
    let loaded = doc::load(original)?;
    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    sig.set(
        "M",
        Object::String(
            pdf_date(options.signing_time)?.into_bytes(),
            StringFormat::Literal,
        ),
    );
    for (key, value) in [
        ("Name", &options.name),
        ("Reason", &options.reason),
        ("Location", &options.location),
        ("ContactInfo", &options.contact_info),
    ] {
        if let Some(v) = value {
            sig.set(key, lopdf::text_string(v));
        }
    }
    if let Some(p) = options.certify {
        let mut params = Dictionary::new();
        params.set("Type", Object::Name(b"TransformParams".to_vec()));
        params.set("P", Object::Integer(p as i64));
        params.set("V", Object::Name(b"1.2".to_vec()));
        let mut sigref = Dictionary::new();
        sigref.set("Type", Object::Name(b"SigRef".to_vec()));
        sigref.set("TransformMethod", Object::Name(b"DocMDP".to_vec()));
        sigref.set("TransformParams", Object::Dictionary(params));
        sig.set("Reference", Object::Array(vec![Object::Dictionary(sigref)]));
    }
    let field = FieldSpec {
        name: options.field_name.as_deref(),
        visible: options.visible.as_ref(),
        signing_time: options.signing_time,
        signer_name: options.name.as_deref(),
        certify: options.certify.is_some(),
    };
    build(
        original,
        &loaded,
        sig,
        options.contents_capacity,
        options.digest,
        &field,
    )
}

/// Prepares a document timestamp (`/Type /DocTimeStamp`, `/SubFilter /ETSI.RFC3161`).
pub fn prepare_timestamp(
    original: &[u8],
    options: &TimestampOptions,
) -> Result<Prepared, PadesError> {
    let loaded = doc::load(original)?;
    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"DocTimeStamp".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.RFC3161".to_vec()));
    let field = FieldSpec {
        name: options.field_name.as_deref(),
        visible: None,
        signing_time: UNIX_EPOCH,
        signer_name: None,
        certify: false,
    };
    build(
        original,
        &loaded,
        sig,
        options.contents_capacity,
        options.digest,
        &field,
    )
}

struct FieldSpec<'a> {
    name: Option<&'a str>,
    visible: Option<&'a Visible>,
    signing_time: SystemTime,
    signer_name: Option<&'a str>,
    certify: bool,
}

fn build(
    original: &[u8],
    loaded: &Loaded,
    sig: Dictionary,
    capacity: usize,
    digest_alg: DigestAlgorithm,
    spec: &FieldSpec<'_>,
) -> Result<Prepared, PadesError> {
    if capacity == 0 || capacity > MAX_CAPACITY {
        return Err(PadesError::InvalidCapacity(capacity));
    }
    // What the document already holds.
    let fields = loaded.fields()?;
    let already_signed = fields
        .iter()
        .map(|(_, f)| loaded.is_signed(f))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .any(|s| s);
    if spec.certify && already_signed {
        return Err(PadesError::CertificationNotFirst);
    }
    if loaded.docmdp_permission()? == Some(1) {
        return Err(PadesError::ChangesNotPermitted);
    }
    let name = match spec.name {
        Some(n) => {
            if n.is_empty() || n.contains('.') {
                return Err(PadesError::InvalidFieldName(n.to_owned()));
            }
            if fields.iter().any(|(f, _)| f == n) {
                return Err(PadesError::FieldNameTaken(n.to_owned()));
            }
            n.to_owned()
        }
        None => (1..)
            .map(|i| format!("Signature{i}"))
            .find(|c| fields.iter().all(|(f, _)| f != c))
            .ok_or(PadesError::Structure("no free field name"))?,
    };

    let pages = loaded.pages()?;
    let page_index = spec.visible.map_or(0, |v| v.page);
    let page_id = *pages.get(page_index).ok_or(PadesError::NoSuchPage {
        index: page_index,
        count: pages.len(),
    })?;

    let mut update = Update::new(original, loaded);
    let sig_id = update.allocate();
    let widget_id = update.allocate();
    let ap_id = update.allocate();

    // Appearance: an empty form for an invisible signature, text for a visible one.
    let (rect, ap_dict, ap_data) = match spec.visible {
        None => {
            let (d, data) = appearance::empty();
            ([0.0; 4], d, data)
        }
        Some(v) => {
            let (d, data) = appearance::visible(v, spec.signer_name, spec.signing_time)?;
            (v.rect, d, data)
        }
    };
    update.stream(ap_id, &ap_dict, &ap_data)?;

    let mut widget = Dictionary::new();
    widget.set("Type", Object::Name(b"Annot".to_vec()));
    widget.set("Subtype", Object::Name(b"Widget".to_vec()));
    widget.set("FT", Object::Name(b"Sig".to_vec()));
    widget.set("T", lopdf::text_string(&name));
    widget.set("V", Object::Reference(sig_id));
    widget.set("F", Object::Integer(132));
    widget.set(
        "Rect",
        Object::Array(rect.iter().map(|v| Object::Real(*v)).collect()),
    );
    widget.set("P", Object::Reference(page_id));
    let mut ap = Dictionary::new();
    ap.set("N", Object::Reference(ap_id));
    widget.set("AP", Object::Dictionary(ap));
    update.object(widget_id, &Object::Dictionary(widget))?;

    // The page's /Annots gains the widget.
    add_to_page_annots(loaded, &mut update, page_id, widget_id)?;

    // The form gains the field; the catalog changes only when it must.
    let catalog_id = loaded.root_id()?;
    let mut catalog = loaded.catalog()?.clone();
    let mut catalog_changed = false;
    match loaded.acroform()? {
        Some((Some(form_id), form)) => {
            let form = add_field(loaded, &mut update, form, widget_id)?;
            update.object(form_id, &Object::Dictionary(form))?;
        }
        Some((None, form)) => {
            let form = add_field(loaded, &mut update, form, widget_id)?;
            catalog.set("AcroForm", Object::Dictionary(form));
            catalog_changed = true;
        }
        None => {
            let form_id = update.allocate();
            let mut form = Dictionary::new();
            form.set("Fields", Object::Array(vec![Object::Reference(widget_id)]));
            form.set("SigFlags", Object::Integer(3));
            update.object(form_id, &Object::Dictionary(form))?;
            catalog.set("AcroForm", Object::Reference(form_id));
            catalog_changed = true;
        }
    }
    if spec.certify {
        let mut perms = match loaded.get(&catalog, b"Perms")? {
            Some(Object::Dictionary(p)) => p.clone(),
            _ => Dictionary::new(),
        };
        perms.set("DocMDP", Object::Reference(sig_id));
        catalog.set("Perms", Object::Dictionary(perms));
        catalog_changed = true;
    }
    if catalog_changed {
        update.object(catalog_id, &Object::Dictionary(catalog))?;
    }

    // The signature dictionary, written by hand to know where /Contents and /ByteRange are.
    let buf = update.begin(sig_id);
    buf.extend_from_slice(b"<<");
    for (key, value) in sig.iter() {
        lopdf::Writer::write_object(buf, &Object::Name(key.clone()))?;
        buf.push(b' ');
        lopdf::Writer::write_object(buf, value)?;
    }
    buf.extend_from_slice(b"/ByteRange ");
    let byte_range_at = buf.len();
    buf.extend(std::iter::repeat_n(b' ', BYTE_RANGE_WIDTH));
    buf.extend_from_slice(b"/Contents <");
    let hex_at = buf.len();
    let hex_len = capacity
        .checked_mul(2)
        .ok_or(PadesError::InvalidCapacity(capacity))?;
    buf.extend(std::iter::repeat_n(b'0', hex_len));
    buf.extend_from_slice(b">>>");
    update.end();

    let base = update.base();
    let mut increment = update.finish(loaded)?;

    // Offsets in the whole file: the hole is `<…>` of /Contents.
    let hole_start = base
        .checked_add(hex_at)
        .and_then(|v| v.checked_sub(1))
        .ok_or(PadesError::TooLarge("offset overflow"))?;
    let hole_end = hole_start
        .checked_add(hex_len)
        .and_then(|v| v.checked_add(2))
        .ok_or(PadesError::TooLarge("offset overflow"))?;
    let total = base
        .checked_add(increment.len())
        .ok_or(PadesError::TooLarge("offset overflow"))?;
    let tail = total
        .checked_sub(hole_end)
        .ok_or(PadesError::Structure("contents placeholder out of range"))?;
    let range = format!("[0 {hole_start} {hole_end} {tail}]");
    let slot = increment
        .get_mut(byte_range_at..byte_range_at.saturating_add(range.len()))
        .filter(|_| range.len() <= BYTE_RANGE_WIDTH)
        .ok_or(PadesError::TooLarge("byte range does not fit"))?;
    slot.copy_from_slice(range.as_bytes());

    let hole_in_inc = hex_at.saturating_sub(1);
    let after_hole = hole_in_inc.saturating_add(hex_len).saturating_add(2);
    let digest = hash_ranges(
        digest_alg,
        &[
            original,
            increment.get(..hole_in_inc).unwrap_or_default(),
            increment.get(after_hole..).unwrap_or_default(),
        ],
    )?;

    Ok(Prepared {
        original_len: original.len(),
        increment,
        hex_at,
        capacity,
        digest,
        field_name: name,
    })
}

/// Adds `widget` to the page's `/Annots`, rewriting the array when it is indirect and the page
/// otherwise.
fn add_to_page_annots(
    loaded: &Loaded,
    update: &mut Update,
    page_id: ObjectId,
    widget: ObjectId,
) -> Result<(), PadesError> {
    let page = match loaded.doc.objects.get(&page_id) {
        Some(Object::Dictionary(d)) => d,
        _ => return Err(PadesError::Structure("a page is not a dictionary")),
    };
    match page.get(b"Annots") {
        Ok(Object::Reference(annots_id)) => match loaded.doc.objects.get(annots_id) {
            Some(Object::Array(a)) => {
                let mut a = a.clone();
                a.push(Object::Reference(widget));
                update.object(*annots_id, &Object::Array(a))
            }
            _ => {
                let mut page = page.clone();
                page.set("Annots", Object::Array(vec![Object::Reference(widget)]));
                update.object(page_id, &Object::Dictionary(page))
            }
        },
        Ok(Object::Array(a)) => {
            let mut a = a.clone();
            a.push(Object::Reference(widget));
            let mut page = page.clone();
            page.set("Annots", Object::Array(a));
            update.object(page_id, &Object::Dictionary(page))
        }
        _ => {
            let mut page = page.clone();
            page.set("Annots", Object::Array(vec![Object::Reference(widget)]));
            update.object(page_id, &Object::Dictionary(page))
        }
    }
}

/// The form dictionary with `field` appended to `/Fields` (rewriting an indirect `/Fields`
/// array in place) and `/SigFlags` 3.
fn add_field(
    loaded: &Loaded,
    update: &mut Update,
    form: &Dictionary,
    field: ObjectId,
) -> Result<Dictionary, PadesError> {
    let mut form = form.clone();
    match form.get(b"Fields") {
        Ok(Object::Reference(fields_id)) => match loaded.doc.objects.get(fields_id) {
            Some(Object::Array(a)) => {
                let mut a = a.clone();
                a.push(Object::Reference(field));
                update.object(*fields_id, &Object::Array(a))?;
            }
            _ => form.set("Fields", Object::Array(vec![Object::Reference(field)])),
        },
        Ok(Object::Array(a)) => {
            let mut a = a.clone();
            a.push(Object::Reference(field));
            form.set("Fields", Object::Array(a));
        }
        _ => form.set("Fields", Object::Array(vec![Object::Reference(field)])),
    }
    let flags = match loaded.get(&form, b"SigFlags")? {
        Some(Object::Integer(f)) => *f,
        _ => 0,
    };
    form.set("SigFlags", Object::Integer(flags | 3));
    Ok(form)
}

/// Hashes `parts` one after the other, without joining them.
pub(crate) fn hash_ranges(alg: DigestAlgorithm, parts: &[&[u8]]) -> Result<Digest, PadesError> {
    fn run<H: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut h = H::new();
        for p in parts {
            // Large inputs are fed in slices so the hasher's buffer stays warm.
            for chunk in p.chunks(1 << 20) {
                h.update(chunk);
            }
        }
        h.finalize().to_vec()
    }
    let bytes = match alg {
        DigestAlgorithm::Sha256 => run::<sha2::Sha256>(parts),
        DigestAlgorithm::Sha384 => run::<sha2::Sha384>(parts),
        DigestAlgorithm::Sha512 => run::<sha2::Sha512>(parts),
    };
    Ok(Digest::new(alg, bytes)?)
}

/// `D:YYYYMMDDHHmmSSZ` in UTC.
pub(crate) fn pdf_date(t: SystemTime) -> Result<String, PadesError> {
    let (y, mo, d, h, mi, s) = civil(t)?;
    Ok(format!("D:{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z"))
}

/// UTC calendar fields of `t` (proleptic Gregorian, years 1970..=9999).
pub(crate) fn civil(t: SystemTime) -> Result<(i64, u32, u32, u32, u32, u32), PadesError> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PadesError::InvalidTime)?
        .as_secs();
    let secs = i64::try_from(secs).map_err(|_| PadesError::InvalidTime)?;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if y > 9999 {
        return Err(PadesError::InvalidTime);
    }
    let cast = |v: i64| u32::try_from(v).map_err(|_| PadesError::InvalidTime);
    Ok((
        y,
        cast(m)?,
        cast(d)?,
        cast(rem / 3600)?,
        cast(rem % 3600 / 60)?,
        cast(rem % 60)?,
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn pdf_dates_are_utc_calendar_dates() {
        let at = |s: u64| pdf_date(UNIX_EPOCH + Duration::from_secs(s)).unwrap();
        assert_eq!(at(0), "D:19700101000000Z");
        // 2000-02-29 12:34:56 UTC, a leap day.
        assert_eq!(at(951_827_696), "D:20000229123456Z");
        // 2026-12-03 16:44:16 UTC.
        assert_eq!(at(1_796_316_256), "D:20261203164416Z");
        assert!(pdf_date(UNIX_EPOCH + Duration::from_secs(300_000_000_000)).is_err());
    }

    #[test]
    fn byte_range_digest_matches_one_pass() {
        use sha2::Digest as _;
        let parts: [&[u8]; 3] = [b"%PDF-1.7 abc", b"", b"def"];
        let d = hash_ranges(DigestAlgorithm::Sha384, &parts).unwrap();
        assert_eq!(
            d.as_bytes(),
            sha2::Sha384::digest(b"%PDF-1.7 abcdef").as_slice()
        );
    }
}
