//! Which documents reference a photo: the server asks its office replica before it hands a
//! photo to a device, so a photo is readable exactly where a record holding it is.

use crate::error::Result;
use crate::store::Store;

/// A document whose records reference a photo, with the place the access rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoHolder {
    /// Document id.
    pub doc_id: String,
    /// Kind name (`household`, `event`, …).
    pub kind: String,
    /// Scope (`community`, `grid:<id>`, `building:<id>`).
    pub scope: String,
    /// Building, when the document has one.
    pub building_id: Option<String>,
}

impl Store {
    /// The documents referencing the photo `hash` (SHA-256, lowercase hex), from the
    /// `photo_refs` projection; empty when no record here references it.
    pub fn docs_referencing_photo(&self, hash: &str) -> Result<Vec<PhotoHolder>> {
        self.db.read(|c| {
            let mut stmt = c.prepare(
                "SELECT d.id, d.kind, d.scope, d.building_id
                   FROM photo_refs r JOIN docs d ON d.id = r.doc_id
                  WHERE r.hash = ?1 ORDER BY d.id",
            )?;
            let rows = stmt.query_map([hash], |r| {
                Ok(PhotoHolder {
                    doc_id: r.get(0)?,
                    kind: r.get(1)?,
                    scope: r.get(2)?,
                    building_id: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::demo::{self, Rng};
    use crate::store::Store;

    #[test]
    fn a_visit_with_a_photo_makes_its_household_a_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db"), &[1; 32], "p").unwrap();
        store.load_roster(&demo::roster(1, 2, 2026)).unwrap();
        let h = store.grid_households("g1").unwrap()[0].id.clone();
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.extend_from_slice(&[42; 100]);
        let hash = store.add_photo(&jpeg).unwrap();
        assert!(store.docs_referencing_photo(&hash).unwrap().is_empty());
        let mut v = demo::visit(
            &mut Rng::new(1),
            &h,
            chrono::Utc::now().timestamp_millis() - 3_600_000,
        );
        v.photos = vec![hash.clone()];
        store.record_visit(&v).unwrap();
        let holders = store.docs_referencing_photo(&hash).unwrap();
        assert_eq!(holders.len(), 1);
        assert_eq!(holders[0].doc_id, h);
        assert_eq!(holders[0].kind, "household");
        assert_eq!(holders[0].scope, "grid:g1");
    }
}
