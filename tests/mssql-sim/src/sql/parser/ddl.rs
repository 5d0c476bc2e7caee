//! CREATE / DROP / TRUNCATE (ALTER is in `alter.rs`).
//!
//! docs/t-sql/statements/{create-table,create-index,create-schema,drop-table,drop-index}-transact-sql.md.

use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{
    ColumnDef, ComputedDef, ConstraintKind, CreateIndex, CreateTable, DataType, ReferentialAction,
    Statement, TableConstraint,
};
use crate::sql::lexer::Sym;

/// Error 111: CREATE SCHEMA (like CREATE VIEW/PROCEDURE) must start its batch.
/// docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md
pub fn must_be_first(what: &str) -> SqlError {
    SqlError::new(
        111,
        15,
        1,
        format!("'{what}' must be the first statement in a query batch."),
    )
}

impl<'a> Parser<'a> {
    pub(crate) fn create(&mut self) -> Result<Statement, SqlError> {
        let create = self.advance();
        match self.word_upper().as_deref() {
            Some("TABLE") => {
                self.advance();
                self.create_table()
            }
            Some("SCHEMA") => {
                self.advance();
                if self.toks.first().map(|t| t.start) != Some(create.start) {
                    let mut e = must_be_first("CREATE SCHEMA");
                    e.line = create.line;
                    return Err(e);
                }
                let name = self.ident()?;
                if self.eat_kw("AUTHORIZATION") {
                    self.ident()?;
                }
                // `CREATE SCHEMA s CREATE TABLE t ...` creates s.t: schema
                // elements are part of the statement (create-schema-transact-sql.md).
                if ["CREATE", "GRANT", "DENY", "REVOKE"]
                    .iter()
                    .any(|k| self.is_kw(k))
                {
                    return Err(self.unsupported("schema elements inside CREATE SCHEMA"));
                }
                Ok(Statement::CreateSchema(name))
            }
            Some("UNIQUE" | "CLUSTERED" | "NONCLUSTERED" | "INDEX") => self.create_index(),
            Some("TRIGGER") => {
                self.advance();
                self.create_trigger(create, false, false)
            }
            Some("OR") if self.is_kw_at(1, "ALTER") && self.is_kw_at(2, "TRIGGER") => {
                self.advance();
                self.advance();
                self.advance();
                self.create_trigger(create, false, true)
            }
            Some(other) => {
                let what = format!("CREATE {other}");
                Err(self.unsupported(&what))
            }
            None => Err(self.error_here()),
        }
    }

    /// After `CREATE TABLE`.
    fn create_table(&mut self) -> Result<Statement, SqlError> {
        let name = self.object_name()?;
        if self.is_kw("AS") {
            return Err(self.unsupported("CREATE TABLE AS (graph/FileTable)"));
        }
        let (columns, constraints) = self.table_definition()?;
        self.storage_options()?;
        Ok(Statement::CreateTable(Box::new(CreateTable {
            name,
            columns,
            constraints,
        })))
    }

    /// `(column_def | table_constraint, ...)` of CREATE TABLE and of a
    /// table variable's declaration.
    pub(crate) fn table_definition(
        &mut self,
    ) -> Result<(Vec<ColumnDef>, Vec<TableConstraint>), SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut columns = Vec::new();
        let mut constraints = Vec::new();
        loop {
            if self.is_table_constraint_start() {
                constraints.push(self.table_constraint()?);
            } else if self.is_kw("INDEX") {
                return Err(self.unsupported("inline INDEX in CREATE TABLE"));
            } else {
                columns.push(self.column_def()?);
            }
            if !self.eat_sym(Sym::Comma) {
                break;
            }
            // A trailing comma before `)` is accepted by SQL Server.
            if self.is_sym(Sym::RParen) {
                break;
            }
        }
        self.expect_sym(Sym::RParen)?;
        Ok((columns, constraints))
    }

    /// `ON [PRIMARY]`, `WITH (...)`, `TEXTIMAGE_ON x`: storage details, ignored.
    fn storage_options(&mut self) -> Result<(), SqlError> {
        loop {
            if self.is_kw("WITH") && self.is_sym_at(1, Sym::LParen) {
                self.advance();
                self.skip_parens()?;
            } else if self.eat_kw("ON") || self.eat_kw("TEXTIMAGE_ON") {
                // Filegroup or partition scheme (`ps(col)`).
                if self.eat_kw("DEFAULT") {
                    continue;
                }
                self.ident()?;
                if self.is_sym(Sym::LParen) {
                    self.skip_parens()?;
                }
            } else {
                return Ok(());
            }
        }
    }

    pub(crate) fn is_table_constraint_start(&self) -> bool {
        self.is_kw("CONSTRAINT")
            || self.is_kw("PRIMARY")
            || self.is_kw("UNIQUE")
            || self.is_kw("FOREIGN")
            || self.is_kw("CHECK")
    }

    /// `name type [COLLATE c] [options...]`
    pub(crate) fn column_def(&mut self) -> Result<ColumnDef, SqlError> {
        let name = self.ident()?;
        let computed = if self.eat_kw("AS") {
            // docs/t-sql/statements/create-table-transact-sql.md:
            // `column_name AS computed_column_expression [PERSISTED [NOT NULL]]`.
            let start = self.peek().start;
            let expr = self.expr()?;
            let text = self.src[start..self.prev_end.max(start)].to_string();
            Some(ComputedDef {
                expr,
                persisted: false,
                text,
            })
        } else {
            None
        };
        let data_type = match computed {
            Some(_) => DataType {
                name: String::new(),
                args: Vec::new(),
            },
            // `CREATE TABLE t (k int, timestamp)`: a timestamp column named
            // timestamp (docs/t-sql/data-types/rowversion-transact-sql.md).
            None if name.eq_ignore_ascii_case("timestamp")
                && (self.is_sym(Sym::Comma) || self.is_sym(Sym::RParen)) =>
            {
                DataType {
                    name: "timestamp".into(),
                    args: Vec::new(),
                }
            }
            None => self.data_type()?,
        };
        let mut col = ColumnDef {
            name,
            data_type,
            nullable: None,
            identity: None,
            default: None,
            constraints: Vec::new(),
            collation: None,
            computed,
            sparse: false,
        };
        while let Some(w) = self.word_upper() {
            match w.as_str() {
                "PERSISTED" if col.computed.is_some() => {
                    self.advance();
                    if let Some(c) = col.computed.as_mut() {
                        c.persisted = true;
                    }
                }
                "COLLATE" => {
                    self.advance();
                    col.collation = Some(self.ident()?);
                }
                "NULL" => {
                    self.advance();
                    col.nullable = Some(true);
                }
                "NOT" if self.is_kw_at(1, "NULL") => {
                    self.advance();
                    self.advance();
                    col.nullable = Some(false);
                }
                "NOT" if self.is_kw_at(1, "FOR") => {
                    // NOT FOR REPLICATION: replication is not modelled.
                    self.advance();
                    self.advance();
                    self.expect_kw("REPLICATION")?;
                }
                "IDENTITY" => {
                    self.advance();
                    col.identity = Some(if self.eat_sym(Sym::LParen) {
                        let seed = self.signed_integer()?;
                        self.expect_sym(Sym::Comma)?;
                        let inc = self.signed_integer()?;
                        self.expect_sym(Sym::RParen)?;
                        (seed, inc)
                    } else {
                        (1, 1)
                    });
                }
                "ROWGUIDCOL" => {
                    self.advance();
                }
                "SPARSE" => {
                    self.advance();
                    col.sparse = true;
                }
                "COLUMN_SET" => {
                    return Err(
                        self.unsupported("COLUMN_SET FOR ALL_SPARSE_COLUMNS (sparse column sets)")
                    );
                }
                "CONSTRAINT" | "DEFAULT" | "PRIMARY" | "UNIQUE" | "REFERENCES" | "FOREIGN"
                | "CHECK" => {
                    let cname = if self.eat_kw("CONSTRAINT") {
                        Some(self.ident()?)
                    } else {
                        None
                    };
                    if self.eat_kw("DEFAULT") {
                        col.default = Some(self.expr()?);
                        if self.is_kw("WITH") && self.is_kw_at(1, "VALUES") {
                            self.advance();
                            self.advance();
                        }
                        continue;
                    }
                    let kind = self.column_constraint(&col.name)?;
                    col.constraints.push(TableConstraint { name: cname, kind });
                }
                _ => break,
            }
        }
        Ok(col)
    }

    /// An optionally negative integer literal.
    fn signed_integer(&mut self) -> Result<i64, SqlError> {
        let neg = self.eat_sym(Sym::Minus);
        let n = self.integer()?;
        Ok(if neg { -n } else { n })
    }

    /// A constraint written on a column: its column list is that column.
    fn column_constraint(&mut self, column: &str) -> Result<ConstraintKind, SqlError> {
        let t = *self.peek();
        match self.word_upper().as_deref() {
            Some("PRIMARY") => {
                self.advance();
                self.expect_kw("KEY")?;
                let clustered = self.clustered_opt(true);
                self.index_options()?;
                Ok(ConstraintKind::PrimaryKey {
                    columns: vec![column.to_string()],
                    clustered,
                })
            }
            Some("UNIQUE") => {
                self.advance();
                self.clustered_opt(false);
                self.index_options()?;
                Ok(ConstraintKind::Unique {
                    columns: vec![column.to_string()],
                })
            }
            Some("FOREIGN" | "REFERENCES") => {
                if self.eat_kw("FOREIGN") {
                    self.expect_kw("KEY")?;
                }
                self.expect_kw("REFERENCES")?;
                self.references(vec![column.to_string()])
            }
            Some("CHECK") => {
                self.advance();
                self.check_body()
            }
            _ => Err(self.error_at(&t)),
        }
    }

    /// `[CLUSTERED|NONCLUSTERED]`, returning whether clustered.
    fn clustered_opt(&mut self, default: bool) -> bool {
        if self.eat_kw("CLUSTERED") {
            true
        } else if self.eat_kw("NONCLUSTERED") {
            false
        } else {
            default
        }
    }

    /// `WITH (FILLFACTOR = n, ...)` / `ON filegroup` after a key constraint.
    fn index_options(&mut self) -> Result<(), SqlError> {
        if self.is_kw("WITH") && self.is_sym_at(1, Sym::LParen) {
            self.advance();
            self.skip_parens()?;
        }
        if self.is_kw("ON") && (self.is_ident_at(1) || self.is_kw_at(1, "PRIMARY")) {
            // `ON [PRIMARY]` filegroup, but not `ON DELETE` of a foreign key.
            if !(self.is_kw_at(1, "DELETE") || self.is_kw_at(1, "UPDATE")) {
                self.advance();
                self.advance();
            }
        }
        Ok(())
    }

    /// `CHECK [NOT FOR REPLICATION] (expr)`
    fn check_body(&mut self) -> Result<ConstraintKind, SqlError> {
        if self.eat_kw("NOT") {
            self.expect_kw("FOR")?;
            self.expect_kw("REPLICATION")?;
        }
        self.expect_sym(Sym::LParen)?;
        let e = self.condition()?;
        self.expect_sym(Sym::RParen)?;
        Ok(ConstraintKind::Check(e))
    }

    /// After `REFERENCES`: `t [(cols)] [ON DELETE act] [ON UPDATE act]`.
    fn references(&mut self, columns: Vec<String>) -> Result<ConstraintKind, SqlError> {
        let ref_table = self.object_name()?;
        let ref_columns = if self.is_sym(Sym::LParen) {
            self.paren_ident_list()?
        } else {
            Vec::new()
        };
        let mut on_delete = ReferentialAction::NoAction;
        let mut on_update = ReferentialAction::NoAction;
        while self.is_kw("ON") && (self.is_kw_at(1, "DELETE") || self.is_kw_at(1, "UPDATE")) {
            self.advance();
            let is_delete = self.eat_kw("DELETE");
            if !is_delete {
                self.advance();
            }
            let action = if self.eat_kw("CASCADE") {
                ReferentialAction::Cascade
            } else if self.eat_kw("NO") {
                self.expect_kw("ACTION")?;
                ReferentialAction::NoAction
            } else if self.eat_kw("SET") {
                if self.eat_kw("NULL") {
                    ReferentialAction::SetNull
                } else {
                    self.expect_kw("DEFAULT")?;
                    ReferentialAction::SetDefault
                }
            } else {
                return Err(self.error_here());
            };
            if is_delete {
                on_delete = action;
            } else {
                on_update = action;
            }
        }
        if self.is_kw("NOT") && self.is_kw_at(1, "FOR") {
            self.advance();
            self.advance();
            self.expect_kw("REPLICATION")?;
        }
        Ok(ConstraintKind::ForeignKey {
            columns,
            ref_table,
            ref_columns,
            on_delete,
            on_update,
        })
    }

    /// `[CONSTRAINT name] PRIMARY KEY ... | UNIQUE ... | FOREIGN KEY ... | CHECK ...`
    /// (table level, also ALTER TABLE ADD).
    pub(crate) fn table_constraint(&mut self) -> Result<TableConstraint, SqlError> {
        let name = if self.eat_kw("CONSTRAINT") {
            Some(self.ident()?)
        } else {
            None
        };
        let t = *self.peek();
        let kind = match self.word_upper().as_deref() {
            Some("PRIMARY") => {
                self.advance();
                self.expect_kw("KEY")?;
                let clustered = self.clustered_opt(true);
                let columns = self.key_column_list()?;
                self.index_options()?;
                ConstraintKind::PrimaryKey { columns, clustered }
            }
            Some("UNIQUE") => {
                self.advance();
                self.clustered_opt(false);
                let columns = self.key_column_list()?;
                self.index_options()?;
                ConstraintKind::Unique { columns }
            }
            Some("FOREIGN") => {
                self.advance();
                self.expect_kw("KEY")?;
                let columns = self.paren_ident_list()?;
                self.expect_kw("REFERENCES")?;
                self.references(columns)?
            }
            Some("CHECK") => {
                self.advance();
                self.check_body()?
            }
            Some("DEFAULT") => {
                self.advance();
                let expr = self.expr()?;
                self.expect_kw("FOR")?;
                let column = self.ident()?;
                ConstraintKind::Default { column, expr }
            }
            _ => return Err(self.error_at(&t)),
        };
        Ok(TableConstraint { name, kind })
    }

    /// `(a [ASC|DESC], b ...)` of a key; the order is not kept.
    fn key_column_list(&mut self) -> Result<Vec<String>, SqlError> {
        Ok(self
            .ordered_column_list()?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }

    fn ordered_column_list(&mut self) -> Result<Vec<(String, bool)>, SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut out = Vec::new();
        loop {
            let c = self.ident()?;
            let desc = if self.eat_kw("DESC") {
                true
            } else {
                self.eat_kw("ASC");
                false
            };
            out.push((c, desc));
            if !self.eat_sym(Sym::Comma) {
                break;
            }
        }
        self.expect_sym(Sym::RParen)?;
        Ok(out)
    }

    /// `CREATE [UNIQUE] [CLUSTERED|NONCLUSTERED] INDEX name ON t (cols) [INCLUDE (...)] [WHERE ...] [WITH (...)] [ON fg]`
    fn create_index(&mut self) -> Result<Statement, SqlError> {
        let unique = self.eat_kw("UNIQUE");
        self.clustered_opt(false);
        if self.is_kw("COLUMNSTORE") {
            return Err(self.unsupported("columnstore indexes"));
        }
        self.expect_kw("INDEX")?;
        let name = self.ident()?;
        self.expect_kw("ON")?;
        let table = self.object_name()?;
        let columns = self.ordered_column_list()?;
        let include = if self.eat_kw("INCLUDE") {
            self.paren_ident_list()?
        } else {
            Vec::new()
        };
        let filter = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        self.storage_options()?;
        Ok(Statement::CreateIndex(Box::new(CreateIndex {
            unique,
            name,
            table,
            columns,
            include,
            filter,
        })))
    }

    pub(crate) fn drop(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let t = *self.peek();
        match self.word_upper().as_deref() {
            Some("TABLE") => {
                self.advance();
                let if_exists = self.if_exists();
                let mut names = vec![self.object_name()?];
                while self.eat_sym(Sym::Comma) {
                    names.push(self.object_name()?);
                }
                Ok(Statement::DropTable { names, if_exists })
            }
            Some("INDEX") => {
                self.advance();
                let if_exists = self.if_exists();
                let first = self.object_name()?;
                if self.eat_kw("ON") {
                    if first.parts.len() != 1 {
                        return Err(self.error_at(&t));
                    }
                    let table = self.object_name()?;
                    return Ok(Statement::DropIndex {
                        name: first.name().to_string(),
                        table,
                        if_exists,
                    });
                }
                // Legacy `DROP INDEX t.ix` / `DROP INDEX s.t.ix`.
                let mut parts = first.parts;
                if parts.len() < 2 {
                    return Err(self.error_here());
                }
                let name = parts.pop().unwrap_or_default();
                Ok(Statement::DropIndex {
                    name,
                    table: crate::sql::ast::ObjectName { parts },
                    if_exists,
                })
            }
            Some("TRIGGER") => {
                self.advance();
                let if_exists = self.if_exists();
                let mut names = vec![self.object_name()?];
                while self.eat_sym(Sym::Comma) {
                    names.push(self.object_name()?);
                }
                if self.is_kw("ON") {
                    return Err(self.unsupported("DDL triggers (DROP TRIGGER ... ON)"));
                }
                Ok(Statement::DropTrigger { names, if_exists })
            }
            Some("SCHEMA") => {
                self.advance();
                if self.if_exists() {
                    return Err(self.unsupported("DROP SCHEMA IF EXISTS"));
                }
                Ok(Statement::DropSchema(self.ident()?))
            }
            Some(other) => {
                let what = format!("DROP {other}");
                Err(self.unsupported(&what))
            }
            None => Err(self.error_at(&t)),
        }
    }

    pub(crate) fn if_exists(&mut self) -> bool {
        if self.is_kw("IF") && self.is_kw_at(1, "EXISTS") {
            self.advance();
            self.advance();
            true
        } else {
            false
        }
    }
}
