#!/usr/bin/env python3
"""Validate a CAdES (CMS SignedData) signature with pyHanko's CMS validator against one root.

usage: pyhanko_cms.py SIG.p7s (--data FILE | --attached) --trust ROOT.pem --level B-B|B-T|B-LT

The signature must be intact, valid and trusted. B-T and B-LT need a valid, trusted
signature timestamp. B-LT is validated offline with only the certificates, CRLs and OCSP
responses embedded in SignedData (no fetching, revocation hard-fail). Prints pyHanko's
verdict; exits 0 only when everything holds.
"""
import argparse
import asyncio
import sys

from asn1crypto import cms, ocsp
from pyhanko.keys import load_cert_from_pemder
from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
from pyhanko_certvalidator import ValidationContext


def fail(msg):
    print(f"INVALID: {msg}")
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sig")
    ap.add_argument("--data")
    ap.add_argument("--attached", action="store_true")
    ap.add_argument("--trust", required=True)
    ap.add_argument("--level", required=True, choices=["B-B", "B-T", "B-LT"])
    a = ap.parse_args()

    ci = cms.ContentInfo.load(open(a.sig, "rb").read())
    sd = ci["content"]
    root = load_cert_from_pemder(a.trust)
    if a.attached:
        # pyHanko's entry point takes detached content: move eContent out (the signature
        # covers it through the message-digest attribute, not its position).
        eci = sd["encap_content_info"]
        data = eci["content"].native
        if not isinstance(data, bytes):
            fail("attached signature without eContent")
        sd = sd.copy()
        sd["encap_content_info"] = type(eci)(
            {"content_type": eci["content_type"].native})
    else:
        data = open(a.data, "rb").read()

    if a.level == "B-LT":
        certs = [c.chosen for c in sd["certificates"]] if sd["certificates"].native else []
        crls, ocsps = [], []
        for r in sd["crls"] if sd["crls"].native else []:
            if r.name == "crl":
                crls.append(r.chosen)
            else:
                other = r.chosen
                if other["other_rev_info_format"].dotted != "1.3.6.1.5.5.7.16.2":
                    fail(f"unknown revocation info {other['other_rev_info_format'].dotted}")
                ocsps.append(ocsp.OCSPResponse.load(other["other_rev_info"].dump()))
        vc = ValidationContext(
            trust_roots=[root], other_certs=certs, crls=crls, ocsps=ocsps,
            allow_fetching=False, revocation_mode="hard-fail",
        )
    else:
        vc = ValidationContext(trust_roots=[root], allow_fetching=False,
                               revocation_mode="soft-fail")

    status = asyncio.run(async_validate_detached_cms(data, sd, signer_validation_context=vc))
    print(status.pretty_print_details())
    if not (status.intact and status.valid):
        fail("signature not intact/valid")
    if not status.trusted:
        fail("signer not trusted")
    if a.level in ("B-T", "B-LT"):
        ts = status.timestamp_validity
        if ts is None:
            fail("no signature timestamp")
        if not (ts.intact and ts.valid and ts.trusted):
            fail("signature timestamp not intact/valid/trusted")
    print("VALID")


if __name__ == "__main__":
    main()
