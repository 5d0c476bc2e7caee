//! BULK LOAD data (MS-TDS 2.2.6.1): a COLMETADATA token, ROW/NBCROW tokens and
//! a DONE token, decoded as the packets arrive so a million-row load never
//! sits in memory at once.

use super::src::{Src, TdsError};
use super::tokens::{TK_COLMETADATA, TK_DONE, TK_ROW};
use super::types::{read_row_value, read_type_info, WireType};
use crate::value::{ColumnMeta, Value};

const TK_NBCROW: u8 = 0xD2;

/// Reads the COLMETADATA that opens a BULK LOAD message.
pub fn read_columns<S: Src + ?Sized>(
    src: &mut S,
) -> Result<(Vec<ColumnMeta>, Vec<WireType>), TdsError> {
    let tok = src.u8()?;
    if tok != TK_COLMETADATA {
        return Err(TdsError::protocol(format!(
            "BULK LOAD must start with COLMETADATA, got token 0x{tok:02X}"
        )));
    }
    let n = src.u16_le()?;
    if n == 0xFFFF || n == 0 || n > 4096 {
        // 4096: SQL Server's maximum columns per table.
        return Err(TdsError::protocol("BULK LOAD COLMETADATA without columns"));
    }
    let mut cols = Vec::with_capacity(n as usize);
    let mut wire = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let _user_type = src.u32_le()?;
        let flags = src.u16_le()?;
        let w = read_type_info(src)?;
        if w.is_lob() {
            // The TableName of a text/ntext/image column. In a BULK LOAD
            // COLMETADATA SQL Server reads it as one US_VARCHAR with the
            // whole name (no NumParts byte, unlike the COLMETADATA of
            // results, MS-TDS 2.2.7.4), as Microsoft's drivers send it
            // (go-mssqldb's bulkcopy.go; tiberius 0.13 does the same).
            src.us_varchar()?;
        }
        let name = src.b_varchar()?;
        let ty =
            w.ty.ok_or_else(|| TdsError::protocol("NULL type in BULK LOAD column metadata"))?;
        cols.push(ColumnMeta {
            name,
            ty,
            nullable: flags & 0x01 != 0,
            identity: flags & 0x10 != 0,
            computed: flags & 0x20 != 0,
            timestamp: false,
            table: None,
        });
        wire.push(w);
    }
    Ok((cols, wire))
}

/// The next row, or `None` at the closing DONE token.
pub fn next_row<S: Src + ?Sized>(
    src: &mut S,
    wire: &[WireType],
) -> Result<Option<Vec<Value>>, TdsError> {
    let tok = src.u8()?;
    match tok {
        TK_ROW => {
            let mut row = Vec::with_capacity(wire.len());
            for w in wire {
                row.push(read_row_value(src, w)?);
            }
            Ok(Some(row))
        }
        TK_NBCROW => {
            let mut bitmap = vec![0u8; wire.len().div_ceil(8)];
            src.fill(&mut bitmap)?;
            let mut row = Vec::with_capacity(wire.len());
            for (i, w) in wire.iter().enumerate() {
                if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                    row.push(Value::Null);
                } else {
                    row.push(read_row_value(src, w)?);
                }
            }
            Ok(Some(row))
        }
        TK_DONE => {
            let mut rest = [0u8; 12];
            src.fill(&mut rest)?;
            Ok(None)
        }
        other => Err(TdsError::protocol(format!(
            "unexpected token 0x{other:02X} in BULK LOAD data"
        ))),
    }
}
