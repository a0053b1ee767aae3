//! Who may read and write which document: roles, scopes and the rules between them.
//!
//! Documents carry a scope (`community`, `grid:<id>` or `building:<id>`) and a kind. The rules
//! live here once, independent of the hub's storage, so the SQLite and (later) PostgreSQL stores
//! enforce exactly the same thing.

use std::fmt;

use gridwalk_core::docs::DocKind;

use crate::error::{Error, Result};

/// Longest id (document, resident, device, grid, building) the server accepts.
pub const MAX_ID_LEN: usize = 128;

/// What a device's holder does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// 网格员: reads and writes the documents of their grids.
    GridWorker,
    /// 网格长: like a grid worker, usually over several grids.
    GridLeader,
    /// 楼长: files events for their buildings; never sees households.
    BuildingLead,
    /// The community office: reads and writes everything.
    Office,
}

impl Role {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::GridLeader => "grid_leader",
            Role::BuildingLead => "building_lead",
            Role::Office => "office",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "grid_worker" => Role::GridWorker,
            "grid_leader" => Role::GridLeader,
            "building_lead" => Role::BuildingLead,
            "office" => Role::Office,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated device (or the office replica) and what it may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Device id.
    pub device_id: String,
    /// Person the device belongs to (personal: never logged).
    pub person_id: String,
    /// Role.
    pub role: Role,
    /// Grid ids (grid roles) or building ids (building leads); empty for the office.
    pub scope: Vec<String>,
    /// The Automerge actor id bound to the device (lowercase hex).
    pub actor: String,
    /// The server's own office replica (bound in process by `HubStore::bind_office`; no token
    /// reaches it): it records each console step in the name and role of the staff member who
    /// took it, which no phone may do.
    pub office_replica: bool,
}

/// A document's place, as far as access is concerned.
#[derive(Debug, Clone, Copy)]
pub struct DocPlace<'a> {
    /// Kind name.
    pub kind: &'a str,
    /// Scope.
    pub scope: &'a str,
    /// Building, when the record has one.
    pub building_id: Option<&'a str>,
}

impl Principal {
    fn in_scope(&self, id: &str) -> bool {
        self.scope.iter().any(|s| s == id)
    }

    /// An event filed for one of a building lead's buildings (events live in the grid's scope
    /// and name their building).
    fn is_own_building_event(&self, d: DocPlace<'_>) -> bool {
        d.kind == DocKind::Event.as_str()
            && (d.building_id.is_some_and(|b| self.in_scope(b))
                || d.scope
                    .strip_prefix("building:")
                    .is_some_and(|b| self.in_scope(b)))
    }

    /// Whether the device may receive this document.
    pub fn can_read(&self, d: DocPlace<'_>) -> bool {
        if self.role == Role::Office || d.scope == "community" {
            return true;
        }
        match self.role {
            Role::GridWorker | Role::GridLeader => d
                .scope
                .strip_prefix("grid:")
                .is_some_and(|g| self.in_scope(g)),
            // Building leads see the events of their buildings, never households.
            Role::BuildingLead => self.is_own_building_event(d),
            Role::Office => true,
        }
    }

    /// Every scope a document this device may read can have, when a list can say it: a store
    /// may then leave other scopes out of a pull before [`Principal::can_read`] decides. `None`
    /// for the office (everything) and building leads (their events sit in grid scopes and are
    /// told apart by building).
    pub fn readable_scopes(&self) -> Option<Vec<String>> {
        match self.role {
            Role::GridWorker | Role::GridLeader => Some(
                std::iter::once("community".to_string())
                    .chain(self.scope.iter().map(|g| format!("grid:{g}")))
                    .collect(),
            ),
            Role::BuildingLead | Role::Office => None,
        }
    }

    /// Whether the device may change this document (or create it there).
    pub fn can_write(&self, d: DocPlace<'_>) -> bool {
        match self.role {
            Role::Office => true,
            // Community documents (roster, forms, configuration) are the office's alone.
            _ if d.scope == "community" => false,
            Role::GridWorker | Role::GridLeader => {
                (d.kind == DocKind::Household.as_str() || d.kind == DocKind::Event.as_str())
                    && d.scope
                        .strip_prefix("grid:")
                        .is_some_and(|g| self.in_scope(g))
            }
            Role::BuildingLead => self.is_own_building_event(d),
        }
    }
}

/// Checks an id's shape: non-empty, short, no control characters.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(Error::BadRequest(format!("invalid {what} id")));
    }
    Ok(())
}

/// Checks a claimed document place: a known kind and a well-formed scope.
pub fn check_place(d: DocPlace<'_>) -> Result<()> {
    if DocKind::parse(d.kind).is_none() {
        return Err(Error::BadRequest("unknown document kind".into()));
    }
    let ok = d.scope == "community"
        || d.scope
            .strip_prefix("grid:")
            .or_else(|| d.scope.strip_prefix("building:"))
            .is_some_and(|id| check_id("scope", id).is_ok());
    if !ok {
        return Err(Error::BadRequest("invalid document scope".into()));
    }
    if let Some(b) = d.building_id {
        check_id("building", b)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, scope: &[&str]) -> Principal {
        Principal {
            device_id: "d".into(),
            person_id: "p".into(),
            role,
            scope: scope.iter().map(|s| s.to_string()).collect(),
            actor: "aa".into(),
            office_replica: false,
        }
    }

    fn place<'a>(kind: &'a str, scope: &'a str, b: Option<&'a str>) -> DocPlace<'a> {
        DocPlace {
            kind,
            scope,
            building_id: b,
        }
    }

    #[test]
    fn grid_workers_read_and_write_only_their_grids() {
        let w = who(Role::GridWorker, &["g1"]);
        assert!(w.can_read(place("household", "grid:g1", Some("b1"))));
        assert!(w.can_write(place("household", "grid:g1", Some("b1"))));
        assert!(!w.can_read(place("household", "grid:g2", Some("b3"))));
        assert!(!w.can_write(place("household", "grid:g2", None)));
        assert!(!w.can_read(place("household", "grid:g10", None)));
        assert!(w.can_read(place("roster", "community", None)));
        assert!(!w.can_write(place("roster", "community", None)));
        assert!(!w.can_write(place("config", "grid:g1", None)));
    }

    #[test]
    fn building_leads_never_see_households() {
        let b = who(Role::BuildingLead, &["b1"]);
        assert!(!b.can_read(place("household", "grid:g1", Some("b1"))));
        assert!(!b.can_write(place("household", "building:b1", Some("b1"))));
        assert!(b.can_read(place("event", "building:b1", None)));
        assert!(b.can_read(place("event", "grid:g1", Some("b1"))));
        assert!(b.can_write(place("event", "grid:g1", Some("b1"))));
        assert!(!b.can_write(place("event", "grid:g1", Some("b2"))));
        assert!(!b.can_read(place("event", "grid:g1", Some("b2"))));
        assert!(!b.can_write(place("event", "building:b2", None)));
        assert!(b.can_read(place("config", "community", None)));
    }

    #[test]
    fn readable_scopes_hold_every_scope_a_device_may_read() {
        let places = [
            place("household", "grid:g1", Some("b1")),
            place("household", "grid:g2", None),
            place("event", "grid:g1", Some("b1")),
            place("event", "building:b1", None),
            place("roster", "community", None),
            place("config", "grid:g1", None),
        ];
        for p in [
            who(Role::GridWorker, &["g1"]),
            who(Role::GridLeader, &["g1", "g2"]),
            who(Role::BuildingLead, &["b1"]),
            who(Role::Office, &[]),
        ] {
            let Some(scopes) = p.readable_scopes() else {
                continue;
            };
            for d in places {
                if p.can_read(d) {
                    assert!(scopes.iter().any(|s| s == d.scope), "{:?} {d:?}", p.role);
                }
            }
        }
        assert_eq!(
            who(Role::GridWorker, &["g1"]).readable_scopes(),
            Some(vec!["community".to_string(), "grid:g1".to_string()])
        );
    }

    #[test]
    fn the_office_reads_and_writes_everything() {
        let o = who(Role::Office, &[]);
        assert!(o.can_write(place("roster", "community", None)));
        assert!(o.can_read(place("household", "grid:g9", None)));
    }
}
