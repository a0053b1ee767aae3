#!/usr/bin/env bash
# Builds the Rust library (gridwalk-ffi, static) for iOS devices and simulators and packs
# ios/build/GridwalkFFI.xcframework: the static libraries plus the generated C headers and one
# module map for the two generated Swift files (gridwalk_core.swift, gridwalk_ffi.swift), which
# are copied to ios/build/Generated/ and compiled into the app target.
#
# Needs macOS with Xcode (xcodebuild, lipo) and rustup. Not run in CI: CI has no Xcode.
#   ios/build-xcframework.sh [release|debug]
set -euo pipefail
profile="${1:-release}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
out="$here/build"
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)

command -v xcodebuild >/dev/null || { echo "xcodebuild missing: this script runs on macOS with Xcode" >&2; exit 1; }
rustup target add "${targets[@]}" >/dev/null

flags=(--locked -p gridwalk-ffi)
[ "$profile" = release ] && flags+=(--release)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
for t in "${targets[@]}"; do
  echo "== cargo build --target $t"
  # Minimum iOS 15: the deployment target the app declares (project.yml).
  IPHONEOS_DEPLOYMENT_TARGET=15.0 cargo build "${flags[@]}" --target "$t"
done

rm -rf "$out/GridwalkFFI.xcframework" "$out/headers" "$out/sim" "$out/Generated"
mkdir -p "$out/headers" "$out/sim" "$out/Generated"

# Headers: both generated headers and a single module map (an xcframework slice takes one).
cp bindings/swift/gridwalk_coreFFI.h bindings/swift/gridwalk_ffiFFI.h "$out/headers/"
cat bindings/swift/gridwalk_coreFFI.modulemap <(echo) bindings/swift/gridwalk_ffiFFI.modulemap > "$out/headers/module.modulemap"
cp bindings/swift/gridwalk_core.swift bindings/swift/gridwalk_ffi.swift "$out/Generated/"

# The two simulator architectures share one slice.
lipo -create \
  "$target_dir/aarch64-apple-ios-sim/$profile/libgridwalk_ffi.a" \
  "$target_dir/x86_64-apple-ios/$profile/libgridwalk_ffi.a" \
  -output "$out/sim/libgridwalk_ffi.a"

xcodebuild -create-xcframework \
  -library "$target_dir/aarch64-apple-ios/$profile/libgridwalk_ffi.a" -headers "$out/headers" \
  -library "$out/sim/libgridwalk_ffi.a" -headers "$out/headers" \
  -output "$out/GridwalkFFI.xcframework"
echo "ios: $out/GridwalkFFI.xcframework and $out/Generated/*.swift"
