//! The reply to one request: a [`ResultSink`] that encodes what the engine
//! produces as tokens and streams them to the client in packets of the
//! negotiated size.

use super::packet::{write_packets, PT_REPLY};
use super::tokens::{self, DONE_COUNT, DONE_ERROR, DONE_INXACT, DONE_MORE};
use crate::engine::{Done, EnvChange, ResultSink};
use crate::error::SqlError;
use crate::value::{ColumnMeta, SqlType, Value};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether statement ends are DONE (SQL batch) or DONEINPROC + DONEPROC (RPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Batch,
    Rpc,
}

/// Replies larger than this are sent while they are produced instead of
/// being held whole in memory.
const STREAM_AT: usize = 256 * 1024;

pub struct Reply<'a, W: Write> {
    w: &'a mut W,
    buf: Vec<u8>,
    packet_size: usize,
    packet_id: u8,
    mode: Mode,
    columns: Vec<ColumnMeta>,
    /// The last statement end, held back until we know whether more follows
    /// (DONE_MORE must be clear only on the very last DONE).
    pending: Option<Done>,
    any_done: bool,
    any_error: bool,
    in_transaction: bool,
    io_error: Option<io::Error>,
    cancel: Option<&'a AtomicBool>,
    latency: Duration,
    started: bool,
    /// Output parameters of an RPC, sent after its RETURNSTATUS.
    outputs: Vec<(u16, String, SqlType, Value)>,
}

impl<'a, W: Write> Reply<'a, W> {
    pub fn new(w: &'a mut W, packet_size: usize, mode: Mode) -> Self {
        Reply {
            w,
            buf: Vec::with_capacity(8 * 1024),
            packet_size,
            packet_id: 1,
            mode,
            columns: Vec::new(),
            pending: None,
            any_done: false,
            any_error: false,
            in_transaction: false,
            io_error: None,
            cancel: None,
            latency: Duration::ZERO,
            started: false,
            outputs: Vec::new(),
        }
    }

    /// Latency injected before the first byte of the reply (test control).
    pub fn with_latency(mut self, d: Duration) -> Self {
        self.latency = d;
        self
    }

    /// A flag set when the client sent ATTENTION during the request.
    pub fn with_cancel(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// An output parameter of this RPC's reply (RETURNVALUE, written by
    /// [`Reply::finish`] after RETURNSTATUS and before DONEPROC, the order
    /// of MS-TDS 2.2.7.18).
    pub fn output(&mut self, ordinal: u16, name: &str, ty: SqlType, value: Value) {
        self.outputs.push((ordinal, name.to_string(), ty, value));
    }

    /// Raw token bytes (used for login replies).
    pub fn raw(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    fn write_done(&mut self, d: Done, more: bool) {
        let mut status = 0;
        if more {
            status |= DONE_MORE;
        }
        if d.error {
            status |= DONE_ERROR;
        }
        if d.in_transaction {
            status |= DONE_INXACT;
        }
        if d.count.is_some() {
            status |= DONE_COUNT;
        }
        let tok = match self.mode {
            Mode::Batch => tokens::TK_DONE,
            Mode::Rpc => tokens::TK_DONEINPROC,
        };
        // CurCmd 0xC1 (SELECT) is what SQL Server reports for most
        // statements; clients do not interpret it.
        tokens::done(&mut self.buf, tok, status, 0xC1, d.count.unwrap_or(0));
    }

    fn flush_pending(&mut self) {
        if let Some(d) = self.pending.take() {
            self.write_done(d, true);
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            if !self.latency.is_zero() {
                std::thread::sleep(self.latency);
            }
        }
    }

    /// Sends all complete packets but the last when the buffer is large, so
    /// a big result streams out with bounded memory.
    fn maybe_stream(&mut self) {
        if self.buf.len() < STREAM_AT || self.io_error.is_some() {
            return;
        }
        self.start();
        let chunk = self.packet_size - super::packet::HEADER_LEN;
        // Keep at least one byte so the final packet (with EOM) is never empty.
        let send = ((self.buf.len() - 1) / chunk) * chunk;
        if send == 0 {
            return;
        }
        let res = write_packets(
            self.w,
            PT_REPLY,
            &self.buf[..send],
            self.packet_size,
            &mut self.packet_id,
            false,
        );
        match res {
            Ok(()) => {
                self.buf.drain(..send);
            }
            Err(e) => {
                self.io_error = Some(e);
                self.buf.clear();
            }
        }
    }

    /// Ends the reply: the last DONE (or RETURNSTATUS and DONEPROC for an
    /// RPC), the final packet with END_OF_MESSAGE, and a flush.
    pub fn finish(mut self) -> io::Result<()> {
        match self.mode {
            Mode::Batch => match self.pending.take() {
                Some(d) => self.write_done(d, false),
                None if !self.any_done => {
                    let d = Done {
                        count: None,
                        error: self.any_error,
                        in_transaction: self.in_transaction,
                    };
                    self.write_done(d, false);
                }
                None => {}
            },
            Mode::Rpc => self.end_proc(false),
        }
        self.send_rest()
    }

    /// Ends one RPC of a request that carries several (BatchFlag): its
    /// RETURNSTATUS, output parameters and DONEPROC with DONE_MORE; the
    /// next RPC's tokens follow in the same reply, whose last RPC
    /// [`Reply::finish`] ends.
    pub fn end_rpc(&mut self) {
        if self.mode == Mode::Rpc {
            self.end_proc(true);
            self.any_error = false;
            self.any_done = false;
        }
    }

    fn end_proc(&mut self, more: bool) {
        self.flush_pending();
        tokens::return_status(&mut self.buf, if self.any_error { 1 } else { 0 });
        for (ordinal, name, ty, value) in std::mem::take(&mut self.outputs) {
            tokens::return_value(&mut self.buf, ordinal, &name, &ty, &value);
        }
        let mut status = 0;
        if more {
            status |= DONE_MORE;
        }
        if self.any_error {
            status |= DONE_ERROR;
        }
        if self.in_transaction {
            status |= DONE_INXACT;
        }
        tokens::done(&mut self.buf, tokens::TK_DONEPROC, status, 0xE0, 0);
        self.maybe_stream();
    }

    /// Sends whatever was written (used by login, which builds tokens itself).
    pub fn send_rest(mut self) -> io::Result<()> {
        if let Some(e) = self.io_error.take() {
            return Err(e);
        }
        self.start();
        write_packets(
            self.w,
            PT_REPLY,
            &self.buf,
            self.packet_size,
            &mut self.packet_id,
            true,
        )?;
        self.w.flush()
    }
}

impl<W: Write> ResultSink for Reply<'_, W> {
    fn columns(&mut self, columns: &[ColumnMeta]) {
        self.flush_pending();
        self.columns.clear();
        self.columns.extend_from_slice(columns);
        tokens::col_metadata(&mut self.buf, columns);
    }

    fn row(&mut self, values: &[Value]) {
        tokens::row(&mut self.buf, &self.columns, values);
        self.maybe_stream();
    }

    fn done(&mut self, done: Done) {
        self.flush_pending();
        self.any_done = true;
        self.in_transaction = done.in_transaction;
        self.any_error |= done.error;
        self.pending = Some(done);
        self.maybe_stream();
    }

    fn done_in_proc(&mut self, done: Done) {
        self.flush_pending();
        self.any_done = true;
        self.in_transaction = done.in_transaction;
        self.any_error |= done.error;
        // More always follows: the DONE of the statement that fired the trigger.
        let mut status = DONE_MORE;
        if done.error {
            status |= DONE_ERROR;
        }
        if done.in_transaction {
            status |= DONE_INXACT;
        }
        if done.count.is_some() {
            status |= DONE_COUNT;
        }
        tokens::done(
            &mut self.buf,
            tokens::TK_DONEINPROC,
            status,
            0xC1,
            done.count.unwrap_or(0),
        );
        self.maybe_stream();
    }

    fn error(&mut self, error: &SqlError) {
        self.flush_pending();
        if error.class > 10 {
            self.any_error = true;
        }
        tokens::error(&mut self.buf, error);
    }

    fn info(&mut self, number: i32, message: &str) {
        self.flush_pending();
        tokens::info(&mut self.buf, number, message);
    }

    fn env_change(&mut self, change: EnvChange) {
        self.flush_pending();
        // MS-TDS 2.2.7.9: 8 = begin (new value = descriptor), 9 = commit and
        // 10 = rollback (old value = descriptor), 1 = database.
        match change {
            EnvChange::BeginTransaction(d) => {
                self.in_transaction = true;
                tokens::env_bytes(&mut self.buf, 8, &d.to_le_bytes(), &[]);
            }
            EnvChange::CommitTransaction(d) => {
                self.in_transaction = false;
                tokens::env_bytes(&mut self.buf, 9, &[], &d.to_le_bytes());
            }
            EnvChange::RollbackTransaction(d) => {
                self.in_transaction = false;
                tokens::env_bytes(&mut self.buf, 10, &[], &d.to_le_bytes());
            }
            EnvChange::Database { new, old } => tokens::env_strings(&mut self.buf, 1, &new, &old),
        }
    }

    fn cancelled(&self) -> bool {
        self.io_error.is_some() || self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}
