#!/usr/bin/env python3
"""Signs IN.pdf with pyHanko locally (PAdES B-B, P-256 key), for comparison with pades.

usage: pyhanko_sign.py IN.pdf OUT.pdf KEY.pem CERT.pem
Prints the time of the signing call alone (key loading and file reading excluded).
"""
import sys
import time

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

src, dst, key, cert = sys.argv[1:5]
signer = signers.SimpleSigner.load(key, cert, key_passphrase=None)
meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=SigSeedSubFilter.PADES)
with open(src, "rb") as f:
    data = f.read()
import io  # noqa: E402

t = time.perf_counter()
w = IncrementalPdfFileWriter(io.BytesIO(data))
with open(dst, "wb") as out:
    signers.sign_pdf(w, meta, signer=signer, output=out)
print(f"pyHanko sign + write: {(time.perf_counter() - t) * 1000:.1f} ms")
