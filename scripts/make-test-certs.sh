#!/usr/bin/env bash
# make-test-certs.sh DIR: throwaway keys for demos and tests, made with the openssl command line.
#   DIR/ca.pem, ca.key               a test CA
#   DIR/<node>.pem, <node>.key       node certificates signed by it (CN; SAN 127.0.0.1, localhost and the
#                                    URI urn:meshos:node:<id> of the node key below) for node, node-a,
#                                    node-b, node-c
#   DIR/foreign-ca.pem, foreign-ca.key, foreign-node.pem, foreign-node.key
#                                    a second CA and one certificate it signed (to be refused)
#   DIR/<node>.key.json              meshos node key files (Ed25519 seed + public key, mode 0600)
#   DIR/members.json                 the cluster: the public keys of node, node-a, node-b, node-c
#   DIR/operator.key.json            an operator key file; DIR/operators.json lists its public key
# Nothing here is secret: never use these files outside a test. Existing files are replaced.
set -euo pipefail

if [[ $# -ne 1 || "$1" == -* ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
openssl=${MESHOS_OPENSSL:-openssl}
mkdir -p "$dir"
umask 077

days=30
nodes=(node node-a node-b node-c)

make_ca() {  # name
  "$openssl" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
    -subj "/CN=meshos test $1" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/$1.key" -out "$dir/$1.pem" 2>/dev/null
}

make_cert() {  # name ca node-id: a node certificate names its node (what peers match its signed hello with)
  local ext="$dir/$1.ext"
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyAgreement" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,URI:urn:meshos:node:$3" > "$ext"
  "$openssl" req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
    -keyout "$dir/$1.key" -out "$dir/$1.csr" 2>/dev/null
  "$openssl" x509 -req -in "$dir/$1.csr" -CA "$dir/$2.pem" -CAkey "$dir/$2.key" -CAcreateserial \
    -days "$days" -extfile "$ext" -out "$dir/$1.pem" 2>/dev/null
  rm -f "$dir/$1.csr" "$ext"
}

last32_hex() {  # the last 32 bytes of stdin as hex: the raw Ed25519 seed / public key in their DER forms
  tail -c 32 | od -An -v -tx1 | tr -d ' \n'
}

node_id_of() {  # public key hex -> node id: BLAKE2s-MAC keyed "net-node-id-v1", first 8 bytes little-endian
  local mac
  # shellcheck disable=SC2059 # the format is the key's bytes as \xHH escapes
  mac=$(printf "$(sed 's/../\\x&/g' <<<"$1")" | "$openssl" mac -macopt key:net-node-id-v1 BLAKE2SMAC | tr 'A-F' 'a-f')
  printf '%s' "${mac:14:2}${mac:12:2}${mac:10:2}${mac:8:2}${mac:6:2}${mac:4:2}${mac:2:2}${mac:0:2}"
}

make_key_file() {  # name path
  local pem="$dir/.$1.ed25519.pem" seed public
  "$openssl" genpkey -algorithm ed25519 -out "$pem"
  seed=$("$openssl" pkey -in "$pem" -outform DER | last32_hex)
  public=$("$openssl" pkey -in "$pem" -pubout -outform DER | last32_hex)
  rm -f "$pem"
  printf '{"name": "%s", "seed": "%s", "public_key": "%s"}\n' "$1" "$seed" "$public" > "$2"
  chmod 600 "$2"
  echo "$public"
}

make_ca ca
members=()
for node in "${nodes[@]}"; do
  public=$(make_key_file "$node" "$dir/$node.key.json")
  make_cert "$node" ca "$(node_id_of "$public")"
  members+=("$(printf '{"name": "%s", "public_key": "%s"}' "$node" "$public")")
done
# The cluster: every node key above (not foreign-node's). Nodes admit only these as peers.
(IFS=,; printf '{"members": [%s]}\n' "${members[*]}") > "$dir/members.json"
make_ca foreign-ca
make_cert foreign-node foreign-ca "$(node_id_of "$(make_key_file foreign-node "$dir/foreign-node.key.json")")"
operator_public=$(make_key_file operator "$dir/operator.key.json")
printf '{"operators": [{"name": "operator", "public_key": "%s"}]}\n' "$operator_public" > "$dir/operators.json"
rm -f "$dir"/*.srl
echo "test CA, node certificates and key files written to $dir"
