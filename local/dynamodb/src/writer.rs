//! The store's only writer: one thread doing group commit, and the TTL sweeps.
//!
//! redb has one write transaction at a time, and a durable commit costs an `fsync` whatever
//! it holds. So the thread takes every request waiting, applies them all in one
//! transaction, commits once and answers each: under load a commit carries many
//! `BatchWriteItem`s and the `fsync` is paid once for all of them. Each request is still
//! atomic (it is applied whole inside one transaction, or the transaction fails and every
//! request in it is answered with the error).
//!
//! Durability: group commits are made with [`Durability::None`] (visible to readers at once,
//! on disk at the next checkpoint) and a durable checkpoint ([`Durability::Immediate`]) is
//! made at most [`CHECKPOINT_INTERVAL`] after the first write it covers, and when the store
//! closes (Ctrl-C, `RunningStack::stop`). A durable commit costs about 5 ms whatever it
//! holds; paid per group it halved the consumer's throughput and doubled the end-to-end
//! latency (BENCHMARKS.md). The price: a crash of the process or the machine (not a clean
//! stop) can lose the writes of the last [`CHECKPOINT_INTERVAL`]; redb then rolls back to the
//! last checkpoint, whole, and the store logs at open that it was not closed cleanly.
//!
//! The same thread sweeps expired items (DynamoDB TTL): at start and every
//! [`SWEEP_INTERVAL`], in steps of at most [`SWEEP_STEP`] items, each its own transaction,
//! with waiting writes served between steps, so a large backlog of expired items never holds
//! writes up for more than one step.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableTable};
use tokio::sync::oneshot;

use super::table::{EXPIRY, ITEMS, StoreError, ttl_seconds};

/// How often expired items are swept (DynamoDB itself takes up to a few days).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Items deleted per sweep transaction at most.
pub const SWEEP_STEP: usize = 1_000;
/// Longest time a written item stays only in memory before a durable checkpoint.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);
/// Items put or deleted per group commit at most (about 40 full `BatchWriteItem`s), so one
/// transaction's size and latency stay bounded whatever the backlog.
pub const MAX_GROUP_ITEMS: usize = 1_000;
/// How far in the past an `expiresAt` may lie and still expire: DynamoDB's TTL leaves an item
/// whose time is more than five years ago (it takes it for a value in another unit), so the
/// twin does too.
pub const TTL_HORIZON_SECS: i64 = 5 * 365 * 24 * 60 * 60;

/// One item ready to store.
pub(super) struct Row {
    pub symbol: String,
    pub timestamp: i64,
    /// The item's DynamoDB JSON.
    pub bytes: Vec<u8>,
    /// Its TTL, epoch seconds.
    pub expires: Option<i64>,
}

pub(super) enum Request {
    Write {
        puts: Vec<Row>,
        deletes: Vec<(String, i64)>,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Sweep everything expired before `now` (epoch seconds), answering with the count.
    Sweep {
        now: i64,
        done: oneshot::Sender<Result<usize, StoreError>>,
    },
    /// Answer what came before, then stop.
    Close { done: oneshot::Sender<()> },
}

pub(super) fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(super) fn spawn(
    db: Arc<Database>,
    requests: Receiver<Request>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("history-writer".to_owned())
        .spawn(move || run(&db, &requests))
}

/// The thread: serve requests, sweep when due; return when every sender is gone or at
/// [`Request::Close`].
fn run(db: &Database, requests: &Receiver<Request>) {
    let mut checkpoint = Checkpoint::default();
    let mut next_sweep = Instant::now();
    // A sweep left unfinished after a step, to resume once waiting writes are served.
    let mut sweeping = false;
    loop {
        let first = if sweeping {
            match requests.try_recv() {
                Ok(request) => Some(request),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            let due = checkpoint.due().map_or(next_sweep, |at| at.min(next_sweep));
            let wait = due.saturating_duration_since(Instant::now());
            match requests.recv_timeout(wait) {
                Ok(request) => Some(request),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    checkpoint.make(db);
                    return;
                }
            }
        };
        if checkpoint.due().is_some_and(|at| at <= Instant::now()) {
            checkpoint.make(db);
        }
        let Some(first) = first else {
            if Instant::now() < next_sweep && !sweeping {
                continue;
            }
            match sweep_step(db, now_seconds()) {
                Ok(removed) => sweeping = removed == SWEEP_STEP,
                Err(e) => {
                    tracing::warn!(error = %e, "history: expiry sweep failed");
                    sweeping = false;
                }
            }
            if !sweeping {
                next_sweep = Instant::now() + SWEEP_INTERVAL;
            }
            continue;
        };
        if !serve(db, first, requests, &mut checkpoint) {
            return;
        }
    }
}

/// Serves `first` and whatever else is waiting; `false` once asked to close.
fn serve(
    db: &Database,
    first: Request,
    requests: &Receiver<Request>,
    checkpoint: &mut Checkpoint,
) -> bool {
    let mut group = Vec::new();
    let mut items = 0usize;
    let mut next = Some(first);
    while let Some(request) = next.take() {
        match request {
            Request::Write {
                puts,
                deletes,
                done,
            } => {
                items += puts.len() + deletes.len();
                group.push((puts, deletes, done));
            }
            Request::Sweep { now, done } => {
                commit_group(db, std::mem::take(&mut group), checkpoint);
                items = 0;
                let _ = done.send(sweep_all(db, now));
            }
            Request::Close { done } => {
                commit_group(db, group, checkpoint);
                checkpoint.make(db);
                let _ = done.send(());
                return false;
            }
        }
        if items < MAX_GROUP_ITEMS {
            next = requests.try_recv().ok();
        }
    }
    commit_group(db, group, checkpoint);
    true
}

/// When the writes committed without `fsync` must be made durable.
#[derive(Default)]
struct Checkpoint {
    /// The first commit since the last durable one, if any.
    pending_since: Option<Instant>,
}

impl Checkpoint {
    /// The time a durable commit is due, if one is.
    fn due(&self) -> Option<Instant> {
        self.pending_since.map(|t| t + CHECKPOINT_INTERVAL)
    }

    /// Notes a commit made without `fsync`.
    fn committed(&mut self) {
        self.pending_since.get_or_insert_with(Instant::now);
    }

    /// Makes every earlier commit durable (an empty durable commit), if any is pending.
    fn make(&mut self, db: &Database) {
        if self.pending_since.is_none() {
            return;
        }
        let durable = (|| -> Result<(), StoreError> {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            txn.commit()?;
            Ok(())
        })();
        match durable {
            Ok(()) => self.pending_since = None,
            Err(e) => {
                // Tried again one interval later, not at once: a failing disk must not spin
                // this thread.
                self.pending_since = Some(Instant::now());
                tracing::error!(error = %e, "history: checkpoint failed; retried in 100 ms");
            }
        }
    }
}

type Pending = (
    Vec<Row>,
    Vec<(String, i64)>,
    oneshot::Sender<Result<(), StoreError>>,
);

/// Applies every request of `group` in one transaction and answers each with the outcome.
fn commit_group(db: &Database, group: Vec<Pending>, checkpoint: &mut Checkpoint) {
    if group.is_empty() {
        return;
    }
    let outcome = apply(db, &group);
    if outcome.is_ok() {
        checkpoint.committed();
    }
    if let Err(e) = &outcome {
        tracing::error!(error = %e, requests = group.len(), "history: write failed");
    }
    for (_, _, done) in group {
        let _ = done.send(outcome.clone());
    }
}

fn apply(db: &Database, group: &[Pending]) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::None)?;
    {
        let mut items = txn.open_table(ITEMS)?;
        let mut expiry = txn.open_table(EXPIRY)?;
        for (puts, deletes, _) in group {
            for (symbol, timestamp) in deletes {
                let old = items.remove((symbol.as_str(), *timestamp))?;
                if let Some(expires) = old.and_then(|old| stored_expiry(old.value())) {
                    expiry.remove((expires, symbol.as_str(), *timestamp))?;
                }
            }
            for row in puts {
                let key = (row.symbol.as_str(), row.timestamp);
                let old = items.insert(key, row.bytes.as_slice())?;
                let old_expires = old.and_then(|old| stored_expiry(old.value()));
                if let Some(expires) = old_expires {
                    expiry.remove((expires, row.symbol.as_str(), row.timestamp))?;
                }
                if let Some(expires) = row.expires {
                    expiry.insert((expires, row.symbol.as_str(), row.timestamp), ())?;
                }
            }
        }
    }
    txn.commit()?;
    Ok(())
}

/// The TTL of a stored item, read from its bytes without building the whole item.
fn stored_expiry(bytes: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Number<'a> {
        #[serde(rename = "N", borrow)]
        n: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Ttl<'a> {
        // TTL_ATTRIBUTE
        #[serde(rename = "expiresAt", borrow)]
        expires_at: Option<Number<'a>>,
    }
    let ttl: Ttl<'_> = serde_json::from_slice(bytes).ok()?;
    ttl_seconds(&ttl.expires_at?.n?)
}

/// Sweeps until nothing expired before `now` (within [`TTL_HORIZON_SECS`]) is left.
fn sweep_all(db: &Database, now: i64) -> Result<usize, StoreError> {
    let mut total = 0;
    loop {
        let removed = sweep_step(db, now)?;
        total += removed;
        if removed < SWEEP_STEP {
            return Ok(total);
        }
    }
}

/// Deletes up to [`SWEEP_STEP`] items that expired before `now` (and not more than
/// [`TTL_HORIZON_SECS`] before it), in one transaction.
fn sweep_step(db: &Database, now: i64) -> Result<usize, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let removed;
    {
        let mut items = txn.open_table(ITEMS)?;
        let mut expiry = txn.open_table(EXPIRY)?;
        // Every index key from `(now - horizon, …)` to below `(now, "", i64::MIN)` has
        // `now - horizon <= expiresAt < now`; older ones DynamoDB never deletes.
        let oldest = now.saturating_sub(TTL_HORIZON_SECS);
        let mut expired = Vec::new();
        for entry in expiry
            .range((oldest, "", i64::MIN)..(now, "", i64::MIN))?
            .take(SWEEP_STEP)
        {
            let (key, _) = entry?;
            let (expires, symbol, timestamp) = key.value();
            expired.push((expires, symbol.to_owned(), timestamp));
        }
        for (expires, symbol, timestamp) in &expired {
            expiry.remove((*expires, symbol.as_str(), *timestamp))?;
            items.remove((symbol.as_str(), *timestamp))?;
        }
        removed = expired.len();
    }
    if removed == 0 {
        txn.abort()?;
    } else {
        txn.commit()?;
        tracing::debug!(removed, "history: expired items swept");
    }
    Ok(removed)
}
