//! One client connection: PRELOGIN, LOGIN7, then requests until the client
//! leaves, the connection is cut by a test control, or the client sends
//! something that cannot be framed.
//!
//! What a client sends never panics the server nor affects other
//! connections: a request that decodes badly gets SQL Server's error 4002-like
//! answer on this connection (its message boundary is known, so the stream
//! stays in step); a packet that cannot be framed (bad header, truncated
//! message, a message past [`MAX_MESSAGE_BYTES`]) closes this connection only,
//! which is what SQL Server does on a TDS stream it cannot follow.

use super::calls;
use super::prepared::Prepared;
use super::tls::{self, Transport, TLS_HANDSHAKE_RECORD};
use super::{BackendSession, Shared};
use crate::engine::{Done, ResultSink};
use crate::error::{cannot_open_database, login_failed, SqlError};
use crate::tds::bulk;
use crate::tds::login;
use crate::tds::packet::{
    write_packets, Header, PacketReader, DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE, MIN_PACKET_SIZE,
    PT_ATTENTION, PT_BULK_LOAD, PT_LOGIN7, PT_PRELOGIN, PT_REPLY, PT_RPC, PT_SQL_BATCH,
    PT_TRANSACTION_MANAGER,
};
use crate::tds::prelogin::{self, Negotiated, ServerEncryption};
use crate::tds::reply::{Mode, Reply};
use crate::tds::rpc::{self, TmRequest};
use crate::tds::tokens::{self, DONE_ATTN, DONE_ERROR, TK_DONE};
use crate::tds::TdsError;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The largest request (SQL batch, RPC, LOGIN7) buffered whole. Bulk load
/// rows are streamed and not subject to it. 64 MiB holds 2,100 parameters of
/// several kilobytes each with room to spare; anything larger is refused by
/// closing the connection rather than buffering without bound.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A client that sends nothing for this long during login is dropped, so a
/// half-open socket cannot hold a connection slot forever.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let id = shared.controls.register_connection(&stream);
    if let Some(id) = id {
        let _ = stream.set_nodelay(true);
        // Reading and writing go through separate handles of the socket;
        // if the kernel refuses a duplicate, the connection is closed.
        if let Some(mut conn) = Conn::new(stream, &shared) {
            if let Err(e) = conn.run() {
                tracing::debug!("connection closed: {e}");
            }
            if let Some(s) = conn.session.as_mut() {
                s.close();
            }
        }
        shared.controls.unregister_connection(id);
    }
    shared.active.fetch_sub(1, Ordering::SeqCst);
}

struct Conn<'a> {
    reader: PacketReader<BufReader<Transport>>,
    writer: BufWriter<Transport>,
    /// The stream below the reader and writer: clear, or TLS.
    transport: Transport,
    raw: TcpStream,
    shared: &'a Shared,
    packet_size: usize,
    session: Option<Box<dyn BackendSession>>,
    generation: u64,
    /// The last request committed with the `cut_after_commit` control
    /// armed: the socket was shut without a reply; the connection ends.
    cut: bool,
    /// Statements prepared on this connection (sp_prepare, sp_prepexec).
    prepared: Prepared,
}

impl<'a> Conn<'a> {
    fn new(stream: TcpStream, shared: &'a Shared) -> Option<Conn<'a>> {
        let transport = Transport::plain(stream.try_clone().ok()?);
        Some(Conn {
            reader: PacketReader::new(BufReader::with_capacity(64 * 1024, transport.clone())),
            writer: BufWriter::with_capacity(64 * 1024, transport.clone()),
            transport,
            raw: stream,
            shared,
            packet_size: DEFAULT_PACKET_SIZE,
            session: None,
            generation: shared.controls.drop_generation(),
            cut: false,
            prepared: Prepared::default(),
        })
    }

    fn run(&mut self) -> Result<(), TdsError> {
        self.raw.set_read_timeout(Some(LOGIN_TIMEOUT))?;
        if !self.login()? {
            return Ok(());
        }
        self.raw.set_read_timeout(None)?;
        loop {
            if self.dropped() {
                return Ok(());
            }
            let Some(h) = self.reader.header()? else {
                return Ok(());
            };
            // A request that arrived while the connections were being cut
            // (the generation moves before the cutting connection's reply
            // goes out) is not served: a cut link answers nothing.
            if self.dropped() {
                return Ok(());
            }
            let before = self.shared.controls.drop_generation();
            if h.ty == PT_BULK_LOAD {
                self.bulk_load(h)?;
            } else {
                let msg = self.reader.rest_of_message(h, MAX_MESSAGE_BYTES)?;
                self.request(h.ty, &msg.data)?;
            }
            // `EXEC mssql_sim.drop_connections` only bumps the generation
            // (the engine does not own sockets): cut every connection now,
            // after this one's reply went out.
            if self.shared.controls.drop_generation() != before {
                self.shared.controls.drop_connections();
                return Ok(());
            }
            if self.cut {
                return Ok(());
            }
        }
    }

    /// Test control `cut_after_commit`: the request just run committed
    /// while it was armed; the connection is dropped instead of replying
    /// (the caller discarded the unsent reply). The socket is shut down
    /// before anything flushes the buffered writer (its flush on drop then
    /// fails), so no byte of the reply reaches the client.
    fn cut_now(&mut self) {
        let _ = self.raw.shutdown(std::net::Shutdown::Both);
        self.cut = true;
    }

    fn dropped(&self) -> bool {
        self.shared.controls.drop_generation() != self.generation
    }

    /// PRELOGIN (optional), the TLS handshake it settles on, and LOGIN7.
    /// `Ok(false)` when the login failed and the connection is to be closed.
    fn login(&mut self) -> Result<bool, TdsError> {
        let strict = self.strict_tls()?;
        let mut msg = match self.reader.message(MAX_MESSAGE_BYTES)? {
            Some(m) => m,
            None => return Ok(false),
        };
        let mut login_only = false;
        if msg.ty == PT_PRELOGIN {
            let client = prelogin::parse(&msg.data)?;
            let server = match &self.shared.tls {
                Some(t) => ServerEncryption::Available { forced: t.forced },
                None => ServerEncryption::NotSupported,
            };
            let (answer, outcome) = prelogin::negotiate(client.encryption, server);
            // TDS 8.0: the connection is already TLS; the PRELOGIN inside it
            // negotiates nothing more (tds-8.md: "encryption is enforced
            // before the PRELOGIN").
            let outcome = if strict { Negotiated::Clear } else { outcome };
            if client.encryption == Some(prelogin::ENCRYPT_REQ) && self.shared.tls.is_none() {
                // We answer ENCRYPT_NOT_SUP; a client that requires TLS
                // closes the connection itself.
                tracing::debug!("client requires encryption; the stand-in has no certificate");
            }
            let mut id = 1u8;
            write_packets(
                &mut self.writer,
                PT_PRELOGIN_REPLY,
                &prelogin::response(answer),
                DEFAULT_PACKET_SIZE,
                &mut id,
                true,
            )?;
            self.writer.flush()?;
            match outcome {
                Negotiated::Refused => {
                    // MS-TDS 2.2.6.5: a client that cannot encrypt, at a
                    // server that requires it: the connection is terminated.
                    tracing::info!(
                        "refusing a client without encryption: the stand-in forces encryption"
                    );
                    return Ok(false);
                }
                Negotiated::LoginOnly | Negotiated::Full => {
                    let Some(t) = &self.shared.tls else {
                        return Err(TdsError::protocol("TLS negotiated without a certificate"));
                    };
                    let conn = tls::prelogin_handshake(
                        &mut self.reader,
                        &mut self.writer,
                        t.prelogin.clone(),
                    )?;
                    // Bytes the buffered reader took past the handshake's
                    // last packet belong to the TLS stream.
                    let buffered = self.reader.get_mut();
                    let head = buffered.buffer().to_vec();
                    buffered.consume(head.len());
                    self.transport.start_tls(conn, head)?;
                    login_only = outcome == Negotiated::LoginOnly;
                }
                Negotiated::Clear => {}
            }
            msg = match self.reader.message(MAX_MESSAGE_BYTES)? {
                Some(m) => m,
                None => return Ok(false),
            };
        }
        if login_only {
            // MS-TDS 2.2.6.5 (ENCRYPT_OFF both ways): only the login packet
            // is encrypted; the reply and everything after are clear text.
            if !self.reader.get_mut().buffer().is_empty() {
                return Err(TdsError::protocol(
                    "the client sent more than LOGIN7 before the login reply",
                ));
            }
            self.transport.end_tls()?;
        }
        if msg.ty != PT_LOGIN7 {
            return Err(TdsError::protocol(format!(
                "expected LOGIN7, got packet type 0x{:02X}",
                msg.ty
            )));
        }
        let l = login::parse(&msg.data)?;
        let cfg = &self.shared.config;
        let mut out = Vec::new();
        // Login names compare case-insensitively under the default
        // collation; passwords are case-sensitive.
        let user_ok = l.user.eq_ignore_ascii_case(&cfg.user) && l.password == cfg.password;
        let db = self.shared.backend.database();
        let db_ok = l.database.is_empty() || l.database.eq_ignore_ascii_case(&db);
        if !user_ok || !db_ok {
            let e = if user_ok {
                cannot_open_database(&l.database, &l.user)
            } else {
                login_failed(&l.user)
            };
            tokens::error(&mut out, &e);
            if !user_ok {
                // docs: MSSQLSERVER_18456 — the client sees only 18456 with
                // state 1; the real reason goes to the server's log.
                tracing::info!(user = %l.user, "login failed: wrong user or password");
            } else {
                tokens::error(&mut out, &login_failed(&l.user));
            }
            tokens::done(&mut out, TK_DONE, DONE_ERROR, 0, 0);
            let mut id = 1u8;
            write_packets(
                &mut self.writer,
                PT_REPLY,
                &out,
                DEFAULT_PACKET_SIZE,
                &mut id,
                true,
            )?;
            self.writer.flush()?;
            return Ok(false);
        }
        let session = match self.shared.backend.open_session(&l.user) {
            Ok(s) => s,
            Err(e) => {
                tokens::error(&mut out, &e);
                tokens::done(&mut out, TK_DONE, DONE_ERROR, 0, 0);
                let mut id = 1u8;
                write_packets(
                    &mut self.writer,
                    PT_REPLY,
                    &out,
                    DEFAULT_PACKET_SIZE,
                    &mut id,
                    true,
                )?;
                self.writer.flush()?;
                return Ok(false);
            }
        };
        self.session = Some(session);
        let requested = l.packet_size as usize;
        self.packet_size = if requested == 0 {
            DEFAULT_PACKET_SIZE
        } else {
            requested.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE)
        };
        // What SQL Server sends after a successful login (MS-TDS 4.2):
        // database, collation and language changes, the informational
        // messages, LOGINACK, packet size, DONE.
        tokens::env_strings(&mut out, 1, &db, "master");
        tokens::info(
            &mut out,
            5701,
            &format!("Changed database context to '{db}'."),
        );
        // SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, flags 0xD0, sort id 52.
        tokens::env_bytes(&mut out, 7, &[0x09, 0x04, 0xD0, 0x00, 0x34], &[]);
        tokens::env_strings(&mut out, 2, "us_english", "");
        tokens::info(&mut out, 5703, "Changed language setting to us_english.");
        tokens::login_ack(&mut out);
        tokens::env_strings(
            &mut out,
            4,
            &self.packet_size.to_string(),
            &DEFAULT_PACKET_SIZE.to_string(),
        );
        tokens::done(&mut out, TK_DONE, 0, 0, 0);
        let mut id = 1u8;
        write_packets(
            &mut self.writer,
            PT_REPLY,
            &out,
            DEFAULT_PACKET_SIZE,
            &mut id,
            true,
        )?;
        self.writer.flush()?;
        Ok(true)
    }

    /// TDS 8.0 strict: a client whose first byte opens a TLS record gets
    /// the TLS handshake before any TDS (tds-8.md). `Ok(true)` when the
    /// connection is now TLS. Without a certificate nothing happens here
    /// (the bytes are then not a PRELOGIN and the connection closes).
    fn strict_tls(&mut self) -> Result<bool, TdsError> {
        let Some(t) = &self.shared.tls else {
            return Ok(false);
        };
        let mut first = [0u8; 1];
        if self.raw.peek(&mut first)? == 0 || first[0] != TLS_HANDSHAKE_RECORD {
            return Ok(false);
        }
        let conn = rustls::ServerConnection::new(t.strict.clone())
            .map_err(|e| TdsError::protocol(format!("TLS: {e}")))?;
        let alpn = self.transport.strict_handshake(conn)?;
        tracing::debug!(alpn = ?alpn.as_deref().map(String::from_utf8_lossy), "TDS 8.0 TLS handshake done");
        Ok(true)
    }

    fn reply(&mut self, mode: Mode) -> Reply<'_, BufWriter<Transport>> {
        let latency = self.shared.controls.latency();
        Reply::new(&mut self.writer, self.packet_size, mode).with_latency(latency)
    }

    fn request(&mut self, ty: u8, data: &[u8]) -> Result<(), TdsError> {
        match ty {
            PT_SQL_BATCH => match rpc::batch(data) {
                Ok((_desc, text)) => {
                    let mut session = self.take_session()?;
                    let mut reply = self.reply(Mode::Batch);
                    session.execute(&text, &[], &mut reply);
                    let cut = session.take_cut_connection();
                    let r = if cut { Ok(()) } else { reply.finish() };
                    self.session = Some(session);
                    if cut {
                        self.cut_now();
                    }
                    r?;
                }
                Err(e) => self.bad_request(&e)?,
            },
            PT_RPC => match rpc::rpc_batch(data) {
                Ok((descriptor, calls)) => self.rpc(descriptor, calls)?,
                Err(e) if e.to_string().contains("more than 2100 parameters") => {
                    // docs/relational-databases/errors-events/database-engine-events-and-errors-8000-to-8999.md
                    let err = SqlError::new(
                        8003,
                        16,
                        1,
                        "The incoming request has too many parameters. The server supports a maximum of 2100 parameters. Reduce the number of parameters and resend the request.",
                    );
                    let mut reply = self.reply(Mode::Rpc);
                    reply.error(&err);
                    reply.done(Done {
                        count: None,
                        error: true,
                        in_transaction: false,
                    });
                    reply.finish()?;
                }
                Err(e) => self.bad_request(&e)?,
            },
            PT_TRANSACTION_MANAGER => match rpc::transaction_manager(data) {
                Ok(tm) => {
                    let mut session = self.take_session()?;
                    let mut reply = self.reply(Mode::Batch);
                    let mut cut = false;
                    match tm {
                        TmRequest::Begin(iso) => session.tm_begin(iso, &mut reply),
                        TmRequest::Commit { then_begin } => {
                            session.tm_commit(&mut reply);
                            cut = session.take_cut_connection();
                            if let (false, Some(iso)) = (cut, then_begin) {
                                session.tm_begin(iso, &mut reply);
                            }
                        }
                        TmRequest::Rollback { then_begin } => {
                            session.tm_rollback(&mut reply);
                            if let Some(iso) = then_begin {
                                session.tm_begin(iso, &mut reply);
                            }
                        }
                    }
                    let r = if cut { Ok(()) } else { reply.finish() };
                    self.session = Some(session);
                    if cut {
                        self.cut_now();
                    }
                    r?;
                }
                Err(e) => self.bad_request(&e)?,
            },
            PT_ATTENTION => {
                // The request it meant to cancel has already been answered
                // (requests run to completion on this thread); acknowledge
                // with DONE_ATTN as MS-TDS 2.2.1.7 requires.
                let mut out = Vec::new();
                tokens::done(&mut out, TK_DONE, DONE_ATTN, 0, 0);
                let mut id = 1u8;
                write_packets(
                    &mut self.writer,
                    PT_REPLY,
                    &out,
                    self.packet_size,
                    &mut id,
                    true,
                )?;
                self.writer.flush()?;
            }
            other => {
                return Err(TdsError::protocol(format!(
                    "unexpected packet type 0x{other:02X} after login"
                )))
            }
        }
        Ok(())
    }

    fn take_session(&mut self) -> Result<Box<dyn BackendSession>, TdsError> {
        self.session
            .take()
            .ok_or_else(|| TdsError::protocol("request before login"))
    }

    /// A request whose message was framed correctly but does not decode:
    /// an error on this request, and the connection goes on.
    fn bad_request(&mut self, e: &TdsError) -> Result<(), TdsError> {
        let err = SqlError::new(
            4002,
            16,
            1,
            format!("The incoming tabular data stream (TDS) protocol stream is incorrect: {e}"),
        );
        let mut reply = self.reply(Mode::Batch);
        reply.error(&err);
        reply.done(Done {
            count: None,
            error: true,
            in_transaction: false,
        });
        reply.finish()?;
        Ok(())
    }

    /// An RPC request: one call, or several separated by BatchFlag (the
    /// ODBC driver's array binds), answered in one reply. A call that
    /// commits with `cut_after_commit` armed ends the request there.
    fn rpc(&mut self, descriptor: u64, calls: Vec<rpc::RawRpc>) -> Result<(), TdsError> {
        let mut session = self.take_session()?;
        let latency = self.shared.controls.latency();
        let mut reply =
            Reply::new(&mut self.writer, self.packet_size, Mode::Rpc).with_latency(latency);
        let n = calls.len();
        let mut cut = false;
        for (i, raw) in calls.into_iter().enumerate() {
            let prepared = &mut self.prepared;
            let call = raw.resolve(descriptor, &|h| prepared.declarations(h));
            calls::run(session.as_mut(), prepared, call, &mut reply);
            cut = session.take_cut_connection();
            if cut {
                break;
            }
            if i + 1 < n {
                reply.end_rpc();
            }
        }
        let r = if cut { Ok(()) } else { reply.finish() };
        self.session = Some(session);
        if cut {
            self.cut_now();
        }
        r?;
        Ok(())
    }

    fn bulk_load(&mut self, h: Header) -> Result<(), TdsError> {
        let mut session = self.take_session()?;
        let latency = self.shared.controls.latency();
        let mut reply =
            Reply::new(&mut self.writer, self.packet_size, Mode::Batch).with_latency(latency);
        let mut stream = self.reader.stream(h);
        let mut framing: Option<TdsError> = None;
        match bulk::read_columns(&mut stream) {
            Ok((cols, wire)) => {
                let mut next = || match bulk::next_row(&mut stream, &wire) {
                    Ok(r) => Ok(r),
                    Err(e) => {
                        let err = SqlError::new(
                            4804,
                            16,
                            1,
                            format!("While reading current row from host, a premature end-of-message was encountered--an incoming data stream was interrupted when the server expected to see more data: {e}"),
                        );
                        framing = Some(e);
                        Err(err)
                    }
                };
                session.bulk_load(&cols, &mut next, &mut reply);
            }
            Err(e) => {
                reply.error(&SqlError::new(
                    4002,
                    16,
                    1,
                    format!(
                        "The incoming tabular data stream (TDS) protocol stream is incorrect: {e}"
                    ),
                ));
                reply.done(Done {
                    count: None,
                    error: true,
                    in_transaction: false,
                });
            }
        }
        // An I/O error inside the rows means the stream is gone.
        if let Some(TdsError::Io(e)) = framing {
            self.session = Some(session);
            return Err(TdsError::Io(e));
        }
        // Skip what the engine did not read (rows after an error), so the
        // next request starts at a packet boundary.
        let drained = stream.drain();
        let r = reply.finish();
        self.session = Some(session);
        drained?;
        r?;
        Ok(())
    }
}

/// PRELOGIN responses travel in a TABULAR RESULT packet (MS-TDS 2.2.6.5).
const PT_PRELOGIN_REPLY: u8 = PT_REPLY;
