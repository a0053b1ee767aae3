//! Office configuration documents: form definitions and the visit policy.
//!
//! Configuration is data the office edits and every phone receives by sync, so a new form (say a
//! fire-safety check) needs no new app. A store without the documents falls back to the built-in
//! defaults (the four-questions form, monthly visits), so a fresh phone works before its first sync.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};

use crate::am;
use crate::error::{Error, Result};
use crate::form::FormDefinition;
use crate::model::CareTag;

/// Document id of a form's definitions.
pub fn form_doc_id(form_id: &str) -> String {
    format!("form:{form_id}")
}

/// Document id of the visit policy.
pub const VISIT_POLICY_DOC: &str = "config:visit_policy";

/// Writes a form version into a form document. Versions are immutable once published: visits
/// keep pointing at the version they were recorded with.
pub(crate) fn put_form<T: Transactable + ReadDoc>(tx: &mut T, def: &FormDefinition) -> Result<()> {
    am::put_if_changed(tx, &ROOT, "kind", "form")?;
    am::put_if_changed(tx, &ROOT, "form_id", def.id.as_str())?;
    let versions = am::ensure_map(tx, &ROOT, "versions")?;
    let key = def.version.to_string();
    if let Some(existing) = am::str(tx, &versions, &key) {
        if FormDefinition::from_json(&existing).ok().as_ref() != Some(def) {
            return Err(Error::field(
                "version",
                "invalid",
                format!(
                    "form {} version {} is already published with other content; publish a new version",
                    def.id, def.version
                ),
            ));
        }
        return Ok(());
    }
    tx.put(&versions, key.as_str(), def.to_json())?;
    Ok(())
}

/// Reads one version of a form from its document.
pub(crate) fn read_form(doc: &Automerge, version: u32) -> Option<FormDefinition> {
    let versions = am::object(doc, &ROOT, "versions", ObjType::Map)?;
    FormDefinition::from_json(&am::str(doc, &versions, &version.to_string())?).ok()
}

/// The newest version number in a form document.
pub(crate) fn latest_form_version(doc: &Automerge) -> Option<u32> {
    let versions = am::object(doc, &ROOT, "versions", ObjType::Map)?;
    am::keys(doc, &versions)
        .iter()
        .filter_map(|k| k.parse().ok())
        .max()
}

/// How often households are visited: days between visits by care tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitPolicy {
    /// Days between visits for households without a care tag.
    pub default_days: u32,
    /// Days between visits per care tag; a household takes the shortest of its tags.
    pub tag_days: BTreeMap<String, u32>,
}

impl Default for VisitPolicy {
    /// Elderly living alone and the severely ill weekly; children, disabled and 五保 fortnightly;
    /// everyone else monthly.
    fn default() -> Self {
        let tag_days = [
            (CareTag::ElderlyAlone, 7),
            (CareTag::SevereIllness, 7),
            (CareTag::LeftBehindChild, 14),
            (CareTag::Disabled, 14),
            (CareTag::Wubao, 14),
            (CareTag::Dibao, 30),
            (CareTag::Other, 30),
        ]
        .into_iter()
        .map(|(t, d)| (t.as_str().to_string(), d))
        .collect();
        VisitPolicy {
            default_days: 30,
            tag_days,
        }
    }
}

impl VisitPolicy {
    /// Days between visits for a household with these tags.
    pub fn interval_days(&self, tags: &[CareTag]) -> u32 {
        tags.iter()
            .filter_map(|t| self.tag_days.get(t.as_str()).copied())
            .min()
            .unwrap_or(self.default_days)
    }

    /// Checks the policy makes sense.
    pub fn check(&self) -> Result<()> {
        let ok = |d: u32| (1..=366).contains(&d);
        if !ok(self.default_days) {
            return Err(Error::field(
                "default_days",
                "out_of_range",
                "访问间隔应为 1–366 天",
            ));
        }
        for (tag, d) in &self.tag_days {
            if CareTag::parse(tag).is_none() {
                return Err(Error::field(
                    format!("tag_days.{tag}"),
                    "unknown_field",
                    "未知的关爱标签",
                ));
            }
            if !ok(*d) {
                return Err(Error::field(
                    format!("tag_days.{tag}"),
                    "out_of_range",
                    "访问间隔应为 1–366 天",
                ));
            }
        }
        Ok(())
    }
}

/// Writes the visit policy (only the numbers that changed).
pub(crate) fn put_visit_policy<T: Transactable + ReadDoc>(
    tx: &mut T,
    p: &VisitPolicy,
) -> Result<()> {
    am::put_if_changed(tx, &ROOT, "kind", "visit_policy")?;
    am::put_if_changed(tx, &ROOT, "default_days", i64::from(p.default_days))?;
    let tags = am::ensure_map(tx, &ROOT, "tag_days")?;
    for k in am::keys(tx, &tags) {
        if !p.tag_days.contains_key(&k) {
            tx.delete(&tags, k.as_str())?;
        }
    }
    for (k, d) in &p.tag_days {
        am::put_if_changed(tx, &tags, k, i64::from(*d))?;
    }
    Ok(())
}

/// Reads the visit policy from its document.
pub(crate) fn read_visit_policy(doc: &Automerge) -> VisitPolicy {
    let mut p = VisitPolicy::default();
    if let Some(d) = am::int(doc, &ROOT, "default_days").and_then(|d| u32::try_from(d).ok()) {
        p.default_days = d;
    }
    if let Some(tags) = am::object(doc, &ROOT, "tag_days", ObjType::Map) {
        p.tag_days = am::keys(doc, &tags)
            .into_iter()
            .filter_map(|k| {
                let d = am::int(doc, &tags, &k).and_then(|d| u32::try_from(d).ok())?;
                Some((k, d))
            })
            .collect();
    }
    p
}
