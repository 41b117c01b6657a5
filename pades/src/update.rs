//! Writing one incremental update: new and replaced objects, then a cross-reference section of
//! the same kind as the document's last one (table or stream) whose `/Prev` points back to it.
//! The bytes written here follow the original bytes; nothing before them is touched.

use std::collections::BTreeMap;

use lopdf::{Object, ObjectId, Writer};

use crate::PadesError;
use crate::doc::Loaded;

pub(crate) struct Update {
    /// Length of the document the update is appended to.
    base: usize,
    out: Vec<u8>,
    offsets: BTreeMap<u32, (usize, u16)>,
    next_id: u32,
}

impl Update {
    pub(crate) fn new(original: &[u8], loaded: &Loaded) -> Self {
        let mut out = Vec::with_capacity(4096);
        if !matches!(original.last(), Some(b'\n' | b'\r')) {
            out.push(b'\n');
        }
        Self {
            base: original.len(),
            out,
            offsets: BTreeMap::new(),
            next_id: loaded.next_id,
        }
    }

    /// A fresh object number.
    pub(crate) fn allocate(&mut self) -> ObjectId {
        let id = (self.next_id, 0);
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    /// Offset in the whole file of the next byte written.
    pub(crate) fn position(&self) -> usize {
        self.base.saturating_add(self.out.len())
    }

    pub(crate) fn base(&self) -> usize {
        self.base
    }

    /// Starts `id` and returns the buffer to write its body into.
    pub(crate) fn begin(&mut self, id: ObjectId) -> &mut Vec<u8> {
        let at = self.position();
        self.offsets.insert(id.0, (at, id.1));
        self.out
            .extend_from_slice(format!("{} {} obj\n", id.0, id.1).as_bytes());
        &mut self.out
    }

    pub(crate) fn end(&mut self) {
        self.out.extend_from_slice(b"\nendobj\n");
    }

    /// Writes `object` as the body of `id`.
    pub(crate) fn object(&mut self, id: ObjectId, object: &Object) -> Result<(), PadesError> {
        let buf = self.begin(id);
        Writer::write_object(buf, object)?;
        self.end();
        Ok(())
    }

    /// Writes a stream object with `dict` entries (without `/Length`) and `data` as it is.
    pub(crate) fn stream(
        &mut self,
        id: ObjectId,
        dict: &lopdf::Dictionary,
        data: &[u8],
    ) -> Result<(), PadesError> {
        let mut dict = dict.clone();
        dict.set("Length", Object::Integer(len_i64(data.len())?));
        let buf = self.begin(id);
        Writer::write_object(buf, &Object::Dictionary(dict))?;
        buf.extend_from_slice(b"\nstream\n");
        buf.extend_from_slice(data);
        buf.extend_from_slice(b"\nendstream");
        self.end();
        Ok(())
    }

    /// Closes the update with its cross-reference section and trailer; returns the bytes to
    /// append to the original.
    pub(crate) fn finish(mut self, loaded: &Loaded) -> Result<Vec<u8>, PadesError> {
        let root = loaded.root_id()?;
        let mut extra = Vec::new();
        extra.extend_from_slice(format!("/Root {} {} R", root.0, root.1).as_bytes());
        for key in [&b"Info"[..], b"ID"] {
            if let Ok(v) = loaded.doc.trailer.get(key) {
                extra.push(b'/');
                extra.extend_from_slice(key);
                extra.push(b' ');
                Writer::write_object(&mut extra, v)?;
            }
        }
        let prev = loaded.xref_start;
        if loaded.xref_stream {
            let xref_id = self.allocate();
            let at = self.position();
            self.offsets.insert(xref_id.0, (at, 0));
            let size = self.next_id;
            let mut data = Vec::with_capacity(self.offsets.len().saturating_mul(7));
            for (offset, generation) in self.offsets.values() {
                let offset = u32::try_from(*offset)
                    .map_err(|_| PadesError::TooLarge("an offset beyond 4 GiB"))?;
                data.push(1u8);
                data.extend_from_slice(&offset.to_be_bytes());
                data.extend_from_slice(&generation.to_be_bytes());
            }
            let index = runs(&self.offsets)
                .iter()
                .map(|(start, n)| format!("{start} {n}"))
                .collect::<Vec<_>>()
                .join(" ");
            self.out.extend_from_slice(
                format!(
                    "{} 0 obj\n<</Type/XRef/Size {size}/W[1 4 2]/Index[{index}]/Prev {prev}/Length {}",
                    xref_id.0,
                    data.len()
                )
                .as_bytes(),
            );
            self.out.extend_from_slice(&extra);
            self.out.extend_from_slice(b">>\nstream\n");
            self.out.extend_from_slice(&data);
            self.out.extend_from_slice(b"\nendstream\nendobj\n");
            self.out
                .extend_from_slice(format!("startxref\n{at}\n%%EOF\n").as_bytes());
        } else {
            let at = self.position();
            self.out.extend_from_slice(b"xref\n");
            for (start, n) in runs(&self.offsets) {
                self.out
                    .extend_from_slice(format!("{start} {n}\n").as_bytes());
                for id in start..start.saturating_add(n) {
                    let (offset, generation) = self
                        .offsets
                        .get(&id)
                        .copied()
                        .ok_or(PadesError::Structure("cross-reference run broken"))?;
                    self.out.extend_from_slice(
                        format!("{offset:010} {generation:05} n\r\n").as_bytes(),
                    );
                }
            }
            let size = self.next_id;
            self.out
                .extend_from_slice(format!("trailer\n<</Size {size}/Prev {prev}").as_bytes());
            self.out.extend_from_slice(&extra);
            self.out
                .extend_from_slice(format!(">>\nstartxref\n{at}\n%%EOF\n").as_bytes());
        }
        Ok(self.out)
    }
}

/// Consecutive object numbers as `(first, count)` runs.
fn runs(offsets: &BTreeMap<u32, (usize, u16)>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &id in offsets.keys() {
        match out.last_mut() {
            Some((start, n)) if start.saturating_add(*n) == id => *n = n.saturating_add(1),
            _ => out.push((id, 1)),
        }
    }
    out
}

pub(crate) fn len_i64(n: usize) -> Result<i64, PadesError> {
    i64::try_from(n).map_err(|_| PadesError::TooLarge("a length beyond i64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_consecutive_numbers() {
        let m: BTreeMap<u32, (usize, u16)> = [3, 4, 5, 9, 11, 12]
            .into_iter()
            .map(|i| (i, (0, 0)))
            .collect();
        assert_eq!(runs(&m), vec![(3, 3), (9, 1), (11, 2)]);
    }
}
