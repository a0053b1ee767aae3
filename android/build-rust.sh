#!/usr/bin/env bash
# Builds libgridwalk_ffi.so for the Android ABIs with cargo-ndk into app/build/rustJniLibs/<abi>/.
# Called by the app's `cargoNdk` Gradle task; can be run by hand. Needs the Android NDK
# (ANDROID_NDK_HOME) and `cargo install cargo-ndk`. Not run in CI (no NDK there).
#   android/build-rust.sh [debug|release]
set -euo pipefail
profile="${1:-release}"
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/app/build/rustJniLibs"

command -v cargo-ndk >/dev/null || { echo "cargo-ndk missing: cargo install cargo-ndk" >&2; exit 1; }
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android >/dev/null

flags=(--locked)
[ "$profile" = release ] && flags+=(--release)
cd "$here/.."
# minSdk 26 (Android 8.0): the platform level the NDK links against.
cargo ndk --platform 26 -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$out" \
  build -p gridwalk-ffi "${flags[@]}"
echo "android: libgridwalk_ffi.so for arm64-v8a, armeabi-v7a, x86_64 in $out"
