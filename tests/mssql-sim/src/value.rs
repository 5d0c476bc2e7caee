//! SQL Server data types and values as the stand-in carries them between the
//! TDS layer and the engine.
//!
//! Types follow "Data types (Transact-SQL)"
//! (docs/t-sql/data-types/data-types-transact-sql.md). Values are kept in the
//! exact form SQL Server would return them, so that they round-trip bit for bit.

use std::fmt;

/// `n` of `varchar(n)` etc.: a length in characters/bytes, or `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Len {
    /// A fixed maximum: 1..=8000 for (var)char/(var)binary, 1..=4000 for n(var)char.
    N(u16),
    /// `max`: up to 2^31-1 bytes.
    Max,
}

/// A SQL Server column or expression type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlType {
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Bit,
    /// decimal/numeric(precision 1..=38, scale 0..=precision).
    Decimal {
        precision: u8,
        scale: u8,
    },
    /// float(53)
    Float,
    /// real = float(24)
    Real,
    Money,
    SmallMoney,
    NVarChar(Len),
    VarChar(Len),
    NChar(u16),
    Char(u16),
    VarBinary(Len),
    Binary(u16),
    UniqueIdentifier,
    Date,
    /// time(scale 0..=7)
    Time(u8),
    DateTime,
    SmallDateTime,
    /// datetime2(scale 0..=7)
    DateTime2(u8),
    /// datetimeoffset(scale 0..=7)
    DateTimeOffset(u8),
    /// xml (untyped): docs/t-sql/xml/xml-transact-sql.md. Stored as its
    /// normalised text (see `engine::xml`).
    Xml,
    /// text, ntext, image: the deprecated large-object types
    /// (docs/t-sql/data-types/ntext-text-and-image-transact-sql.md).
    Text,
    NText,
    Image,
    /// sql_variant (docs/t-sql/data-types/sql-variant-transact-sql.md): its
    /// values are `Value::Variant`, carrying their base type.
    Variant,
    /// The CLR system types hierarchyid, geography and geometry
    /// (docs/t-sql/data-types/hierarchyid-data-type-method-reference.md,
    /// docs/t-sql/spatial-geography/spatial-types-geography.md): values are
    /// their serialized bytes (`Value::Binary`), kept as given.
    HierarchyId,
    Geography,
    Geometry,
}

impl SqlType {
    /// The T-SQL spelling, e.g. `nvarchar(100)`, `decimal(18,2)`, `varbinary(max)`.
    pub fn sql_name(&self) -> String {
        fn len(l: &Len) -> String {
            match l {
                Len::N(n) => n.to_string(),
                Len::Max => "max".to_string(),
            }
        }
        match self {
            SqlType::TinyInt => "tinyint".into(),
            SqlType::SmallInt => "smallint".into(),
            SqlType::Int => "int".into(),
            SqlType::BigInt => "bigint".into(),
            SqlType::Bit => "bit".into(),
            SqlType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            SqlType::Float => "float".into(),
            SqlType::Real => "real".into(),
            SqlType::Money => "money".into(),
            SqlType::SmallMoney => "smallmoney".into(),
            SqlType::NVarChar(l) => format!("nvarchar({})", len(l)),
            SqlType::VarChar(l) => format!("varchar({})", len(l)),
            SqlType::NChar(n) => format!("nchar({n})"),
            SqlType::Char(n) => format!("char({n})"),
            SqlType::VarBinary(l) => format!("varbinary({})", len(l)),
            SqlType::Binary(n) => format!("binary({n})"),
            SqlType::UniqueIdentifier => "uniqueidentifier".into(),
            SqlType::Date => "date".into(),
            SqlType::Time(s) => format!("time({s})"),
            SqlType::DateTime => "datetime".into(),
            SqlType::SmallDateTime => "smalldatetime".into(),
            SqlType::DateTime2(s) => format!("datetime2({s})"),
            SqlType::DateTimeOffset(s) => format!("datetimeoffset({s})"),
            other => other.base_name().into(),
        }
    }

    /// The bare type name as `INFORMATION_SCHEMA.COLUMNS.DATA_TYPE` and
    /// `sys.types.name` show it (`nvarchar`, `decimal`, ...).
    pub fn base_name(&self) -> &'static str {
        match self {
            SqlType::TinyInt => "tinyint",
            SqlType::SmallInt => "smallint",
            SqlType::Int => "int",
            SqlType::BigInt => "bigint",
            SqlType::Bit => "bit",
            SqlType::Decimal { .. } => "decimal",
            SqlType::Float => "float",
            SqlType::Real => "real",
            SqlType::Money => "money",
            SqlType::SmallMoney => "smallmoney",
            SqlType::NVarChar(_) => "nvarchar",
            SqlType::VarChar(_) => "varchar",
            SqlType::NChar(_) => "nchar",
            SqlType::Char(_) => "char",
            SqlType::VarBinary(_) => "varbinary",
            SqlType::Binary(_) => "binary",
            SqlType::UniqueIdentifier => "uniqueidentifier",
            SqlType::Date => "date",
            SqlType::Time(_) => "time",
            SqlType::DateTime => "datetime",
            SqlType::SmallDateTime => "smalldatetime",
            SqlType::DateTime2(_) => "datetime2",
            SqlType::DateTimeOffset(_) => "datetimeoffset",
            SqlType::Xml => "xml",
            SqlType::Text => "text",
            SqlType::NText => "ntext",
            SqlType::Image => "image",
            SqlType::Variant => "sql_variant",
            SqlType::HierarchyId => "hierarchyid",
            SqlType::Geography => "geography",
            SqlType::Geometry => "geometry",
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(
            self,
            SqlType::NVarChar(_)
                | SqlType::VarChar(_)
                | SqlType::NChar(_)
                | SqlType::Char(_)
                | SqlType::Text
                | SqlType::NText
        )
    }

    /// text, ntext and image (docs/t-sql/data-types/ntext-text-and-image-transact-sql.md).
    pub fn is_lob(&self) -> bool {
        matches!(self, SqlType::Text | SqlType::NText | SqlType::Image)
    }

    /// Types whose values cannot be compared or sorted: xml (error 305) and
    /// text/ntext/image (errors 306 and 402).
    pub fn is_incomparable(&self) -> bool {
        matches!(self, SqlType::Xml) || self.is_lob()
    }

    /// hierarchyid, geography, geometry (sent as UDTTYPE, MS-TDS 2.2.5.5.2).
    pub fn is_clr(&self) -> bool {
        matches!(
            self,
            SqlType::HierarchyId | SqlType::Geography | SqlType::Geometry
        )
    }

    /// geography and geometry: not comparable (errors 403, 249, 421).
    pub fn is_spatial(&self) -> bool {
        matches!(self, SqlType::Geography | SqlType::Geometry)
    }

    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt
        )
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql_name())
    }
}

/// A value as SQL Server returns it. The engine guarantees that a value in a
/// result set matches the column's [`SqlType`] (an `Int` column only carries
/// `Value::Int` or `Value::Null`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// tinyint, smallint, int, bigint and bit (0/1).
    Int(i64),
    /// float and real.
    Float(f64),
    /// decimal, numeric, money, smallmoney: the unscaled integer and its scale,
    /// so `12.50` in decimal(5,2) is `Decimal(1250, 2)`.
    Decimal(i128, u8),
    /// All character types.
    String(String),
    /// binary and varbinary.
    Binary(Vec<u8>),
    /// uniqueidentifier in its canonical byte order (as `uuid::Uuid::as_bytes`).
    Guid([u8; 16]),
    /// date: days since 0001-01-01.
    Date(i32),
    /// time: 100-nanosecond ticks since midnight.
    Time(i64),
    /// datetime, smalldatetime, datetime2: days since 0001-01-01 and 100 ns
    /// ticks since midnight.
    DateTime {
        days: i32,
        ticks: i64,
    },
    /// datetimeoffset: the UTC date and time plus the offset in minutes.
    DateTimeOffset {
        days: i32,
        ticks: i64,
        offset_minutes: i16,
    },
    /// A sql_variant value: its base type and the value of that type (never
    /// NULL, never itself a variant: a NULL sql_variant is `Value::Null`).
    Variant(Box<(SqlType, Value)>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// A bound parameter of an RPC call (`@P1` of `sp_executesql`), with the type
/// the client declared for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Name including the `@`, e.g. `@P1`.
    pub name: String,
    pub ty: SqlType,
    pub value: Value,
    /// An OUTPUT parameter (status flag 0x01).
    pub output: bool,
}

/// Metadata of one result-set column (COLMETADATA entry).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMeta {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    pub identity: bool,
    /// A computed column of a table (fComputed, read-only).
    pub computed: bool,
    /// A rowversion (timestamp) column of a table (UserType 80, read-only).
    pub timestamp: bool,
    /// `schema.table` of a table's column, sent as the TableName of text,
    /// ntext and image columns (MS-TDS 2.2.7.4).
    pub table: Option<String>,
}
