//! Residents' personal data at rest and after deletion, checked byte by byte.
//!
//! Canary values are written as a resident's personal fields. Every file a store wrote is then
//! searched: the raw (encrypted) files must never contain a canary; a plaintext export of the
//! database (what someone holding the store key could read) must not contain it either, since
//! personal fields are sealed under the resident's key; and after the resident is deleted that
//! key must be gone from every replica's plaintext export, so the sealed history is unreadable.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use gridwalk_core::*;

const KEY: [u8; 32] = [0x33; 32];
const CANARY_NAME: &str = "金丝雀测试名";
const CANARY_PHONE: &str = "13912348765";
const CANARY_ID: &str = "11010519491231002X";

fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The database decrypted to a plaintext SQLite file (logical content only), as bytes.
fn plaintext_export(db_path: &Path, out: &Path) -> Vec<u8> {
    let db = db::Db::open(db_path, &KEY).unwrap();
    db.with_writer(|c| {
        c.execute_batch(&format!(
            "ATTACH DATABASE '{}' AS plaintext KEY ''; SELECT sqlcipher_export('plaintext'); DETACH DATABASE plaintext;",
            out.display()
        ))?;
        Ok(())
    })
    .unwrap();
    std::fs::read(out).unwrap()
}

fn resident() -> ResidentInput {
    ResidentInput {
        name: CANARY_NAME.into(),
        gender: Gender::Female,
        birth_date: Some("1949-12-31".into()),
        id_number: Some(CANARY_ID.into()),
        phone: Some(CANARY_PHONE.into()),
        ethnicity: Some("回族".into()),
        relation: "户主".into(),
        employment: None,
        working_away: false,
        work_place: None,
        moved_in: None,
    }
}

#[test]
fn personal_data_is_never_in_the_files_and_deletion_destroys_the_key_on_every_replica() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let scratch = tempfile::tempdir().unwrap();
    let paths: Vec<_> = dirs.iter().map(|d| d.path().join("store.db")).collect();
    let office = Store::open(&paths[0], &KEY, "office").unwrap();
    office.load_roster(&demo::roster(1, 24, 1)).unwrap();
    let r = office.add_resident("h-b1-1-101", &resident()).unwrap();
    let a = Store::open(&paths[1], &KEY, "worker-1").unwrap();
    let b = Store::open(&paths[2], &KEY, "worker-2").unwrap();
    a.import(&office.export_all().unwrap()).unwrap();
    b.import(&office.export_all().unwrap()).unwrap();
    assert_eq!(b.reveal(&r.id, "phone", "核对").unwrap(), CANARY_PHONE);
    let resident_key = office
        .export_all()
        .unwrap()
        .keys
        .into_iter()
        .find(|k| k.resident_id == r.id)
        .unwrap()
        .key;

    for (i, dir) in dirs.iter().enumerate() {
        for f in files_in(dir.path()) {
            for canary in [
                CANARY_NAME.as_bytes(),
                CANARY_PHONE.as_bytes(),
                CANARY_ID.as_bytes(),
                &resident_key,
            ] {
                assert!(
                    !contains(&f, canary),
                    "replica {i}: a raw file holds personal data or a key"
                );
            }
        }
        let export = plaintext_export(&paths[i], &scratch.path().join(format!("before-{i}.db")));
        // The ID number lives only sealed in the documents. (Name and phone are also in the
        // search projection, which the at-rest encryption covers and deletion removes.)
        assert!(
            !contains(&export, CANARY_ID.as_bytes()),
            "sealed in the documents, even with the store key"
        );
        assert!(
            contains(&export, &resident_key),
            "before deletion the replica holds the resident key"
        );
    }

    // Deleted on device A; the deletion reaches the office and device B at their next exchange.
    a.delete_resident(&r.id).unwrap();
    office.import(&a.export_all().unwrap()).unwrap();
    b.import(&office.export_all().unwrap()).unwrap();
    for s in [&office, &a, &b] {
        assert!(matches!(
            s.reveal(&r.id, "phone", "核对"),
            Err(Error::Erased(_))
        ));
        assert!(s.search_residents(CANARY_NAME).unwrap().is_empty());
    }
    drop((office, a, b));
    for (i, dir) in dirs.iter().enumerate() {
        let export = plaintext_export(&paths[i], &scratch.path().join(format!("after-{i}.db")));
        assert!(
            !contains(&export, &resident_key),
            "replica {i} still holds the resident key"
        );
        assert!(
            !contains(&export, CANARY_NAME.as_bytes()),
            "replica {i} still holds the name in a projection"
        );
        assert!(
            !contains(&export, CANARY_PHONE.as_bytes()),
            "replica {i} still holds the phone in a projection"
        );
        for f in files_in(dir.path()) {
            assert!(!contains(&f, &resident_key));
            assert!(!contains(&f, CANARY_PHONE.as_bytes()));
        }
    }
}
