//! [`visible_fields`]: which fields of a visit form to show while the worker types, decided by
//! the core's [`gridwalk_core::FormDefinition::visible_fields`] so the screens and validation
//! never disagree.

use std::collections::HashMap;

use gridwalk_core::{AnswerValue, FormDefinition};

use crate::error::GridError;

/// The ids of the fields to show, in form order, for the answers given so far: exactly the
/// fields `GridStore.recordVisit` treats as relevant. A field is shown when its condition holds
/// on the answers of the fields shown before it; an answer kept for a hidden field counts as not
/// given. Send only the answers of shown fields when saving.
///
/// `form_json` is a definition as `GridStore.formJson` / `currentFormJson` return it; a
/// malformed one fails with [`GridError::InvalidInput`] on field `form`. No store and no I/O:
/// for a form of tens of fields a call takes well under a millisecond (reading the JSON is most
/// of it), so call it on every answer change, on the UI thread if need be.
#[uniffi::export]
pub fn visible_fields(
    form_json: String,
    answers: HashMap<String, AnswerValue>,
) -> Result<Vec<String>, GridError> {
    Ok(FormDefinition::from_json(&form_json)?.visible_fields(&answers.into_iter().collect()))
}
