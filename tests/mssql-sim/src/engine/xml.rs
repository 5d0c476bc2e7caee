//! The xml type: a well-formedness check with SQL Server's parsing errors and
//! the normalisation SQL Server applies when it stores a value.
//!
//! Sources: https://learn.microsoft.com/en-us/sql/t-sql/xml/xml-transact-sql
//! (untyped xml holds documents and fragments: several top-level elements and
//! top-level text are allowed), https://learn.microsoft.com/en-us/sql/relational-databases/xml/create-instances-of-xml-data
//! ("the XML declaration ... is not preserved", insignificant white space is
//! discarded by default, CDATA sections are not preserved), and the 9400-series
//! messages of docs/relational-databases/errors-events/database-engine-events-and-errors-9000-to-9999.md
//! ("XML parsing: line %d, character %d, ...").
//!
//! What the stored text looks like (as SQL Server returns it): no XML
//! declaration; attributes in double quotes, one space apart; an element
//! without content as `<a />`; CDATA sections and character references
//! replaced by (escaped) text; text escaped with `&amp;`, `&lt;`, `&gt;`
//! (attributes also `&quot;`); white-space-only text between tags dropped
//! unless `xml:space="preserve"` is in scope; comments and processing
//! instructions kept.
//!
//! Not modelled: DTDs (a `<!DOCTYPE` is refused as unsupported), the
//! CONVERT styles 1-3 (white space is always discarded), encodings named in
//! the declaration (the text is already decoded), entity expansion beyond
//! the five predefined entities and character references, namespace URI
//! checks (9464-9467), SQL Server's exact character positions in error
//! messages (ours count characters from 1 on each line and may differ by a
//! few), and SQL Server's internal binary XML (values round-trip as the
//! normalised text above).

use crate::error::SqlError;

fn err(number: i32, line: usize, col: usize, what: &str) -> SqlError {
    SqlError::new(
        number,
        16,
        1,
        format!("XML parsing: line {line}, character {col}, {what}"),
    )
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
    out: String,
    /// Open elements: name and whether xml:space="preserve" is in scope.
    stack: Vec<(String, bool)>,
    /// Declared namespace prefixes, one list per open element.
    prefixes: Vec<Vec<String>>,
}

fn name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':' || (c as u32) > 0x7F && !c.is_whitespace()
}

fn name_char(c: char) -> bool {
    name_start(c) || c.is_ascii_digit() || c == '-' || c == '.' || c == '\u{B7}'
}

fn escape_text(s: &str, attr: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' if attr => out.push_str("&#x9;"),
            '\n' if attr => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

impl Parser<'_> {
    fn pos(&self) -> (usize, usize) {
        let mut line = 1;
        let mut col = 1;
        for &c in &self.s[..self.i.min(self.s.len())] {
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        (line, col)
    }

    fn fail(&self, number: i32, what: &str) -> SqlError {
        let (l, c) = self.pos();
        err(number, l, c, what)
    }

    fn eof(&self) -> SqlError {
        self.fail(9400, "unexpected end of input")
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn starts(&self, p: &str) -> bool {
        p.chars()
            .enumerate()
            .all(|(k, c)| self.s.get(self.i + k) == Some(&c))
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            self.i += 1;
        }
        self.i > start
    }

    /// Text up to `end` (consumed), or 9400.
    fn until(&mut self, end: &str) -> Result<String, SqlError> {
        let mut t = String::new();
        while !self.starts(end) {
            let Some(c) = self.peek() else {
                return Err(self.eof());
            };
            t.push(c);
            self.i += 1;
        }
        self.i += end.chars().count();
        Ok(t)
    }

    fn name(&mut self) -> Result<String, SqlError> {
        match self.peek() {
            None => return Err(self.eof()),
            Some(c) if !name_start(c) || c == ':' => {
                return Err(self.fail(9455, "illegal qualified name character"))
            }
            _ => {}
        }
        let mut n = String::new();
        while let Some(c) = self.peek().filter(|c| name_char(*c)) {
            n.push(c);
            self.i += 1;
        }
        if n.matches(':').count() > 1 {
            return Err(self.fail(9456, "multiple colons in qualified name"));
        }
        Ok(n)
    }

    fn check_prefix(&self, name: &str, declared: &[String]) -> Result<(), SqlError> {
        if let Some((p, _)) = name.split_once(':') {
            let known = p == "xml"
                || p == "xmlns"
                || declared.iter().any(|d| d == p)
                || self.prefixes.iter().flatten().any(|d| d == p);
            if !known {
                return Err(self.fail(9459, "undeclared prefix"));
            }
        }
        Ok(())
    }

    /// An entity or character reference after `&` (already consumed).
    fn reference(&mut self) -> Result<char, SqlError> {
        let mut n = String::new();
        loop {
            match self.peek() {
                None => return Err(self.eof()),
                Some(';') => {
                    self.i += 1;
                    break;
                }
                Some(c) if c.is_alphanumeric() || c == '#' => {
                    n.push(c);
                    self.i += 1;
                }
                Some(_) => return Err(self.fail(9411, "semicolon expected")),
            }
        }
        let code = if let Some(h) = n.strip_prefix("#x") {
            Some(
                u32::from_str_radix(h, 16)
                    .map_err(|_| self.fail(9416, "hexadecimal digit expected"))?,
            )
        } else if let Some(d) = n.strip_prefix('#') {
            Some(
                d.parse::<u32>()
                    .map_err(|_| self.fail(9417, "decimal digit expected"))?,
            )
        } else {
            None
        };
        if let Some(code) = code {
            return char::from_u32(code)
                .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
                .ok_or_else(|| self.fail(9420, "illegal xml character"));
        }
        Ok(match n.as_str() {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => return Err(self.fail(9448, "well formed check: undeclared entity")),
        })
    }

    fn text(&mut self) -> Result<(), SqlError> {
        let mut t = String::new();
        while let Some(c) = self.peek() {
            if c == '<' {
                break;
            }
            if self.starts("]]>") {
                return Err(self.fail(9454, "no ']]>' in element content"));
            }
            self.i += 1;
            match c {
                '&' => t.push(self.reference()?),
                '\r' => {
                    // Line ends are normalised to LF (XML 1.0 section 2.11).
                    if self.peek() != Some('\n') {
                        t.push('\n');
                    }
                }
                c if c.is_control() && !matches!(c, '\t' | '\n') => {
                    return Err(self.fail(9420, "illegal xml character"))
                }
                c => t.push(c),
            }
        }
        self.push_text(&t);
        Ok(())
    }

    fn push_text(&mut self, t: &str) {
        let preserve = self.stack.last().map(|e| e.1).unwrap_or(false);
        if t.is_empty() || (!preserve && t.chars().all(|c| matches!(c, ' ' | '\t' | '\n'))) {
            return;
        }
        escape_text(t, false, &mut self.out);
    }

    fn start_tag(&mut self) -> Result<(), SqlError> {
        self.i += 1; // '<'
        let name = self.name()?;
        let mut attrs: Vec<(String, String)> = Vec::new();
        let mut empty = false;
        loop {
            let had_ws = self.skip_ws();
            match self.peek() {
                None => return Err(self.eof()),
                Some('>') => {
                    self.i += 1;
                    break;
                }
                Some('/') => {
                    self.i += 1;
                    if self.peek() != Some('>') {
                        return Err(self.fail(9412, "'>' expected"));
                    }
                    self.i += 1;
                    empty = true;
                    break;
                }
                Some(_) if !had_ws => return Err(self.fail(9410, "whitespace expected")),
                Some(_) => {}
            }
            let an = self.name()?;
            self.skip_ws();
            if self.peek() != Some('=') {
                return Err(self.fail(9414, "equal expected"));
            }
            self.i += 1;
            self.skip_ws();
            let q = match self.peek() {
                Some(q @ ('"' | '\'')) => q,
                None => return Err(self.eof()),
                _ => return Err(self.fail(9413, "A string literal was expected")),
            };
            self.i += 1;
            let mut v = String::new();
            loop {
                match self.peek() {
                    None => return Err(self.eof()),
                    Some(c) if c == q => {
                        self.i += 1;
                        break;
                    }
                    Some('<') => {
                        return Err(self.fail(9415, "well formed check: no '<' in attribute value"))
                    }
                    Some('&') => {
                        self.i += 1;
                        v.push(self.reference()?);
                    }
                    // Attribute-value normalisation (XML 1.0 section 3.3.3).
                    Some('\t' | '\n' | '\r') => {
                        self.i += 1;
                        v.push(' ');
                    }
                    Some(c) => {
                        self.i += 1;
                        v.push(c);
                    }
                }
            }
            if attrs.iter().any(|(n, _)| *n == an) {
                return Err(self.fail(9437, "duplicate attribute"));
            }
            attrs.push((an, v));
        }
        let declared: Vec<String> = attrs
            .iter()
            .filter_map(|(n, _)| n.strip_prefix("xmlns:").map(str::to_string))
            .collect();
        self.check_prefix(&name, &declared)?;
        for (n, _) in &attrs {
            if !n.starts_with("xmlns") {
                self.check_prefix(n, &declared)?;
            }
        }
        let preserve = match attrs.iter().find(|(n, _)| n == "xml:space") {
            Some((_, v)) if v == "preserve" => true,
            Some((_, v)) if v == "default" => false,
            Some(_) => return Err(self.fail(9463, "xml:space has a non-legal value")),
            None => self.stack.last().map(|e| e.1).unwrap_or(false),
        };
        self.out.push('<');
        self.out.push_str(&name);
        for (n, v) in &attrs {
            self.out.push(' ');
            self.out.push_str(n);
            self.out.push_str("=\"");
            escape_text(v, true, &mut self.out);
            self.out.push('"');
        }
        if empty {
            self.out.push_str(" />");
        } else {
            self.out.push('>');
            self.stack.push((name, preserve));
            self.prefixes.push(declared);
        }
        Ok(())
    }

    fn end_tag(&mut self) -> Result<(), SqlError> {
        self.i += 2; // "</"
        let name = self.name()?;
        self.skip_ws();
        match self.peek() {
            None => return Err(self.eof()),
            Some('>') => self.i += 1,
            Some(_) => return Err(self.fail(9412, "'>' expected")),
        }
        match self.stack.pop() {
            Some((open, _)) if open == name => {}
            _ => return Err(self.fail(9436, "end tag does not match start tag")),
        }
        self.prefixes.pop();
        // `<a></a>` is stored as `<a />`.
        if self.out.ends_with('>') && !self.out.ends_with("/>") {
            if let Some(open_at) = self.out.rfind('<') {
                let tag = &self.out[open_at..];
                if !tag.starts_with("</")
                    && !tag.starts_with("<!")
                    && !tag.starts_with("<?")
                    && tag[1..].starts_with(name.as_str())
                {
                    self.out.pop();
                    self.out.push_str(" />");
                    return Ok(());
                }
            }
        }
        self.out.push_str("</");
        self.out.push_str(&name);
        self.out.push('>');
        Ok(())
    }

    fn run(mut self) -> Result<String, SqlError> {
        if self.peek() == Some('\u{FEFF}') {
            self.i += 1;
        }
        if self.starts("<?xml") && self.s.get(self.i + 5).is_some_and(|c| c.is_whitespace()) {
            // The XML declaration is not kept.
            self.i += 5;
            let decl = self.until("?>")?;
            if !decl.contains("version") {
                return Err(self.fail(9441, "incorrect xml declaration syntax"));
            }
        }
        while let Some(c) = self.peek() {
            if c != '<' {
                self.text()?;
            } else if self.starts("<!--") {
                self.i += 4;
                let body = self.until("-->")?;
                if body.contains("--") || body.ends_with('-') {
                    return Err(self.fail(9424, "incorrect comment syntax"));
                }
                self.out.push_str("<!--");
                self.out.push_str(&body);
                self.out.push_str("-->");
            } else if self.starts("<![CDATA[") {
                self.i += 9;
                let body = self.until("]]>")?;
                let body = body.replace("\r\n", "\n");
                // CDATA is kept as its text (escaped), even white space.
                escape_text(&body, false, &mut self.out);
            } else if self.starts("<!DOCTYPE") {
                return Err(crate::engine::unsupported(
                    "a DTD (<!DOCTYPE) in an xml value",
                ));
            } else if self.starts("<?") {
                self.i += 2;
                let target = self.name()?;
                if target.eq_ignore_ascii_case("xml") {
                    return Err(self.fail(9438, "text/xmldecl not at the beginning of input"));
                }
                let body = self.until("?>")?;
                self.out.push_str("<?");
                self.out.push_str(&target);
                let body = body.trim_start();
                if !body.is_empty() {
                    self.out.push(' ');
                    self.out.push_str(body);
                }
                self.out.push_str("?>");
            } else if self.starts("</") {
                self.end_tag()?;
            } else {
                self.start_tag()?;
            }
        }
        if !self.stack.is_empty() {
            return Err(self.eof());
        }
        Ok(self.out)
    }
}

/// Checks `text` is a well-formed XML document or fragment and returns the
/// text SQL Server would store (see the module docs).
pub fn normalize(text: &str) -> Result<String, SqlError> {
    let chars: Vec<char> = text.chars().collect();
    Parser {
        s: &chars,
        i: 0,
        out: String::with_capacity(text.len()),
        stack: Vec::new(),
        prefixes: Vec::new(),
    }
    .run()
}

/// Decodes a binary value converted to xml: UTF-16 with a byte-order mark,
/// otherwise UTF-8 (SQL Server also honours the declaration's encoding;
/// the stand-in does not).
pub fn decode_binary(b: &[u8]) -> String {
    if let Some(rest) = b.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    let b = b.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(b);
    String::from_utf8_lossy(b).into_owned()
}

/// 305: xml values cannot be compared or sorted
/// (docs/relational-databases/errors-events/database-engine-events-and-errors-0-to-999.md).
pub fn not_comparable() -> SqlError {
    SqlError::new(
        305,
        16,
        1,
        "The XML data type cannot be compared or sorted, except when using the IS NULL operator.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_as_sql_server_stores() {
        assert_eq!(
            normalize("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<a  x='1'  y=\"2\"></a>")
                .unwrap(),
            "<a x=\"1\" y=\"2\" />"
        );
        assert_eq!(
            normalize("<r>\n  <b>t &amp; &#65;</b>\n  <![CDATA[<x>]]></r>").unwrap(),
            "<r><b>t &amp; A</b>&lt;x&gt;</r>"
        );
        assert_eq!(normalize("text<a/><b/>").unwrap(), "text<a /><b />");
        assert_eq!(
            normalize("<p:a xmlns:p=\"urn:x\"><!-- c --><?pi data?></p:a>").unwrap(),
            "<p:a xmlns:p=\"urn:x\"><!-- c --><?pi data?></p:a>"
        );
        assert_eq!(
            normalize("<a xml:space=\"preserve\"> </a>").unwrap(),
            "<a xml:space=\"preserve\"> </a>"
        );
        assert_eq!(normalize("").unwrap(), "");
    }

    #[test]
    fn malformed_values_raise_9400_series() {
        let n = |s: &str| normalize(s).unwrap_err().number;
        assert_eq!(n("<a>"), 9400);
        assert_eq!(n("<a></b>"), 9436);
        assert_eq!(n("<a x=1/>"), 9413);
        assert_eq!(n("<a x='1' x='2'/>"), 9437);
        assert_eq!(n("<a>&nope;</a>"), 9448);
        assert_eq!(n("<p:a/>"), 9459);
        assert_eq!(n("<a x='<'/>"), 9415);
        assert_eq!(n("<1a/>"), 9455);
        let e = normalize("<a>\n<b></c></a>").unwrap_err();
        assert!(
            e.message.starts_with("XML parsing: line 2, character "),
            "{}",
            e.message
        );
    }
}
