//! Turning queued operations into writes for the target: key translation
//! through the identity map, `references` translation, and the rule that an
//! operation whose reference is not mapped yet waits rather than writes a
//! wrong id.

use crate::model::{Direction, OpKind, Operation, SqlValue};
use crate::mssql::statements::TableShape;

/// How a table's key reaches the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// The key is ordinary data: written as is, upserts are idempotent.
    Explicit,
    /// An IDENTITY key copied with `SET IDENTITY_INSERT ... ON`.
    ForceId,
    /// An IDENTITY key each server assigns itself; ctsync maps them.
    Mapped,
}

/// What the applier knows of one target table.
#[derive(Debug, Clone)]
pub struct ApplyTable {
    /// Configured name (`dbo.Users`), the id map's name.
    pub name: String,
    /// The target's shape; columns in configured order (same as the source's).
    pub shape: TableShape,
    pub mode: KeyMode,
    /// (position in `shape.columns`, referenced table's configured name).
    pub references: Vec<(usize, String)>,
}

/// Looks up identity mappings: the key on the other side for `key` of `table`
/// as seen in the direction's source.
pub trait IdMaps {
    type Error;
    fn translate(
        &self,
        table: &str,
        direction: Direction,
        key: &[SqlValue],
    ) -> Result<Option<Vec<SqlValue>>, Self::Error>;
}

/// One write, already translated to the target's keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Insert-or-update by explicit key (`Explicit` and `ForceId` tables).
    ///
    /// `insert`: the source saw the row created (CHANGETABLE said I), so
    /// the target most likely lacks it and a plain INSERT is tried first
    /// (see [`super::write::write`]).
    Upsert { row: Vec<SqlValue>, insert: bool },
    /// Insert into a `Mapped` table; the target assigns the key, returned by
    /// OUTPUT INSERTED and recorded as the mapping of `source_key`.
    InsertMapped {
        source_key: Vec<SqlValue>,
        row: Vec<SqlValue>,
    },
    /// Update of the row with the (translated) key.
    Update {
        key: Vec<SqlValue>,
        row: Vec<SqlValue>,
    },
    /// Delete of the row with the (translated) key; for `Mapped` tables the
    /// mapping of `source_key` is dropped with it.
    Delete {
        key: Vec<SqlValue>,
        source_key: Option<Vec<SqlValue>>,
    },
    /// Nothing to write (a delete of a row the target never had).
    Nothing,
}

/// An operation planned for writing.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub seq: u64,
    pub action: Action,
}

/// Why planning stopped before the end of the operations given.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// Operation `seq` references `table` by a key that has no mapping yet
    /// (its insert is still queued in that table's queue): wait.
    Reference {
        seq: u64,
        column: String,
        table: String,
        /// The referenced key (in the source's key space).
        value: SqlValue,
    },
    /// Operation `seq` needs the mapping an earlier step of this batch will
    /// create (an insert) or drop (a delete; the key's next insert is a new
    /// row with a new id): it goes in the next batch, when the map is
    /// written.
    SameBatchMapping { seq: u64 },
}

/// Plans `ops` (queue order) for `table` in `direction`. Stops at the first
/// operation that cannot be written yet; the steps before it are safe to
/// write as one batch.
pub fn plan<M: IdMaps>(
    ops: &[(u64, Operation)],
    table: &ApplyTable,
    direction: Direction,
    maps: &M,
) -> Result<(Vec<Step>, Option<Hold>), M::Error> {
    let mut steps = Vec::with_capacity(ops.len());
    // Source keys whose mapping an earlier step of this batch creates or
    // drops (the map read here does not show it yet).
    let mut pending: Vec<&[SqlValue]> = Vec::new();
    for (seq, op) in ops {
        let seq = *seq;
        if table.mode == KeyMode::Mapped && pending.iter().any(|k| *k == op.key.as_slice()) {
            return Ok((steps, Some(Hold::SameBatchMapping { seq })));
        }
        let row = match &op.row {
            Some(row) => match translate_references(row, table, direction, maps)? {
                Ok(row) => Some(row),
                Err((column, referenced, value)) => {
                    return Ok((
                        steps,
                        Some(Hold::Reference {
                            seq,
                            column,
                            table: referenced,
                            value,
                        }),
                    ))
                }
            },
            None => None,
        };
        let action = match (table.mode, op.kind, row) {
            (KeyMode::Explicit | KeyMode::ForceId, OpKind::Delete, _)
            | (KeyMode::Explicit | KeyMode::ForceId, _, None) => {
                // A key column that is a reference holds the referenced
                // row's id on the source; the target row has its own.
                match translate_key(&op.key, table, direction, maps)? {
                    Ok(key) => Action::Delete {
                        key,
                        source_key: None,
                    },
                    Err((column, referenced, value)) => {
                        return Ok((
                            steps,
                            Some(Hold::Reference {
                                seq,
                                column,
                                table: referenced,
                                value,
                            }),
                        ))
                    }
                }
            }
            (KeyMode::Explicit | KeyMode::ForceId, kind, Some(row)) => Action::Upsert {
                row,
                insert: kind == OpKind::Insert,
            },
            (KeyMode::Mapped, kind, row) => {
                let mapped = maps.translate(&table.name, direction, &op.key)?;
                match (kind, row, mapped) {
                    (OpKind::Delete, _, Some(key)) | (_, None, Some(key)) => {
                        pending.push(&op.key);
                        Action::Delete {
                            key,
                            source_key: Some(op.key.clone()),
                        }
                    }
                    (OpKind::Delete, _, None) | (_, None, None) => Action::Nothing,
                    // An insert or update of a key we already mapped (an
                    // insert re-captured after a restart, or an update):
                    // update the mapped row.
                    (_, Some(row), Some(key)) => Action::Update { key, row },
                    // An update of a key never seen: the row is new to the
                    // target (its insert was folded into this update).
                    (_, Some(row), None) => {
                        pending.push(&op.key);
                        Action::InsertMapped {
                            source_key: op.key.clone(),
                            row,
                        }
                    }
                }
            }
        };
        steps.push(Step { seq, action });
    }
    Ok((steps, None))
}

/// Replaces every key column of an `Explicit`/`ForceId` table that is a
/// `references` column by the referenced table's key on the target (`key`
/// in `shape.key` order). `Ok(Err((column, table)))` when a value has no
/// mapping.
#[allow(clippy::type_complexity)]
fn translate_key<M: IdMaps>(
    key: &[SqlValue],
    table: &ApplyTable,
    direction: Direction,
    maps: &M,
) -> Result<Result<Vec<SqlValue>, (String, String, SqlValue)>, M::Error> {
    if table.references.is_empty() {
        return Ok(Ok(key.to_vec()));
    }
    let mut out = key.to_vec();
    for (i, pos) in table.shape.key_positions().into_iter().enumerate() {
        let Some((_, referenced)) = table.references.iter().find(|(p, _)| *p == pos) else {
            continue;
        };
        let Some(value) = key.get(i) else { continue };
        if matches!(value, SqlValue::Null) {
            continue;
        }
        match maps.translate(referenced, direction, std::slice::from_ref(value))? {
            Some(mut k) if k.len() == 1 => out[i] = k.remove(0),
            _ => {
                let column = table
                    .shape
                    .columns
                    .get(pos)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                return Ok(Err((column, referenced.clone(), value.clone())));
            }
        }
    }
    Ok(Ok(out))
}

/// Replaces every `references` column of `row` by the referenced table's key
/// on the target. `Ok(Err((column, table)))` when a value has no mapping yet.
#[allow(clippy::type_complexity)]
fn translate_references<M: IdMaps>(
    row: &[SqlValue],
    table: &ApplyTable,
    direction: Direction,
    maps: &M,
) -> Result<Result<Vec<SqlValue>, (String, String, SqlValue)>, M::Error> {
    let mut out = row.to_vec();
    for (pos, referenced) in &table.references {
        let Some(value) = row.get(*pos) else { continue };
        if matches!(value, SqlValue::Null) {
            continue;
        }
        match maps.translate(referenced, direction, std::slice::from_ref(value))? {
            Some(mut key) if key.len() == 1 => out[*pos] = key.remove(0),
            _ => {
                let column = table
                    .shape
                    .columns
                    .get(*pos)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                return Ok(Err((column, referenced.clone(), value.clone())));
            }
        }
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mssql::ident::TableName;
    use crate::mssql::statements::ColumnShape;
    type MapEntry = ((String, Vec<SqlValue>), Vec<SqlValue>);
    struct Maps(Vec<MapEntry>);
    impl IdMaps for Maps {
        type Error = ();
        fn translate(
            &self,
            table: &str,
            _d: Direction,
            key: &[SqlValue],
        ) -> Result<Option<Vec<SqlValue>>, ()> {
            Ok(self
                .0
                .iter()
                .find(|((t, k), _)| t == table && k.as_slice() == key)
                .map(|(_, v)| v.clone()))
        }
    }

    fn orders() -> ApplyTable {
        ApplyTable {
            name: "dbo.Orders".into(),
            shape: TableShape {
                name: TableName::new("dbo", "Orders").unwrap(),
                key: vec!["id".into()],
                columns: ["id", "user_id"]
                    .iter()
                    .map(|n| ColumnShape {
                        name: n.to_string(),
                        data_type: "int".into(),
                        identity: *n == "id",
                    })
                    .collect(),
            },
            mode: KeyMode::Mapped,
            references: vec![(1, "dbo.Users".into())],
        }
    }

    fn op(kind: OpKind, id: i32, user: i32) -> Operation {
        Operation {
            kind,
            key: vec![SqlValue::I32(id)],
            row: Some(vec![SqlValue::I32(id), SqlValue::I32(user)]),
            version: 1,
            changed: None,
        }
    }

    #[test]
    fn unmapped_reference_waits_and_mapped_one_is_translated() {
        let m = vec![(
            ("dbo.Users".to_string(), vec![SqlValue::I32(7)]),
            vec![SqlValue::I32(70)],
        )];
        let maps = Maps(m);
        let ops = vec![(1, op(OpKind::Insert, 1, 7)), (2, op(OpKind::Insert, 2, 8))];
        let (steps, hold) = plan(&ops, &orders(), Direction::AToB, &maps).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(
            steps[0].action,
            Action::InsertMapped {
                source_key: vec![SqlValue::I32(1)],
                row: vec![SqlValue::I32(1), SqlValue::I32(70)]
            }
        );
        assert_eq!(
            hold,
            Some(Hold::Reference {
                seq: 2,
                column: "user_id".into(),
                table: "dbo.Users".into(),
                value: SqlValue::I32(8),
            })
        );
    }

    #[test]
    fn second_change_of_a_key_inserted_in_the_batch_waits_for_the_next_batch() {
        let m = vec![(
            ("dbo.Users".to_string(), vec![SqlValue::I32(7)]),
            vec![SqlValue::I32(70)],
        )];
        let ops = vec![(1, op(OpKind::Insert, 1, 7)), (2, op(OpKind::Update, 1, 7))];
        let (steps, hold) = plan(&ops, &orders(), Direction::AToB, &Maps(m)).unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(hold, Some(Hold::SameBatchMapping { seq: 2 }));
    }

    /// A delete then an insert of the same source key (an identity value
    /// used again, or `verify --repair` re-inserting a row the target lost):
    /// the insert must not update the mapped row the delete removes.
    #[test]
    fn a_key_deleted_in_the_batch_waits_for_the_next_batch() {
        let m = vec![
            (
                ("dbo.Users".to_string(), vec![SqlValue::I32(7)]),
                vec![SqlValue::I32(70)],
            ),
            (
                ("dbo.Orders".to_string(), vec![SqlValue::I32(1)]),
                vec![SqlValue::I32(100)],
            ),
        ];
        let ops = vec![(1, op(OpKind::Delete, 1, 7)), (2, op(OpKind::Insert, 1, 7))];
        let (steps, hold) = plan(&ops, &orders(), Direction::AToB, &Maps(m)).unwrap();
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert!(
            matches!(steps[0].action, Action::Delete { .. }),
            "{steps:?}"
        );
        assert_eq!(hold, Some(Hold::SameBatchMapping { seq: 2 }));
    }

    #[test]
    fn delete_of_an_unmapped_row_writes_nothing() {
        let ops = vec![(
            1,
            Operation {
                kind: OpKind::Delete,
                key: vec![SqlValue::I32(3)],
                row: None,
                version: 2,
                changed: None,
            },
        )];
        let (steps, hold) = plan(&ops, &orders(), Direction::AToB, &Maps(Vec::new())).unwrap();
        assert_eq!(steps[0].action, Action::Nothing);
        assert!(hold.is_none());
    }
}
