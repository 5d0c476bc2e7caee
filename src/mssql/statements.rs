//! Every piece of T-SQL text ctsync sends is built here. Identifiers are
//! quoted by [`super::ident`]; values are always bound parameters (`@P1` ...),
//! never spliced into the text.

use super::ident::{quote, IdentError, TableName};
use super::value::{null_for, to_column};
use crate::model::SqlValue;
use tiberius::ColumnData;

/// SQL Server accepts at most 2,100 parameters in one request; stay below.
/// docs/sql-server/maximum-capacity-specifications-for-sql-server.md
pub const PARAMS_PER_REQUEST_MAX: usize = 2000;

/// Rows one `INSERT ... VALUES` list may hold (error 10738 beyond).
/// docs/t-sql/queries/table-value-constructor-transact-sql.md
pub const VALUES_ROWS_MAX: usize = 1000;

/// One column of a synced table, as read from the server's catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnShape {
    pub name: String,
    /// `INFORMATION_SCHEMA.COLUMNS.DATA_TYPE`, e.g. `nvarchar`.
    pub data_type: String,
    pub identity: bool,
}

/// The shape of a synced table on one server: its key and the synced columns,
/// in the order rows are captured and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub name: TableName,
    /// Key column names, in key order; each is also in `columns`.
    pub key: Vec<String>,
    pub columns: Vec<ColumnShape>,
}

impl TableShape {
    /// Positions of the key columns inside `columns`.
    pub fn key_positions(&self) -> Vec<usize> {
        self.key
            .iter()
            .filter_map(|k| {
                self.columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(k))
            })
            .collect()
    }
}

/// How a synced column is read (`prefix`: a table alias and a dot, or
/// empty): as itself, except money and smallmoney, which tiberius decodes
/// as a float (inexact past 2^53 ten-thousandths); they are read as the
/// decimals they are, money = decimal(19,4) and smallmoney = decimal(10,4)
/// (docs/t-sql/data-types/money-and-smallmoney-transact-sql.md), and
/// written back by the implicit decimal → money conversion.
pub fn read_column(prefix: &str, c: &ColumnShape) -> Result<String, IdentError> {
    let q = quote(&c.name)?;
    Ok(match c.data_type.to_ascii_lowercase().as_str() {
        "money" => format!("CAST({prefix}{q} AS decimal(19,4)) AS {q}"),
        "smallmoney" => format!("CAST({prefix}{q} AS decimal(10,4)) AS {q}"),
        // xml travels as its text: nvarchar converts back into xml on
        // write, implicitly (docs/t-sql/data-types/data-type-conversion-database-engine.md),
        // and SQL Server stores xml in its own normal form either way
        // (docs/t-sql/xml/xml-transact-sql.md), so the text is the value.
        "xml" => format!("CAST({prefix}{q} AS nvarchar(max)) AS {q}"),
        _ => format!("{prefix}{q}"),
    })
}

/// `SELECT CHANGE_TRACKING_CURRENT_VERSION()` — NULL when the database does
/// not track changes.
pub const CURRENT_VERSION: &str = "SELECT CHANGE_TRACKING_CURRENT_VERSION()";

/// `@P1` = quoted table name.
pub const MIN_VALID_VERSION: &str = "SELECT CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(@P1))";

/// Starts the capture transaction: SNAPSHOT isolation so that the current
/// version, the min valid versions and every CHANGETABLE read see one
/// consistent state (docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md,
/// "Use snapshot isolation").
pub const BEGIN_SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRANSACTION";
/// Commits a write and reads the version after it, in the same request: the
/// floor the next write's outcome lookup reads changes after (a version at
/// or after this commit and before any later one of this agent's).
pub const COMMIT_AND_VERSION: &str = "COMMIT TRANSACTION; SELECT CHANGE_TRACKING_CURRENT_VERSION()";
pub const ROLLBACK: &str = "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION";
/// Ends a read-only snapshot transaction (capture, load, export): COMMIT or
/// ROLLBACK are the same for reads, ROLLBACK also cleans up after a failure
/// half-way; then back to the default isolation level, so that later
/// statements on the connection do not run under SNAPSHOT.
pub const END_SNAPSHOT_READ: &str =
    "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION; SET TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// Columns of a table: name, type, identity. `@P1` = quoted table name,
/// `@P2` = schema, `@P3` = table.
/// Columns 4..: lengths and digits as INT (the views' own types differ:
/// tinyint, smallint), nullability, whether a default exists, and
/// `IsComputed` (docs/t-sql/functions/columnproperty-transact-sql.md), and
/// the collation of character columns.
pub const TABLE_COLUMNS: &str = "SELECT c.COLUMN_NAME, c.DATA_TYPE, \
     COLUMNPROPERTY(OBJECT_ID(@P1), c.COLUMN_NAME, 'IsIdentity'), \
     CAST(c.CHARACTER_MAXIMUM_LENGTH AS INT), CAST(c.NUMERIC_PRECISION AS INT), \
     CAST(c.NUMERIC_SCALE AS INT), CAST(c.DATETIME_PRECISION AS INT), \
     CASE WHEN c.IS_NULLABLE = 'YES' THEN 1 ELSE 0 END, \
     CASE WHEN c.COLUMN_DEFAULT IS NULL THEN 0 ELSE 1 END, \
     COLUMNPROPERTY(OBJECT_ID(@P1), c.COLUMN_NAME, 'IsComputed'), c.COLLATION_NAME \
     FROM INFORMATION_SCHEMA.COLUMNS AS c \
     WHERE c.TABLE_SCHEMA = @P2 AND c.TABLE_NAME = @P3 ORDER BY c.ORDINAL_POSITION";

/// Primary key columns in key order. `@P1` = schema, `@P2` = table.
pub const PRIMARY_KEY: &str = "SELECT k.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS AS tc \
     JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE AS k \
       ON k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME AND k.TABLE_SCHEMA = tc.TABLE_SCHEMA AND k.TABLE_NAME = tc.TABLE_NAME \
     WHERE tc.CONSTRAINT_TYPE = 'PRIMARY KEY' AND tc.TABLE_SCHEMA = @P1 AND tc.TABLE_NAME = @P2 \
     ORDER BY k.ORDINAL_POSITION";

/// Whether change tracking is on for a table. `@P1` = quoted table name.
pub const TABLE_TRACKED: &str =
    "SELECT COUNT(*) FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID(@P1)";

/// `snapshot_isolation_state` of the current database (1 = ON).
pub const SNAPSHOT_STATE: &str =
    "SELECT snapshot_isolation_state FROM sys.databases WHERE name = DB_NAME()";

/// Statements an administrator runs to turn change tracking on; ctsync runs
/// them itself when `enable_change_tracking` is set.
pub fn enable_database_tracking(database: &str) -> Result<String, IdentError> {
    Ok(format!(
        "ALTER DATABASE {} SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)",
        quote(database)?
    ))
}

pub fn enable_snapshot_isolation(database: &str) -> Result<String, IdentError> {
    Ok(format!(
        "ALTER DATABASE {} SET ALLOW_SNAPSHOT_ISOLATION ON",
        quote(database)?
    ))
}

/// `columns`: TRACK_COLUMNS_UPDATED = ON, so SYS_CHANGE_COLUMNS says which
/// columns an update changed (policy `merge_columns`).
pub fn enable_table_tracking(table: &TableName, columns: bool) -> String {
    format!(
        "ALTER TABLE {} ENABLE CHANGE_TRACKING WITH (TRACK_COLUMNS_UPDATED = {})",
        table.quoted(),
        if columns { "ON" } else { "OFF" }
    )
}

pub fn disable_table_tracking(table: &TableName) -> String {
    format!("ALTER TABLE {} DISABLE CHANGE_TRACKING", table.quoted())
}

/// Whether a tracked table tracks updated columns. `@P1` = quoted name.
pub const TABLE_TRACKS_COLUMNS: &str = "SELECT is_track_columns_updated_on FROM sys.change_tracking_tables WHERE object_id = OBJECT_ID(@P1)";

/// How far one capture read goes: the version of the `@P2`-th change after
/// `@P1` (in version order), how many changes that window holds (fewer
/// than `@P2`: all of them, read up to the current version) and the
/// version of its first change (equal to the last: one source transaction
/// alone fills the window, and is read in pieces).
pub fn capture_ceiling(shape: &TableShape) -> String {
    format!(
        "SELECT MAX(x.v), COUNT_BIG(*), MIN(x.v) FROM (SELECT TOP (@P2) CT.SYS_CHANGE_VERSION AS v \
         FROM CHANGETABLE(CHANGES {}, @P1) AS CT ORDER BY CT.SYS_CHANGE_VERSION) AS x",
        shape.name.quoted()
    )
}

/// The capture read: every change since `@P1` whose last version is at most
/// `@P2`, outer-joined to the table for the current row image. Columns: SYS_CHANGE_VERSION, SYS_CHANGE_OPERATION,
/// SYS_CHANGE_CONTEXT, the key columns from CHANGETABLE, then every synced
/// column of the table (NULL when the row is gone).
/// docs/relational-databases/track-changes/work-with-change-tracking-sql-server.md
///
/// With `changed`, then SYS_CHANGE_COLUMNS and, per synced column,
/// `CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID(@P3), @Pn,
/// 'ColumnId'), SYS_CHANGE_COLUMNS)` with the column's name bound as `@P4`...
/// (docs/relational-databases/system-functions/change-tracking-is-column-in-mask-transact-sql.md).
///
/// With `paged`, the read takes at most `@Pn` rows (`n` the first parameter
/// after those above) and, with `after`, only rows after the cursor
/// (`@Pn+1` = version, then one parameter per key column): in the read's
/// own order (version, then key), so a transaction too large for one read
/// is read in pieces that neither skip nor repeat a row
/// (docs/t-sql/queries/select-order-by-clause-transact-sql.md: TOP with
/// ORDER BY on a unique order is deterministic).
pub fn capture(shape: &TableShape, changed: bool) -> Result<String, IdentError> {
    capture_read(shape, changed, None)
}

/// [`capture`] bounded: `paged = Some(after)`.
pub fn capture_read(
    shape: &TableShape,
    changed: bool,
    paged: Option<bool>,
) -> Result<String, IdentError> {
    let t = shape.name.quoted();
    let first = if changed { 4 + shape.columns.len() } else { 3 };
    let mut sql = String::from("SELECT ");
    if paged.is_some() {
        sql.push_str(&format!("TOP (@P{first}) "));
    }
    sql.push_str("CT.SYS_CHANGE_VERSION, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_CONTEXT");
    for k in &shape.key {
        sql.push_str(", CT.");
        sql.push_str(&quote(k)?);
    }
    for c in &shape.columns {
        sql.push_str(", ");
        sql.push_str(&read_column("T.", c)?);
    }
    if changed {
        sql.push_str(", CT.SYS_CHANGE_COLUMNS");
        for i in 0..shape.columns.len() {
            sql.push_str(&format!(
                ", CHANGE_TRACKING_IS_COLUMN_IN_MASK(COLUMNPROPERTY(OBJECT_ID(@P3), @P{}, 'ColumnId'), CT.SYS_CHANGE_COLUMNS)",
                4 + i
            ));
        }
    }
    sql.push_str(&format!(
        " FROM CHANGETABLE(CHANGES {t}, @P1) AS CT LEFT OUTER JOIN {t} AS T ON "
    ));
    for (i, k) in shape.key.iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        let q = quote(k)?;
        sql.push_str(&format!("T.{q} = CT.{q}"));
    }
    sql.push_str(" WHERE CT.SYS_CHANGE_VERSION <= @P2");
    if paged == Some(true) {
        // (version, k1, k2, ...) > (@v, @k1, @k2, ...), spelt out.
        let v = format!("@P{}", first + 1);
        let mut after = String::new();
        for (i, k) in shape.key.iter().enumerate().rev() {
            let q = quote(k)?;
            let p = format!("@P{}", first + 2 + i);
            after = if after.is_empty() {
                format!("CT.{q} > {p}")
            } else {
                format!("CT.{q} > {p} OR (CT.{q} = {p} AND ({after}))")
            };
        }
        sql.push_str(&format!(
            " AND (CT.SYS_CHANGE_VERSION > {v} OR (CT.SYS_CHANGE_VERSION = {v} AND ({after})))"
        ));
    }
    sql.push_str(" ORDER BY CT.SYS_CHANGE_VERSION");
    for k in &shape.key {
        sql.push_str(", CT.");
        sql.push_str(&quote(k)?);
    }
    Ok(sql)
}

/// The largest key of a table (a one-column key): where an identity-mapped
/// table's pre-existing rows end.
pub fn max_key(shape: &TableShape) -> Result<String, IdentError> {
    let mut cols = Vec::with_capacity(shape.key.len());
    for k in &shape.key {
        cols.push(format!("MAX({})", quote(k)?));
    }
    Ok(format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        shape.name.quoted()
    ))
}

/// A request of several statements with their bound parameters, sent in one
/// round trip.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    pub sql: String,
    pub params: Vec<ColumnData<'a>>,
    /// Identity-mapped inserts of this request whose new keys wait in the
    /// table variable `@ctsync_ids` (see [`Batch::insert_identity`]).
    mapped: Option<MappedIds>,
}

/// The new keys of a request's identity-mapped inserts, collected with
/// `OUTPUT ... INTO` and read back once by [`Batch::read_mapped_ids`].
#[derive(Debug)]
struct MappedIds {
    /// Inserts so far; the next one's position.
    count: usize,
    /// The target table and its identity key column, quoted.
    table: String,
    key: String,
}

/// Whether a column of this type holds characters (compared by a
/// collation).
pub fn is_character(data_type: &str) -> bool {
    matches!(
        data_type.to_ascii_lowercase().as_str(),
        "char" | "varchar" | "nchar" | "nvarchar"
    )
}

/// A key value bound as a parameter (a NULL typed by its column).
pub fn bind_key<'a>(v: &'a SqlValue, shape: &TableShape, column: &str) -> ColumnData<'a> {
    match v {
        SqlValue::Null => {
            let ty = shape
                .columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(column))
                .map(|c| c.data_type.as_str())
                .unwrap_or("");
            null_for(ty)
        }
        v => to_column(v),
    }
}

/// Whether a table's key has a character column (see
/// [`Batch::fix_key_bytes`]).
pub fn has_character_key(shape: &TableShape) -> bool {
    shape.key.iter().any(|k| {
        shape
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(k) && is_character(&c.data_type))
    })
}

impl<'a> Batch<'a> {
    /// Whether `more` parameters still fit in this request.
    pub fn fits(&self, more: usize) -> bool {
        self.params.len() + more <= PARAMS_PER_REQUEST_MAX
    }

    fn bind(&mut self, value: ColumnData<'a>) -> String {
        self.params.push(value);
        format!("@P{}", self.params.len())
    }

    fn bind_value(&mut self, value: &'a SqlValue, column: &ColumnShape) -> String {
        let data = match value {
            SqlValue::Null => null_for(&column.data_type),
            v => to_column(v),
        };
        self.bind(data)
    }

    fn context(&mut self, context: &'a [u8]) -> String {
        let p = self.bind(ColumnData::Binary(Some(std::borrow::Cow::Borrowed(
            context,
        ))));
        format!("WITH CHANGE_TRACKING_CONTEXT ({p}) ")
    }

    /// Set-based insert-or-update of several rows with distinct explicit keys
    /// in one MERGE (`USING (VALUES ...)`): one statement, one plan, instead
    /// of one MERGE per row. The rows' keys must differ (error 8672 when a
    /// target row would be matched twice); the caller splits runs where a key
    /// repeats. Binds `rows.len() * columns + 1` parameters.
    pub fn upsert_many(
        &mut self,
        shape: &TableShape,
        rows: &[&'a [SqlValue]],
        context: &'a [u8],
    ) -> Result<(), IdentError> {
        debug_assert!(!rows.is_empty());
        let ctx = self.context(context);
        let t = shape.name.quoted();
        let mut tuples = Vec::with_capacity(rows.len());
        for row in rows {
            debug_assert_eq!(row.len(), shape.columns.len());
            let mut ps = Vec::with_capacity(row.len());
            for (c, v) in shape.columns.iter().zip(row.iter()) {
                ps.push(self.bind_value(v, c));
            }
            tuples.push(format!("({})", ps.join(", ")));
        }
        let mut on = Vec::new();
        let mut sets = Vec::new();
        let mut names = Vec::new();
        let mut values = Vec::new();
        for c in &shape.columns {
            let q = quote(&c.name)?;
            if shape.key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)) {
                on.push(format!("T.{q} = S.{q}"));
            } else {
                sets.push(format!("T.{q} = S.{q}"));
            }
            names.push(q.clone());
            values.push(format!("S.{q}"));
        }
        self.sql.push_str(&format!(
            "{ctx}MERGE {t} WITH (HOLDLOCK) AS T USING (VALUES {}) AS S ({}) ON {} ",
            tuples.join(", "),
            names.join(", "),
            on.join(" AND ")
        ));
        if !sets.is_empty() {
            self.sql.push_str(&format!(
                "WHEN MATCHED THEN UPDATE SET {} ",
                sets.join(", ")
            ));
        }
        self.sql.push_str(&format!(
            "WHEN NOT MATCHED THEN INSERT ({}) VALUES ({});\n",
            names.join(", "),
            values.join(", ")
        ));
        Ok(())
    }

    /// After an [`Batch::upsert_many`] of the same rows: their character key
    /// columns are written too where the target's stored value differs in
    /// bytes but compares equal (case under a case-insensitive collation,
    /// trailing spaces under any), so a key update that only changes case or
    /// trailing spaces reaches the target. MERGE matched the row and left its
    /// key as it was; this touches only such rows, normally none:
    /// `UPDATE T SET T.k = S.k FROM t AS T JOIN (VALUES ...) AS S (k...)
    /// ON T.k = S.k WHERE CAST(T.k AS VARBINARY(MAX)) <> CAST(S.k AS
    /// VARBINARY(MAX))` over the character key columns. Binds
    /// `rows.len() * keys + 1` parameters.
    pub fn fix_key_bytes(
        &mut self,
        shape: &TableShape,
        rows: &[&'a [SqlValue]],
        context: &'a [u8],
    ) -> Result<(), IdentError> {
        let text_keys: Vec<&String> = shape
            .key
            .iter()
            .filter(|k| {
                shape
                    .columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(k))
                    .is_some_and(|c| is_character(&c.data_type))
            })
            .collect();
        if text_keys.is_empty() || rows.is_empty() {
            return Ok(());
        }
        let positions = shape.key_positions();
        let ctx = self.context(context);
        let mut tuples = Vec::with_capacity(rows.len());
        for row in rows {
            let mut ps = Vec::with_capacity(positions.len());
            for (k, p) in shape.key.iter().zip(&positions) {
                let column = shape
                    .columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(k));
                match (row.get(*p), column) {
                    (Some(v), Some(c)) => ps.push(self.bind_value(v, c)),
                    _ => ps.push("NULL".to_string()),
                }
            }
            tuples.push(format!("({})", ps.join(", ")));
        }
        let mut keys = Vec::with_capacity(shape.key.len());
        let mut on = Vec::with_capacity(shape.key.len());
        for k in &shape.key {
            let q = quote(k)?;
            on.push(format!("T.{q} = S.{q}"));
            keys.push(q);
        }
        let mut sets = Vec::with_capacity(text_keys.len());
        let mut differs = Vec::with_capacity(text_keys.len());
        for k in text_keys {
            let q = quote(k)?;
            sets.push(format!("T.{q} = S.{q}"));
            differs.push(format!(
                "CAST(T.{q} AS VARBINARY(MAX)) <> CAST(S.{q} AS VARBINARY(MAX))"
            ));
        }
        self.sql.push_str(&format!(
            "{ctx}UPDATE T SET {} FROM {} AS T JOIN (VALUES {}) AS S ({}) ON {} WHERE {};\n",
            sets.join(", "),
            shape.name.quoted(),
            tuples.join(", "),
            keys.join(", "),
            on.join(" AND "),
            differs.join(" OR ")
        ));
        Ok(())
    }

    /// Plain multi-row INSERT of rows with explicit keys: what an upsert
    /// costs when the rows are new to the target, which they are when the
    /// source reported them inserted. A key already there fails the whole
    /// statement with 2627/2601 and the caller writes the batch again with
    /// [`Batch::upsert_many`]. At most [`VALUES_ROWS_MAX`] rows (10738).
    pub fn insert_many(
        &mut self,
        shape: &TableShape,
        rows: &[&'a [SqlValue]],
        context: &'a [u8],
    ) -> Result<(), IdentError> {
        debug_assert!(!rows.is_empty() && rows.len() <= VALUES_ROWS_MAX);
        let ctx = self.context(context);
        let mut tuples = Vec::with_capacity(rows.len());
        for row in rows {
            let mut ps = Vec::with_capacity(row.len());
            for (c, v) in shape.columns.iter().zip(row.iter()) {
                ps.push(self.bind_value(v, c));
            }
            tuples.push(format!("({})", ps.join(", ")));
        }
        let mut names = Vec::with_capacity(shape.columns.len());
        for c in &shape.columns {
            names.push(quote(&c.name)?);
        }
        self.sql.push_str(&format!(
            "{ctx}INSERT INTO {} ({}) VALUES {};\n",
            shape.name.quoted(),
            names.join(", "),
            tuples.join(", ")
        ));
        Ok(())
    }

    /// Set-based delete of the rows with the given (translated) keys: `IN`
    /// for a one-column key, an `OR` of key matches for a composite one.
    /// Idempotent. Binds `keys.len() * key columns + 1` parameters.
    pub fn delete_many(
        &mut self,
        shape: &TableShape,
        keys: &[&'a [SqlValue]],
        context: &'a [u8],
    ) -> Result<(), IdentError> {
        debug_assert!(!keys.is_empty());
        let ctx = self.context(context);
        let cond = if shape.key.len() == 1 {
            let column = key_column(shape, &shape.key[0]);
            let mut ps = Vec::with_capacity(keys.len());
            for key in keys {
                ps.push(self.bind_value(&key[0], &column));
            }
            format!("{} IN ({})", quote(&shape.key[0])?, ps.join(", "))
        } else {
            let mut parts = Vec::with_capacity(keys.len());
            for key in keys {
                parts.push(format!("({})", self.key_condition(shape, key)?));
            }
            parts.join(" OR ")
        };
        self.sql.push_str(&format!(
            "{ctx}DELETE FROM {} WHERE {cond};\n",
            shape.name.quoted()
        ));
        Ok(())
    }

    /// Insert of a row into an identity table whose target assigns its own
    /// key: every synced column but the identity. The new key goes with
    /// `OUTPUT INSERTED ... INTO` a table variable, never to the client
    /// directly, because SQL Server refuses a bare OUTPUT on a table with an
    /// enabled trigger (error 334; docs/t-sql/queries/output-clause-transact-sql.md,
    /// "Triggers"), and audit triggers are common on the tables synced.
    /// [`Batch::read_mapped_ids`] ends the request with one result set of the
    /// new keys in insert order, typed as the target's key column.
    pub fn insert_identity(
        &mut self,
        shape: &TableShape,
        row: &'a [SqlValue],
        context: &'a [u8],
    ) -> Result<(), IdentError> {
        let ctx = self.context(context);
        let mut names = Vec::new();
        let mut values = Vec::new();
        for (c, v) in shape.columns.iter().zip(row) {
            if c.identity {
                continue;
            }
            names.push(quote(&c.name)?);
            values.push(self.bind_value(v, c));
        }
        // An identity key is a single column (config validation).
        let key = match shape.key.as_slice() {
            [k] => quote(k)?,
            _ => return Err(IdentError::IdentityKey(shape.name.to_string())),
        };
        let t = shape.name.quoted();
        let ord = match &mut self.mapped {
            Some(m) => {
                m.count += 1;
                m.count - 1
            }
            None => {
                // decimal(38,0) holds every integer an IDENTITY can be
                // (tinyint ... bigint, decimal(p,0)); the read joins back to
                // the target for the key's own type.
                self.sql.push_str(
                    "DECLARE @ctsync_ids TABLE (ord INT NOT NULL, k DECIMAL(38,0) NOT NULL);\n",
                );
                self.mapped = Some(MappedIds {
                    count: 1,
                    table: t.clone(),
                    key: key.clone(),
                });
                0
            }
        };
        let out = format!("OUTPUT {ord}, INSERTED.{key} INTO @ctsync_ids (ord, k)");
        if names.is_empty() {
            self.sql
                .push_str(&format!("{ctx}INSERT INTO {t} {out} DEFAULT VALUES;\n"));
        } else {
            self.sql.push_str(&format!(
                "{ctx}INSERT INTO {t} ({}) {out} VALUES ({});\n",
                names.join(", "),
                values.join(", ")
            ));
        }
        Ok(())
    }

    /// Ends the identity-mapped inserts of this request: one result set of
    /// their new keys, in insert order. Call once, before the request's
    /// COMMIT, when it is to be sent; nothing when it has no such insert.
    pub fn read_mapped_ids(&mut self) {
        if let Some(m) = self.mapped.take() {
            self.sql.push_str(&format!(
                "SELECT t.{k} FROM @ctsync_ids AS i JOIN {t} AS t ON t.{k} = i.k ORDER BY i.ord;\n",
                k = m.key,
                t = m.table
            ));
        }
    }

    /// Update of the non-key columns of the row with key `key` (already
    /// translated to the target's key).
    pub fn update(
        &mut self,
        shape: &TableShape,
        key: &'a [SqlValue],
        row: &'a [SqlValue],
        context: &'a [u8],
    ) -> Result<(), IdentError> {
        let ctx = self.context(context);
        let mut sets = Vec::new();
        for (c, v) in shape.columns.iter().zip(row) {
            if c.identity || shape.key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)) {
                continue;
            }
            let p = self.bind_value(v, c);
            sets.push(format!("{} = {p}", quote(&c.name)?));
        }
        if sets.is_empty() {
            // Nothing but the key is synced: the row exists or it does not; an
            // update has nothing to write.
            self.params.truncate(self.params.len() - 1);
            return Ok(());
        }
        let cond = self.key_condition(shape, key)?;
        self.sql.push_str(&format!(
            "{ctx}UPDATE {} SET {} WHERE {cond};\n",
            shape.name.quoted(),
            sets.join(", ")
        ));
        Ok(())
    }

    pub fn identity_insert(&mut self, table: &TableName, on: bool) {
        self.sql.push_str(&format!(
            "SET IDENTITY_INSERT {} {};\n",
            table.quoted(),
            if on { "ON" } else { "OFF" }
        ));
    }

    fn key_condition(
        &mut self,
        shape: &TableShape,
        key: &'a [SqlValue],
    ) -> Result<String, IdentError> {
        let mut parts = Vec::with_capacity(key.len());
        for (name, v) in shape.key.iter().zip(key) {
            let column = key_column(shape, name);
            let p = self.bind_value(v, &column);
            parts.push(format!("{} = {p}", quote(name)?));
        }
        Ok(parts.join(" AND "))
    }
}

/// The shape of key column `name` (every key column is a synced column; a
/// typeless stand-in only if that invariant were broken).
fn key_column(shape: &TableShape, name: &str) -> ColumnShape {
    shape
        .columns
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or(ColumnShape {
            name: name.to_string(),
            data_type: String::new(),
            identity: false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> TableShape {
        TableShape {
            name: TableName::new("dbo", "Odd]Name").unwrap(),
            key: vec!["id".into()],
            columns: vec![
                ColumnShape {
                    name: "id".into(),
                    data_type: "int".into(),
                    identity: true,
                },
                ColumnShape {
                    name: "name".into(),
                    data_type: "nvarchar".into(),
                    identity: false,
                },
            ],
        }
    }

    #[test]
    fn capture_quotes_and_binds() {
        let sql = capture(&shape(), false).unwrap();
        assert!(sql.contains("CHANGETABLE(CHANGES [dbo].[Odd]]Name], @P1) AS CT"));
        assert!(sql.contains("T.[id] = CT.[id]"));
    }

    #[test]
    fn values_are_parameters_never_text() {
        let s = shape();
        let row = vec![
            SqlValue::I32(5),
            SqlValue::String("x'); DROP TABLE t;--".into()),
        ];
        let ctx = b"ctsync:test:1".to_vec();
        let mut b = Batch::default();
        b.insert_identity(&s, &row, &ctx).unwrap();
        assert!(!b.sql.contains("DROP"));
        assert_eq!(b.params.len(), 2);
        assert!(b
            .sql
            .contains("OUTPUT 0, INSERTED.[id] INTO @ctsync_ids (ord, k)"));
        assert!(b.sql.starts_with("DECLARE @ctsync_ids TABLE"));
        assert!(b
            .sql
            .contains("\nWITH CHANGE_TRACKING_CONTEXT (@P1) INSERT INTO"));
        b.insert_identity(&s, &row, &ctx).unwrap();
        assert_eq!(b.sql.matches("DECLARE").count(), 1);
        assert!(b.sql.contains("OUTPUT 1, INSERTED.[id]"));
        b.read_mapped_ids();
        assert!(b.sql.ends_with(
            "SELECT t.[id] FROM @ctsync_ids AS i JOIN [dbo].[Odd]]Name] AS t ON t.[id] = i.k ORDER BY i.ord;\n"
        ));
    }

    #[test]
    fn nulls_are_typed_by_column() {
        let s = shape();
        let row = vec![SqlValue::I32(1), SqlValue::Null];
        let ctx = b"c".to_vec();
        let mut b = Batch::default();
        b.upsert_many(&s, &[&row], &ctx).unwrap();
        assert!(matches!(b.params[2], ColumnData::String(None)));
        assert!(b
            .sql
            .contains("WHEN NOT MATCHED THEN INSERT ([id], [name])"));
    }
}
