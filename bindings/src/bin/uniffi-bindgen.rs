//! The uniffi generator, built from the workspace's pinned uniffi so the generated Kotlin and
//! Swift always match the scaffolding in the library (see `scripts/test-bindings.sh`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
