#!/usr/bin/env bash
# Tests the app shells' plain-Kotlin module (android/shared: view models and repositories) on the
# JVM against the real gridwalk-ffi library. The Compose screens (android/app) and the SwiftUI app
# (ios/) need the Android SDK and Xcode and are NOT built here; see their READMEs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo build -p gridwalk-ffi"
cargo build -p gridwalk-ffi --locked

if ! command -v mvn >/dev/null; then
  apt-get update -qq && apt-get install -y -qq maven
fi
target="${CARGO_TARGET_DIR:-target}"
lib_dir="$(cd "$target/debug" && pwd)"
reports=android/shared/target/surefire-reports
rm -rf "$reports"

# The event/sync adapters (android/shared/src/ffi) are compiled once the generated bindings
# contain the exports they call; until then the view models are tested over fakes only.
ffi_events=false
generated=bindings/kotlin/src/main/kotlin/uniffi/gridwalk_ffi/gridwalk_ffi.kt
if grep -q 'fun `reportEvent`' "$generated" && grep -q 'class SyncClient' "$generated"; then
  ffi_events=true
fi
echo "== shell view-model tests (mvn; event/sync adapters compiled: $ffi_events)"
status=0
mvn -q -B -Dstyle.color=never -f android/shared/pom.xml -Dgridwalk.lib.dir="$lib_dir" \
  -Dgridwalk.ffi.events="$ffi_events" test || status=$?

bash scripts/surefire-summary.sh shells "$reports"
exit "$status"
