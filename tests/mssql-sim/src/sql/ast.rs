//! The T-SQL subset the stand-in understands, as a syntax tree.
//!
//! Grammar references: docs/t-sql/statements/*.md and docs/t-sql/queries/*.md
//! of MicrosoftDocs/sql-docs. Identifiers keep their original spelling with the
//! brackets removed (`[dbo].[My]]Table]` → `dbo`, `My]Table`); comparisons of
//! identifiers are case-insensitive, as under SQL Server's default collation.

mod expr;
mod trigger;

pub use expr::{BinaryOp, Expr, Literal, UnaryOp, Window};
pub use trigger::{CreateTrigger, TriggerEvents};

/// A possibly qualified object name: `t`, `dbo.t`, `db.dbo.t`.
/// `parts` holds 1..=3 parts, last is the object itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectName {
    pub parts: Vec<String>,
}

impl ObjectName {
    pub fn name(&self) -> &str {
        self.parts.last().map(|s| s.as_str()).unwrap_or("")
    }
    /// The schema part, if given (`dbo` of `dbo.t` and of `db.dbo.t`).
    pub fn schema(&self) -> Option<&str> {
        if self.parts.len() >= 2 {
            Some(self.parts[self.parts.len() - 2].as_str())
        } else {
            None
        }
    }
}

/// One parsed statement with the 1-based line of the batch it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub line: i32,
    /// The statement's own text, for the statement log and error messages.
    pub text: String,
    pub stmt: Statement,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Query(Box<Query>),
    Insert(Box<Insert>),
    /// `INSERT BULK t (col type, ...) [WITH (...)]` — what a client sends
    /// before a BULK LOAD message.
    InsertBulk {
        table: ObjectName,
        columns: Vec<(String, DataType)>,
        options: BulkOptions,
    },
    Update(Box<Update>),
    Delete(Box<Delete>),
    Merge(Box<Merge>),
    /// `WITH CHANGE_TRACKING_CONTEXT (expr) <dml>`
    WithChangeTrackingContext {
        context: Expr,
        statement: Box<Statement>,
    },
    CreateTable(Box<CreateTable>),
    DropTable {
        names: Vec<ObjectName>,
        if_exists: bool,
    },
    TruncateTable(ObjectName),
    CreateSchema(String),
    DropSchema(String),
    CreateIndex(Box<CreateIndex>),
    DropIndex {
        name: String,
        table: ObjectName,
        if_exists: bool,
    },
    AlterTable {
        table: ObjectName,
        action: AlterTableAction,
    },
    AlterDatabase {
        /// `None` for `ALTER DATABASE CURRENT`.
        database: Option<String>,
        action: AlterDatabaseAction,
    },
    BeginTransaction {
        name: Option<String>,
    },
    Commit,
    /// `ROLLBACK [TRAN[SACTION]] [name]`: a name other than the outermost
    /// transaction's rolls back to that savepoint.
    Rollback {
        name: Option<String>,
    },
    SaveTransaction(String),
    SetIdentityInsert {
        table: ObjectName,
        on: bool,
    },
    /// `SET NOCOUNT ON`, `SET XACT_ABORT OFF`, `SET ANSI_NULLS ON`, ...
    /// (option upper-cased).
    SetOption {
        option: String,
        on: bool,
    },
    /// `SET LOCK_TIMEOUT n` (milliseconds, -1 = wait forever).
    SetLockTimeout(i64),
    SetIsolationLevel(IsolationLevel),
    /// `DECLARE @x type [= expr], ...`
    Declare(Vec<(String, DataType, Option<Expr>)>),
    /// `DECLARE @t [AS] TABLE (col type ..., constraints)`: a table variable
    /// (docs/t-sql/data-types/table-transact-sql.md).
    DeclareTable(Box<DeclareTable>),
    /// `CREATE [OR ALTER] | ALTER TRIGGER ... ON t AFTER ... AS ...`.
    CreateTrigger(Box<CreateTrigger>),
    /// `DROP TRIGGER [IF EXISTS] [schema.]name [, ...]`.
    DropTrigger {
        names: Vec<ObjectName>,
        if_exists: bool,
    },
    /// `ENABLE | DISABLE TRIGGER {name [, ...] | ALL} ON t` and
    /// `ALTER TABLE t ENABLE | DISABLE TRIGGER {name [, ...] | ALL}`;
    /// `names` is `None` for ALL.
    EnableTrigger {
        names: Option<Vec<ObjectName>>,
        table: ObjectName,
        enable: bool,
    },
    /// `SET @x = expr` or `SELECT @x = expr` is parsed as Query with assignments.
    SetVariable {
        name: String,
        value: Expr,
    },
    /// `EXEC[UTE] proc [@name =] arg, ...` (controls in schema `mssql_sim`,
    /// `sp_executesql` sent as text, ...).
    Exec {
        procedure: ObjectName,
        args: Vec<ExecArg>,
    },
    /// `USE db`
    Use(String),
    /// `IF cond stmt [ELSE stmt]`
    If {
        condition: Expr,
        then: Box<Statement>,
        otherwise: Option<Box<Statement>>,
    },
    /// `BEGIN ... END`
    Block(Vec<Located>),
    /// `PRINT expr`
    Print(Expr),
    /// `THROW number, message, state` / `RAISERROR(msg, severity, state)`
    Raise {
        number: Option<Expr>,
        message: Expr,
        severity: Option<Expr>,
        state: Expr,
    },
    /// `WHILE cond stmt` (while-transact-sql.md).
    While {
        condition: Expr,
        body: Box<Statement>,
    },
    /// `BREAK`: leaves the innermost WHILE (the parser checks there is one).
    Break,
    /// `CONTINUE`: restarts the innermost WHILE (the parser checks there is one).
    Continue,
    /// `RETURN` (without a value: a value is error 178 outside procedures):
    /// ends the batch.
    Return,
    /// `BEGIN TRY ... END TRY BEGIN CATCH ... END CATCH` (try-catch-transact-sql.md).
    TryCatch {
        try_block: Vec<Located>,
        catch_block: Vec<Located>,
    },
    /// `THROW` without arguments, inside a CATCH block: raises the caught
    /// error again (the parser checks it is in a CATCH block, error 10704).
    Rethrow,
    /// `WAITFOR DELAY 'hh:mm:ss[.mmm]'` (a string or variable; waitfor-transact-sql.md).
    /// Lets tests hold a request open, e.g. to cancel it with ATTENTION.
    WaitFor {
        delay: Expr,
    },
}

/// The `WITH (...)` options of `INSERT BULK` that change what the load does
/// (MS-TDS INSERT BULK; the same options as BULK INSERT's arguments,
/// docs/t-sql/statements/bulk-insert-transact-sql.md). TABLOCK, ORDER(...),
/// ROWS_PER_BATCH and KILOBYTES_PER_BATCH are accepted and have no
/// observable effect here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkOptions {
    /// CHECK_CONSTRAINTS: CHECK and FOREIGN KEY constraints are checked
    /// (without it they are not, and are marked not trusted afterwards).
    pub check_constraints: bool,
    /// KEEP_NULLS: a NULL sent for a column with a DEFAULT stays NULL
    /// (without it the column gets its default).
    pub keep_nulls: bool,
    /// FIRE_TRIGGERS: the table's INSERT triggers fire for the load (without
    /// it no trigger fires).
    pub fire_triggers: bool,
}

/// `DECLARE @name TABLE (...)`: the columns and table constraints, as in
/// CREATE TABLE (PRIMARY KEY, UNIQUE, CHECK, DEFAULT, IDENTITY, NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct DeclareTable {
    /// With the `@`.
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub constraints: Vec<TableConstraint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecArg {
    pub name: Option<String>,
    pub value: Expr,
    pub output: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
    Snapshot,
}

// ---------------------------------------------------------------------------
// Queries

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `WITH name [(cols)] AS (query), ...` (common table expressions).
    pub with: Vec<Cte>,
    pub body: SetExpr,
    pub order_by: Vec<OrderBy>,
    /// `OFFSET n ROWS`
    pub offset: Option<Expr>,
    /// `FETCH NEXT n ROWS ONLY`
    pub fetch: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cte {
    pub name: String,
    pub columns: Vec<String>,
    pub query: Query,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SetExpr {
    Select(Box<Select>),
    /// `a UNION [ALL] b`, `EXCEPT`, `INTERSECT`
    SetOp {
        op: SetOperator,
        all: bool,
        left: Box<SetExpr>,
        right: Box<SetExpr>,
    },
    /// A parenthesised query used as a set operand.
    Query(Box<Query>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOperator {
    Union,
    Except,
    Intersect,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub distinct: bool,
    pub top: Option<Top>,
    pub items: Vec<SelectItem>,
    /// `SELECT ... INTO #t` is not supported; kept out.
    pub from: Vec<TableWithJoins>,
    pub selection: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Top {
    pub quantity: Expr,
    pub percent: bool,
    pub with_ties: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`
    Wildcard,
    /// `t.*`
    QualifiedWildcard(String),
    /// `expr [AS] alias` or `alias = expr`
    Expr { expr: Expr, alias: Option<String> },
    /// `@var = expr` (assignment select)
    Assign { variable: String, expr: Expr },
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub expr: Expr,
    pub desc: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableWithJoins {
    pub relation: TableFactor,
    pub joins: Vec<Join>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub kind: JoinKind,
    pub relation: TableFactor,
    /// `None` for CROSS JOIN / CROSS APPLY.
    pub on: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    Cross,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TableFactor {
    Table {
        name: ObjectName,
        alias: Option<String>,
        /// Table hints (`WITH (UPDLOCK, HOLDLOCK)`, `(NOLOCK)`): the hint
        /// keywords, upper-cased, without their arguments (`INDEX(ix)` is
        /// `INDEX`). Only the hints that hold locks to the end of the
        /// transaction have an effect (`engine::lock_hints`); the others are
        /// accepted and ignored, the stand-in's locking being coarser than
        /// SQL Server's.
        hints: Vec<String>,
    },
    Derived {
        subquery: Box<Query>,
        alias: String,
        columns: Vec<String>,
    },
    /// `(VALUES (..), (..)) AS alias (c1, c2)`
    Values {
        rows: Vec<Vec<Expr>>,
        alias: String,
        columns: Vec<String>,
    },
    /// `CHANGETABLE(CHANGES t, @v) AS CT` (the alias is required: error 22104
    /// otherwise, as in SQL Server).
    ChangeTableChanges {
        table: ObjectName,
        since: Expr,
        /// `FORCESEEK` option: accepted, ignored.
        alias: String,
    },
    /// `CHANGETABLE(VERSION t, (k1, ...), (v1, ...)) AS CT`
    ChangeTableVersion {
        table: ObjectName,
        key_columns: Vec<String>,
        key_values: Vec<Expr>,
        alias: String,
    },
}

// ---------------------------------------------------------------------------
// DML

#[derive(Debug, Clone, PartialEq)]
pub struct Insert {
    pub table: ObjectName,
    /// Empty: all columns in order (except identity/computed).
    pub columns: Vec<String>,
    pub output: Option<Output>,
    pub source: InsertSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InsertSource {
    Values(Vec<Vec<Expr>>),
    Query(Box<Query>),
    DefaultValues,
}

/// `OUTPUT INSERTED.id, DELETED.name AS old_name, $action [INTO @t]`
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub items: Vec<SelectItem>,
    /// `OUTPUT ... INTO table_or_variable [(cols)]`; `None` returns a result set.
    pub into: Option<(ObjectName, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub top: Option<Top>,
    /// The target: a table name or the alias of a table in `from`.
    pub table: ObjectName,
    pub assignments: Vec<Assignment>,
    pub output: Option<Output>,
    pub from: Vec<TableWithJoins>,
    pub selection: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Column name (a qualifier like `t.col` is kept only in its last part).
    pub column: String,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delete {
    pub top: Option<Top>,
    pub table: ObjectName,
    pub output: Option<Output>,
    pub from: Vec<TableWithJoins>,
    pub selection: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    pub target: ObjectName,
    pub target_alias: Option<String>,
    pub source: TableFactor,
    pub on: Expr,
    pub clauses: Vec<MergeClause>,
    pub output: Option<Output>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MergeClause {
    pub kind: MergeMatch,
    /// `AND <condition>`
    pub condition: Option<Expr>,
    pub action: MergeAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMatch {
    Matched,
    NotMatchedByTarget,
    NotMatchedBySource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MergeAction {
    Update(Vec<Assignment>),
    Delete,
    Insert {
        columns: Vec<String>,
        /// `None` for `DEFAULT VALUES`.
        values: Option<Vec<Expr>>,
    },
}

// ---------------------------------------------------------------------------
// DDL

#[derive(Debug, Clone, PartialEq)]
pub struct DataType {
    /// Lower-cased base name: `int`, `nvarchar`, `decimal`, `numeric`, ...
    pub name: String,
    pub args: Vec<TypeArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeArg {
    Number(u32),
    Max,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateTable {
    pub name: ObjectName,
    pub columns: Vec<ColumnDef>,
    pub constraints: Vec<TableConstraint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub data_type: DataType,
    /// `NULL` → Some(true), `NOT NULL` → Some(false), unspecified → None
    /// (nullable unless part of a PRIMARY KEY or IDENTITY).
    pub nullable: Option<bool>,
    /// `IDENTITY(seed, increment)`; `IDENTITY` alone is (1, 1).
    pub identity: Option<(i64, i64)>,
    pub default: Option<Expr>,
    /// Column-level constraints (`PRIMARY KEY`, `UNIQUE`, `REFERENCES t(c)`,
    /// `CHECK (...)`), with the column filled in.
    pub constraints: Vec<TableConstraint>,
    pub collation: Option<String>,
    /// `name AS expr [PERSISTED [NOT NULL]]`: a computed column
    /// (docs/t-sql/statements/create-table-transact-sql.md,
    /// computed_column_definition); `data_type` is then a placeholder.
    pub computed: Option<ComputedDef>,
    /// `SPARSE` (docs/relational-databases/tables/use-sparse-columns.md).
    pub sparse: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComputedDef {
    pub expr: Expr,
    pub persisted: bool,
    /// The expression as written (for `sys.computed_columns.definition`).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableConstraint {
    /// `CONSTRAINT name`; SQL Server generates one when absent
    /// (`PK__Orders__3213E83F...`).
    pub name: Option<String>,
    pub kind: ConstraintKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    PrimaryKey {
        columns: Vec<String>,
        clustered: bool,
    },
    Unique {
        columns: Vec<String>,
    },
    ForeignKey {
        columns: Vec<String>,
        ref_table: ObjectName,
        ref_columns: Vec<String>,
        on_delete: ReferentialAction,
        on_update: ReferentialAction,
    },
    Check(Expr),
    /// `DEFAULT expr FOR col` in ALTER TABLE ADD CONSTRAINT.
    Default {
        column: String,
        expr: Expr,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferentialAction {
    NoAction,
    Cascade,
    SetNull,
    SetDefault,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateIndex {
    pub unique: bool,
    pub name: String,
    pub table: ObjectName,
    pub columns: Vec<(String, bool /* desc */)>,
    pub include: Vec<String>,
    /// Filtered index `WHERE ...`.
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlterTableAction {
    /// `ENABLE CHANGE_TRACKING [WITH (TRACK_COLUMNS_UPDATED = ON|OFF)]`
    EnableChangeTracking {
        track_columns_updated: bool,
    },
    DisableChangeTracking,
    AddConstraint(TableConstraint),
    DropConstraint(String),
    AddColumns(Vec<ColumnDef>),
    DropColumns(Vec<String>),
    AlterColumn(Box<ColumnDef>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlterDatabaseAction {
    /// `SET CHANGE_TRACKING = ON [(CHANGE_RETENTION = n unit, AUTO_CLEANUP = ON|OFF)]`
    ChangeTrackingOn {
        retention: Option<(i64, RetentionUnit)>,
        auto_cleanup: Option<bool>,
    },
    /// `SET CHANGE_TRACKING (CHANGE_RETENTION = ..., AUTO_CLEANUP = ...)` on an
    /// already tracked database.
    ChangeTrackingSet {
        retention: Option<(i64, RetentionUnit)>,
        auto_cleanup: Option<bool>,
    },
    ChangeTrackingOff,
    AllowSnapshotIsolation(bool),
    ReadCommittedSnapshot(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionUnit {
    Days,
    Hours,
    Minutes,
}
