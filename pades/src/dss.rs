//! The Document Security Store (PAdES B-LT): certificates, OCSP responses and CRLs appended in
//! their own incremental update after the signature, optionally indexed per signature in `/VRI`.

use lopdf::{Dictionary, Object, ObjectId};

use crate::PadesError;
use crate::doc::{self, Loaded};
use crate::update::Update;

/// Validation material to embed, each item DER.
#[derive(Debug, Clone, Default)]
pub struct ValidationData {
    /// Certificates (signer, CAs, TSA, OCSP responders).
    pub certs: Vec<Vec<u8>>,
    /// `OCSPResponse` structures.
    pub ocsps: Vec<Vec<u8>>,
    /// `CertificateList` structures.
    pub crls: Vec<Vec<u8>>,
    /// Also write a `/VRI` entry for every signature of the document.
    pub vri: bool,
}

/// The `/Contents` bytes of every signature and document timestamp, in field order
/// (zero padding included, as stored).
pub fn signature_contents(pdf: &[u8]) -> Result<Vec<Vec<u8>>, PadesError> {
    let loaded = doc::load(pdf)?;
    Ok(signatures(&loaded)?.into_iter().map(|(_, c)| c).collect())
}

fn signatures(loaded: &Loaded) -> Result<Vec<(ObjectId, Vec<u8>)>, PadesError> {
    let mut out = Vec::new();
    for (_, field) in loaded.fields()? {
        if !loaded.is_signed(field)? {
            continue;
        }
        let id = match field.get(b"V") {
            Ok(Object::Reference(id)) => *id,
            _ => continue,
        };
        let Some(Object::Dictionary(sig)) = loaded.doc.objects.get(&id) else {
            continue;
        };
        if let Ok(Object::String(contents, _)) = sig.get(b"Contents") {
            out.push((id, contents.clone()));
        }
    }
    Ok(out)
}

/// Returns the incremental update that adds (or extends) the document's DSS with `data`.
pub fn add_dss(signed: &[u8], data: &ValidationData) -> Result<Vec<u8>, PadesError> {
    let loaded = doc::load(signed)?;
    if loaded.docmdp_permission()? == Some(1) {
        return Err(PadesError::ChangesNotPermitted);
    }
    let sigs = signatures(&loaded)?;
    if sigs.is_empty() {
        return Err(PadesError::NoSignature);
    }
    let mut update = Update::new(signed, &loaded);
    let catalog_id = loaded.root_id()?;
    let mut catalog = loaded.catalog()?.clone();

    let (dss_id, mut dss) = match catalog.get(b"DSS") {
        Ok(Object::Reference(id)) => match loaded.doc.objects.get(id) {
            Some(Object::Dictionary(d)) => (*id, d.clone()),
            _ => (update.allocate(), Dictionary::new()),
        },
        Ok(Object::Dictionary(d)) => (update.allocate(), d.clone()),
        _ => (update.allocate(), Dictionary::new()),
    };
    dss.set("Type", Object::Name(b"DSS".to_vec()));

    let mut write_all = |items: &[Vec<u8>]| -> Result<Vec<Object>, PadesError> {
        let mut refs = Vec::with_capacity(items.len());
        for item in items {
            let id = update.allocate();
            update.stream(id, &Dictionary::new(), item)?;
            refs.push(Object::Reference(id));
        }
        Ok(refs)
    };
    let certs = write_all(&data.certs)?;
    let ocsps = write_all(&data.ocsps)?;
    let crls = write_all(&data.crls)?;

    for (key, new) in [
        (&b"Certs"[..], &certs),
        (b"OCSPs", &ocsps),
        (b"CRLs", &crls),
    ] {
        let mut all = match loaded.get(&dss, key)? {
            Some(Object::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        all.extend(new.iter().cloned());
        if !all.is_empty() {
            dss.set(key.to_vec(), Object::Array(all));
        }
    }

    if data.vri {
        use sha1::Digest as _;
        let mut vri = match loaded.get(&dss, b"VRI")? {
            Some(Object::Dictionary(d)) => d.clone(),
            _ => Dictionary::new(),
        };
        for (_, contents) in &sigs {
            let key: String = sha1::Sha1::digest(contents)
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            if vri.has(key.as_bytes()) {
                continue;
            }
            let mut entry = Dictionary::new();
            for (k, v) in [(&b"Cert"[..], &certs), (b"OCSP", &ocsps), (b"CRL", &crls)] {
                if !v.is_empty() {
                    entry.set(k.to_vec(), Object::Array(v.clone()));
                }
            }
            vri.set(key.into_bytes(), Object::Dictionary(entry));
        }
        dss.set("VRI", Object::Dictionary(vri));
    }

    update.object(dss_id, &Object::Dictionary(dss))?;
    if !matches!(catalog.get(b"DSS"), Ok(Object::Reference(id)) if *id == dss_id) {
        catalog.set("DSS", Object::Reference(dss_id));
        update.object(catalog_id, &Object::Dictionary(catalog))?;
    }
    update.finish(&loaded)
}
