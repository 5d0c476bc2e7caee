//! TDS packets (MS-TDS 2.2.3): an 8-byte header (type, status, big-endian
//! length including the header, SPID, packet id, window) and a payload. A
//! message is one or more packets, the last with the END_OF_MESSAGE status bit.

use super::src::{Src, TdsError};
use std::io::{Read, Write};

pub const HEADER_LEN: usize = 8;
/// Packet types (MS-TDS 2.2.3.1.1).
pub const PT_SQL_BATCH: u8 = 0x01;
pub const PT_RPC: u8 = 0x03;
pub const PT_REPLY: u8 = 0x04;
pub const PT_ATTENTION: u8 = 0x06;
pub const PT_BULK_LOAD: u8 = 0x07;
pub const PT_TRANSACTION_MANAGER: u8 = 0x0E;
pub const PT_LOGIN7: u8 = 0x10;
pub const PT_PRELOGIN: u8 = 0x12;
/// Status bit: last packet of a message.
pub const ST_EOM: u8 = 0x01;
/// Status bit (client to server): ignore this message (the client aborted it).
pub const ST_IGNORE: u8 = 0x02;

/// Packet sizes a client may negotiate: MS-TDS 2.2.6.4 allows 512..=32767.
pub const MIN_PACKET_SIZE: usize = 512;
pub const MAX_PACKET_SIZE: usize = 32767;
pub const DEFAULT_PACKET_SIZE: usize = 4096;

/// One whole client message.
#[derive(Debug)]
pub struct Message {
    pub ty: u8,
    pub status: u8,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub ty: u8,
    pub status: u8,
    pub len: usize,
}

/// Reads packets from the client.
pub struct PacketReader<R> {
    inner: R,
}

impl<R: Read> PacketReader<R> {
    pub fn new(inner: R) -> Self {
        PacketReader { inner }
    }

    /// The underlying reader (to take what a buffer read ahead when the
    /// stream below changes, e.g. when TLS starts).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next packet header; `Ok(None)` on a clean end of stream.
    pub fn header(&mut self) -> Result<Option<Header>, TdsError> {
        let mut h = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            let n = self.inner.read(&mut h[got..])?;
            if n == 0 {
                if got == 0 {
                    return Ok(None);
                }
                return Err(TdsError::protocol(
                    "connection closed inside a packet header",
                ));
            }
            got += n;
        }
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        if len < HEADER_LEN {
            return Err(TdsError::protocol(format!(
                "packet length {len} is shorter than its header"
            )));
        }
        Ok(Some(Header {
            ty: h[0],
            status: h[1],
            len,
        }))
    }

    fn payload_into(&mut self, len: usize, dst: &mut Vec<u8>) -> Result<(), TdsError> {
        let start = dst.len();
        dst.resize(start + len, 0);
        self.inner.read_exact(&mut dst[start..])?;
        Ok(())
    }

    /// Reads one whole message (all packets up to END_OF_MESSAGE) of at most
    /// `max` payload bytes. `Ok(None)` when the client closed between messages.
    /// A message larger than `max` is a protocol error: the caller closes this
    /// one connection rather than buffer without bound.
    pub fn message(&mut self, max: usize) -> Result<Option<Message>, TdsError> {
        let Some(first) = self.header()? else {
            return Ok(None);
        };
        self.rest_of_message(first, max).map(Some)
    }

    /// Reads the rest of a message whose first header was already read.
    pub fn rest_of_message(&mut self, first: Header, max: usize) -> Result<Message, TdsError> {
        let mut data = Vec::new();
        let mut h = first;
        loop {
            let payload = h.len - HEADER_LEN;
            if data.len() + payload > max {
                return Err(TdsError::protocol(format!(
                    "message larger than the {max}-byte limit"
                )));
            }
            self.payload_into(payload, &mut data)?;
            if h.status & ST_EOM != 0 {
                break;
            }
            h = match self.header()? {
                Some(h) => h,
                None => return Err(TdsError::protocol("connection closed inside a message")),
            };
            if h.ty != first.ty && h.ty != PT_ATTENTION {
                return Err(TdsError::protocol("packet type changed inside a message"));
            }
        }
        Ok(Message {
            ty: first.ty,
            status: h.status,
            data,
        })
    }

    /// A streaming view of a message whose first header was already read,
    /// for BULK LOAD rows decoded as they arrive.
    pub fn stream(&mut self, first: Header) -> MsgStream<'_, R> {
        MsgStream {
            reader: self,
            left: first.len - HEADER_LEN,
            eom: first.status & ST_EOM != 0,
            ty: first.ty,
        }
    }
}

/// The payload of one message read packet by packet.
pub struct MsgStream<'a, R> {
    reader: &'a mut PacketReader<R>,
    /// Payload bytes left in the current packet.
    left: usize,
    eom: bool,
    ty: u8,
}

impl<R: Read> MsgStream<'_, R> {
    /// Whether every byte of the message was consumed.
    pub fn at_end(&self) -> bool {
        self.eom && self.left == 0
    }

    /// Reads and discards the rest of the message (after a decoding error, so
    /// the next message starts at a packet boundary).
    pub fn drain(&mut self) -> Result<(), TdsError> {
        let mut scratch = [0u8; 4096];
        loop {
            while self.left > 0 {
                let n = self.left.min(scratch.len());
                self.reader.inner.read_exact(&mut scratch[..n])?;
                self.left -= n;
            }
            if self.eom {
                return Ok(());
            }
            self.next_packet()?;
        }
    }

    fn next_packet(&mut self) -> Result<(), TdsError> {
        let h = self
            .reader
            .header()?
            .ok_or_else(|| TdsError::protocol("connection closed inside a message"))?;
        if h.ty != self.ty {
            return Err(TdsError::protocol("packet type changed inside a message"));
        }
        self.left = h.len - HEADER_LEN;
        self.eom = h.status & ST_EOM != 0;
        Ok(())
    }
}

impl<R: Read> Src for MsgStream<'_, R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), TdsError> {
        let mut off = 0;
        while off < buf.len() {
            if self.left == 0 {
                if self.eom {
                    return Err(TdsError::protocol("message ends early"));
                }
                self.next_packet()?;
                continue;
            }
            let n = self.left.min(buf.len() - off);
            self.reader.inner.read_exact(&mut buf[off..off + n])?;
            off += n;
            self.left -= n;
        }
        Ok(())
    }
}

/// Writes `payload` as one message of type `ty`, split at `packet_size`
/// (header included), the last packet flagged END_OF_MESSAGE. `eom` false
/// leaves the message open (a streamed reply continues). The caller writes
/// through a buffer and flushes once per reply.
pub fn write_packets<W: Write>(
    w: &mut W,
    ty: u8,
    payload: &[u8],
    packet_size: usize,
    packet_id: &mut u8,
    eom: bool,
) -> std::io::Result<()> {
    let chunk = packet_size.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE) - HEADER_LEN;
    let mut chunks = payload.chunks(chunk).peekable();
    if payload.is_empty() {
        return write_one(w, ty, &[], eom, packet_id);
    }
    while let Some(c) = chunks.next() {
        let last = chunks.peek().is_none();
        write_one(w, ty, c, eom && last, packet_id)?;
    }
    Ok(())
}

fn write_one<W: Write>(
    w: &mut W,
    ty: u8,
    chunk: &[u8],
    eom: bool,
    packet_id: &mut u8,
) -> std::io::Result<()> {
    let len = (chunk.len() + HEADER_LEN) as u16;
    let l = len.to_be_bytes();
    let header = [
        ty,
        if eom { ST_EOM } else { 0 },
        l[0],
        l[1],
        0,
        0,
        *packet_id,
        0,
    ];
    *packet_id = packet_id.wrapping_add(1);
    w.write_all(&header)?;
    w.write_all(chunk)
}
