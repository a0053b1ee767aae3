//! Concurrent edits of the same field: found, shown and resolved.
//!
//! Automerge keeps every concurrently written value of a map key and picks a deterministic winner.
//! This module walks a household document for keys holding more than one value and reports each
//! with who wrote it and when (from the change that made it: the commit message carries the person,
//! the change time the instant). Resolving writes the chosen value again, which supersedes all the
//! concurrent ones on every replica once it syncs.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::error::{Error, Result};
use crate::household::{Keyring, SEALED_FIELDS};
use crate::model::{Conflict, ConflictValue};
use crate::validate;

/// How deep below the root conflicts are looked for: root fields, and fields of records kept in
/// the top-level maps (residents/<id>/phone). Visit answers are written once and never edited.
const MAX_DEPTH: usize = 2;

/// Number of conflicted fields in the document.
pub(crate) fn count(doc: &Automerge) -> usize {
    let mut n = 0;
    walk(doc, &ROOT, &mut Vec::new(), &mut |_, _, _| n += 1);
    n
}

/// Every conflicted field, with its competing values (winner first).
pub(crate) fn list(doc: &Automerge, keys: &Keyring) -> Vec<Conflict> {
    let mut out = Vec::new();
    walk(doc, &ROOT, &mut Vec::new(), &mut |path, obj, key| {
        let winner = doc.get(obj, key).ok().flatten().map(|(_, id)| id);
        let mut values: Vec<(bool, ConflictValue)> = doc
            .get_all(obj, key)
            .unwrap_or_default()
            .into_iter()
            .map(|(v, id)| {
                let (by, at_ms) = doc
                    .hash_for_opid(&id)
                    .and_then(|h| doc.get_change_meta_by_hash(&h))
                    .map(|m| {
                        (
                            m.message.map(|s| s.to_string()).unwrap_or_default(),
                            m.timestamp,
                        )
                    })
                    .unwrap_or_default();
                let value = display(&v, path, keys);
                (
                    Some(&id) == winner.as_ref(),
                    ConflictValue { value, by, at_ms },
                )
            })
            .collect();
        values.sort_by_key(|(w, _)| !*w);
        out.push(Conflict {
            path: path.join("/"),
            values: values.into_iter().map(|(_, v)| v).collect(),
        });
    });
    out
}

/// Keeps the competing value at `choice` (index into [`Conflict::values`]) as the field's value.
pub(crate) fn resolve<T: Transactable + ReadDoc>(
    tx: &mut T,
    path: &str,
    choice: usize,
) -> Result<()> {
    let parts: Vec<&str> = path.split('/').collect();
    let (key, parents) = parts
        .split_last()
        .ok_or_else(|| Error::field("path", "invalid", "empty conflict path"))?;
    let mut obj = ROOT;
    for p in parents {
        obj = match tx.get(&obj, *p) {
            Ok(Some((Value::Object(ObjType::Map), id))) => id,
            _ => return Err(Error::not_found("conflict", path)),
        };
    }
    let winner = tx.get(&obj, *key)?.map(|(_, id)| id);
    let mut all = tx.get_all(&obj, *key)?;
    if all.len() < 2 {
        return Err(Error::not_found("conflict", path));
    }
    // Same order as `list`: the winner first.
    all.sort_by_key(|(_, id)| Some(id) != winner.as_ref());
    let (value, _) = all
        .get(choice)
        .ok_or_else(|| Error::field("choice", "out_of_range", "no such value in this conflict"))?;
    let value: ScalarValue = match value {
        Value::Scalar(s) => s.clone().into_owned(),
        Value::Object(_) => {
            return Err(Error::field(
                "path",
                "invalid",
                "only field values can be chosen",
            ));
        }
    };
    tx.put(&obj, *key, value)?;
    Ok(())
}

fn walk(
    doc: &Automerge,
    obj: &ObjId,
    path: &mut Vec<String>,
    f: &mut dyn FnMut(&[String], &ObjId, &str),
) {
    for key in doc.keys(obj) {
        let all = doc.get_all(obj, key.as_str()).unwrap_or_default();
        if all.len() > 1 && all.iter().all(|(v, _)| matches!(v, Value::Scalar(_))) {
            path.push(key.clone());
            f(path, obj, &key);
            path.pop();
        } else if path.len() < MAX_DEPTH
            && let Some((Value::Object(ObjType::Map), child)) = all.last().cloned()
        {
            path.push(key.clone());
            walk(doc, &child, path, f);
            path.pop();
        }
    }
}

fn display(v: &Value<'_>, path: &[String], keys: &Keyring) -> String {
    let Value::Scalar(s) = v else {
        return String::new();
    };
    match s.as_ref() {
        ScalarValue::Bytes(b) => {
            // residents/<id>/<sealed field>
            let (Some(field), Some(rid)) = (path.last(), path.get(1)) else {
                return "(加密)".into();
            };
            if !SEALED_FIELDS.contains(&field.as_str()) {
                return "(数据)".into();
            }
            match keys
                .get(rid.as_str())
                .and_then(|k| k.open(rid, field, b).ok())
            {
                Some(plain) if field == "id_number" => validate::mask_id_number(&plain),
                Some(plain) if field == "phone" => validate::mask_phone(&plain),
                Some(plain) => plain,
                None => "(已删除)".into(),
            }
        }
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::F64(f) => f.to_string(),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => i.to_string(),
        ScalarValue::Uint(u) => u.to_string(),
        ScalarValue::Boolean(b) => if *b { "是" } else { "否" }.into(),
        _ => String::new(),
    }
}
