#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings from the built gridwalk-ffi library (uniffi library mode).
#   bindings/generate.sh           rewrite bindings/kotlin/src/main/kotlin and bindings/swift
#   bindings/generate.sh --check   fail if the committed files differ from freshly generated ones
# Needs `cargo build -p gridwalk-ffi` and the generator
# (`cargo build -p gridwalk-ffi --features cli --bin uniffi-bindgen`); scripts/test-bindings.sh does both.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
lib=""
for f in "$target/debug/libgridwalk_ffi.so" "$target/debug/libgridwalk_ffi.dylib"; do
  [ -f "$f" ] && lib="$f" && break
done
[ -n "$lib" ] || { echo "no libgridwalk_ffi in $target/debug: run cargo build -p gridwalk-ffi" >&2; exit 1; }

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# --no-format: output must not depend on whether ktlint/swiftformat happen to be installed.
"$target/debug/uniffi-bindgen" generate --library "$lib" --language kotlin --no-format --out-dir "$out/kotlin" >/dev/null
"$target/debug/uniffi-bindgen" generate --library "$lib" --language swift --no-format --out-dir "$out/swift" >/dev/null

kotlin_dir=bindings/kotlin/src/main/kotlin
swift_dir=bindings/swift
if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$out/kotlin" "$kotlin_dir" >/dev/null || ! diff -r "$out/swift" "$swift_dir" >/dev/null; then
    diff -ru "$kotlin_dir" "$out/kotlin" | head -40 || true
    diff -ru "$swift_dir" "$out/swift" | head -40 || true
    echo "generated bindings are stale: run bindings/generate.sh and commit the result" >&2
    exit 1
  fi
  echo "generated bindings are current"
else
  rm -rf "$kotlin_dir" "$swift_dir"
  mkdir -p "$(dirname "$kotlin_dir")"
  cp -r "$out/kotlin" "$kotlin_dir"
  cp -r "$out/swift" "$swift_dir"
  echo "wrote $kotlin_dir and $swift_dir"
fi
