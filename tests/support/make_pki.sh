#!/usr/bin/env bash
# Test PKI for mTLS between the agent and a master (DESIGN §7), generated at
# test time so no key is ever committed.
#
#   make_pki.sh DIR
#
# Writes into DIR (created if missing):
#   ca.crt ca.key              the fleet CA (the master's)
#   master.crt master.key      signed by ca, CN decnet-master (the master's client identity,
#                              what --master-identity pins); serverAuth+clientAuth;
#                              SAN IP:127.0.0.1, DNS:localhost
#   agent.crt agent.key        signed by ca, CN edge-agent; same usages and SANs
#   other.crt other.key        signed by ca, CN other-agent: another host of the fleet,
#                              CA-signed but not the master
#   agent2.crt agent2.key      signed by ca, CN edge-agent: a rotated agent certificate
#   rogue-ca.crt rogue-ca.key  an unrelated CA
#   rogue.crt rogue.key        signed by rogue-ca; same usages and SANs
#   agent.sha256               SHA-256 fingerprint of agent.crt (what a master enrols)
#   master.sha256              sha256:<hex> of master.crt's DER (a --master-identity pin)
# EC P-256 keys: fast to generate, accepted by OpenSSL, libcurl and httplib.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077
days=30

new_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }

make_ca() {  # name subject
  new_key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days "$days" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$1.crt"
}

make_leaf() {  # name common-name issuer
  new_key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  cat >"$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial \
    -sha256 -days "$days" -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

make_ca ca "edge-test-ca"
make_leaf master "decnet-master" ca
make_leaf agent "edge-agent" ca
make_leaf other "other-agent" ca
make_leaf agent2 "edge-agent" ca
make_ca rogue-ca "rogue-ca"
make_leaf rogue "rogue-client" rogue-ca
rm -f ./*.srl

openssl x509 -in agent.crt -noout -fingerprint -sha256 | sed 's/^.*=//' >agent.sha256
echo "sha256:$(openssl x509 -in master.crt -outform DER | sha256sum | cut -d' ' -f1)" >master.sha256
# Certificates are public; keys stay owner-only (umask above).
chmod 644 ./*.crt ./*.sha256
openssl verify -CAfile ca.crt master.crt agent.crt other.crt agent2.crt >/dev/null
openssl verify -CAfile rogue-ca.crt rogue.crt >/dev/null
