//! The visit policy as it crosses the FFI.
//!
//! The core keeps its per-tag intervals in a `BTreeMap` (deterministic order in documents and
//! tests); uniffi carries only `HashMap`, so this mirror converts both ways without any rule of
//! its own.

use std::collections::HashMap;

use gridwalk_core::config;

/// How often households are visited: days between visits, by care tag.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitPolicy {
    /// Days between visits for households without a care tag.
    pub default_days: u32,
    /// Days between visits per care tag code (`elderly_alone`, `dibao`…); a household takes the
    /// shortest of its tags'.
    pub tag_days: HashMap<String, u32>,
}

impl From<config::VisitPolicy> for VisitPolicy {
    fn from(p: config::VisitPolicy) -> Self {
        VisitPolicy {
            default_days: p.default_days,
            tag_days: p.tag_days.into_iter().collect(),
        }
    }
}

impl From<VisitPolicy> for config::VisitPolicy {
    fn from(p: VisitPolicy) -> Self {
        config::VisitPolicy {
            default_days: p.default_days,
            tag_days: p.tag_days.into_iter().collect(),
        }
    }
}
