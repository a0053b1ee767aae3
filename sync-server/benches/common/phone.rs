//! A grid worker's phone enrolled on a running server, shared by the benchmarks.

use std::path::Path;

use gridwalk_core::Store;
use gridwalk_core::http::{EnrolRequest, HttpTransport};
use gridwalk_server::policy::Role;
use gridwalk_server::{Server, protocol};

/// The benchmarks' store key.
pub const KEY: [u8; 32] = [4; 32];

/// Opens a store for `name` under `dir` and enrols it as a grid worker of `scope`.
pub async fn phone(
    server: &Server,
    dir: &Path,
    name: &str,
    scope: &[&str],
) -> (Store, HttpTransport) {
    let store = Store::open(&dir.join(format!("{name}.db")), &KEY, name).unwrap();
    let scope: Vec<String> = scope.iter().map(|s| s.to_string()).collect();
    let code = protocol::create_code(
        server.hub().as_ref(),
        name,
        Role::GridWorker,
        &scope,
        3_600_000,
    )
    .unwrap();
    let base = server.base_url();
    let e = gridwalk_core::http::enrol(
        &base,
        None,
        &EnrolRequest {
            code,
            device_id: store.device_id().into(),
            actor_id: store.actor_id(),
        },
    )
    .await
    .unwrap();
    let t = HttpTransport::new(&base, &e.token, None).unwrap();
    (store, t)
}
