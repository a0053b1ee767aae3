#!/usr/bin/env bash
# Tests the uniffi bindings: builds the gridwalk-ffi library and the generator, checks the committed
# Kotlin/Swift bindings are current, then runs the Kotlin JVM tests (Maven, JUnit 5, JNA) against
# the real library; the sync tests start the real gridwalk-server on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo build -p gridwalk-ffi"
cargo build -p gridwalk-ffi --locked
# The generator is a separate build (feature `cli`) so the library above is the one apps link.
cargo build -p gridwalk-ffi --features cli --bin uniffi-bindgen --locked
# The server the Kotlin sync tests run (`serve`, `enrol`, `revoke`) on a free loopback port.
cargo build -p gridwalk-server --locked

echo "== generated bindings"
bindings/generate.sh --check

if ! command -v mvn >/dev/null; then
  apt-get update -qq && apt-get install -y -qq maven
fi
target="${CARGO_TARGET_DIR:-target}"
lib_dir="$(cd "$target/debug" && pwd)"
reports=bindings/kotlin/target/surefire-reports
rm -rf "$reports"

echo "== kotlin tests (mvn)"
status=0
mvn -q -B -Dstyle.color=never -f bindings/kotlin/pom.xml -Dgridwalk.lib.dir="$lib_dir" \
  -Dgridwalk.server="$lib_dir/gridwalk-server" test || status=$?

bash scripts/surefire-summary.sh kotlin "$reports"
exit "$status"
