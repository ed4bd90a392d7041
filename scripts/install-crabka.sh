#!/usr/bin/env bash
# Idempotently build + install crabka-broker 0.3.8 and crabka-cli 0.3.8 (yanked on crates.io)
# into $CRABKA_HOME/bin (default $HOME/.cache/eos-broker/bin). Cache $CRABKA_HOME/bin in CI.
#   CRABKA_PATCH=1 (default) applies crabka-broker-0.3.8-eos.patch (restart after transactional
#   offset commits; empty instead of null fetch records so librdkafka sees partition EOF;
#   offsets of a transaction aborted by fencing or by the reaper are dropped, not applied by the
#   producer's next committed transaction).
#   CRABKA_PATCH=0 builds the crates exactly as published.
set -euo pipefail
CRABKA_HOME=${CRABKA_HOME:-$HOME/.cache/eos-broker}
CRABKA_PATCH=${CRABKA_PATCH:-1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PATCH_FILE=${CRABKA_PATCH_FILE:-$HERE/crabka-broker-0.3.8-eos.patch}
BIN=$CRABKA_HOME/bin
STAMP="crabka 0.3.8 patch=$CRABKA_PATCH $( [ "$CRABKA_PATCH" = 1 ] && sha256sum "$PATCH_FILE" | cut -c1-16 )"
if [ -x "$BIN/crabka-broker" ] && [ -x "$BIN/crabka" ] && [ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "crabka already installed in $BIN ($STAMP)"; exit 0
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CRABKA_HOME/target}
work=$CRABKA_HOME/src; rm -rf "$work"; mkdir -p "$work/fetch/src"
# 1. cargo refuses yanked versions unless a Cargo.lock already pins them: a scratch project with a
#    hand-written lock that pins every crabka-* crate at 0.3.8 makes `cargo fetch` download them.
cd "$work/fetch"
echo 'fn main() {}' > src/main.rs
cat > Cargo.toml <<'TOML'
[package]
name = "crabka-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
crabka-broker = "=0.3.8"
crabka-cli = "=0.3.8"
TOML
{ echo 'version = 4'
  while read -r name sum; do
    printf '\n[[package]]\nname = "%s"\nversion = "0.3.8"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "%s"\n' "$name" "$sum"
  done <<'SUMS'
crabka-audit f07dfc46285e55196ec1ad54ef350f977fc732bc6bbc5d43eaeef98dd6967e89
crabka-authz 339959ef9d74b1f0772ac97e845575980c46bb719b7d761dae3cc4eaa9190523
crabka-broker 062fa98460fe2b02255966161edda38e856e5547c0f8796d14c2854e40e11441
crabka-cli 41e5da8ec763df9eaf7a2c1a97354b33de121a5bb114ea0d883cdae0c6619b7c
crabka-client-admin 43e256e39b8f3996a951cabb907a75a61244d8d5d64c49103850ad77548327c5
crabka-client-consumer f2735b9199b74c5110381c33731c3e2cdd9a1b78dc2034f5ab66028f3b6dd983
crabka-client-core 2674f0f188b1f57ddf06bdeb1ff98f275490974d01ffb7bdfc0e1050e04394dd
crabka-client-producer 37535e1f52cb5cc4ed2354ff0f0a1eb94449f9dfdfe78ae660714113057f2f98
crabka-compression 73646e1ba43da95d44da5593b8fb6f6be4bd9e408514fcee5cb2804e7d367996
crabka-kraft-core 0f018005ae214a9ae19b4d3c1b037ec4a4574a655441852e0f482f59504f06d0
crabka-log c6978180b12265326492402d57adbaec2a348e30c7ae2dfe55f95672bdf28dc8
crabka-logfmt f9148c1d6c9e8199294dfc59eb1445d5722e326547a52508c5f664234cf11c17
crabka-metadata 161bebf3dd7bf2c3f6af5ddec1af27da9984bb9572223ef303697b61e547ed1f
crabka-protocol 68f38fee849546c9416b01c3c4d04604e711beddc4f375f2424f77f45c7d2527
crabka-raft ec469393bc741a16dc93a36172621cb430a9bccdb1eb84e102e8702a02700521
crabka-records-legacy 1857ebf1101dfc8415e2cbd955f497e6f3ec35bbde382deebc64ed0473002322
crabka-remote-storage a072d5266e27cdb439e699668c70034279af458de8aaaceb11cf43f877d3049f
crabka-remote-storage-topic 127e5eb1ff54f7e87335489af330142bdf1bfbccd461efb92ff1074257561bea
crabka-security e4e6aa42d41b4aae7fe27dd6f0cac4142711d67ba3dae85e13bc03ae7e5d3c0c
crabka-telemetry cd782656027db71764077156e9d9ed2e3d1efc3e6bc9f7027f1260836877e8ef
crabka-throttle ca2a4541abf820b28458b6ca1f9d1567803e5561869ab97bb8a04c3c615762bb
crabka-voters 551f5fa666ce982c5d48001e036f7d6e4e2f9afdd9d67b2e72a52a3ce76aa6ff
SUMS
} > Cargo.lock
cargo fetch --quiet
reg=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/index.crates.io-*/ | head -1)
# 2. Each published crate ships a Cargo.lock pinning its crabka-* deps at 0.3.8: install from the
#    unpacked source with --locked. The crates declare rust-version 1.96 but build on 1.95.
cp -r "$reg/crabka-broker-0.3.8" "$reg/crabka-cli-0.3.8" "$work/"
if [ "$CRABKA_PATCH" = 1 ]; then (cd "$work/crabka-broker-0.3.8" && patch --batch -s -p2 < "$PATCH_FILE"); fi
for c in crabka-broker crabka-cli; do
  cargo install --quiet --path "$work/$c-0.3.8" --locked --ignore-rust-version --force --root "$CRABKA_HOME"
done
rm -f "$CRABKA_HOME/.crates.toml" "$CRABKA_HOME/.crates2.json"
echo "$STAMP" > "$BIN/.stamp"
echo "installed: $("$BIN/crabka-broker" --version), $("$BIN/crabka" --version) in $BIN ($STAMP)"
