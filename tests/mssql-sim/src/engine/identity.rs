//! IDENTITY columns: allocation (never reused after a failure or rollback),
//! explicit values under IDENTITY_INSERT, and SQL Server's rules for them
//! (docs/t-sql/statements/create-table-transact-sql-identity-property.md,
//! docs/t-sql/statements/set-identity-insert-transact-sql.md).

use super::catalog::{self, TableInfo};
use super::Session;
use crate::error::SqlError;

impl Session {
    /// Allocates the next identity value of a table (never reused, see
    /// `Engine::identity_hwm`).
    pub(super) fn next_identity(
        &self,
        object_id: i64,
        seed: i64,
        inc: i64,
    ) -> Result<i64, SqlError> {
        let mut hwm = self.engine.identity_hwm.lock();
        let last = catalog::identity_max(
            catalog::last_identity(&self.conn, object_id)?,
            hwm.get(&object_id).copied(),
            inc,
        );
        let next = match last {
            None => seed,
            Some(l) => l.checked_add(inc).ok_or_else(catalog::identity_overflow)?,
        };
        catalog::set_identity(&self.conn, object_id, next)?;
        hwm.insert(object_id, next);
        Ok(next)
    }

    /// An explicit identity value (IDENTITY_INSERT ON) moves the counter when
    /// it lies beyond it.
    pub(super) fn observe_identity(
        &self,
        object_id: i64,
        inc: i64,
        value: i64,
    ) -> Result<(), SqlError> {
        let mut hwm = self.engine.identity_hwm.lock();
        let last = catalog::identity_max(
            catalog::last_identity(&self.conn, object_id)?,
            hwm.get(&object_id).copied(),
            inc,
        );
        if catalog::identity_max(last, Some(value), inc) == Some(value) && last != Some(value) {
            catalog::set_identity(&self.conn, object_id, value)?;
            hwm.insert(object_id, value);
        }
        Ok(())
    }

    /// TRUNCATE / DROP: the table's identity starts again at its seed.
    pub(super) fn reset_identity(&self, object_id: i64) {
        self.engine.identity_hwm.lock().remove(&object_id);
    }

    /// Checks the IDENTITY_INSERT rules for an INSERT's column list.
    pub(super) fn check_identity_columns(
        &self,
        t: &TableInfo,
        cols: &[usize],
        explicit_list: bool,
    ) -> Result<(), SqlError> {
        let Some(ii) = t.identity else {
            return Ok(());
        };
        let on = matches!(&self.st.identity_insert, Some((oid, _)) if *oid == t.object_id);
        let given = cols.contains(&ii);
        // docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md (544, 545)
        if given && !on {
            return Err(SqlError::new(
                544,
                16,
                1,
                format!("Cannot insert explicit value for identity column in table '{}' when IDENTITY_INSERT is set to OFF.", t.name),
            ));
        }
        if on && !explicit_list {
            return Err(SqlError::new(
                8101,
                16,
                1,
                format!("An explicit value for the identity column in table '{}' can only be specified when a column list is used and IDENTITY_INSERT is ON.", t.full_name()),
            ));
        }
        if on && !given {
            return Err(SqlError::new(
                545,
                16,
                1,
                format!("Explicit value must be specified for identity column in table '{}' either when IDENTITY_INSERT is set to ON or when a replication user is inserting into a NOT FOR REPLICATION identity column.", t.name),
            ));
        }
        Ok(())
    }
}
