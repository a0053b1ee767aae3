//! A scripted phone for the console's end-to-end test: each call opens the device's store in a
//! directory, does one thing the way the app would (enrol with a code read from the console,
//! report a snap with a photo, sync, handle, rate) and prints one JSON line.
//!
//! ```text
//! console_device enrol  --dir D --name N --server URL --code CODE
//! console_device report --dir D --name N --grid G --building B --description TEXT
//! console_device state  --dir D --name N --event ID
//! console_device handle --dir D --name N --event ID --note TEXT
//! console_device rate   --dir D --name N --event ID --rating 1..5
//! ```
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use gridwalk_core::Store;
use gridwalk_core::event_store::Identity;
use gridwalk_core::events::{Action, EventInput, EventPlace, EventSource, StepInput};
use gridwalk_core::http::{EnrolRequest, Enrolment, HttpTransport};

const KEY: [u8; 32] = [42; 32];

struct Device {
    store: Store,
    transport: HttpTransport,
}

fn flags() -> (String, HashMap<String, String>) {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().expect("command");
    let mut f = HashMap::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        f.insert(k.trim_start_matches("--").to_string(), v);
    }
    (cmd, f)
}

fn paths(f: &HashMap<String, String>) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(&f["dir"]);
    std::fs::create_dir_all(&dir).unwrap();
    let name = &f["name"];
    (
        dir.join(format!("{name}.db")),
        dir.join(format!("{name}.json")),
    )
}

fn open(f: &HashMap<String, String>) -> Device {
    let (db, cred) = paths(f);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(cred).unwrap()).unwrap();
    let person = saved["person_id"].as_str().unwrap();
    let store = Store::open(&db, &KEY, person).unwrap();
    let transport = HttpTransport::new(
        saved["server"].as_str().unwrap(),
        saved["token"].as_str().unwrap(),
        None,
    )
    .unwrap();
    Device { store, transport }
}

async fn sync(d: &Device) {
    gridwalk_core::sync::sync(&d.store, &d.transport, &|_| {}, &AtomicBool::new(false))
        .await
        .unwrap();
    let cancel = AtomicBool::new(false);
    gridwalk_core::photo_sync::upload_photos(&d.store, &d.transport, &cancel)
        .await
        .unwrap();
}

/// A camera-like photo: a 640×480 gradient PNG (the store turns it into a JPEG).
fn photo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 2) as u8, ((x + y) / 5) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn state(d: &Device, id: &str) -> String {
    d.store.event(id).unwrap().event.state.as_str().to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (cmd, f) = flags();
    match cmd.as_str() {
        "enrol" => {
            let (db, cred) = paths(&f);
            let name = &f["name"];
            let store = Store::open(&db, &KEY, name).unwrap();
            let server = f["server"].clone();
            let e: Enrolment = gridwalk_core::http::enrol(
                &server,
                None,
                &EnrolRequest {
                    code: f["code"].clone(),
                    device_id: store.device_id().to_string(),
                    actor_id: store.actor_id(),
                },
            )
            .await
            .unwrap();
            drop(store);
            let saved = serde_json::json!({
                "server": server, "token": e.token, "person_id": e.person_id,
                "role": e.role, "scope": e.scope,
            });
            std::fs::write(&cred, serde_json::to_vec(&saved).unwrap()).unwrap();
            let d = open(&f);
            d.store
                .set_identity(&Identity {
                    role: e.role.clone(),
                    scope: e.scope.clone(),
                })
                .unwrap();
            sync(&d).await;
            println!(
                "{}",
                serde_json::json!({"person_id": e.person_id, "role": e.role})
            );
        }
        "report" => {
            let d = open(&f);
            sync(&d).await;
            let p = d.store.add_camera_photo(&photo()).unwrap();
            let e = d
                .store
                .report_event(&EventInput {
                    grid_id: f["grid"].clone(),
                    source: EventSource::Snap,
                    category: "facility".into(),
                    place: EventPlace {
                        building_id: Some(f["building"].clone()),
                        unit: Some("1".into()),
                        text: "1单元楼道".into(),
                        lat: None,
                        lon: None,
                    },
                    description: f["description"].clone(),
                    photos: vec![p.hash],
                    household_id: None,
                    parties: Vec::new(),
                })
                .unwrap();
            sync(&d).await;
            println!(
                "{}",
                serde_json::json!({"event": e.id, "state": state(&d, &e.id)})
            );
        }
        "state" => {
            let d = open(&f);
            sync(&d).await;
            let id = &f["event"];
            println!(
                "{}",
                serde_json::json!({"event": id, "state": state(&d, id)})
            );
        }
        "handle" | "rate" => {
            let d = open(&f);
            sync(&d).await;
            let id = &f["event"];
            let (action, step) = if cmd == "handle" {
                (
                    Action::Handle,
                    StepInput {
                        note: f.get("note").cloned().unwrap_or_default(),
                        ..StepInput::default()
                    },
                )
            } else {
                (
                    Action::Feedback,
                    StepInput {
                        rating: Some(f["rating"].parse().unwrap()),
                        note: "处理及时".into(),
                        ..StepInput::default()
                    },
                )
            };
            d.store.step_event(id, action, &step).unwrap();
            sync(&d).await;
            println!(
                "{}",
                serde_json::json!({"event": id, "state": state(&d, id)})
            );
        }
        other => panic!("unknown command {other}"),
    }
}
