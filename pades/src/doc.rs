//! Reading the document to be extended: validates that the cross-reference chain can be read as
//! written (no repair), refuses encrypted files, and walks the catalog, page tree and form fields
//! with depth and loop limits. Stream contents are dropped while loading: signing needs only the
//! dictionaries, and the bytes are hashed from the caller's buffer.

use std::collections::HashSet;

use lopdf::xref::{XrefEntry, XrefRecovery, XrefType};
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use crate::PadesError;

/// Deepest page or field tree accepted.
const MAX_TREE_DEPTH: usize = 64;
/// Most indirections followed to reach one value.
const MAX_DEREF: usize = 32;
/// Largest stream an object or cross-reference stream may decompress to while loading.
const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// A parsed document and what an incremental update needs to know about its last revision.
pub(crate) struct Loaded {
    pub(crate) doc: Document,
    /// Offset of the last cross-reference section (`startxref`).
    pub(crate) xref_start: usize,
    /// Whether the last revision uses a cross-reference stream.
    pub(crate) xref_stream: bool,
    /// First object number free for new objects.
    pub(crate) next_id: u32,
}

/// Drops the content of every stream except object and cross-reference streams.
fn keep_dictionaries(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object
        && !stream.dict.has_type(b"ObjStm")
        && !stream.dict.has_type(b"XRef")
    {
        stream.content = Vec::new();
    }
    // The loader reads the object back from `object` and, for members of object streams, from
    // the returned copy: both must hold it. Emptied streams make the copy cheap.
    Some((id, object.clone()))
}

/// Runs the parser. The checks here and in lopdf are what keep bad input out; a panic inside
/// the parser would be a bug in it, and is turned into an error rather than taking the caller
/// down. Fuzzing builds leave it out so such bugs surface.
#[cfg(not(fuzzing))]
fn parse(bytes: &[u8], options: LoadOptions) -> lopdf::Result<Document> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Document::load_mem_with_options(bytes, options)
    }))
    .unwrap_or(Err(lopdf::Error::InvalidStream(
        "the parser failed on this input".into(),
    )))
}

#[cfg(fuzzing)]
fn parse(bytes: &[u8], options: LoadOptions) -> lopdf::Result<Document> {
    Document::load_mem_with_options(bytes, options)
}

/// Parses `bytes` for an incremental update.
pub(crate) fn load(bytes: &[u8]) -> Result<Loaded, PadesError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(PadesError::NotPdf);
    }
    let options = LoadOptions {
        strict: true,
        filter: Some(keep_dictionaries),
        max_decompressed_size: Some(MAX_DECOMPRESSED),
        ..LoadOptions::default()
    };
    let doc = match parse(bytes, options) {
        Ok(doc) => doc,
        Err(lopdf::Error::Decryption(_) | lopdf::Error::InvalidPassword) => {
            return Err(PadesError::Encrypted);
        }
        Err(e) => return Err(PadesError::Damaged(e.to_string())),
    };
    if doc.trailer.has(b"Encrypt") || doc.encryption_state.is_some() {
        return Err(PadesError::Encrypted);
    }
    match doc.xref_recovery {
        None => {}
        Some(XrefRecovery::OffsetCorrected) => {
            return Err(PadesError::Damaged(
                "a cross-reference offset does not point at a cross-reference section".into(),
            ));
        }
        Some(_) => {
            return Err(PadesError::Damaged(
                "the cross-reference data could not be read".into(),
            ));
        }
    }
    let xref_start = doc.xref_start;
    if xref_start == 0 || xref_start >= bytes.len() {
        return Err(PadesError::Damaged("startxref is out of range".into()));
    }
    let xref_stream = matches!(
        doc.reference_table.cross_reference_type,
        XrefType::CrossReferenceStream
    );
    check_offsets(bytes, &doc)?;
    let max_loaded = doc.objects.keys().next_back().map_or(0, |id| id.0);
    let max_entry = doc
        .reference_table
        .entries
        .keys()
        .next_back()
        .copied()
        .unwrap_or(0);
    let next_id = doc
        .reference_table
        .size
        .max(max_loaded.saturating_add(1))
        .max(max_entry.saturating_add(1))
        .max(doc.max_id.saturating_add(1));
    if next_id > 8_000_000 {
        return Err(PadesError::TooLarge("too many objects"));
    }
    let loaded = Loaded {
        doc,
        xref_start,
        xref_stream,
        next_id,
    };
    // The catalog and the page tree must be readable before anything is written.
    loaded.catalog()?;
    loaded.page_count()?;
    Ok(loaded)
}

/// Every in-use cross-reference entry must point at the header of the object it names: a
/// reader that trusts the table and one that trusts the headers must see the same document.
fn check_offsets(bytes: &[u8], doc: &Document) -> Result<(), PadesError> {
    for (&num, entry) in &doc.reference_table.entries {
        let XrefEntry::Normal { offset, generation } = *entry else {
            continue;
        };
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let found = bytes.get(at..).and_then(object_header);
        if found != Some((num, u32::from(generation))) {
            return Err(PadesError::Damaged(format!(
                "the cross-reference entry of object {num} does not point at it"
            )));
        }
    }
    Ok(())
}

/// Parses `N G obj` at the start of `b`.
fn object_header(b: &[u8]) -> Option<(u32, u32)> {
    fn number(b: &[u8]) -> Option<(u32, &[u8])> {
        let end = b
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(b.len());
        let (digits, rest) = b.split_at_checked(end)?;
        if digits.is_empty() || digits.len() > 10 {
            return None;
        }
        let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
        Some((n, rest))
    }
    fn space(b: &[u8]) -> Option<&[u8]> {
        let end = b
            .iter()
            .position(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0'))
            .unwrap_or(b.len());
        if end == 0 {
            return None;
        }
        b.get(end..)
    }
    let (num, rest) = number(b)?;
    let (generation, rest) = number(space(rest)?)?;
    space(rest)?
        .starts_with(b"obj")
        .then_some((num, generation))
}

impl Loaded {
    /// Follows references from `object` until a direct object, with a bound.
    pub(crate) fn resolve<'a>(&'a self, mut object: &'a Object) -> Result<&'a Object, PadesError> {
        for _ in 0..MAX_DEREF {
            match object {
                Object::Reference(id) => {
                    object = self
                        .doc
                        .objects
                        .get(id)
                        .ok_or(PadesError::Structure("a reference points to no object"))?;
                }
                other => return Ok(other),
            }
        }
        Err(PadesError::Structure("a chain of references is too long"))
    }

    /// The value of `key` in `dict`, references followed; `None` when absent or `null`.
    pub(crate) fn get<'a>(
        &'a self,
        dict: &'a Dictionary,
        key: &[u8],
    ) -> Result<Option<&'a Object>, PadesError> {
        match dict.get(key) {
            Err(_) => Ok(None),
            Ok(obj) => match self.resolve(obj) {
                Ok(Object::Null) => Ok(None),
                Ok(v) => Ok(Some(v)),
                // A dangling reference is null by the PDF rules.
                Err(PadesError::Structure("a reference points to no object")) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    pub(crate) fn root_id(&self) -> Result<ObjectId, PadesError> {
        match self.doc.trailer.get(b"Root") {
            Ok(Object::Reference(id)) => Ok(*id),
            _ => Err(PadesError::Structure("the trailer has no indirect /Root")),
        }
    }

    pub(crate) fn catalog(&self) -> Result<&Dictionary, PadesError> {
        let id = self.root_id()?;
        match self.doc.objects.get(&id) {
            Some(Object::Dictionary(d)) => Ok(d),
            _ => Err(PadesError::Structure(
                "the catalog is missing or not a dictionary",
            )),
        }
    }

    /// Leaf pages in order, walking `/Kids` with a depth bound and a visited set.
    pub(crate) fn pages(&self) -> Result<Vec<ObjectId>, PadesError> {
        let catalog = self.catalog()?;
        let root = match catalog.get(b"Pages") {
            Ok(Object::Reference(id)) => *id,
            _ => return Err(PadesError::Structure("the catalog has no indirect /Pages")),
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![(root, 0usize)];
        while let Some((id, depth)) = stack.pop() {
            if depth > MAX_TREE_DEPTH || !seen.insert(id) {
                return Err(PadesError::TreeTooDeep("page"));
            }
            let node = match self.doc.objects.get(&id) {
                Some(Object::Dictionary(d)) => d,
                _ => {
                    return Err(PadesError::Structure(
                        "a page tree node is not a dictionary",
                    ));
                }
            };
            match self.get(node, b"Kids")? {
                Some(Object::Array(kids)) => {
                    for kid in kids.iter().rev() {
                        match kid {
                            Object::Reference(k) => stack.push((*k, depth.saturating_add(1))),
                            _ => {
                                return Err(PadesError::Structure(
                                    "a page tree kid is not indirect",
                                ));
                            }
                        }
                    }
                }
                Some(_) => return Err(PadesError::Structure("/Kids is not an array")),
                None => out.push(id),
            }
        }
        Ok(out)
    }

    /// Pages found, which must agree with the root's `/Count`.
    pub(crate) fn page_count(&self) -> Result<usize, PadesError> {
        let pages = self.pages()?;
        let catalog = self.catalog()?;
        if let Some(Object::Dictionary(root)) = self.get(catalog, b"Pages")?
            && let Some(Object::Integer(count)) = self.get(root, b"Count")?
            && usize::try_from(*count).ok() != Some(pages.len())
        {
            return Err(PadesError::Damaged(format!(
                "the page tree claims {count} pages but holds {}",
                pages.len()
            )));
        }
        Ok(pages.len())
    }

    /// The `/AcroForm` dictionary and, when it is an indirect object, its id.
    pub(crate) fn acroform(&self) -> Result<Option<(Option<ObjectId>, &Dictionary)>, PadesError> {
        let catalog = self.catalog()?;
        let id = match catalog.get(b"AcroForm") {
            Ok(Object::Reference(id)) => Some(*id),
            _ => None,
        };
        match self.get(catalog, b"AcroForm")? {
            None => Ok(None),
            Some(Object::Dictionary(d)) => Ok(Some((id, d))),
            Some(_) => Err(PadesError::Structure("/AcroForm is not a dictionary")),
        }
    }

    /// Every terminal form field, each with its fully qualified name.
    pub(crate) fn fields(&self) -> Result<Vec<(String, &Dictionary)>, PadesError> {
        let mut out = Vec::new();
        let Some((_, form)) = self.acroform()? else {
            return Ok(out);
        };
        let roots = match self.get(form, b"Fields")? {
            Some(Object::Array(a)) => a,
            Some(_) => return Err(PadesError::Structure("/Fields is not an array")),
            None => return Ok(out),
        };
        let mut seen = HashSet::new();
        let mut stack: Vec<(&Object, String, usize)> =
            roots.iter().rev().map(|o| (o, String::new(), 0)).collect();
        while let Some((obj, prefix, depth)) = stack.pop() {
            if depth > MAX_TREE_DEPTH {
                return Err(PadesError::TreeTooDeep("form field"));
            }
            if let Object::Reference(id) = obj
                && !seen.insert(*id)
            {
                return Err(PadesError::TreeTooDeep("form field"));
            }
            let field = match self.resolve(obj) {
                Ok(Object::Dictionary(d)) => d,
                _ => continue,
            };
            let name = match self.get(field, b"T")? {
                Some(Object::String(t, _)) => {
                    let part = lopdf::decode_text_string(&Object::String(
                        t.clone(),
                        lopdf::StringFormat::Literal,
                    ))
                    .unwrap_or_else(|_| String::from_utf8_lossy(t).into_owned());
                    if prefix.is_empty() {
                        part
                    } else {
                        format!("{prefix}.{part}")
                    }
                }
                _ => prefix.clone(),
            };
            match self.get(field, b"Kids")? {
                Some(Object::Array(kids)) if !kids.is_empty() => {
                    for kid in kids.iter().rev() {
                        stack.push((kid, name.clone(), depth.saturating_add(1)));
                    }
                }
                _ => out.push((name, field)),
            }
        }
        Ok(out)
    }

    /// Whether `field` is a signature field holding a value.
    pub(crate) fn is_signed(&self, field: &Dictionary) -> Result<bool, PadesError> {
        let ft = matches!(self.get(field, b"FT")?, Some(Object::Name(n)) if n == b"Sig");
        Ok(ft && self.get(field, b"V")?.is_some())
    }

    /// The `/P` permission of the document's certification signature, if any.
    pub(crate) fn docmdp_permission(&self) -> Result<Option<i64>, PadesError> {
        let catalog = self.catalog()?;
        let Some(Object::Dictionary(perms)) = self.get(catalog, b"Perms")? else {
            return Ok(None);
        };
        let Some(Object::Dictionary(sig)) = self.get(perms, b"DocMDP")? else {
            return Ok(None);
        };
        let Some(Object::Array(refs)) = self.get(sig, b"Reference")? else {
            return Ok(Some(2));
        };
        for r in refs {
            let Ok(Object::Dictionary(sigref)) = self.resolve(r) else {
                continue;
            };
            if let Some(Object::Dictionary(params)) = self.get(sigref, b"TransformParams")? {
                return Ok(Some(match self.get(params, b"P")? {
                    Some(Object::Integer(p)) => *p,
                    _ => 2,
                }));
            }
        }
        Ok(Some(2))
    }
}
