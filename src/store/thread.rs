//! The store's own thread: where the async loops hand the store's blocking
//! work (transactions and their durable flush — `fdatasync` of the data
//! file, blobs and directory) so that an fsync never stalls a tokio worker
//! and the other tasks on it.
//!
//! Contract: [`StoreThread::run`] runs a closure on the thread and resolves
//! with its result once it returned — for a store method that is
//! "Durable", only after the flush — so the caller's ordering and
//! durability rules are exactly those of calling the method directly; only
//! where it waits changes. Jobs run one at a time, in the order sent. Reads
//! that touch only sled's cache (phases, watermarks, queue listings) stay
//! on the caller: they take microseconds and never fsync.
//!
//! Limits: at most [`JOBS_MAX`] jobs wait (each task of the agent has at
//! most two outstanding, so the bound is not reached in practice; a sender
//! finding it full waits [`FULL_WAIT_MS`] and tries again). A job that
//! panics answers [`StoreError::FlushTask`]; the thread goes on.
//!
//! Why crossbeam-channel: the thread blocks on its receiver (no runtime
//! there), the async senders never block on it (`try_send`).

use super::{Store, StoreError};
use crossbeam_channel::{bounded, Sender, TrySendError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Jobs waiting for the store thread at most.
pub const JOBS_MAX: usize = 1_024;
/// How long a sender waits when the job queue is full before trying again.
const FULL_WAIT_MS: u64 = 1;

type Job = Box<dyn FnOnce(&Store) + Send>;

/// A handle to the store thread; cloned freely. The thread ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct StoreThread {
    store: Arc<Store>,
    /// `None` when the thread could not be started: jobs then run on
    /// tokio's blocking pool, still off the async workers.
    jobs: Option<Sender<Job>>,
}

impl StoreThread {
    pub fn start(store: Arc<Store>) -> StoreThread {
        let (tx, rx) = bounded::<Job>(JOBS_MAX);
        let owned = store.clone();
        let started = std::thread::Builder::new()
            .name("ctsync-store".into())
            .spawn(move || {
                for job in rx.iter() {
                    job(&owned);
                }
            });
        let jobs = match started {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e,
                    "could not start the state store's thread; its work runs on the blocking pool");
                None
            }
        };
        StoreThread { store, jobs }
    }

    /// Runs `f` on the store thread and waits (asynchronously) for it.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let Some(jobs) = &self.jobs else {
            let store = self.store.clone();
            return tokio::task::spawn_blocking(move || f(&store))
                .await
                .unwrap_or(Err(StoreError::FlushTask));
        };
        let (reply, answer) = oneshot::channel();
        let mut job: Job = Box::new(move |store: &Store| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(store)))
                .unwrap_or(Err(StoreError::FlushTask));
            let _ = reply.send(result);
        });
        loop {
            match jobs.try_send(job) {
                Ok(()) => break,
                Err(TrySendError::Full(j)) => {
                    job = j;
                    tokio::time::sleep(Duration::from_millis(FULL_WAIT_MS)).await;
                }
                Err(TrySendError::Disconnected(_)) => return Err(StoreError::FlushTask),
            }
        }
        answer.await.unwrap_or(Err(StoreError::FlushTask))
    }

    /// [`Self::run`] in the background: the handle resolves with the result.
    pub fn spawn<T, F>(&self, f: F) -> tokio::task::JoinHandle<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let this = self.clone();
        tokio::spawn(async move { this.run(f).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn jobs_run_off_the_runtime_thread_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open"));
        let thread = StoreThread::start(store);
        let caller = std::thread::current().id();
        let mut handles = Vec::new();
        for i in 0..50u64 {
            handles.push(thread.spawn(move |s| {
                assert_ne!(std::thread::current().id(), caller);
                s.flush_durable()?;
                Ok(i)
            }));
        }
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.expect("join").expect("job"), i as u64);
        }
        // A job that panics answers an error; the thread goes on.
        let r: Result<(), _> = thread.run(|_| panic!("job fails")).await;
        assert!(matches!(r, Err(StoreError::FlushTask)));
        assert_eq!(thread.run(|_| Ok(7)).await.expect("after a panic"), 7);
    }
}
