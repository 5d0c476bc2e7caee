//! The OUTPUT clause of INSERT, UPDATE, DELETE and MERGE
//! (docs/t-sql/queries/output-clause-transact-sql.md): INSERTED.*, DELETED.*
//! columns and $action, returned as a result set or inserted INTO a table
//! (see `table_vars`).

use super::catalog::{ColumnInfo, TableInfo};
use super::ResultSink;
use crate::error::{self, SqlError};
use crate::sql::ast::{Expr, Output, SelectItem};
use crate::value::{ColumnMeta, Len, SqlType, Value};

/// The OUTPUT clause: which value each output column takes.
#[derive(Debug, Clone)]
pub enum OutItem {
    Inserted(usize),
    Deleted(usize),
    Action,
    /// Another expression (a MERGE source column, ...): its position in the
    /// statement's fetched row.
    Extra(usize),
}

/// Translates an OUTPUT expression that is not INSERTED/DELETED into the
/// statement's SELECT; returns its position in the fetched row and its type.
pub type ExtraFn<'a> = dyn FnMut(&Expr) -> Result<(usize, Option<SqlType>), SqlError> + 'a;

pub struct OutputSpec {
    pub items: Vec<OutItem>,
    pub meta: Vec<ColumnMeta>,
    pub rows: Vec<Vec<Value>>,
    /// `OUTPUT ... INTO target [(columns)]`: where the rows go instead of
    /// the client (see `Session::finish_output`).
    pub into: Option<(crate::sql::ast::ObjectName, Vec<String>)>,
}

impl OutputSpec {
    pub fn with_extra(
        output: &Output,
        t: &TableInfo,
        extra: &mut ExtraFn<'_>,
    ) -> Result<Self, SqlError> {
        let mut items = Vec::new();
        let mut meta = Vec::new();
        let col_meta = |c: &ColumnInfo, name: &str| ColumnMeta {
            name: name.to_string(),
            ty: c.ty,
            nullable: c.nullable,
            identity: c.identity.is_some(),
            computed: c.computed.is_some(),
            timestamp: c.rowversion,
            table: None,
        };
        for item in &output.items {
            match item {
                SelectItem::QualifiedWildcard(q) => {
                    let inserted = q.eq_ignore_ascii_case("inserted");
                    for (i, c) in t.columns.iter().enumerate() {
                        items.push(if inserted {
                            OutItem::Inserted(i)
                        } else {
                            OutItem::Deleted(i)
                        });
                        meta.push(col_meta(c, &c.name));
                    }
                }
                SelectItem::Expr {
                    expr: Expr::Column(parts),
                    alias,
                } if parts.len() == 2
                    && (parts[0].eq_ignore_ascii_case("inserted")
                        || parts[0].eq_ignore_ascii_case("deleted")) =>
                {
                    let inserted = parts[0].eq_ignore_ascii_case("inserted");
                    let i = t
                        .column_index(&parts[1])
                        .ok_or_else(|| error::invalid_column(&parts[1]))?;
                    items.push(if inserted {
                        OutItem::Inserted(i)
                    } else {
                        OutItem::Deleted(i)
                    });
                    meta.push(col_meta(
                        &t.columns[i],
                        alias.as_deref().unwrap_or(&t.columns[i].name),
                    ));
                }
                SelectItem::Expr {
                    expr: Expr::MergeAction,
                    alias,
                } => {
                    items.push(OutItem::Action);
                    meta.push(ColumnMeta {
                        name: alias.clone().unwrap_or_else(|| "$action".into()),
                        ty: SqlType::NVarChar(Len::N(10)),
                        nullable: false,
                        identity: false,
                        computed: false,
                        timestamp: false,
                        table: None,
                    });
                }
                SelectItem::Expr { expr, alias } => {
                    let (pos, ty) = extra(expr)?;
                    items.push(OutItem::Extra(pos));
                    let name = match (alias, expr) {
                        (Some(a), _) => a.clone(),
                        (None, Expr::Column(p)) => p.last().cloned().unwrap_or_default(),
                        _ => String::new(),
                    };
                    meta.push(ColumnMeta {
                        name,
                        ty: ty.unwrap_or(SqlType::Int),
                        nullable: true,
                        identity: false,
                        computed: false,
                        timestamp: false,
                        table: None,
                    });
                }
                _ => {
                    return Err(crate::engine::unsupported(
                        "OUTPUT items other than INSERTED.*, DELETED.* and $action",
                    ))
                }
            }
        }
        Ok(OutputSpec {
            items,
            meta,
            rows: Vec::new(),
            into: output.into.clone(),
        })
    }

    /// `fetched`: the statement's row, for [`OutItem::Extra`] items.
    pub fn push_with(
        &mut self,
        inserted: Option<&[Value]>,
        deleted: Option<&[Value]>,
        action: &str,
        fetched: Option<&[Value]>,
    ) {
        let row = self
            .items
            .iter()
            .map(|it| match it {
                OutItem::Inserted(i) => inserted
                    .and_then(|r| r.get(*i))
                    .cloned()
                    .unwrap_or(Value::Null),
                OutItem::Deleted(i) => deleted
                    .and_then(|r| r.get(*i))
                    .cloned()
                    .unwrap_or(Value::Null),
                OutItem::Action => Value::String(action.to_string()),
                OutItem::Extra(p) => fetched
                    .and_then(|r| r.get(*p))
                    .cloned()
                    .unwrap_or(Value::Null),
            })
            .collect();
        self.rows.push(row);
    }

    pub fn emit(&self, out: &mut dyn ResultSink) {
        out.columns(&self.meta);
        for r in &self.rows {
            out.row(r);
        }
    }
}
