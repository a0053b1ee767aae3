//! gridwalk-server: the community office server.
fn main() {}
