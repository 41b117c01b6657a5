#!/usr/bin/env python3
"""Stock pyHanko and the openssl CLI against a running qsign.

What this checks, against a fresh `qsign serve` (new data folder, free port on 127.0.0.1):
  * credentials/list and credentials/info answer what pyHanko needs (combined OIDs in key.algo,
    integer multisign, SCAL, the chain with the signer first); the chain verifies with
    `openssl verify` against `qsign ca root`;
  * pyHanko's CSCSigner, unchanged, signs PDFs over /csc/v1 and /csc/v2 with every key type
    (ECDSA P-256/P-384, RSA-2048/3072, RSASSA-PSS, a PIN+TOTP credential, batches); the only
    custom part is the authorization manager, which sends the PIN (and OTP) to
    credentials/authorize. pyHanko's own validator must find every signature intact, valid and
    trusted under `qsign ca root`; poppler's pdfsig must find the signature valid and qpdf the
    file sound;
  * raw signatures/signHash results (PKCS#1 v1.5 with combined OIDs, bare rsaEncryption plus a
    hash algorithm, RSASSA-PSS with the requested salt length, ECDSA) verify with
    `openssl pkeyutl -verify` under the public key of the returned certificate;
  * a spent SAD is refused, a count-only SAD is spent down to its budget and no further;
  * `qsign audit verify` accepts the audit chain afterwards.

Every check asserts; nothing is skipped. Exit status 0 only when every check passed.
Secrets (passwords, PINs, OTPs, tokens, SADs) are never printed: request bodies shown on failure
are redacted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import aiohttp
from asn1crypto import algos, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, async_sign_pdf
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

REPO = Path(__file__).resolve().parent.parent

OID = {
    'sha256': '2.16.840.1.101.3.4.2.1',
    'sha384': '2.16.840.1.101.3.4.2.2',
    'sha512': '2.16.840.1.101.3.4.2.3',
    'rsaEncryption': '1.2.840.113549.1.1.1',
    'rsassaPss': '1.2.840.113549.1.1.10',
    'sha256WithRSA': '1.2.840.113549.1.1.11',
    'sha384WithRSA': '1.2.840.113549.1.1.12',
    'sha512WithRSA': '1.2.840.113549.1.1.13',
    'ecdsaSha256': '1.2.840.10045.4.3.2',
    'ecdsaSha384': '1.2.840.10045.4.3.3',
    'ecdsaSha512': '1.2.840.10045.4.3.4',
}
DIGEST_LEN = {'sha256': 32, 'sha384': 48, 'sha512': 64}
SECRET_KEYS = {'PIN', 'OTP', 'SAD', 'value', 'password', 'access_token', 'refresh_token'}


class CheckFailed(Exception):
    """A conformance check did not hold."""


def ensure(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def redact(obj):
    """A copy of a JSON value with every secret replaced, for failure messages."""
    if isinstance(obj, dict):
        return {k: ('<redacted>' if k in SECRET_KEYS else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode('ascii')


def digest(alg: str, data: bytes) -> bytes:
    return hashlib.new(alg, data).digest()


# --------------------------------------------------------------------------------------------
# Running the server and the operator CLI


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Qsign:
    """A `qsign serve` on a fresh data folder plus the operator CLI on the same folder."""

    def __init__(self, binary: Path, work: Path, database_url: str | None):
        self.binary = binary
        self.data = work / 'data'
        self.log_path = work / 'serve.log'
        self.database_url = database_url
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}'
        self.proc: subprocess.Popen | None = None
        self.env = dict(os.environ)
        self.env['QSIGN_DATA'] = str(self.data)
        self.env.setdefault('RUST_LOG', 'info')
        if database_url:
            self.env['QSIGN_DATABASE_URL'] = database_url
        else:
            self.env.pop('QSIGN_DATABASE_URL', None)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        cmd = [str(self.binary), *args, '--data', str(self.data)]
        proc = subprocess.run(
            cmd, input=stdin, env=self.env, capture_output=True, text=True, timeout=120,
        )
        if proc.returncode != 0:
            raise CheckFailed(
                f'`qsign {" ".join(args)}` exited {proc.returncode}\n'
                f'stdout: {proc.stdout.strip()}\nstderr: {proc.stderr.strip()}'
            )
        return proc.stdout

    def start(self) -> None:
        args = [str(self.binary), 'serve', '--data', str(self.data),
                '--listen', f'127.0.0.1:{self.port}']
        if self.database_url:
            args += ['--database-url', self.database_url]
        self.log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(
            args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CheckFailed(
                    f'qsign serve exited with {self.proc.returncode} before it was ready\n'
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(self.base + '/readyz', timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.2)
        raise CheckFailed('qsign serve was not ready within 90 s\n' + self.log_tail())

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors='replace').splitlines()
        except OSError:
            return '(no server log)'
        return '--- last lines of the server log ---\n' + '\n'.join(text[-lines:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if self.proc:
            self.log.close()


# --------------------------------------------------------------------------------------------
# Plain HTTP for the calls pyHanko leaves to the integrator and for the raw signHash checks


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self):
        return json.loads(self.body)


def http_post(url: str, body: dict, token: str | None = None,
              basic: tuple[str, str] | None = None) -> Reply:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method='POST')
    req.add_header('Content-Type', 'application/json')
    if token:
        req.add_header('Authorization', f'Bearer {token}')
    if basic:
        cred = b64(f'{basic[0]}:{basic[1]}'.encode())
        req.add_header('Authorization', f'Basic {cred}')
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return Reply(r.status, r.headers.get('Content-Type', ''), r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers.get('Content-Type', ''), e.read())


def expect_json_ok(url: str, body: dict, reply: Reply) -> dict:
    """The reply must be 200 with a JSON body; the message names the exact exchange otherwise."""
    exchange = (f'POST {urlparse(url).path} {json.dumps(redact(body))}\n'
                f'-> {reply.status} {reply.content_type} {reply.body[:600]!r}')
    ensure(reply.status == 200, f'expected 200:\n{exchange}')
    ensure(reply.content_type.split(';')[0].strip() == 'application/json',
           f'expected Content-Type application/json:\n{exchange}')
    try:
        return reply.json()
    except ValueError:
        raise CheckFailed(f'reply is not JSON:\n{exchange}')


def call(base: str, path: str, body: dict, token: str | None = None,
         basic: tuple[str, str] | None = None) -> dict:
    url = base + path
    return expect_json_ok(url, body, http_post(url, body, token=token, basic=basic))


# --------------------------------------------------------------------------------------------
# TOTP (RFC 6238) from the otpauth URI printed by `qsign credential create`


class Totp:
    def __init__(self, uri: str):
        parsed = urlparse(uri)
        ensure(parsed.scheme == 'otpauth' and parsed.netloc == 'totp',
               'the otpauth URI is not an otpauth://totp/ URI')
        q = parse_qs(parsed.query)
        ensure('secret' in q, 'the otpauth URI has no secret')
        secret = q['secret'][0].upper()
        self.key = base64.b32decode(secret + '=' * (-len(secret) % 8))
        self.digits = int(q.get('digits', ['6'])[0])
        self.period = int(q.get('period', ['30'])[0])
        self.alg = q.get('algorithm', ['SHA1'])[0].lower()
        self.last_counter = -1

    def code_at(self, counter: int) -> str:
        mac = hmac.new(self.key, struct.pack('>Q', counter), self.alg).digest()
        off = mac[-1] & 0x0F
        value = struct.unpack('>I', mac[off:off + 4])[0] & 0x7FFFFFFF
        return str(value % 10 ** self.digits).zfill(self.digits)

    async def fresh(self) -> str:
        """A code from a time step not used before (the server refuses a replayed step), with at
        least 3 s of the step left. Waits without blocking the event loop, so that pooled
        connections closed by the server meanwhile are noticed."""
        while True:
            now = time.time()
            counter = int(now // self.period)
            left = self.period - (now % self.period)
            if counter > self.last_counter and left >= 3:
                self.last_counter = counter
                return self.code_at(counter)
            await asyncio.sleep(left + 0.2)


# --------------------------------------------------------------------------------------------
# Credentials and the openssl CLI


@dataclass
class Credential:
    label: str
    key: str
    scal: int
    auth: str
    pin: str
    cred_id: str = ''
    totp: Totp | None = None
    certs_der: list[bytes] = field(default_factory=list)
    pub_pem: Path | None = None
    key_bytes: int = 0


def run_openssl(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(['openssl', *args], input=stdin, capture_output=True, timeout=60)


def openssl_verify_raw(cred: Credential, work: Path, tag: str, dgst: bytes, sig: bytes,
                       hash_alg: str, pss_salt: int | None) -> subprocess.CompletedProcess:
    dg = work / f'{tag}.dgst'
    sg = work / f'{tag}.sig'
    dg.write_bytes(dgst)
    sg.write_bytes(sig)
    args = ['pkeyutl', '-verify', '-pubin', '-inkey', str(cred.pub_pem),
            '-in', str(dg), '-sigfile', str(sg)]
    if cred.key.startswith('rsa'):
        args += ['-pkeyopt', f'digest:{hash_alg}']
        if pss_salt is not None:
            args += ['-pkeyopt', 'rsa_padding_mode:pss',
                     '-pkeyopt', f'rsa_pss_saltlen:{pss_salt}',
                     '-pkeyopt', f'rsa_mgf1_md:{hash_alg}']
    return run_openssl(args)


def pss_params_der(hash_alg: str, salt: int) -> bytes:
    return algos.RSASSAPSSParams({
        'hash_algorithm': algos.DigestAlgorithm({'algorithm': hash_alg}),
        'mask_gen_algorithm': algos.MaskGenAlgorithm({
            'algorithm': 'mgf1',
            'parameters': algos.DigestAlgorithm({'algorithm': hash_alg}),
        }),
        'salt_length': salt,
        'trailer_field': 'trailer_field_bc',
    }).dump()


# --------------------------------------------------------------------------------------------
# pyHanko: the authorization step (the integrator's part) and a PDF to sign


class PinAuthorizationManager(CSCAuthorizationManager):
    """Calls credentials/authorize with the PIN (and OTP) for the hashes pyHanko is about to sign.

    style 'v1' builds the body with pyHanko's own helper (`hash`, `PIN`, `OTP`);
    style 'v2' sends the CSC v2 names (`hashes`, `hashAlgorithmOID`, `authData`).
    """

    def __init__(self, session_info, credential_info, session: aiohttp.ClientSession,
                 cred: Credential, style: str, md_algorithm: str):
        super().__init__(session_info, credential_info)
        self.session = session
        self.cred = cred
        self.style = style
        self.md_algorithm = md_algorithm
        self.calls: list[int] = []

    async def authorize_signature(self, hash_b64s: list[str]):
        otp = await self.cred.totp.fresh() if self.cred.totp else None
        if self.style == 'v1':
            body = self.format_csc_auth_request(
                pin=self.cred.pin, otp=otp, hash_b64s=list(hash_b64s),
                description='qsign conformance: pyHanko',
            )
        else:
            auth_data = [{'id': 'PIN', 'value': self.cred.pin}]
            if otp is not None:
                auth_data.append({'id': 'OTP', 'value': otp})
            body = {
                'credentialID': self.csc_session_info.credential_id,
                'numSignatures': len(hash_b64s),
                'hashes': list(hash_b64s),
                'hashAlgorithmOID': OID[self.md_algorithm],
                'authData': auth_data,
            }
        self.calls.append(len(hash_b64s))
        url = self.csc_session_info.endpoint_url('credentials/authorize')
        async with self.session.post(url, headers=self.auth_headers, json=body) as resp:
            raw = await resp.read()
            reply = Reply(resp.status, resp.headers.get('Content-Type', ''), raw)
        try:
            data = expect_json_ok(url, body, reply)
        except CheckFailed as e:
            raise SigningError(str(e))
        return self.parse_csc_auth_response(data)


def make_pdf(text: str) -> bytes:
    """A one-page PDF 1.7 with a classic xref table, written by hand."""
    content = f'BT /F1 18 Tf 72 720 Td ({text}) Tj ET'.encode()
    objects = [
        b'<< /Type /Catalog /Pages 2 0 R >>',
        b'<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
        b'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] '
        b'/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
        b'<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
        b'<< /Length ' + str(len(content)).encode() + b' >>\nstream\n' + content
        + b'\nendstream',
    ]
    out = io.BytesIO()
    out.write(b'%PDF-1.7\n%\xe2\xe3\xcf\xd3\n')
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f'{i} 0 obj\n'.encode() + obj + b'\nendobj\n')
    xref = out.tell()
    out.write(f'xref\n0 {len(objects) + 1}\n0000000000 65535 f \n'.encode())
    for off in offsets:
        out.write(f'{off:010d} 00000 n \n'.encode())
    out.write(f'trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n'
              f'startxref\n{xref}\n%%EOF\n'.encode())
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# The suite


class Suite:
    def __init__(self, args):
        self.args = args
        self.passed = 0
        self.failed: list[str] = []
        self.work = Path(tempfile.mkdtemp(prefix='qsign-conf-'))
        self.out = Path(args.out) if args.out else self.work / 'out'
        self.out.mkdir(parents=True, exist_ok=True)
        self.server = Qsign(Path(args.qsign), self.work, args.database_url)
        self.user = 'alice-' + secrets.token_hex(3)
        self.password = secrets.token_urlsafe(18)
        self.token = ''
        self.creds: dict[str, Credential] = {}
        self.root_pem = self.work / 'root.pem'
        self.root_der = b''
        self.pdf_count = 0

    # -- bookkeeping -------------------------------------------------------------------------

    def check(self, name: str, fn, *a, **kw):
        t0 = time.monotonic()
        try:
            result = fn(*a, **kw)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
        except (CheckFailed, SigningError, AssertionError, aiohttp.ClientError) as e:
            self.failed.append(name)
            print(f'FAIL {name} ({time.monotonic() - t0:.2f} s)\n{indent(str(e) or type(e).__name__)}',
                  flush=True)
            if not isinstance(e, CheckFailed):
                traceback.print_exc()
            return None
        except Exception:  # an unexpected error is a failed check, with its traceback
            self.failed.append(name)
            print(f'FAIL {name} ({time.monotonic() - t0:.2f} s): unexpected error', flush=True)
            traceback.print_exc()
            return None
        self.passed += 1
        print(f'ok   {name} ({time.monotonic() - t0:.2f} s)', flush=True)
        return result

    # -- setup -------------------------------------------------------------------------------

    def setup(self) -> None:
        srv = self.server
        srv.cli('init')
        srv.start()
        srv.cli('user', 'add', self.user, '--password-stdin', stdin=self.password)
        plan = [
            Credential('p256', 'ecdsa-p256', 1, 'pin', ''),
            Credential('p384', 'ecdsa-p384', 1, 'pin', ''),
            Credential('rsa2048', 'rsa-2048', 1, 'pin', ''),
            Credential('rsa3072', 'rsa-3072', 1, 'pin', ''),
            Credential('p256-totp-scal2', 'ecdsa-p256', 2, 'pin+totp', ''),
        ]
        for cred in plan:
            cred.pin = ''.join(secrets.choice('0123456789') for _ in range(8))
            out = srv.cli('credential', 'create', '--user', self.user, '--key', cred.key,
                          '--scal', str(cred.scal), '--auth', cred.auth, '--pin-stdin',
                          '--json', stdin=cred.pin)
            try:
                created = json.loads(out)
            except ValueError:
                raise CheckFailed(f'`qsign credential create --json` printed no JSON: {out[:300]!r}')
            ensure(isinstance(created.get('credentialID'), str) and created['credentialID'],
                   f'credential create: no credentialID in {list(created)}')
            cred.cred_id = created['credentialID']
            if cred.auth == 'pin+totp':
                uri = created.get('otpauth')
                ensure(isinstance(uri, str), 'credential create --auth pin+totp gave no otpauth URI')
                cred.totp = Totp(uri)
            else:
                ensure(created.get('otpauth') is None,
                       f'credential {cred.label}: otpauth should be null for --auth pin')
            self.creds[cred.label] = cred
        root = srv.cli('ca', 'root')
        ensure('-----BEGIN CERTIFICATE-----' in root, '`qsign ca root` printed no PEM certificate')
        self.root_pem.write_text(root)
        self.root_der = base64.b64decode(
            ''.join(line for line in root.splitlines() if line and not line.startswith('-----')))

    # -- checks ------------------------------------------------------------------------------

    def login(self) -> None:
        body = {}
        data = call(self.server.base, '/csc/v2/auth/login', body,
                    basic=(self.user, self.password))
        tok = data.get('access_token')
        ensure(isinstance(tok, str) and tok.startswith('qs_at_'),
               'auth/login: access_token missing or without the qs_at_ prefix')
        ensure(isinstance(data.get('expires_in'), int) and data['expires_in'] > 0,
               f'auth/login: expires_in should be a positive integer, got {data.get("expires_in")!r}')
        self.token = tok

    def dev_root_is_marked(self) -> None:
        p = run_openssl(['x509', '-noout', '-subject', '-in', str(self.root_pem)])
        ensure(p.returncode == 0, f'openssl cannot read `qsign ca root`: {p.stderr.decode()}')
        ensure('not qualified' in p.stdout.decode().lower(),
               f'the development root CA does not say NOT QUALIFIED: {p.stdout.decode().strip()}')

    def credentials_list(self, api: str) -> None:
        data = call(self.server.base, f'/csc/{api}/credentials/list', {}, token=self.token)
        ids = data.get('credentialIDs')
        ensure(isinstance(ids, list), f'credentials/list: no credentialIDs list in {data!r}')
        mine = {c.cred_id for c in self.creds.values()}
        ensure(mine <= set(ids), f'credentials/list misses {sorted(mine - set(ids))}')
        ensure(set(ids) <= mine | set(self.other_ids),
               'credentials/list returned IDs that were never created')
        ensure(not set(self.other_ids) & set(ids),
               'credentials/list shows another user\'s credential')

    def other_user(self) -> None:
        """A second user with a credential, so that credentials/list can be checked for leaks."""
        name = 'bob-' + secrets.token_hex(3)
        self.server.cli('user', 'add', name, '--password-stdin', stdin=secrets.token_urlsafe(18))
        out = self.server.cli('credential', 'create', '--user', name, '--key', 'ecdsa-p256',
                              '--scal', '1', '--auth', 'pin', '--pin-stdin', '--json',
                              stdin=''.join(secrets.choice('0123456789') for _ in range(8)))
        self.other_ids = [json.loads(out)['credentialID']]

    def credential_info(self, cred: Credential, api: str) -> None:
        body = {'credentialID': cred.cred_id, 'certificates': 'chain', 'certInfo': False}
        data = call(self.server.base, f'/csc/{api}/credentials/info', body, token=self.token)
        certs = data.get('cert', {}).get('certificates')
        ensure(isinstance(certs, list) and len(certs) >= 2,
               f'credentials/info: cert.certificates should list the signer and its CA(s), got {certs!r}')
        ders = [base64.b64decode(c, validate=True) for c in certs]
        parsed = [x509.Certificate.load(d) for d in ders]
        algo = data.get('key', {}).get('algo')
        ensure(isinstance(algo, list), f'credentials/info: key.algo must be a JSON array, got {algo!r}')
        if cred.key.startswith('rsa'):
            want = {OID['sha256WithRSA'], OID['sha384WithRSA'], OID['sha512WithRSA'], OID['rsassaPss']}
            ensure(parsed[0].public_key.algorithm == 'rsa', 'signer certificate is not an RSA key')
            bits = parsed[0].public_key.bit_size
            ensure(bits == int(cred.key.split('-')[1]), f'RSA key has {bits} bits')
        else:
            want = {OID['ecdsaSha256'], OID['ecdsaSha384'], OID['ecdsaSha512']}
            curve = parsed[0].public_key.curve[1]
            ensure(curve == {'ecdsa-p256': 'secp256r1', 'ecdsa-p384': 'secp384r1'}[cred.key],
                   f'signer key is on {curve}')
        ensure(want <= set(algo), f'key.algo lacks combined OIDs {sorted(want - set(algo))}: {algo}')
        ms = data.get('multisign')
        ensure(isinstance(ms, int) and not isinstance(ms, bool) and ms >= 1,
               f'multisign must be a positive integer, got {ms!r}')
        ensure(str(data.get('SCAL')) == str(cred.scal), f'SCAL is {data.get("SCAL")!r}, want {cred.scal}')
        # the chain, signer first, verifies under `qsign ca root`
        signer_pem = self.work / f'{cred.label}.signer.pem'
        chain_pem = self.work / f'{cred.label}.chain.pem'
        signer_pem.write_text(pem(ders[0]))
        chain_pem.write_text(''.join(pem(d) for d in ders[1:] if d != self.root_der) or pem(self.root_der))
        p = run_openssl(['verify', '-CAfile', str(self.root_pem), '-untrusted', str(chain_pem),
                         str(signer_pem)])
        ensure(p.returncode == 0,
               f'openssl verify of the returned chain failed: {p.stdout.decode()} {p.stderr.decode()}')
        p = run_openssl(['x509', '-noout', '-ext', 'keyUsage', '-subject', '-in', str(signer_pem)])
        text = p.stdout.decode()
        ensure('Non Repudiation' in text, f'signer certificate lacks keyUsage nonRepudiation: {text}')
        ensure(self.user in text, f'signer certificate subject does not name the user: {text}')
        pub = self.work / f'{cred.label}.pub.pem'
        p = run_openssl(['x509', '-noout', '-pubkey', '-in', str(signer_pem)])
        ensure(p.returncode == 0, 'openssl could not extract the public key')
        pub.write_bytes(p.stdout)
        cred.pub_pem = pub
        cred.certs_der = ders
        cred.key_bytes = (parsed[0].public_key.bit_size + 7) // 8

    def authorize(self, cred: Credential, api: str, n: int, hashes: list[bytes] | None,
                  hash_alg: str) -> str:
        if api == 'v1':
            body = {'credentialID': cred.cred_id, 'numSignatures': n, 'PIN': cred.pin}
            if hashes is not None:
                body['hash'] = [b64(h) for h in hashes]
        else:
            body = {'credentialID': cred.cred_id, 'numSignatures': n,
                    'authData': [{'id': 'PIN', 'value': cred.pin}]}
            if hashes is not None:
                body['hashes'] = [b64(h) for h in hashes]
                body['hashAlgorithmOID'] = OID[hash_alg]
        data = call(self.server.base, f'/csc/{api}/credentials/authorize', body, token=self.token)
        sad = data.get('SAD')
        ensure(isinstance(sad, str) and sad.startswith('qs_sad_'),
               'credentials/authorize: SAD missing or without the qs_sad_ prefix')
        ensure(isinstance(data.get('expiresIn'), int), 'credentials/authorize: expiresIn is not an integer')
        return sad

    def sign_hash_body(self, cred, names, sad, hashes, hash_alg, sign_algo, params):
        body = {'credentialID': cred.cred_id, 'SAD': sad, 'signAlgo': sign_algo}
        if names == 'v1':
            body['hash'] = [b64(h) for h in hashes]
            body['hashAlgo'] = OID[hash_alg]
        else:
            body['hashes'] = [b64(h) for h in hashes]
            body['hashAlgorithmOID'] = OID[hash_alg]
        if params is not None:
            body['signAlgoParams'] = b64(params)
        return body

    def raw_sign_hash(self, label: str, api: str, names: str, hash_alg: str, sign_algo: str,
                      n: int, pss_salt: int | None = None) -> None:
        cred = self.creds[label]
        ensure(cred.pub_pem is not None, f'no certificate for {label} (credentials/info failed)')
        hashes = [digest(hash_alg, secrets.token_bytes(64)) for _ in range(n)]
        sad = self.authorize(cred, api, n, hashes, hash_alg)
        params = pss_params_der(hash_alg, pss_salt) if pss_salt is not None else None
        body = self.sign_hash_body(cred, names, sad, hashes, hash_alg, sign_algo, params)
        url = f'{self.server.base}/csc/{api}/signatures/signHash'
        data = expect_json_ok(url, body, http_post(url, body, token=self.token))
        sigs = data.get('signatures')
        ensure(isinstance(sigs, list) and len(sigs) == n,
               f'signHash: expected {n} signatures, got {sigs!r}'[:400])
        tag = f'raw-{label}-{api}-{names}-{hash_alg}-{sign_algo}-{pss_salt}'
        for i, (h, s) in enumerate(zip(hashes, sigs)):
            sig = base64.b64decode(s, validate=True)
            if cred.key.startswith('rsa'):
                ensure(len(sig) == cred.key_bytes,
                       f'RSA signature {i} is {len(sig)} bytes, modulus is {cred.key_bytes}')
            else:
                ensure(sig[:1] == b'\x30', f'ECDSA signature {i} is not a DER Ecdsa-Sig-Value')
            p = openssl_verify_raw(cred, self.work, f'{tag}-{i}', h, sig, hash_alg, pss_salt)
            ensure(p.returncode == 0,
                   f'openssl pkeyutl -verify rejected signature {i} ({tag}): '
                   f'{p.stdout.decode().strip()} {p.stderr.decode().strip()[:300]}')
        # the same SAD again is refused: its budget is spent
        again = http_post(url, body, token=self.token)
        ensure(400 <= again.status < 500,
               f'a spent SAD was accepted again: POST {urlparse(url).path} -> {again.status} '
               f'{again.body[:200]!r}')

    def openssl_can_fail(self) -> None:
        """Guards the raw checks: a signature over other bytes must not verify."""
        cred = self.creds['p256']
        h = digest('sha256', b'one')
        sad = self.authorize(cred, 'v2', 1, [h], 'sha256')
        body = self.sign_hash_body(cred, 'v2', sad, [h], 'sha256', OID['ecdsaSha256'], None)
        data = call(self.server.base, '/csc/v2/signatures/signHash', body, token=self.token)
        sig = base64.b64decode(data['signatures'][0])
        other = digest('sha256', b'two')
        p = openssl_verify_raw(cred, self.work, 'negative', other, sig, 'sha256', None)
        ensure(p.returncode != 0, 'openssl accepted a signature over a different hash')

    def count_only_sad(self) -> None:
        """SCAL1: a SAD without hashes signs any hashes, up to numSignatures and no more."""
        cred = self.creds['p256']
        sad = self.authorize(cred, 'v1', 4, None, 'sha256')
        url = f'{self.server.base}/csc/v2/signatures/signHash'
        for round_ in range(2):
            hashes = [digest('sha256', secrets.token_bytes(16)) for _ in range(2)]
            body = self.sign_hash_body(cred, 'v2', sad, hashes, 'sha256', OID['ecdsaSha256'], None)
            data = expect_json_ok(url, body, http_post(url, body, token=self.token))
            ensure(len(data.get('signatures', [])) == 2, f'round {round_}: expected 2 signatures')
            for i, (h, s) in enumerate(zip(hashes, data['signatures'])):
                p = openssl_verify_raw(cred, self.work, f'count-{round_}-{i}', h,
                                       base64.b64decode(s), 'sha256', None)
                ensure(p.returncode == 0, f'count-only SAD: signature {i} does not verify')
        body = self.sign_hash_body(cred, 'v2', sad, [digest('sha256', b'x')], 'sha256',
                                   OID['ecdsaSha256'], None)
        over = http_post(url, body, token=self.token)
        ensure(400 <= over.status < 500,
               f'a fifth signature on a 4-signature SAD was answered {over.status} {over.body[:200]!r}')

    async def pyhanko_sign(self, label: str, api: str, style: str, md: str, pss: bool = False,
                           batch: int = 1) -> None:
        cred = self.creds[label]
        failures: list[str] = []
        sign_hash_calls: list[str] = []

        async def on_end(session, ctx, params):
            path = params.url.path
            if path.endswith('/signatures/signHash'):
                sign_hash_calls.append(path)
            if params.response.status >= 400:
                text = (await params.response.read())[:600]
                failures.append(f'{params.method} {path} -> {params.response.status} {text!r}')

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_end)
        async with aiohttp.ClientSession(trace_configs=[trace]) as session:
            info = CSCServiceSessionInfo(self.server.base, cred.cred_id,
                                         oauth_token=self.token, api_ver=api)
            try:
                cred_info = await fetch_certs_in_csc_credential(session, info)
                ensure(cred_info.max_batch_size >= batch,
                       f'multisign {cred_info.max_batch_size} < batch {batch}')
                auth = PinAuthorizationManager(info, cred_info, session, cred, style, md)
                signer = CSCSigner(session, auth, prefer_pss=pss, batch_size=batch)
                names = [f'{label}-{api}-{style}-{md}{"-pss" if pss else ""}-b{batch}-{i}'
                         for i in range(batch)]
                metas = [PdfSignatureMetadata(field_name='Signature1', md_algorithm=md,
                                              subfilter=SigSeedSubFilter.PADES,
                                              reason='qsign conformance')
                         for _ in names]
                writers = [IncrementalPdfFileWriter(io.BytesIO(make_pdf(n))) for n in names]
                outputs = await asyncio.gather(*(
                    async_sign_pdf(w, m, signer=signer) for w, m in zip(writers, metas)))
            except (SigningError, aiohttp.ClientError, CheckFailed) as e:
                detail = '\n'.join(failures) or '(no HTTP error status; see the pyHanko log above)'
                raise CheckFailed(f'pyHanko signing failed: {e}\n{detail}')
        ensure(auth.calls == [batch],
               f'expected one authorize over {batch} hash(es), saw {auth.calls}')
        ensure(len(sign_hash_calls) == 1,
               f'expected one signHash call for the batch, saw {len(sign_hash_calls)}')
        for name, buf in zip(names, outputs):
            path = self.out / f'{name}.pdf'
            path.write_bytes(buf.getvalue())
            await self.validate_pdf(path, cred, md, pss)
            self.pdf_count += 1

    async def validate_pdf(self, path: Path, cred: Credential, md: str, pss: bool) -> None:
        with open(path, 'rb') as f:
            reader = PdfFileReader(f)
            sigs = reader.embedded_signatures
            ensure(len(sigs) == 1, f'{path.name}: {len(sigs)} signatures embedded')
            sig = sigs[0]
            # The development CA publishes no CRL or OCSP responder: revocation checking is
            # soft-fail and nothing is fetched, so the verdict rests on the signature, the
            # chain to `qsign ca root` and the key usage. Trust is not relaxed in any other way.
            vc = ValidationContext(trust_roots=[x509.Certificate.load(self.root_der)], allow_fetching=False,
                                   revocation_mode='soft-fail')
            status = await async_validate_pdf_signature(sig, vc)
            mech = sig.signer_info['signature_algorithm']['algorithm'].native
            signer_der = sig.signer_cert.dump()
        ensure(status.intact, f'{path.name}: pyHanko finds the signature not intact')
        ensure(status.valid, f'{path.name}: pyHanko finds the signature invalid ({mech})')
        ensure(status.trusted, f'{path.name}: pyHanko does not trust the signer under `qsign ca root`: '
                               f'{status.trust_problem_indic}')
        ensure(status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
               f'{path.name}: coverage {status.coverage}')
        ensure(status.bottom_line, f'{path.name}: bottom line is negative: {status.summary()}')
        ensure(status.md_algorithm == md, f'{path.name}: digest {status.md_algorithm}, want {md}')
        ensure(signer_der == cred.certs_der[0], f'{path.name}: embedded signer certificate differs')
        if pss:
            ensure(mech == 'rsassa_pss', f'{path.name}: mechanism {mech}, want rsassa_pss')
        elif cred.key.startswith('rsa'):
            ensure(mech in (f'{md}_rsa', 'rsassa_pkcs1v15'), f'{path.name}: mechanism {mech}')
        else:
            ensure(mech == f'{md}_ecdsa', f'{path.name}: mechanism {mech}')
        # tools we did not write, on the same file
        p = subprocess.run(['qpdf', '--check', str(path)], capture_output=True, timeout=60)
        ensure(p.returncode == 0, f'qpdf --check {path.name}: {p.stdout.decode()[-400:]}')
        p = subprocess.run(['pdfsig', str(path)], capture_output=True, timeout=60)
        text = p.stdout.decode(errors='replace')
        ensure('Signature is Valid' in text,
               f'pdfsig does not find {path.name} valid:\n{text.strip()}\n{p.stderr.decode()[-300:]}')

    def audit_verify(self) -> None:
        out = self.server.cli('audit', 'verify')
        print(indent('qsign audit verify: ' + out.strip()), flush=True)

    # -- the whole run -----------------------------------------------------------------------

    def run(self) -> int:
        db = 'PostgreSQL' if self.args.database_url else 'SQLite'
        print(f'pyhanko_csc: qsign {self.server.binary} on {self.server.base} ({db})', flush=True)
        self.other_ids: list[str] = []
        try:
            if self.check('start qsign, add a user and credentials', self.setup) is None \
                    and 'start qsign, add a user and credentials' in self.failed:
                return self.finish()
            self.check('the dev root CA says NOT QUALIFIED', self.dev_root_is_marked)
            if self.check('auth/login with HTTP Basic', self.login) is None and not self.token:
                return self.finish()
            self.check('a second user with a credential', self.other_user)
            for api in ('v1', 'v2'):
                self.check(f'{api} credentials/list shows exactly the caller\'s credentials',
                           self.credentials_list, api)
            for cred in self.creds.values():
                for api in ('v1', 'v2'):
                    self.check(f'{api} credentials/info {cred.label}', self.credential_info, cred, api)

            # raw signHash, verified with openssl
            raw = [
                ('p256', 'v1', 'v1', 'sha256', OID['ecdsaSha256'], 3, None),
                ('p256', 'v2', 'v2', 'sha256', OID['ecdsaSha256'], 2, None),
                ('p384', 'v2', 'v2', 'sha384', OID['ecdsaSha384'], 2, None),
                ('p384', 'v1', 'v1', 'sha384', OID['ecdsaSha384'], 1, None),
                ('rsa2048', 'v1', 'v1', 'sha256', OID['sha256WithRSA'], 3, None),
                ('rsa2048', 'v2', 'v2', 'sha512', OID['sha512WithRSA'], 1, None),
                ('rsa2048', 'v2', 'v2', 'sha256', OID['rsaEncryption'], 2, None),
                ('rsa2048', 'v1', 'v1', 'sha384', OID['rsaEncryption'], 1, None),
                ('rsa2048', 'v1', 'v1', 'sha256', OID['rsassaPss'], 2, 256 - 32 - 2),
                ('rsa2048', 'v2', 'v2', 'sha256', OID['rsassaPss'], 1, 32),
                ('rsa3072', 'v2', 'v2', 'sha384', OID['sha384WithRSA'], 2, None),
                ('rsa3072', 'v2', 'v2', 'sha512', OID['rsaEncryption'], 1, None),
                ('rsa3072', 'v1', 'v1', 'sha384', OID['rsassaPss'], 1, 384 - 48 - 2),
                # pyHanko's mix: v1 field names on the /csc/v2 path
                ('rsa2048', 'v2', 'v1', 'sha256', OID['sha256WithRSA'], 1, None),
            ]
            for label, api, names, hash_alg, algo, n, salt in raw:
                algo_name = next(k for k, v in OID.items() if v == algo)
                salt_txt = f' salt {salt}' if salt is not None else ''
                self.check(f'raw signHash {label} /csc/{api} {names} names {algo_name}'
                           f'+{hash_alg}{salt_txt} x{n} verifies with openssl, SAD not reusable',
                           self.raw_sign_hash, label, api, names, hash_alg, algo, n, salt)
            self.check('openssl rejects a signature over another hash', self.openssl_can_fail)
            self.check('count-only SCAL1 SAD: any hashes up to numSignatures, then refused',
                       self.count_only_sad)

            # stock pyHanko CSCSigner
            runs = [('p256-totp-scal2', 'v1', 'v1', 'sha256', False, 1)]
            for api in ('v1', 'v2'):
                runs += [
                    ('p256', api, api, 'sha256', False, 1),
                    ('p384', api, api, 'sha384', False, 1),
                    ('rsa2048', api, api, 'sha256', False, 1),
                    ('rsa3072', api, api, 'sha512', False, 1),
                    ('rsa2048', api, api, 'sha256', True, 1),
                ]
            runs += [
                ('rsa3072', 'v1', 'v1', 'sha384', True, 1),
                # the body pyHanko's own helper builds, sent to /csc/v2
                ('p256', 'v2', 'v1', 'sha256', False, 1),
                ('p256', 'v2', 'v2', 'sha256', False, 3),
                ('rsa2048', 'v1', 'v1', 'sha256', False, 2),
                ('p256-totp-scal2', 'v2', 'v2', 'sha256', False, 2),
            ]
            for label, api, style, md, pss, batch in runs:
                what = f'pyHanko CSCSigner {label} api_ver={api} authorize={style}-body {md}'
                what += ' PSS' if pss else ''
                what += f' batch_size={batch}' if batch > 1 else ''
                self.check(what + ': PDF valid under qsign ca root',
                           self.pyhanko_sign, label, api, style, md, pss, batch)
            self.check('qsign audit verify while serving', self.audit_verify)
        finally:
            self.server.stop()
        self.check('qsign audit verify after shutdown', self.audit_verify)
        return self.finish()

    def finish(self) -> int:
        self.server.stop()
        if self.failed:
            print(self.server.log_tail(60), flush=True)
            print('failed checks:\n' + '\n'.join(f'  - {n}' for n in self.failed), flush=True)
        print(f'pyhanko_csc: {self.pdf_count} signed PDFs in {self.out}', flush=True)
        print(f'checks: {self.passed} passed, {len(self.failed)} failed', flush=True)
        if not self.args.keep:
            # without --out the signed PDFs stay in the work folder for inspection
            shutil.rmtree(self.work if self.args.out else self.work / 'data', ignore_errors=True)
        return 1 if self.failed else 0


def pem(der: bytes) -> str:
    body = b64(der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return '-----BEGIN CERTIFICATE-----\n' + '\n'.join(lines) + '\n-----END CERTIFICATE-----\n'


def indent(text: str) -> str:
    return '\n'.join('     ' + line for line in text.splitlines())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--qsign', default=os.environ.get('QSIGN_BIN', str(REPO / 'target/debug/qsign')),
                    help='the qsign binary (default target/debug/qsign)')
    ap.add_argument('--database-url', default=None,
                    help='serve on this PostgreSQL URL instead of SQLite in the data folder')
    ap.add_argument('--out', default=None, help='folder for the signed PDFs')
    ap.add_argument('--keep', action='store_true', help='keep the temporary data folder')
    args = ap.parse_args()
    # a SIGTERM (e.g. from `timeout`) unwinds normally, so the server is stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=logging.WARNING, format='     pyhanko log: %(message)s')
    if not Path(args.qsign).is_file():
        print(f'FAIL: qsign binary {args.qsign} not found', flush=True)
        print('checks: 0 passed, 1 failed')
        return 1
    return Suite(args).run()


if __name__ == '__main__':
    sys.exit(main())
