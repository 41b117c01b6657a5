#!/usr/bin/env bash
# Benchmark (not a test): PAdES B-B of a 20 MB PDF with a P-256 key, against sha256 of the same
# file in the same run, with peak memory from /usr/bin/time -v, and pyHanko's local signing of
# the same file for comparison.
# usage: pades/bench/run.sh [WORKDIR]   (from the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$root/target/bench-pdf}
py=${QSIGN_PYTHON:-$root/conformance/.venv/bin/python}
mkdir -p "$work"
cargo build --release -p pades --example bench-pdf
bench=$root/target/release/examples/bench-pdf

# Two 20 MB inputs: few objects with large image streams, and many objects (150 copies of a
# pdfTeX file merged by qpdf: ~13,000 objects in object streams).
"$bench" make "$work/images.pdf" 20
if [ ! -f "$work/objects.pdf" ]; then
  mkdir -p "$work/copies"
  for i in $(seq 150); do cp "$root/pades/tests/data/pdftex-mime-spec.pdf" "$work/copies/c$i.pdf"; done
  qpdf --empty --pages "$work"/copies/c*.pdf -- "$work/objects.pdf"
fi
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem"
openssl req -new -x509 -key "$work/key.pem" -subj "/CN=qsign bench (not qualified)" -days 1 -out "$work/cert.pem" 2>/dev/null

for f in images objects; do
  echo "== $f.pdf ($(stat -c %s "$work/$f.pdf") bytes)"
  /usr/bin/time -v "$bench" sign "$work/$f.pdf" "$work/$f-signed.pdf" 2> "$work/$f.time"
  grep -E "Maximum resident|Elapsed" "$work/$f.time"
  echo "-- sha256sum (separate process, file in page cache):"
  /usr/bin/time -f "%e s wall, %M KB peak" sha256sum "$work/$f.pdf"
  echo "-- pyHanko:"
  /usr/bin/time -f "%e s wall, %M KB peak" "$py" "$root/pades/bench/pyhanko_sign.py" \
    "$work/$f.pdf" "$work/$f-pyhanko.pdf" "$work/key.pem" "$work/cert.pem"
done
