//! ALTER TABLE and ALTER DATABASE.
//!
//! docs/t-sql/statements/{alter-table,alter-database-transact-sql-set-options}-transact-sql.md
//! and docs/relational-databases/track-changes/enable-and-disable-change-tracking-sql-server.md.

use super::Parser;
use crate::error::SqlError;
use crate::sql::ast::{AlterDatabaseAction, AlterTableAction, RetentionUnit, Statement};
use crate::sql::lexer::Sym;

impl<'a> Parser<'a> {
    pub(crate) fn alter(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.eat_kw("TABLE") {
            return self.alter_table();
        }
        if self.eat_kw("DATABASE") {
            return self.alter_database();
        }
        if self.is_kw("TRIGGER") {
            let start = self.toks[self.pos.saturating_sub(1)];
            self.advance();
            return self.create_trigger(start, true, false);
        }
        let what = format!("ALTER {}", self.word_upper().unwrap_or_default());
        Err(self.unsupported(&what))
    }

    fn alter_table(&mut self) -> Result<Statement, SqlError> {
        let table = self.object_name()?;
        // `WITH CHECK|NOCHECK ADD CONSTRAINT`: whether existing rows are checked.
        if self.is_kw("WITH") && (self.is_kw_at(1, "CHECK") || self.is_kw_at(1, "NOCHECK")) {
            self.advance();
            self.advance();
        }
        let t = *self.peek();
        let action = match self.word_upper().as_deref() {
            Some("ENABLE") if self.is_kw_at(1, "CHANGE_TRACKING") => {
                self.advance();
                self.advance();
                let mut track_columns_updated = false;
                if self.eat_kw("WITH") {
                    self.expect_sym(Sym::LParen)?;
                    self.expect_kw("TRACK_COLUMNS_UPDATED")?;
                    self.expect_sym(Sym::Eq)?;
                    track_columns_updated = self.on_off()?;
                    self.expect_sym(Sym::RParen)?;
                }
                AlterTableAction::EnableChangeTracking {
                    track_columns_updated,
                }
            }
            Some("DISABLE") if self.is_kw_at(1, "CHANGE_TRACKING") => {
                self.advance();
                self.advance();
                AlterTableAction::DisableChangeTracking
            }
            Some(w @ ("ENABLE" | "DISABLE")) if self.is_kw_at(1, "TRIGGER") => {
                let enable = w == "ENABLE";
                self.advance();
                self.advance();
                let names = self.trigger_names()?;
                return Ok(Statement::EnableTrigger {
                    names,
                    table,
                    enable,
                });
            }
            Some("ADD") => {
                self.advance();
                if self.is_table_constraint_start() || self.is_kw("DEFAULT") {
                    AlterTableAction::AddConstraint(self.table_constraint()?)
                } else {
                    let mut cols = vec![self.column_def()?];
                    while self.eat_sym(Sym::Comma) {
                        cols.push(self.column_def()?);
                    }
                    AlterTableAction::AddColumns(cols)
                }
            }
            Some("DROP") => {
                self.advance();
                if self.eat_kw("CONSTRAINT") {
                    if self.if_exists() {
                        return Err(self.unsupported("DROP CONSTRAINT IF EXISTS"));
                    }
                    AlterTableAction::DropConstraint(self.ident()?)
                } else if self.eat_kw("COLUMN") {
                    if self.if_exists() {
                        return Err(self.unsupported("DROP COLUMN IF EXISTS"));
                    }
                    let mut cols = vec![self.ident()?];
                    while self.eat_sym(Sym::Comma) {
                        cols.push(self.ident()?);
                    }
                    AlterTableAction::DropColumns(cols)
                } else {
                    // `DROP name`: the CONSTRAINT keyword is optional (alter-table-transact-sql.md).
                    AlterTableAction::DropConstraint(self.ident()?)
                }
            }
            Some("ALTER") => {
                self.advance();
                self.expect_kw("COLUMN")?;
                AlterTableAction::AlterColumn(Box::new(self.column_def()?))
            }
            Some(_) => return Err(self.unsupported_at(&t, "this ALTER TABLE action")),
            None => return Err(self.error_at(&t)),
        };
        Ok(Statement::AlterTable { table, action })
    }

    /// `ALTER DATABASE d|CURRENT SET option` (alter-database-transact-sql-set-options.md).
    fn alter_database(&mut self) -> Result<Statement, SqlError> {
        let database = if self.eat_kw("CURRENT") {
            None
        } else {
            Some(self.ident()?)
        };
        self.expect_kw("SET")?;
        let t = *self.peek();
        let action = match self.word_upper().as_deref() {
            Some("CHANGE_TRACKING") => {
                self.advance();
                if self.eat_sym(Sym::Eq) {
                    if self.eat_kw("OFF") {
                        AlterDatabaseAction::ChangeTrackingOff
                    } else {
                        self.expect_kw("ON")?;
                        let (retention, auto_cleanup) = if self.is_sym(Sym::LParen) {
                            self.change_tracking_options()?
                        } else {
                            (None, None)
                        };
                        AlterDatabaseAction::ChangeTrackingOn {
                            retention,
                            auto_cleanup,
                        }
                    }
                } else {
                    let (retention, auto_cleanup) = self.change_tracking_options()?;
                    AlterDatabaseAction::ChangeTrackingSet {
                        retention,
                        auto_cleanup,
                    }
                }
            }
            Some("ALLOW_SNAPSHOT_ISOLATION") => {
                self.advance();
                AlterDatabaseAction::AllowSnapshotIsolation(self.on_off()?)
            }
            Some("READ_COMMITTED_SNAPSHOT") => {
                self.advance();
                AlterDatabaseAction::ReadCommittedSnapshot(self.on_off()?)
            }
            Some(_) => return Err(self.unsupported_at(&t, "this ALTER DATABASE option")),
            None => return Err(self.error_at(&t)),
        };
        // `WITH ROLLBACK IMMEDIATE | ROLLBACK AFTER n [SECONDS] | NO_WAIT`: the
        // stand-in does not wait for other sessions, so the termination clause
        // is accepted and has no effect.
        if self.eat_kw("WITH") && !self.eat_kw("NO_WAIT") {
            self.expect_kw("ROLLBACK")?;
            if !self.eat_kw("IMMEDIATE") {
                self.expect_kw("AFTER")?;
                self.integer()?;
                self.eat_kw("SECONDS");
            }
        }
        Ok(Statement::AlterDatabase { database, action })
    }

    /// `(CHANGE_RETENTION = n DAYS|HOURS|MINUTES, AUTO_CLEANUP = ON|OFF)`, either order.
    #[allow(clippy::type_complexity)]
    fn change_tracking_options(
        &mut self,
    ) -> Result<(Option<(i64, RetentionUnit)>, Option<bool>), SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut retention = None;
        let mut auto_cleanup = None;
        loop {
            let t = *self.peek();
            match self.word_upper().as_deref() {
                Some("CHANGE_RETENTION") if retention.is_none() => {
                    self.advance();
                    self.expect_sym(Sym::Eq)?;
                    let n = self.integer()?;
                    let unit = match self.word_upper().as_deref() {
                        Some("DAYS") => RetentionUnit::Days,
                        Some("HOURS") => RetentionUnit::Hours,
                        Some("MINUTES") => RetentionUnit::Minutes,
                        _ => return Err(self.error_here()),
                    };
                    self.advance();
                    retention = Some((n, unit));
                }
                Some("AUTO_CLEANUP") if auto_cleanup.is_none() => {
                    self.advance();
                    self.expect_sym(Sym::Eq)?;
                    auto_cleanup = Some(self.on_off()?);
                }
                _ => return Err(self.error_at(&t)),
            }
            if !self.eat_sym(Sym::Comma) {
                break;
            }
        }
        self.expect_sym(Sym::RParen)?;
        Ok((retention, auto_cleanup))
    }
}
