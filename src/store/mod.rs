//! The agent's state store: watermarks, the durable queues of captured
//! operations, identity mappings, parked (dead-lettered) operations, table
//! phases and server identities, in one embedded sled 0.34 database in
//! `state_dir`. Nothing else holds state: an agent restarted on the same
//! `state_dir` continues exactly where the store says.
//!
//! # Guarantees
//!
//! * Every state change that touches several keys is **one sled
//!   transaction** over all trees (see [`Store::tx`]): a crash leaves either
//!   all of it or none of it.
//! * Every method the agent acts upon returns only after the change is
//!   **durable** ([`Store::flush_durable`]: sled's flush, then fsync of the
//!   store's files and directories). These are: [`Store::enqueue_captured`],
//!   [`Store::mark_inflight`], [`Store::clear_inflight`],
//!   [`Store::complete_batch`], [`Store::record_failure`],
//!   [`Store::retry_parked`], [`Store::drop_parked`], [`Store::set_phase`],
//!   [`Store::save_load_chunk`], [`Store::record_mappings`],
//!   [`Store::set_server`] and [`Store::reset_queue`]. One durable flush
//!   per call, i.e. per batch, never per row. Reads never flush. These
//!   block on fsync: the agent's async loops run them on the store's own
//!   thread ([`StoreThread`]), never on a tokio worker.
//! * Every value carries a CRC32 checksum verified on each read; a mismatch
//!   or an undecodable value is [`StoreError::Corrupt`] naming the tree and
//!   the key, never a panic and never a guess.
//! * One process at a time: sled locks `state_dir/db`; a second open fails
//!   with [`StoreError::Locked`] ("another ctsync is running").
//! * Bounded memory: sled's page cache is capped ([`CACHE_BYTES`]), queued
//!   ops are stored in small chunks (see below), queue depth and other
//!   counts are kept in counters, never computed by scans, and reads page
//!   through the queue (`peek_batch` takes a maximum). Measured by
//!   `cargo bench --bench store`: ~33 MB resident, flat from 0.5 to 4
//!   million queued ops; ~12 MB for a fresh process reopening 4 million.
//!   Exceptions, both rare operator-driven events: parking an op scans its
//!   queue (to park the same key's later ops with it), and `parked` lists
//!   are read whole.
//!
//! # On-disk format (format version [`FORMAT_VERSION`])
//!
//! Integers in keys are big-endian so sled's byte order is numeric order.
//! `dir` is one byte (0 = a_to_b, 1 = b_to_a), `side` one byte (0 = a,
//! 1 = b), `table` is `u16 BE length || UTF-8 name` (length-prefixed so one
//! table's keys are never a prefix of another's), `rowkey` is the bincode
//! encoding of the key's `Vec<SqlValue>`.
//!
//! | tree          | key                          | value |
//! |---------------|------------------------------|-------|
//! | `meta`        | `format_version`             | u32 BE, no checksum (read first, whatever the format) |
//! | `meta`        | `next_parked_id`             | `CounterRec` |
//! | `meta`        | `staged/`, dir, table        | `StagedRec`: a source transaction read in pieces (see `staged`) |
//! | `watermarks`  | side, table                  | `WatermarkRec` (last captured CT version) |
//! | `queue`       | dir, table, first seq (u64 BE) | `QueueChunk`: up to 32 ops (≈ 2 KiB) with their seqs |
//! | `queues`      | dir, table                   | `QueueState`: next seq, depth, parked, in-flight range, last times, last error |
//! | `idmap`       | table, side, rowkey          | `MappedKey`: the same row's key on the other side |
//! | `tables`      | table                        | `TableRec`: mapped key count |
//! | `failures`    | dir, table, seq              | `FailureRec`: attempts of a still-queued op |
//! | `parked`      | dir, table, seq              | `ParkedRec`: the op, its error, attempts, times, store-wide id |
//! | `parked_keys` | dir, table, rowkey           | `ParkedKeyRec`: a key whose ops are parked |
//! | `phases`      | dir, table                   | `PhaseRec` |
//! | `servers`     | side                         | `ServerRec`: database identity, last current version |
//! | `exports`     | side, table                  | `ExportRec`: the CSV export watermark (version, file, rows, time) |
//! | `shapes`      | direction, table             | `ShapeRec`: the columns, in order, of the row images queued for the table |
//!
//! Queued operations whose encoding passes 64 KiB are kept in files under
//! `spill/` and the queue holds a stub (see `spill`).
//!
//! Queued ops are stored in small chunks, one chunk per sled value, which
//! keeps resident memory flat whatever the queue length (see
//! `records::QueueChunk` for the measurements behind the sizes). A chunk is keyed by the
//! seq of its first op when written; its ops are in seq order, chunks never
//! overlap, so chunks in key order are the queue in order. Completing part
//! of a chunk rewrites it with the rest under the same key; parking takes
//! ops out of their chunks, and a retry puts each back into the chunk whose
//! range holds its seq. `failures` and `parked` stay keyed per seq.
//!
//! Every value except `format_version` is `crc32(body) u32 BE || body`, the
//! body being a bincode 2 (`standard()` config, serde) encoding of a
//! versioned enum (`V1 { .. }`). A new layout adds a variant, so old records
//! stay readable; an incompatible change bumps [`FORMAT_VERSION`], and an
//! agent refuses a store whose version it does not know
//! ([`StoreError::Format`]).
//!
//! # Parking
//!
//! After `max_attempts` permanent failures an op moves from `queue` to
//! `parked` under its original seq, its key goes into `parked_keys`, and
//! every other queued op on that key moves to `parked` behind it in the same
//! transaction. Ops on a parked key captured later go straight to `parked`
//! when enqueued, so the applier never sees a parked key's ops: it simply
//! drains `queue` in order and other keys go on. Retry moves a key's parked
//! ops back under their original seqs, which are below the queue's current
//! head, so they are applied first and in their original order.

mod conflicts;
mod durable;
mod exports;
mod idmap;
mod parked;
mod pending;
mod queue;
mod quiet;
pub mod records;
mod shapes;
mod spill;
mod staged;
mod tables;
#[cfg(test)]
mod tests;
pub mod thread;

use records::{decode, encode};
use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

// Used by the agent once it is wired into main.rs.
#[allow(unused_imports)]
pub use conflicts::{ConflictRecord, Outcome, Settlement, SideImage};
#[allow(unused_imports)]
pub use exports::ExportMark;
#[allow(unused_imports)]
pub use parked::{FailureInfo, ParkedEntry, ParkedSelect};
pub use quiet::QuietMove;
#[allow(unused_imports)]
pub use records::TableFacts;
pub use shapes::QueueShape;
pub use spill::is_stub as is_spilled_stub;
pub use staged::{Piece, StagedRead};
#[allow(unused_imports)]
pub use tables::{LoadProgress, PendingChunk, Phase, QueueStatus, ServerIdentity};
pub use thread::StoreThread;

/// The store format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// sled's page cache. The agent must stay under 64 MB resident whatever the
/// queue length; the cache is the only part of sled that grows with data.
pub const CACHE_BYTES: u64 = 8 * 1024 * 1024;

const FORMAT_KEY: &[u8] = b"format_version";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "state store {dir} is locked: another ctsync is running with this state_dir \
         (stop it, or give this one another state_dir)"
    )]
    Locked { dir: PathBuf },
    #[error("state store {dir}: cannot open: {source}")]
    Open {
        dir: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error(
        "state store {dir} has format version {found}; this ctsync reads version {supported} \
         only, and refuses to guess (use the ctsync version that wrote it)"
    )]
    Format {
        dir: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("state store: {0}")]
    Sled(#[from] sled::Error),
    #[error(
        "state store: a background flush did not finish; the last completion may not be durable"
    )]
    FlushTask,
    #[error("state store file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state store is corrupt: tree `{tree}`, key `{key}`: {reason}")]
    Corrupt {
        tree: &'static str,
        key: String,
        reason: String,
    },
    #[error("state store: cannot encode a `{tree}` record: {message}")]
    Encode { tree: &'static str, message: String },
    #[error("state store: table name `{table}` is empty or longer than 1024 bytes")]
    InvalidTable { table: String },
    #[error(
        "state store: watermark of {table} on server {side} would go back from {current} to {new}"
    )]
    WatermarkBackwards {
        side: &'static str,
        table: String,
        current: i64,
        new: i64,
    },
    /// The watermark changed while changes were read from it (the table was
    /// reset for a re-initialisation): not written. Never reaches a user.
    #[error("state store: the watermark of {table} moved while its changes were read")]
    WatermarkMoved { table: String },
    /// A piece of a source transaction read in pieces that belongs to
    /// another read than the one staged (a bug: capture resumes the staged
    /// read, see `staged`). Nothing is written.
    #[error("state store: a piece of {table}'s read {piece:?} does not continue the staged read {staged:?} (from, through)")]
    StagedMismatch {
        table: String,
        staged: (i64, i64),
        piece: (i64, i64),
    },
    /// A load's progress written after its table left the load phase (a
    /// re-initialisation was requested, or the table stopped): not written;
    /// the load ends and the next one starts over.
    #[error("state store: the load of {table} was superseded (phase now {now})")]
    LoadSuperseded { table: String, now: String },
    #[error("no parked operation has id {id}")]
    ParkedNotFound { id: u64 },
    #[error("no conflict has id {id} (see `ctsync conflicts list`)")]
    ConflictNotFound { id: u64 },
    #[error("conflict {id} is not parked ({outcome}); only a parked conflict can be resolved")]
    ConflictNotOpen { id: u64, outcome: String },
    #[error("state store: in-flight range {from}..={through} is empty")]
    InvalidRange { from: u64, through: u64 },
    /// A fault injected by a test (`crate::fault`, or the store's own
    /// test points).
    #[error("injected fault `{0}`")]
    Injected(&'static str),
}

type TxError = ConflictableTransactionError<StoreError>;
type TxResult<T> = Result<T, TxError>;

fn abort(e: StoreError) -> TxError {
    ConflictableTransactionError::Abort(e)
}

/// A tree with its name, for error messages.
#[derive(Clone)]
struct Named {
    tree: sled::Tree,
    name: &'static str,
}

impl Named {
    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.tree.get(key)? {
            Some(v) => decode(self.name, key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Writes one key of a tree outside [`Tx`] (`exports`, `shapes`) in a
    /// transaction of its own; the caller makes it durable.
    fn put_alone<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StoreError> {
        self.tree
            .transaction(|t| {
                TxTree {
                    tree: t,
                    name: self.name,
                }
                .put(key, value)
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::Sled(e),
            })
    }
}

/// A tree inside a transaction.
struct TxTree<'a> {
    tree: &'a TransactionalTree,
    name: &'static str,
}

impl TxTree<'_> {
    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> TxResult<Option<T>> {
        match self.tree.get(key)? {
            Some(v) => decode(self.name, key, &v).map(Some).map_err(abort),
            None => Ok(None),
        }
    }
    fn put<T: Serialize>(&self, key: &[u8], value: &T) -> TxResult<()> {
        let bytes = encode(self.name, value).map_err(abort)?;
        self.tree.insert(key, bytes)?;
        Ok(())
    }
    fn remove(&self, key: &[u8]) -> TxResult<bool> {
        Ok(self.tree.remove(key)?.is_some())
    }
}

/// All trees, inside one transaction.
struct Tx<'a> {
    meta: TxTree<'a>,
    watermarks: TxTree<'a>,
    queue: TxTree<'a>,
    queues: TxTree<'a>,
    idmap: TxTree<'a>,
    tables: TxTree<'a>,
    failures: TxTree<'a>,
    parked: TxTree<'a>,
    parked_keys: TxTree<'a>,
    phases: TxTree<'a>,
    servers: TxTree<'a>,
    pending: TxTree<'a>,
    lost: TxTree<'a>,
    conflicts: TxTree<'a>,
    starts: TxTree<'a>,
}

struct Trees {
    meta: Named,
    watermarks: Named,
    queue: Named,
    queues: Named,
    idmap: Named,
    tables: Named,
    failures: Named,
    parked: Named,
    parked_keys: Named,
    phases: Named,
    servers: Named,
    pending: Named,
    lost: Named,
    conflicts: Named,
    starts: Named,
    /// Outside [`Tx`]: an export watermark is written alone, in a
    /// transaction of its own tree (see `exports`).
    exports: Named,
    /// Outside [`Tx`] too: one key per queue, written alone while that
    /// queue is empty (see `shapes`).
    shapes: Named,
}

/// The state store. Cheap to share (`Arc<Store>`); all methods take `&self`.
/// How long [`Store::open`] waits for a lock that is being released.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(1000);

pub struct Store {
    db: sled::Db,
    trees: Trees,
    files: Mutex<durable::DurableFiles>,
    /// One lock per queue: a change that first reads a range of a queue and
    /// then rewrites it in a transaction (complete, park, retry) must not
    /// interleave with an enqueue on the same queue. sled transactions
    /// cannot iterate, so this lock makes read-then-transact atomic. It is
    /// never held across a flush.
    queue_locks: Mutex<HashMap<Vec<u8>, Arc<Mutex<()>>>>,
    /// Where large queued operations live (see `spill`), and the queues
    /// whose completed spill files go at the next durable flush.
    spill_dir: PathBuf,
    spill_gc: Mutex<HashMap<Vec<u8>, u64>>,
    #[cfg(test)]
    fault: Mutex<Option<&'static str>>,
}

impl Store {
    fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
        sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            // LowSpace: sled compacts segments more eagerly, which keeps a
            // long-drained queue from leaving a large file behind.
            .mode(sled::Mode::LowSpace)
            // No background flusher: every change the agent acts upon is
            // flushed (and fsynced) explicitly, once per batch.
            .flush_every_ms(None)
            .open()
            .map_err(|source| match &source {
                sled::Error::Io(e) if e.to_string().contains("could not acquire lock") => {
                    StoreError::Locked {
                        dir: dir.to_path_buf(),
                    }
                }
                _ => StoreError::Open {
                    dir: dir.to_path_buf(),
                    source,
                },
            })
    }

    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(dir, CACHE_BYTES)
    }

    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        // The store holds captured row images: private to the agent's user
        // when ctsync creates the directory (an existing one is left as the
        // operator made it).
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        // sled releases its file lock from a background thread after a
        // `Db` is dropped, so a reopen in the same process (or right after
        // another process exited) can briefly see it held: retry for a
        // moment before reporting another owner.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        let db = loop {
            match Self::open_sled(dir, cache_bytes) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        let open = |name: &'static str| -> Result<Named, StoreError> {
            Ok(Named {
                tree: db.open_tree(name)?,
                name,
            })
        };
        let trees = Trees {
            meta: open("meta")?,
            watermarks: open("watermarks")?,
            queue: open("queue")?,
            queues: open("queues")?,
            idmap: open("idmap")?,
            tables: open("tables")?,
            failures: open("failures")?,
            parked: open("parked")?,
            parked_keys: open("parked_keys")?,
            phases: open("phases")?,
            servers: open("servers")?,
            pending: open("pending")?,
            lost: open("lost")?,
            conflicts: open("conflicts")?,
            starts: open("starts")?,
            exports: open("exports")?,
            shapes: open("shapes")?,
        };
        match trees.meta.tree.get(FORMAT_KEY)? {
            Some(v) => {
                let found = match <[u8; 4]>::try_from(v.as_ref()) {
                    Ok(b) => u32::from_be_bytes(b),
                    Err(_) => {
                        return Err(StoreError::Corrupt {
                            tree: "meta",
                            key: "format_version".into(),
                            reason: format!("{} bytes instead of 4", v.len()),
                        })
                    }
                };
                if found != FORMAT_VERSION {
                    return Err(StoreError::Format {
                        dir: dir.to_path_buf(),
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
            }
            None => {
                trees
                    .meta
                    .tree
                    .insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())?;
            }
        }
        let files = durable::DurableFiles::open(dir)?;
        let store = Store {
            db,
            trees,
            files: Mutex::new(files),
            queue_locks: Mutex::new(HashMap::new()),
            spill_dir: dir.join("spill"),
            spill_gc: Mutex::new(HashMap::new()),
            #[cfg(test)]
            fault: Mutex::new(None),
        };
        store.flush_durable()?;
        store.ensure_pending_index()?;
        Ok(store)
    }

    /// Makes every change so far durable: sled's flush, then fsync of the
    /// store's files (see `durable`). One call per batch.
    pub fn flush_durable(&self) -> Result<(), StoreError> {
        // Completions noted before this flush are durable after it: their
        // spill files can go then, not before (a crash would leave stubs
        // without their files).
        let completed = self.spill_take_completed();
        self.db.flush()?;
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        files.sync()?;
        drop(files);
        for (prefix, through) in completed {
            self.spill_gc(&prefix, through);
        }
        Ok(())
    }

    /// Runs `f` as one sled transaction over every tree. `f` may run more
    /// than once (sled retries on conflict), so it must not have side
    /// effects outside the transaction.
    fn tx<T>(&self, f: impl Fn(&Tx<'_>) -> TxResult<T>) -> Result<T, StoreError> {
        let t = &self.trees;
        // Every tree but `exports` (see `Trees`), in the order `Tx` names
        // them. More trees than sled's tuple impls take, hence a slice.
        let named: [&Named; 15] = [
            &t.meta,
            &t.watermarks,
            &t.queue,
            &t.queues,
            &t.idmap,
            &t.tables,
            &t.failures,
            &t.parked,
            &t.parked_keys,
            &t.phases,
            &t.servers,
            &t.pending,
            &t.lost,
            &t.conflicts,
            &t.starts,
        ];
        let trees: Vec<&sled::Tree> = named.iter().map(|n| &n.tree).collect();
        trees
            .as_slice()
            .transaction(|views| {
                let w = |i: usize| TxTree {
                    tree: &views[i],
                    name: named[i].name,
                };
                let tx = Tx {
                    meta: w(0),
                    watermarks: w(1),
                    queue: w(2),
                    queues: w(3),
                    idmap: w(4),
                    tables: w(5),
                    failures: w(6),
                    parked: w(7),
                    parked_keys: w(8),
                    phases: w(9),
                    servers: w(10),
                    pending: w(11),
                    lost: w(12),
                    conflicts: w(13),
                    starts: w(14),
                };
                f(&tx)
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::Sled(e),
            })
    }

    /// The lock of one queue (see `queue_locks`).
    fn queue_lock(&self, prefix: &[u8]) -> Arc<Mutex<()>> {
        let mut locks = self.queue_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks
            .entry(prefix.to_vec())
            .or_insert_with(|| Arc::new(Mutex::new(())))
            .clone()
    }

    /// A named point where tests make a transaction fail midway.
    #[cfg(test)]
    fn fault_point(&self, point: &'static str) -> TxResult<()> {
        let armed = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        if *armed == Some(point) {
            return Err(abort(StoreError::Injected(point)));
        }
        Ok(())
    }
    #[cfg(not(test))]
    #[inline(always)]
    fn fault_point(&self, _point: &'static str) -> TxResult<()> {
        Ok(())
    }

    #[cfg(test)]
    fn arm_fault(&self, point: Option<&'static str>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = point;
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
