//! gridwalk-ffi: thin uniffi layer over gridwalk-core.
