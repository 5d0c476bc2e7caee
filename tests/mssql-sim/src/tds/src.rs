//! Reading primitive values from a request, whether the request is already in
//! memory ([`Cur`]) or still arriving packet by packet (a BULK LOAD stream).

use thiserror::Error;

/// Why a request could not be decoded. Either variant ends that one request
/// (and, for framing errors, that one connection), never the server.
#[derive(Debug, Error)]
pub enum TdsError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The client sent something MS-TDS does not allow (or the stand-in does
    /// not support); the text goes into an ERROR token or a log line.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl TdsError {
    pub fn protocol(msg: impl Into<String>) -> Self {
        TdsError::Protocol(msg.into())
    }
}

/// A source of request bytes. Every read is bounded by the data the client
/// actually sent: running out is an error, never a panic.
pub trait Src {
    /// Fills `buf` completely or fails.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), TdsError>;

    fn u8(&mut self) -> Result<u8, TdsError> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }
    fn u16_le(&mut self) -> Result<u16, TdsError> {
        let mut b = [0u8; 2];
        self.fill(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    fn u32_le(&mut self) -> Result<u32, TdsError> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn u64_le(&mut self) -> Result<u64, TdsError> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Reads `n` bytes into a new vector; `n` must already be bounded by the caller.
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, TdsError> {
        let mut v = vec![0u8; n];
        self.fill(&mut v)?;
        Ok(v)
    }
    /// `n` UTF-16LE code units as a string; invalid UTF-16 is a protocol error.
    fn utf16(&mut self, units: usize) -> Result<String, TdsError> {
        let raw = self.bytes(units * 2)?;
        utf16_to_string(&raw)
    }
    /// B_VARCHAR: a u8 count of UTF-16 code units, then the units.
    fn b_varchar(&mut self) -> Result<String, TdsError> {
        let n = self.u8()? as usize;
        self.utf16(n)
    }
    /// US_VARCHAR: a u16 count of UTF-16 code units, then the units.
    fn us_varchar(&mut self) -> Result<String, TdsError> {
        let n = self.u16_le()? as usize;
        self.utf16(n)
    }
}

/// Decodes UTF-16LE bytes; an odd length or an unpaired surrogate is an error.
pub fn utf16_to_string(raw: &[u8]) -> Result<String, TdsError> {
    if raw.len() % 2 != 0 {
        return Err(TdsError::protocol("odd number of bytes in UTF-16 text"));
    }
    let units = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| TdsError::protocol("invalid UTF-16 text"))
}

/// A request already in memory.
pub struct Cur<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cur { buf, pos: 0 }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }
    /// The next `n` bytes without copying.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], TdsError> {
        if n > self.remaining() {
            return Err(TdsError::protocol("request ends early"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn skip(&mut self, n: usize) -> Result<(), TdsError> {
        self.take(n).map(|_| ())
    }
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
}

impl Src for Cur<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), TdsError> {
        let s = self.take(buf.len())?;
        buf.copy_from_slice(s);
        Ok(())
    }
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, TdsError> {
        Ok(self.take(n)?.to_vec())
    }
}
