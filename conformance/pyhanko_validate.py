#!/usr/bin/env python3
"""Validate a signed PDF with pyHanko's validator against one trust root.

usage: pyhanko_validate.py FILE.pdf --trust ROOT.pem --level B-B|B-T|B-LT|B-LTA

Every signature must be intact, valid and trusted, and later revisions may only add
signatures, form fields or validation data. B-T and up need a valid signature timestamp.
B-LT and up are validated offline with only what the document's DSS holds (no fetching,
revocation checking hard-fail). B-LTA also needs a valid document timestamp covering the
whole file, and pyHanko's ETSI EN 319 102-1 LTA validation (local data only) to pass with the
document timestamps as evidence record. Prints pyHanko's verdict; exits 0 only when everything holds.
"""
import argparse
import asyncio
import sys

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec, RevinfoOnlineFetchingRule, RevocationInfoGatheringSpec,
    SignatureValidationSpec)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule)
from pyhanko_certvalidator.registry import SimpleTrustManager

ALLOWED = {None, ModificationLevel.NONE, ModificationLevel.LTA_UPDATES,
           ModificationLevel.FORM_FILLING}


def fail(msg):
    print(f"INVALID: {msg}")
    sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("pdf")
    p.add_argument("--trust", required=True)
    p.add_argument("--level", required=True, choices=["B-B", "B-T", "B-LT", "B-LTA"])
    a = p.parse_args()
    root = load_cert_from_pemder(a.trust)
    long_term = a.level in ("B-LT", "B-LTA")

    with open(a.pdf, "rb") as f:
        r = PdfFileReader(f)
        if long_term:
            try:
                dss = DocumentSecurityStore.read_dss(r)
            except Exception as e:  # noqa: BLE001 - any failure means no usable DSS
                fail(f"no readable DSS: {e!r}")
            print(f"DSS: {len(dss.certs)} certs, {len(dss.ocsps)} OCSP, {len(dss.crls)} CRL")

            def vc():
                return dss.as_validation_context({
                    "trust_roots": [root], "allow_fetching": False,
                    "revocation_mode": "hard-fail"})
        else:
            def vc():
                return ValidationContext(trust_roots=[root], allow_fetching=False,
                                         revocation_mode="soft-fail")

        sigs = r.embedded_regular_signatures
        if not sigs:
            fail("no signature found")
        for s in sigs:
            st = validate_pdf_signature(s, vc())
            print(f"--- signature {s.field_name} ---")
            print(st.pretty_print_details())
            if not (st.intact and st.valid and st.trusted and st.bottom_line):
                fail(f"signature {s.field_name}: intact={st.intact} valid={st.valid} "
                     f"trusted={st.trusted} bottom_line={st.bottom_line}")
            if st.coverage not in (SignatureCoverageLevel.ENTIRE_FILE,
                                   SignatureCoverageLevel.ENTIRE_REVISION):
                fail(f"signature {s.field_name}: coverage {st.coverage}")
            if st.modification_level not in ALLOWED:
                fail(f"signature {s.field_name}: modification level {st.modification_level}")
            if a.level != "B-B":
                ts = st.timestamp_validity
                if ts is None or not (ts.intact and ts.valid and ts.trusted):
                    fail(f"signature {s.field_name}: no valid signature timestamp ({ts})")

        if a.level == "B-LTA":
            tss = r.embedded_timestamp_signatures
            if not tss:
                fail("no document timestamp")
            for t in tss:
                st = validate_pdf_timestamp(t, vc())
                print(f"--- document timestamp {t.field_name} ---")
                print(f"{st.summary()}; time {st.timestamp}; coverage {st.coverage}; "
                      f"modification level {st.modification_level}")
                if st.modification_level not in ALLOWED:
                    fail(f"document timestamp {t.field_name}: modification level "
                         f"{st.modification_level}")
                if not (st.intact and st.valid and st.trusted):
                    fail(f"document timestamp {t.field_name}: intact={st.intact} "
                         f"valid={st.valid} trusted={st.trusted}")
            if r.embedded_signatures[-1].coverage != SignatureCoverageLevel.ENTIRE_FILE:
                fail("the last document timestamp does not cover the whole file")
            # ETSI EN 319 102-1 long-term validation (5.6.3), local data only: the document
            # timestamps are the evidence record.
            policy = CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(trust_roots=[root]),
                revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(
                    ee_certificate_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
                    intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED)))
            spec = PdfSignatureValidationSpec(SignatureValidationSpec(
                cert_validation_policy=policy,
                revinfo_gathering_policy=RevocationInfoGatheringSpec(
                    online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))
            for s in sigs:
                res = asyncio.run(ades_lta_validation(s, spec))
                print(f"AdES LTA validation of {s.field_name}: {res.ades_subindic}, "
                      f"evidence record from {res.oldest_evidence_record_timestamp}")
                if res.ades_subindic != AdESPassed.OK or res.oldest_evidence_record_timestamp is None:
                    fail(f"signature {s.field_name}: AdES LTA validation {res.ades_subindic}")
    print(f"VALID: {len(sigs)} signature(s) at {a.level}")


if __name__ == "__main__":
    main()
