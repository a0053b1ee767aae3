#!/usr/bin/env bash
# Runs every test of gridwalk on a fresh machine: installs what is missing, then format, lint, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v perl >/dev/null || need_apt+=(perl)   # the vendored OpenSSL (SQLCipher) build runs perl
command -v make >/dev/null || need_apt+=(make)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (the server's tests on SQLite and on a throwaway PostgreSQL)"
bash scripts/with-postgres.sh cargo test --workspace --locked
bash scripts/test-bindings.sh
bash scripts/test-shells.sh
bash scripts/test-console.sh
