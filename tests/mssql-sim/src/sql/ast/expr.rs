//! Expressions of the syntax tree (re-exported by [`super`]).

use super::{DataType, OrderBy, Query};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `col`, `t.col`, `dbo.t.col`; also `INSERTED.col` / `DELETED.col` in OUTPUT.
    Column(Vec<String>),
    Literal(Literal),
    /// `@name` — a parameter or declared variable.
    Variable(String),
    /// `@@ROWCOUNT`, `@@TRANCOUNT`, `@@IDENTITY`, `@@SPID`, `@@VERSION` (upper-cased, without @@).
    Global(String),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        left: Box<Expr>,
        op: BinaryOp,
        right: Box<Expr>,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    InSubquery {
        expr: Box<Expr>,
        subquery: Box<Query>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<Box<Expr>>,
        negated: bool,
    },
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`
    Case {
        operand: Option<Box<Expr>>,
        branches: Vec<(Expr, Expr)>,
        else_result: Option<Box<Expr>>,
    },
    /// Any function call; `name` upper-cased (`COUNT`, `ISNULL`, `OBJECT_ID`,
    /// `CHANGE_TRACKING_CURRENT_VERSION`, `dbo.fn` keeps its parts joined by '.').
    Function {
        name: String,
        args: Vec<Expr>,
        distinct: bool,
        /// `COUNT(*)`
        star: bool,
        /// `OVER (PARTITION BY .. ORDER BY ..)`
        over: Option<Box<Window>>,
    },
    Cast {
        expr: Box<Expr>,
        data_type: DataType,
        /// `TRY_CAST`/`TRY_CONVERT`: NULL instead of error 245.
        try_: bool,
    },
    /// `CONVERT(type, expr [, style])`
    Convert {
        data_type: DataType,
        expr: Box<Expr>,
        style: Option<Box<Expr>>,
        try_: bool,
    },
    Subquery(Box<Query>),
    Exists {
        subquery: Box<Query>,
        negated: bool,
    },
    Nested(Box<Expr>),
    /// `expr COLLATE name` (docs/t-sql/statements/collations.md).
    Collate {
        expr: Box<Expr>,
        collation: String,
    },
    /// `$action` in a MERGE OUTPUT clause.
    MergeAction,
    /// `DEFAULT` in a VALUES list or SET clause.
    Default,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<OrderBy>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    /// An integer literal as written (`42`); typed int, or bigint/numeric by size.
    Integer(String),
    /// A literal with a decimal point (`12.50`): typed numeric(p,s) from its digits.
    Decimal(String),
    /// A literal with an exponent (`1e3`): typed float.
    Float(String),
    /// `'text'` (varchar) or `N'text'` (nvarchar); quotes un-doubled.
    String {
        value: String,
        national: bool,
    },
    /// `0x0A0B`
    Binary(Vec<u8>),
    /// `$12.34` money literal.
    Money(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Minus,
    Plus,
    BitNot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
    BitAnd,
    BitOr,
    BitXor,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}
