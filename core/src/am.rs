//! Small typed readers and writers over Automerge maps.
//!
//! Documents come from other devices, so every read tolerates a missing or mistyped value
//! (it reads as absent) instead of failing the whole record.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};

use crate::error::Result;

/// The scalar at `obj[key]` (the winning value), if any.
pub(crate) fn scalar<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<ScalarValue> {
    match doc.get(obj, key) {
        Ok(Some((Value::Scalar(v), _))) => Some(v.into_owned()),
        _ => None,
    }
}

/// A string value.
pub(crate) fn str<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<String> {
    match scalar(doc, obj, key)? {
        ScalarValue::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

/// A string value, or "" when absent.
pub(crate) fn string<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> String {
    str(doc, obj, key).unwrap_or_default()
}

/// An integer or timestamp value.
pub(crate) fn int<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<i64> {
    match scalar(doc, obj, key)? {
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Some(i),
        ScalarValue::Uint(u) => i64::try_from(u).ok(),
        _ => None,
    }
}

/// A float value (integers are accepted).
pub(crate) fn float<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<f64> {
    match scalar(doc, obj, key)? {
        ScalarValue::F64(f) => Some(f),
        ScalarValue::Int(i) => Some(i as f64),
        _ => None,
    }
}

/// A boolean value.
pub(crate) fn boolean<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<bool> {
    match scalar(doc, obj, key)? {
        ScalarValue::Boolean(b) => Some(b),
        _ => None,
    }
}

/// A bytes value.
pub(crate) fn bytes<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Option<Vec<u8>> {
    match scalar(doc, obj, key)? {
        ScalarValue::Bytes(b) => Some(b),
        _ => None,
    }
}

/// The nested object at `obj[key]` if it is of type `ty`.
pub(crate) fn object<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(t), id))) if t == ty => Some(id),
        _ => None,
    }
}

/// The keys of a map object.
pub(crate) fn keys<D: ReadDoc>(doc: &D, obj: &ObjId) -> Vec<String> {
    doc.keys(obj).collect()
}

/// The strings of a list object at `obj[key]`.
pub(crate) fn str_list<D: ReadDoc>(doc: &D, obj: &ObjId, key: &str) -> Vec<String> {
    let Some(list) = object(doc, obj, key, ObjType::List) else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .filter_map(|i| match doc.get(&list, i) {
            Ok(Some((Value::Scalar(v), _))) => match v.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Returns the map at `obj[key]`, creating it when missing.
pub(crate) fn ensure_map<T: Transactable + ReadDoc>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
) -> Result<ObjId> {
    match object(tx, obj, key, ObjType::Map) {
        Some(id) => Ok(id),
        None => Ok(tx.put_object(obj, key, ObjType::Map)?),
    }
}

/// Writes a list of strings as a fresh list at `obj[key]`.
pub(crate) fn put_str_list<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    items: &[String],
) -> Result<()> {
    let list = tx.put_object(obj, key, ObjType::List)?;
    for (i, s) in items.iter().enumerate() {
        tx.insert(&list, i, s.as_str())?;
    }
    Ok(())
}

/// Writes `value` only when it differs from what is there, so a save that changes nothing
/// makes no operation (and no spurious conflict with someone else's edit).
pub(crate) fn put_if_changed<T: Transactable + ReadDoc, V: Into<ScalarValue>>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    value: V,
) -> Result<()> {
    let value = value.into();
    let conflicted = tx.get_all(obj, key).map(|v| v.len() > 1).unwrap_or(false);
    if conflicted || scalar(tx, obj, key).as_ref() != Some(&value) {
        tx.put(obj, key, value)?;
    }
    Ok(())
}
