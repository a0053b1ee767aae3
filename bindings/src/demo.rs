//! The core's deterministic demo community, for the shells' demo mode and the binding tests.

use gridwalk_core::RosterInput;

/// A demo roster: `grids` grids of `households_per_grid` invented households, the same for the
/// same `seed`. Load it with [`crate::GridStore::load_roster`].
#[uniffi::export]
pub fn demo_roster(grids: u32, households_per_grid: u32, seed: u64) -> RosterInput {
    gridwalk_core::demo::roster(grids as usize, households_per_grid as usize, seed)
}
