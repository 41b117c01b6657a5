#!/usr/bin/env bash
# Makes a throw-away test PKI with the openssl CLI: root CA, issuing CA, one signer per key kind
# (RSA 2048, P-256, P-384, Ed25519), a TSA (critical EKU timeStamping) and an OCSP responder
# (ocsp-nocheck), an `openssl ca`-style index of the issued certificates, the root's CRL over the
# issuing CA, and the issuing CA's CRL. Not qualified: for tests only.
# usage: make-pki.sh DIR BASE_URL   (BASE_URL like http://127.0.0.1:PORT, for AIA and CRL DP)
set -euo pipefail
dir=$1; base=$2
mkdir -p "$dir"; cd "$dir"
: > index.txt
echo 1000 > crlnumber

cat > ext.cnf <<CNF
[qs_ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[qs_inter]
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
crlDistributionPoints=URI:$base/root.crl
[qs_signer]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
authorityInfoAccess=OCSP;URI:$base/ocsp
crlDistributionPoints=URI:$base/inter.crl
[qs_tsa]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=critical,timeStamping
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
authorityInfoAccess=OCSP;URI:$base/ocsp
crlDistributionPoints=URI:$base/inter.crl
[qs_ocsp]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=critical,OCSPSigning
noCheck=ignored
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
CNF

# index.txt line for a certificate, as `openssl ca` writes it.
index() {
  local serial end subj
  serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)
  end=$(date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
  subj=$(openssl x509 -in "$1" -noout -subject -nameopt compat | sed 's/^subject=//')
  printf 'V\t%s\t\t%s\tunknown\t%s\n' "$end" "$serial" "$subj" >> "$2"
}

key() { # name kind
  case $2 in
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null ;;
    p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" ;;
    p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$1.key" ;;
    ed25519) openssl genpkey -algorithm ED25519 -out "$1.key" ;;
  esac
}

issue() { # name subject issuer ext
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 30 -extfile ext.cnf -extensions "qs_$4" -out "$1.pem" 2>/dev/null
}

key root p256
openssl req -new -x509 -key root.key -subj "/CN=qsign test root (not qualified)/O=qsign tests" \
  -days 60 -extensions qs_ca -config <(cat /etc/ssl/openssl.cnf; cat ext.cnf) -out root.pem 2>/dev/null
key inter p256
issue inter "/CN=qsign test issuing CA (not qualified)/O=qsign tests" root inter
index inter.pem root-index.txt
for k in rsa p256 p384 ed25519; do
  key "signer-$k" "$k"
  issue "signer-$k" "/CN=Test Signer $k (not qualified)/O=qsign tests" inter signer
  index "signer-$k.pem" index.txt
done
key tsa p256
issue tsa "/CN=qsign test TSA (not qualified)/O=qsign tests" inter tsa
index tsa.pem index.txt
key ocsp p256
issue ocsp "/CN=qsign test OCSP responder (not qualified)/O=qsign tests" inter ocsp
cp inter.pem chain.pem

cat > ca.cnf <<CNF
[ca]
default_ca = root
[root]
database = root-index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 7
[inter]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 7
CNF
openssl ca -config ca.cnf -name root -gencrl -keyfile root.key -cert root.pem -out root.crl.pem 2>/dev/null
openssl crl -in root.crl.pem -outform DER -out root.crl
openssl ca -config ca.cnf -name inter -gencrl -keyfile inter.key -cert inter.pem -out inter.crl.pem 2>/dev/null
openssl crl -in inter.crl.pem -outform DER -out inter.crl

echo 01 > tsaserial
cat > tsa.cnf <<CNF
[tsa]
default_tsa = tsa_config
[tsa_config]
dir = .
serial = $dir/tsaserial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.4146.2.3
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
CNF
