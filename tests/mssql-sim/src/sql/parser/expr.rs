//! Expressions and predicates, by precedence climbing.
//!
//! Precedence follows docs/t-sql/language-elements/operator-precedence-transact-sql.md:
//! `~` > `* / %` > `+ - & ^ |` (binary, and unary +/-) > comparisons > `NOT` >
//! `AND` > `OR`. `IS`, `[NOT] IN`, `BETWEEN` and `LIKE` bind like comparisons,
//! which is how SQL Server parses them in practice.

use super::{stack_limit_reached, Parser, MAX_CHAIN};
use crate::error::SqlError;
use crate::sql::ast::{BinaryOp, DataType, Expr, Literal, OrderBy, TypeArg, UnaryOp, Window};
use crate::sql::lexer::{
    binary_value, is_reserved, quoted_ident_value, string_value, Sym, TokKind,
};

const PREC_OR: u8 = 1;
const PREC_AND: u8 = 2;
const PREC_NOT: u8 = 3;
const PREC_CMP: u8 = 4;
const PREC_ADD: u8 = 5;
const PREC_MUL: u8 = 6;
const PREC_UNARY: u8 = 7;

impl<'a> Parser<'a> {
    /// A full expression (boolean or scalar).
    ///
    /// T-SQL keeps scalar expressions and predicates apart: a comparison,
    /// AND/OR/NOT, IS, IN, BETWEEN, LIKE or EXISTS is only allowed where a
    /// condition is (see [`Self::boolean_expr`]). Here such an operator ends
    /// the expression, so the caller reports "Incorrect syntax near '>'" as
    /// SQL Server does for `SELECT 1 > 0`.
    pub(crate) fn expr(&mut self) -> Result<Expr, SqlError> {
        self.expr_prec(PREC_OR, false)
    }

    /// A search condition or a scalar; see [`Parser::condition`].
    pub(crate) fn boolean_expr(&mut self) -> Result<Expr, SqlError> {
        self.expr_prec(PREC_OR, true)
    }

    /// A scalar operand without comparisons or boolean operators.
    pub(crate) fn expr_prec_add(&mut self) -> Result<Expr, SqlError> {
        self.expr_prec(PREC_ADD, false)
    }

    /// A comma-separated list of expressions.
    pub(crate) fn expr_list(&mut self) -> Result<Vec<Expr>, SqlError> {
        let mut out = vec![self.expr()?];
        while self.eat_sym(Sym::Comma) {
            out.push(self.expr()?);
        }
        Ok(out)
    }

    fn expr_prec(&mut self, min: u8, bool_ok: bool) -> Result<Expr, SqlError> {
        self.enter()?;
        // Operators chained at one level (`a + b + c ...`) deepen the tree
        // without recursion here; what this call adds is undone on return.
        let spine = self.spine;
        let r = self.expr_prec_inner(min, bool_ok);
        self.spine = spine;
        self.leave();
        r
    }

    fn expr_prec_inner(&mut self, min: u8, bool_ok: bool) -> Result<Expr, SqlError> {
        let mut left = self.prefix(bool_ok)?;
        loop {
            let t = self.peek();
            let (prec, op) = match &t.kind {
                TokKind::Sym(s) => match s {
                    Sym::Eq => (PREC_CMP, Some(BinaryOp::Eq)),
                    Sym::NotEq => (PREC_CMP, Some(BinaryOp::NotEq)),
                    Sym::Lt => (PREC_CMP, Some(BinaryOp::Lt)),
                    Sym::LtEq => (PREC_CMP, Some(BinaryOp::LtEq)),
                    Sym::Gt => (PREC_CMP, Some(BinaryOp::Gt)),
                    Sym::GtEq => (PREC_CMP, Some(BinaryOp::GtEq)),
                    // `!<` is "not less than", `!>` "not greater than".
                    Sym::NotLt => (PREC_CMP, Some(BinaryOp::GtEq)),
                    Sym::NotGt => (PREC_CMP, Some(BinaryOp::LtEq)),
                    Sym::Plus => (PREC_ADD, Some(BinaryOp::Plus)),
                    Sym::Minus => (PREC_ADD, Some(BinaryOp::Minus)),
                    Sym::Amp => (PREC_ADD, Some(BinaryOp::BitAnd)),
                    Sym::Pipe => (PREC_ADD, Some(BinaryOp::BitOr)),
                    Sym::Caret => (PREC_ADD, Some(BinaryOp::BitXor)),
                    Sym::Star => (PREC_MUL, Some(BinaryOp::Multiply)),
                    Sym::Slash => (PREC_MUL, Some(BinaryOp::Divide)),
                    Sym::Percent => (PREC_MUL, Some(BinaryOp::Modulo)),
                    _ => return Ok(left),
                },
                TokKind::Word => {
                    let w = self.text(t);
                    if w.eq_ignore_ascii_case("AND") {
                        (PREC_AND, Some(BinaryOp::And))
                    } else if w.eq_ignore_ascii_case("OR") {
                        (PREC_OR, Some(BinaryOp::Or))
                    } else if w.eq_ignore_ascii_case("IS")
                        || w.eq_ignore_ascii_case("IN")
                        || w.eq_ignore_ascii_case("BETWEEN")
                        || w.eq_ignore_ascii_case("LIKE")
                        || (w.eq_ignore_ascii_case("NOT")
                            && (self.is_kw_at(1, "IN")
                                || self.is_kw_at(1, "BETWEEN")
                                || self.is_kw_at(1, "LIKE")))
                    {
                        (PREC_CMP, None)
                    } else if w.eq_ignore_ascii_case("COLLATE") {
                        // A postfix on the operand before it, binding tighter
                        // than every operator (`a + b COLLATE x` collates b).
                        self.advance();
                        let collation = self.ident()?;
                        left = Expr::Collate {
                            expr: Box::new(left),
                            collation,
                        };
                        continue;
                    } else {
                        return Ok(left);
                    }
                }
                _ => return Ok(left),
            };
            if prec < min || (prec <= PREC_CMP && !bool_ok) {
                return Ok(left);
            }
            self.spine += 1;
            if self.spine > MAX_CHAIN {
                let mut e = stack_limit_reached();
                e.line = self.peek().line;
                return Err(e);
            }
            left = match op {
                Some(op) => {
                    self.advance();
                    // Left-associative: the right side binds one level tighter.
                    // AND/OR combine conditions; every other operator takes scalars.
                    let logical = matches!(op, BinaryOp::And | BinaryOp::Or);
                    let right = self.expr_prec(prec + 1, logical)?;
                    Expr::Binary {
                        left: Box::new(left),
                        op,
                        right: Box::new(right),
                    }
                }
                None => self.predicate_suffix(left)?,
            };
        }
    }

    /// `IS [NOT] NULL`, `[NOT] IN (...)`, `[NOT] BETWEEN a AND b`, `[NOT] LIKE p [ESCAPE e]`.
    fn predicate_suffix(&mut self, left: Expr) -> Result<Expr, SqlError> {
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            self.expect_kw("NULL")?;
            return Ok(Expr::IsNull {
                expr: Box::new(left),
                negated,
            });
        }
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            self.expect_sym(Sym::LParen)?;
            if self.is_query_start() {
                let q = self.subquery()?;
                self.expect_sym(Sym::RParen)?;
                return Ok(Expr::InSubquery {
                    expr: Box::new(left),
                    subquery: Box::new(q),
                    negated,
                });
            }
            let list = self.expr_list()?;
            self.expect_sym(Sym::RParen)?;
            return Ok(Expr::InList {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        if self.eat_kw("BETWEEN") {
            let low = self.expr_prec(PREC_ADD, false)?;
            self.expect_kw("AND")?;
            let high = self.expr_prec(PREC_ADD, false)?;
            return Ok(Expr::Between {
                expr: Box::new(left),
                low: Box::new(low),
                high: Box::new(high),
                negated,
            });
        }
        if self.eat_kw("LIKE") {
            let pattern = self.expr_prec(PREC_ADD, false)?;
            let escape = if self.eat_kw("ESCAPE") {
                Some(Box::new(self.expr_prec(PREC_ADD, false)?))
            } else {
                None
            };
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern: Box::new(pattern),
                escape,
                negated,
            });
        }
        Err(self.error_here())
    }

    fn prefix(&mut self, bool_ok: bool) -> Result<Expr, SqlError> {
        let t = self.peek();
        if !bool_ok && matches!(t.kind, TokKind::Word) {
            let w = self.text(t);
            if w.eq_ignore_ascii_case("NOT") || w.eq_ignore_ascii_case("EXISTS") {
                return Err(self.error_here());
            }
        }
        match &t.kind {
            TokKind::Sym(Sym::Minus) | TokKind::Sym(Sym::Plus) | TokKind::Sym(Sym::Tilde) => {
                let op = match t.kind {
                    TokKind::Sym(Sym::Minus) => UnaryOp::Minus,
                    TokKind::Sym(Sym::Plus) => UnaryOp::Plus,
                    _ => UnaryOp::BitNot,
                };
                self.advance();
                let e = self.expr_prec(PREC_UNARY, false)?;
                Ok(Expr::Unary {
                    op,
                    expr: Box::new(e),
                })
            }
            TokKind::Word if self.text(t).eq_ignore_ascii_case("NOT") => {
                self.advance();
                let e = self.expr_prec(PREC_NOT, true)?;
                Ok(match e {
                    Expr::Exists { subquery, negated } => Expr::Exists {
                        subquery,
                        negated: !negated,
                    },
                    e => Expr::Unary {
                        op: UnaryOp::Not,
                        expr: Box::new(e),
                    },
                })
            }
            _ => self.primary(bool_ok),
        }
    }

    /// One operand; `bool_ok` is passed into parentheses.
    pub(crate) fn primary(&mut self, bool_ok: bool) -> Result<Expr, SqlError> {
        let t = *self.peek();
        let text = self.text(&t);
        let lit = |l: Literal| Ok(Expr::Literal(l));
        match &t.kind {
            TokKind::Integer => {
                self.advance();
                lit(Literal::Integer(text.to_string()))
            }
            TokKind::Decimal => {
                self.advance();
                lit(Literal::Decimal(text.to_string()))
            }
            TokKind::Float => {
                self.advance();
                lit(Literal::Float(text.to_string()))
            }
            TokKind::Money => {
                self.advance();
                let digits = text.trim_start_matches('$');
                lit(Literal::Money(if digits.is_empty() {
                    "0".to_string()
                } else {
                    digits.to_string()
                }))
            }
            TokKind::Str { national } => {
                self.advance();
                lit(Literal::String {
                    value: string_value(text),
                    national: *national,
                })
            }
            TokKind::Binary => {
                self.advance();
                lit(Literal::Binary(binary_value(text)))
            }
            TokKind::Variable => {
                self.advance();
                Ok(Expr::Variable(text[1..].to_string()))
            }
            TokKind::Global => {
                self.advance();
                Ok(Expr::Global(text[2..].to_ascii_uppercase()))
            }
            TokKind::Sym(Sym::LParen) => {
                // The depth guard of `expr`/`query` inside covers this level.
                self.advance();
                self.paren_expr(bool_ok)
            }
            TokKind::QuotedIdent => self.name_expr(),
            TokKind::Word => self.word_expr(text),
            _ => Err(self.error_at(&t)),
        }
    }

    /// After `(`: a subquery or a parenthesised expression.
    fn paren_expr(&mut self, bool_ok: bool) -> Result<Expr, SqlError> {
        if self.is_query_start() {
            let q = self.subquery()?;
            self.expect_sym(Sym::RParen)?;
            return Ok(Expr::Subquery(Box::new(q)));
        }
        let e = self.expr_prec(PREC_OR, bool_ok)?;
        self.expect_sym(Sym::RParen)?;
        Ok(Expr::Nested(Box::new(e)))
    }

    fn word_expr(&mut self, text: &str) -> Result<Expr, SqlError> {
        // Upper-case into a stack buffer: this runs for every column name, and
        // no special word is longer than the buffer.
        let mut buf = [0u8; 24];
        let upper: &str = match buf.get_mut(..text.len()) {
            Some(b) => {
                b.copy_from_slice(text.as_bytes());
                b.make_ascii_uppercase();
                std::str::from_utf8(b).unwrap_or("")
            }
            None => "",
        };
        match upper {
            "NULL" => {
                self.advance();
                Ok(Expr::Literal(Literal::Null))
            }
            "DEFAULT" => {
                self.advance();
                Ok(Expr::Default)
            }
            "$ACTION" => {
                self.advance();
                Ok(Expr::MergeAction)
            }
            "CASE" => {
                self.advance();
                self.case_expr()
            }
            "CAST" | "TRY_CAST" if self.is_sym_at(1, Sym::LParen) => {
                self.advance();
                self.advance();
                let expr = self.expr()?;
                self.expect_kw("AS")?;
                let data_type = self.data_type()?;
                self.expect_sym(Sym::RParen)?;
                Ok(Expr::Cast {
                    expr: Box::new(expr),
                    data_type,
                    try_: upper == "TRY_CAST",
                })
            }
            "CONVERT" | "TRY_CONVERT" if self.is_sym_at(1, Sym::LParen) => {
                self.advance();
                self.advance();
                let data_type = self.data_type()?;
                self.expect_sym(Sym::Comma)?;
                let expr = self.expr()?;
                let style = if self.eat_sym(Sym::Comma) {
                    Some(Box::new(self.expr()?))
                } else {
                    None
                };
                self.expect_sym(Sym::RParen)?;
                Ok(Expr::Convert {
                    data_type,
                    expr: Box::new(expr),
                    style,
                    try_: upper == "TRY_CONVERT",
                })
            }
            "EXISTS" => {
                self.advance();
                self.expect_sym(Sym::LParen)?;
                let q = self.subquery()?;
                self.expect_sym(Sym::RParen)?;
                Ok(Expr::Exists {
                    subquery: Box::new(q),
                    negated: false,
                })
            }
            // Reserved words that are also function names.
            "COALESCE" | "NULLIF" | "LEFT" | "RIGHT" | "IDENTITY" | "USER"
                if self.is_sym_at(1, Sym::LParen) =>
            {
                self.advance();
                self.function_call(upper.to_string())
            }
            // Niladic functions, called without parentheses.
            "CURRENT_TIMESTAMP" | "CURRENT_USER" | "SESSION_USER" | "SYSTEM_USER" | "USER" => {
                self.advance();
                Ok(Expr::Function {
                    name: upper.to_string(),
                    args: Vec::new(),
                    distinct: false,
                    star: false,
                    over: None,
                })
            }
            _ if is_reserved(text) => Err(self.error_here()),
            _ => self.name_expr(),
        }
    }

    /// A column reference `a`, `t.a`, `s.t.a` or a function call `f(...)`,
    /// `dbo.f(...)`.
    fn name_expr(&mut self) -> Result<Expr, SqlError> {
        let mut parts = vec![self.ident()?];
        while self.is_sym(Sym::Dot) && parts.len() < 4 {
            self.advance();
            parts.push(self.ident()?);
        }
        if self.is_sym(Sym::LParen) {
            let name = parts
                .iter()
                .map(|p| p.to_ascii_uppercase())
                .collect::<Vec<_>>()
                .join(".");
            return self.function_call(name);
        }
        Ok(Expr::Column(parts))
    }

    /// The current token is the `(` after the function name.
    fn function_call(&mut self, name: String) -> Result<Expr, SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut args = Vec::new();
        let mut distinct = false;
        let mut star = false;
        if self.eat_sym(Sym::Star) {
            star = true;
        } else if !self.is_sym(Sym::RParen) {
            if self.eat_kw("DISTINCT") {
                distinct = true;
            } else {
                self.eat_kw("ALL");
            }
            if name == "IIF" {
                // IIF(condition, a, b) (logical-functions-iif-transact-sql.md).
                args.push(self.condition()?);
                self.expect_sym(Sym::Comma)?;
                args.push(self.expr()?);
                self.expect_sym(Sym::Comma)?;
                args.push(self.expr()?);
            } else {
                args = self.expr_list()?;
            }
        }
        self.expect_sym(Sym::RParen)?;
        let over = if self.is_kw("OVER") {
            self.advance();
            Some(Box::new(self.window()?))
        } else {
            None
        };
        if self.is_kw("WITHIN") {
            return Err(self.unsupported("WITHIN GROUP"));
        }
        Ok(Expr::Function {
            name,
            args,
            distinct,
            star,
            over,
        })
    }

    /// `(PARTITION BY ... ORDER BY ...)` after OVER.
    fn window(&mut self) -> Result<Window, SqlError> {
        self.expect_sym(Sym::LParen)?;
        let mut partition_by = Vec::new();
        let mut order_by = Vec::new();
        if self.eat_kw("PARTITION") {
            self.expect_kw("BY")?;
            partition_by = self.expr_list()?;
        }
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            order_by = self.order_by_list()?;
        }
        if self.is_kw("ROWS") || self.is_kw("RANGE") {
            return Err(self.unsupported("window frames"));
        }
        self.expect_sym(Sym::RParen)?;
        Ok(Window {
            partition_by,
            order_by,
        })
    }

    /// `expr [ASC|DESC], ...`
    pub(crate) fn order_by_list(&mut self) -> Result<Vec<OrderBy>, SqlError> {
        let mut out = Vec::new();
        loop {
            let expr = self.expr()?;
            let desc = if self.eat_kw("DESC") {
                true
            } else {
                self.eat_kw("ASC");
                false
            };
            out.push(OrderBy { expr, desc });
            if !self.eat_sym(Sym::Comma) {
                return Ok(out);
            }
        }
    }

    /// After `CASE`: simple (`CASE x WHEN v THEN r`) or searched (`CASE WHEN c THEN r`).
    fn case_expr(&mut self) -> Result<Expr, SqlError> {
        let operand = if self.is_kw("WHEN") {
            None
        } else {
            Some(Box::new(self.expr()?))
        };
        let mut branches = Vec::new();
        while self.eat_kw("WHEN") {
            // A searched CASE tests conditions; a simple one compares values.
            let w = if operand.is_none() {
                self.condition()?
            } else {
                self.expr()?
            };
            self.expect_kw("THEN")?;
            let r = self.expr()?;
            branches.push((w, r));
        }
        if branches.is_empty() {
            return Err(self.error_here());
        }
        let else_result = if self.eat_kw("ELSE") {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        self.expect_kw("END")?;
        Ok(Expr::Case {
            operand,
            branches,
            else_result,
        })
    }

    /// A type name with optional `(n)`, `(max)` or `(p, s)`
    /// (docs/t-sql/data-types/data-types-transact-sql.md).
    pub(crate) fn data_type(&mut self) -> Result<DataType, SqlError> {
        let t = *self.peek();
        let mut name = match &t.kind {
            // Reserved words are no type names, but for the first word of
            // `DOUBLE PRECISION` and `NATIONAL CHAR[ACTER] [VARYING]`.
            TokKind::Word
                if is_reserved(self.text(&t))
                    && !self.is_kw("DOUBLE")
                    && !self.is_kw("NATIONAL") =>
            {
                return Err(self.error_at(&t));
            }
            TokKind::Word => self.text(&t).to_ascii_lowercase(),
            TokKind::QuotedIdent => quoted_ident_value(self.text(&t)).to_ascii_lowercase(),
            _ => return Err(self.error_at(&t)),
        };
        self.advance();
        // `sys.int` style qualified type names: keep the last part.
        while self.is_sym(Sym::Dot) {
            self.advance();
            name = self.ident()?.to_ascii_lowercase();
        }
        // Two-word synonyms.
        if name == "double" && self.eat_kw("PRECISION") {
            name = "float".into();
        } else if (name == "char" || name == "character") && self.eat_kw("VARYING") {
            name = "varchar".into();
        } else if name == "national" {
            if self.eat_kw("CHAR") || self.eat_kw("CHARACTER") {
                name = if self.eat_kw("VARYING") {
                    "nvarchar".into()
                } else {
                    "nchar".into()
                };
            } else {
                return Err(self.error_here());
            }
        } else if name == "character" {
            name = "char".into();
        } else if name == "dec" {
            name = "decimal".into();
        } else if name == "integer" {
            name = "int".into();
        } else if name == "rowversion" {
            name = "timestamp".into();
        }
        let mut args = Vec::new();
        if self.is_sym(Sym::LParen) {
            self.advance();
            loop {
                let a = *self.peek();
                match a.kind {
                    TokKind::Word if self.text(&a).eq_ignore_ascii_case("MAX") => {
                        self.advance();
                        args.push(TypeArg::Max);
                    }
                    TokKind::Integer => {
                        let n: u32 = self.text(&a).parse().map_err(|_| self.error_at(&a))?;
                        self.advance();
                        args.push(TypeArg::Number(n));
                    }
                    _ => return Err(self.error_at(&a)),
                }
                if !self.eat_sym(Sym::Comma) {
                    break;
                }
                if args.len() >= 2 {
                    return Err(self.error_here());
                }
            }
            self.expect_sym(Sym::RParen)?;
        }
        Ok(DataType { name, args })
    }
}
