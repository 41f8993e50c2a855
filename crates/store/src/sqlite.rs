//! The embedded SQLite engine: one file in the data directory, one process at a time.
//!
//! Writes go through a single connection so that they queue in-process instead of failing with
//! `SQLITE_BUSY`; reads use connections beside it (WAL lets them run during a write). Every
//! commit is synced to disk before it returns (`synchronous = FULL`), which is what makes an
//! acknowledged request survive a crash or power loss.
//!
//! Commits are grouped: one writer task takes every commit that is waiting, applies each in a
//! savepoint of its own inside one transaction, and syncs that transaction once. A commit whose
//! expectations fail (or that fails in the database) is rolled back to its savepoint and fails
//! alone; the others in the group still commit. Each commit sees the writes of those before it
//! in the group, exactly as if they had run one after another, and none is acknowledged before
//! the group's transaction is synced.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection as _, Row, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::{Expect, Kind, ListQuery, Record, Store, StoreError, WorkItem, Write};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    parent TEXT,
    revision INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (account, kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_parent ON records (account, kind, parent, key);
CREATE TABLE IF NOT EXISTS work (
    deployment_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    node TEXT,
    lease_expires_at INTEGER,
    started INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    runner TEXT
);
CREATE INDEX IF NOT EXISTS work_by_node ON work (node);
";

/// The SQLite store. Holds an exclusive lock on `<database>.lock` for its whole life.
pub struct SqliteStore {
    point_reads: PointReaders,
    reads: SqlitePool,
    writes: SqlitePool,
    queue: mpsc::UnboundedSender<Pending>,
    cache: Arc<Mutex<RecordCache>>,
    _lock: File,
}

/// Records read lately, so that a hot read (an SDK waiter polling GetEnvironment, say) skips
/// the hand-off to SQLite's worker thread, which costs more than the read itself. It is correct
/// only because this process is the database's only writer: every commit removes the keys it
/// writes before it starts and again before it is acknowledged, and bumps `generation`, so a
/// read that began before a commit cannot put what it read into the cache after it. The second
/// removal is the writer task's, right after the write, so that it happens even when the caller
/// of the commit went away (a client that hung up) while its write still landed.
#[derive(Default)]
struct RecordCache {
    generation: u64,
    records: HashMap<(String, Kind, String), Record>,
    /// The bodies' bytes in `records`.
    bytes: usize,
}

impl RecordCache {
    /// How many records are kept; past that the cache starts afresh.
    const CAPACITY: usize = 8192;
    /// How many bytes of bodies are kept; past that the cache starts afresh.
    const MAX_BYTES: usize = 16 * 1024 * 1024;
    /// Larger records (registered bundles, say) are never kept: they are read rarely, and a few
    /// would take the room of thousands of environments.
    const MAX_RECORD: usize = 64 * 1024;

    fn forget(&mut self, keys: &[(String, Kind, String)]) {
        self.generation += 1;
        for key in keys {
            if let Some(record) = self.records.remove(key) {
                self.bytes -= record.body.len();
            }
        }
    }

    fn keep(&mut self, id: (String, Kind, String), record: &Record) {
        let size = record.body.len();
        if size > Self::MAX_RECORD {
            return;
        }
        if self.records.len() >= Self::CAPACITY || self.bytes + size > Self::MAX_BYTES {
            self.records.clear();
            self.bytes = 0;
        }
        if let Some(old) = self.records.insert(id, record.clone()) {
            self.bytes -= old.body.len();
        }
        self.bytes += size;
    }
}

/// Connections for point reads, which run on the calling thread instead of sqlx's worker thread.
///
/// sqlx gives every SQLite connection a thread of its own and hands each statement to it and
/// its rows back: two thread switches and wake-ups per read. For a point lookup in a B-tree
/// whose pages are in memory that hand-off costs several times the lookup, so that
/// GetEnvironment over 100,000 environments ran at 0.39 of its rate over 1,000 (which the read
/// cache holds). A point read takes microseconds, which a tokio worker can spend inline, as it
/// spends them on decoding. Lists, which read up to hundreds of records, and registered bundles,
/// which can be megabytes, stay on sqlx's pool; so does a point read that fails here (a busy
/// database, say), so that a worker thread never waits long.
struct PointReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Idle connections kept for the next reads, at least one per tokio worker thread; a burst
    /// beyond them opens more and closes them afterwards.
    keep: usize,
}

impl PointReaders {
    fn open(&self) -> Result<rusqlite::Connection, rusqlite::Error> {
        use rusqlite::OpenFlags;
        let connection = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // In WAL mode a reader is busy only in rare moments (recovering the log after a crash);
        // the read then goes to sqlx's pool, which may wait.
        connection.busy_timeout(Duration::from_millis(50))?;
        Ok(connection)
    }

    fn get(&self, account: &str, kind: Kind, key: &str) -> Result<Option<Record>, rusqlite::Error> {
        use rusqlite::OptionalExtension as _;
        let idle = self.idle.lock().expect("poisoned").pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open()?,
        };
        let record = connection
            .prepare_cached(
                "SELECT parent, revision, body FROM records
                 WHERE account = ?1 AND kind = ?2 AND key = ?3",
            )?
            .query_row((account, kind.as_str(), key), |row| {
                Ok(Record {
                    account: account.to_owned(),
                    kind,
                    key: key.to_owned(),
                    parent: row.get(0)?,
                    revision: row.get(1)?,
                    body: row.get(2)?,
                })
            })
            .optional()?;
        let mut idle = self.idle.lock().expect("poisoned");
        if idle.len() < self.keep {
            idle.push(connection);
        }
        Ok(record)
    }
}

/// The record keys a batch writes.
fn written_keys(writes: &[Write]) -> Vec<(String, Kind, String)> {
    writes
        .iter()
        .filter_map(|write| match write {
            Write::Put { record, .. } => {
                Some((record.account.clone(), record.kind, record.key.clone()))
            }
            Write::Delete {
                account, kind, key, ..
            } => Some((account.clone(), *kind, key.clone())),
            Write::Enqueue(_) | Write::RequestCancel { .. } | Write::Finish { .. } => None,
        })
        .collect()
}

/// A write waiting for the writer task, with where its result goes.
struct Pending {
    op: Op,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// What the writer task can group.
enum Op {
    /// [`Store::commit`].
    Commit(Vec<Write>),
    /// [`Store::mark_started`].
    MarkStarted {
        deployment_id: String,
        node: String,
        runner: String,
    },
}

/// The most commits grouped in one transaction.
const MAX_GROUP: usize = 512;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`. Fails when another process has it.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let lock = lock_beside(path)?;
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| StoreError::Open(e.to_string()))?
            .filename(path)
            .create_if_missing(true)
            // Records are stored in the primary key's B-tree (WITHOUT ROWID), where a row longer
            // than about a quarter of a page spills into an overflow page of its own: with 4 KB
            // pages every deployment record (about 1 KB) took 4 KB on disk. 8 KB pages keep rows
            // up to 2 KB inline. Only new databases take it; existing ones keep their page size.
            .page_size(8192)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false);
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&writes).await?;
        let reads = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (queue, waiting) = mpsc::unbounded_channel();
        let cache = Arc::new(Mutex::new(RecordCache::default()));
        tokio::spawn(group_writer(writes.clone(), waiting, Arc::clone(&cache)));
        Ok(SqliteStore {
            point_reads: PointReaders {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                // Read once: the standard library reads cgroup files to answer it.
                keep: std::thread::available_parallelism().map_or(4, |n| n.get().max(4)),
            },
            reads,
            writes,
            queue,
            cache,
            _lock: lock,
        })
    }

    /// A point read through sqlx's pool.
    async fn pooled_get(
        &self,
        account: &str,
        kind: Kind,
        key: &str,
    ) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(
            "SELECT key, parent, revision, body FROM records
             WHERE account = ? AND kind = ? AND key = ?",
        )
        .bind(account)
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(&self.reads)
        .await?;
        Ok(row
            .map(|r| record_from_row(&r, account, kind))
            .transpose()?)
    }

    async fn submit(&self, op: Op) -> Result<(), StoreError> {
        let (done, result) = oneshot::channel();
        self.queue
            .send(Pending { op, done })
            .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?;
        result
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
    }
}

/// The writer task: takes every commit that is waiting (up to [`MAX_GROUP`]) and commits the
/// group in one transaction, until the store is dropped. The keys the group wrote leave the read
/// cache before any commit of it is acknowledged.
async fn group_writer(
    pool: SqlitePool,
    mut waiting: mpsc::UnboundedReceiver<Pending>,
    cache: Arc<Mutex<RecordCache>>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while waiting.recv_many(&mut group, MAX_GROUP).await > 0 {
        let (ops, dones): (Vec<Op>, Vec<_>) = group.drain(..).map(|p| (p.op, p.done)).unzip();
        let keys: Vec<_> = ops
            .iter()
            .flat_map(|op| match op {
                Op::Commit(writes) => written_keys(writes),
                Op::MarkStarted { .. } => Vec::new(),
            })
            .collect();
        let outcome = commit_group(&pool, ops).await;
        cache.lock().expect("poisoned").forget(&keys);
        let results = match outcome {
            Ok(results) => results,
            // The group's transaction failed as a whole: nothing in it was written.
            Err(e) => {
                let message = e.to_string();
                (0..dones.len())
                    .map(|_| Err(group_failure(&message)))
                    .collect()
            }
        };
        for (done, result) in dones.into_iter().zip(results) {
            // A caller that went away no longer needs the answer; its write stands.
            let _ = done.send(result);
        }
    }
}

fn group_failure(message: &str) -> StoreError {
    StoreError::Database(sqlx::Error::Io(std::io::Error::other(format!(
        "the commit failed: {message}"
    ))))
}

/// Commits `ops` in one transaction, each in a savepoint of its own (when there are several),
/// and returns each one's result. Fails as a whole when the transaction cannot begin or commit.
async fn commit_group(
    pool: &SqlitePool,
    ops: Vec<Op>,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(ops.len());
    if ops.len() == 1 {
        let op = ops.into_iter().next().expect("one op");
        let result = apply_op(&mut tx, op).await;
        if result.is_err() {
            tx.rollback().await?;
            return Ok(vec![result]);
        }
        results.push(result);
    } else {
        for op in ops {
            let mut savepoint = tx.begin().await?;
            let result = apply_op(&mut savepoint, op).await;
            if result.is_ok() {
                savepoint.commit().await?;
            } else {
                savepoint.rollback().await?;
            }
            results.push(result);
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn apply_op(conn: &mut SqliteConnection, op: Op) -> Result<(), StoreError> {
    match op {
        Op::Commit(writes) => {
            for write in writes {
                apply(conn, write).await?;
            }
            Ok(())
        }
        Op::MarkStarted {
            deployment_id,
            node,
            runner,
        } => {
            let done = sqlx::query(
                "UPDATE work SET started = 1, runner = ? WHERE deployment_id = ? AND node = ?",
            )
            .bind(runner)
            .bind(&deployment_id)
            .bind(node)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict(format!(
                    "deployment {deployment_id} is no longer held by this node"
                )))
            }
        }
    }
}

/// Takes the lock file that keeps a second protond off the same database.
fn lock_beside(path: &Path) -> Result<File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::Open(format!("{}: {e}", Path::new(&lock_path).display())))?;
    file.try_lock().map_err(|_| {
        StoreError::Open(format!(
            "{} is in use by another protond process",
            path.display()
        ))
    })?;
    Ok(file)
}

fn record_from_row(row: &SqliteRow, account: &str, kind: Kind) -> Result<Record, sqlx::Error> {
    Ok(Record {
        account: account.to_owned(),
        kind,
        key: row.try_get("key")?,
        parent: row.try_get("parent")?,
        revision: row.try_get("revision")?,
        body: row.try_get("body")?,
    })
}

fn work_from_row(row: &SqliteRow) -> Result<WorkItem, sqlx::Error> {
    Ok(WorkItem {
        deployment_id: row.try_get("deployment_id")?,
        account: row.try_get("account")?,
        node: row.try_get("node")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        started: row.try_get::<i64, _>("started")? != 0,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        runner: row.try_get("runner")?,
    })
}

async fn current_revision(
    tx: &mut SqliteConnection,
    account: &str,
    kind: Kind,
    key: &str,
) -> Result<Option<i64>, StoreError> {
    let row =
        sqlx::query("SELECT revision FROM records WHERE account = ? AND kind = ? AND key = ?")
            .bind(account)
            .bind(kind.as_str())
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Checks what a write expects against the revision found (`None` when absent).
fn check(expect: Expect, found: Option<i64>, kind: Kind, key: &str) -> Result<(), StoreError> {
    let holds = match (expect, found) {
        (Expect::Any, _) => true,
        (Expect::Absent, found) => found.is_none(),
        (Expect::Revision(want), Some(have)) => want == have,
        (Expect::Revision(_), None) => false,
    };
    if holds {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "{} {key} changed",
            kind.as_str()
        )))
    }
}

async fn apply(tx: &mut SqliteConnection, write: Write) -> Result<(), StoreError> {
    match write {
        Write::Put { record, expect } => {
            let found = current_revision(tx, &record.account, record.kind, &record.key).await?;
            check(expect, found, record.kind, &record.key)?;
            sqlx::query(
                "INSERT INTO records (account, kind, key, parent, revision, body)
                 VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT (account, kind, key) DO UPDATE SET
                   parent = excluded.parent, revision = excluded.revision, body = excluded.body",
            )
            .bind(&record.account)
            .bind(record.kind.as_str())
            .bind(&record.key)
            .bind(&record.parent)
            .bind(found.unwrap_or(0) + 1)
            .bind(&record.body)
            .execute(&mut *tx)
            .await?;
        }
        Write::Delete {
            account,
            kind,
            key,
            expect,
        } => {
            let found = current_revision(tx, &account, kind, &key).await?;
            check(expect, found, kind, &key)?;
            sqlx::query("DELETE FROM records WHERE account = ? AND kind = ? AND key = ?")
                .bind(&account)
                .bind(kind.as_str())
                .bind(&key)
                .execute(&mut *tx)
                .await?;
        }
        Write::Enqueue(item) => {
            sqlx::query("INSERT INTO work (deployment_id, account) VALUES (?, ?)")
                .bind(&item.deployment_id)
                .bind(&item.account)
                .execute(&mut *tx)
                .await?;
        }
        Write::RequestCancel { deployment_id } => {
            sqlx::query("UPDATE work SET cancel_requested = 1 WHERE deployment_id = ?")
                .bind(&deployment_id)
                .execute(&mut *tx)
                .await?;
        }
        Write::Finish {
            deployment_id,
            node,
        } => {
            let done = sqlx::query("DELETE FROM work WHERE deployment_id = ? AND node = ?")
                .bind(&deployment_id)
                .bind(&node)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "deployment {deployment_id} is no longer held by this node"
                )));
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(
        &self,
        account: &str,
        kind: Kind,
        key: &str,
    ) -> Result<Option<Record>, StoreError> {
        let id = (account.to_owned(), kind, key.to_owned());
        let generation = {
            let cache = self.cache.lock().expect("poisoned");
            if let Some(record) = cache.records.get(&id) {
                return Ok(Some(record.clone()));
            }
            cache.generation
        };
        let point_read = match kind {
            Kind::Bundle => None,
            _ => self
                .point_reads
                .get(account, kind, key)
                .inspect_err(|e| tracing::debug!(error = %e, "point read failed; using the pool"))
                .ok(),
        };
        let record = match point_read {
            Some(record) => record,
            None => self.pooled_get(account, kind, key).await?,
        };
        if let Some(record) = &record {
            let mut cache = self.cache.lock().expect("poisoned");
            // Kept only when no commit started since the read began.
            if cache.generation == generation {
                cache.keep(id, record);
            }
        }
        Ok(record)
    }

    async fn list(
        &self,
        account: &str,
        kind: Kind,
        query: &ListQuery,
    ) -> Result<Vec<Record>, StoreError> {
        // Fixed statements rather than one built at run time: each gets its own plan on the
        // primary key or the (account, kind, parent, key) index. The position (`after`) has
        // statements of its own: written as `(?3 IS NULL OR key > ?3)`, SQLite cannot use it to
        // seek, and a deep page would scan every row before it. Listing by parent names its
        // index: without statistics SQLite prefers the primary key and filters on `parent`,
        // which reads every record of the kind to list one environment's deployments.
        let sql = match (
            query.parent.is_some(),
            query.descending,
            query.after.is_some(),
        ) {
            (false, false, false) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = ?1 AND kind = ?2 AND ?3 IS NULL
                 ORDER BY key ASC LIMIT ?4"
            }
            (false, false, true) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = ?1 AND kind = ?2 AND key > ?3
                 ORDER BY key ASC LIMIT ?4"
            }
            (false, true, false) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = ?1 AND kind = ?2 AND ?3 IS NULL
                 ORDER BY key DESC LIMIT ?4"
            }
            (false, true, true) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = ?1 AND kind = ?2 AND key < ?3
                 ORDER BY key DESC LIMIT ?4"
            }
            (true, false, false) => {
                "SELECT key, parent, revision, body FROM records INDEXED BY records_by_parent
                 WHERE account = ?1 AND kind = ?2 AND ?3 IS NULL AND parent = ?5
                 ORDER BY key ASC LIMIT ?4"
            }
            (true, false, true) => {
                "SELECT key, parent, revision, body FROM records INDEXED BY records_by_parent
                 WHERE account = ?1 AND kind = ?2 AND key > ?3 AND parent = ?5
                 ORDER BY key ASC LIMIT ?4"
            }
            (true, true, false) => {
                "SELECT key, parent, revision, body FROM records INDEXED BY records_by_parent
                 WHERE account = ?1 AND kind = ?2 AND ?3 IS NULL AND parent = ?5
                 ORDER BY key DESC LIMIT ?4"
            }
            (true, true, true) => {
                "SELECT key, parent, revision, body FROM records INDEXED BY records_by_parent
                 WHERE account = ?1 AND kind = ?2 AND key < ?3 AND parent = ?5
                 ORDER BY key DESC LIMIT ?4"
            }
        };
        let rows = sqlx::query(sql)
            .bind(account)
            .bind(kind.as_str())
            .bind(&query.after)
            .bind(i64::from(query.limit))
            .bind(&query.parent)
            .fetch_all(&self.reads)
            .await?;
        Ok(rows
            .iter()
            .map(|r| record_from_row(r, account, kind))
            .collect::<Result<_, _>>()?)
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        // The writer task removes the keys again once the write is done.
        self.cache
            .lock()
            .expect("poisoned")
            .forget(&written_keys(&writes));
        self.submit(Op::Commit(writes)).await
    }

    async fn claim(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let mut tx = self.writes.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query(
            "SELECT * FROM work WHERE node IS NULL OR lease_expires_at < ?
             ORDER BY deployment_id LIMIT ?",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .iter()
            .map(work_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        for item in &items {
            sqlx::query("UPDATE work SET node = ?, lease_expires_at = ? WHERE deployment_id = ?")
                .bind(node)
                .bind(lease_until)
                .bind(&item.deployment_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(items)
    }

    async fn renew(&self, node: &str, lease_until: i64) -> Result<Vec<String>, StoreError> {
        let mut tx = self.writes.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("UPDATE work SET lease_expires_at = ? WHERE node = ?")
            .bind(lease_until)
            .bind(node)
            .execute(&mut *tx)
            .await?;
        let cancelled =
            sqlx::query("SELECT deployment_id FROM work WHERE node = ? AND cancel_requested = 1")
                .bind(node)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(cancelled.iter().map(|r| r.get(0)).collect())
    }

    async fn mark_started(
        &self,
        deployment_id: &str,
        node: &str,
        runner: &str,
    ) -> Result<(), StoreError> {
        self.submit(Op::MarkStarted {
            deployment_id: deployment_id.to_owned(),
            node: node.to_owned(),
            runner: runner.to_owned(),
        })
        .await
    }

    async fn work_item(&self, deployment_id: &str) -> Result<Option<WorkItem>, StoreError> {
        let row = sqlx::query("SELECT * FROM work WHERE deployment_id = ?")
            .bind(deployment_id)
            .fetch_optional(&self.reads)
            .await?;
        Ok(row.map(|r| work_from_row(&r)).transpose()?)
    }

    fn is_exclusive(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, body: &str, expect: Expect) -> Write {
        Write::Put {
            record: Record {
                account: "a".into(),
                kind: Kind::Environment,
                key: key.into(),
                parent: None,
                revision: 0,
                body: body.as_bytes().to_vec(),
            },
            expect,
        }
    }

    /// Commits sent together share a group; a conflicting one fails alone, and each sees the
    /// writes of those before it, as if they ran one after another.
    #[tokio::test]
    async fn a_conflict_fails_alone_in_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).await.unwrap();
        store
            .commit(vec![put("shared", "v1", Expect::Absent)])
            .await
            .unwrap();
        let mut commits = Vec::new();
        for i in 0..20 {
            let key = format!("own-{i}");
            commits.push(store.commit(vec![put(&key, "x", Expect::Absent)]));
            // Both racers expect revision 1: exactly one can win.
            commits.push(store.commit(vec![
                put(&format!("racer-{i}"), "x", Expect::Absent),
                put("shared", &format!("by {i}"), Expect::Revision(1)),
            ]));
        }
        let results = futures_join_all(commits).await;
        let won: Vec<usize> = (0..20).filter(|i| results[2 * i + 1].is_ok()).collect();
        assert_eq!(won.len(), 1, "exactly one racer wins: {results:?}");
        for i in 0..20 {
            assert!(
                results[2 * i].is_ok(),
                "an unrelated commit failed: {results:?}"
            );
            let racer = store
                .get("a", Kind::Environment, &format!("racer-{i}"))
                .await
                .unwrap();
            // A failed commit wrote nothing, not even its first write.
            assert_eq!(racer.is_some(), won.contains(&i));
        }
        let shared = store.get("a", Kind::Environment, "shared").await.unwrap();
        let shared = shared.unwrap();
        assert_eq!(shared.revision, 2);
        assert_eq!(shared.body, format!("by {}", won[0]).into_bytes());
        for (i, result) in results.iter().enumerate() {
            if i % 2 == 1 && !won.contains(&(i / 2)) {
                assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
            }
        }
    }

    /// A caller that goes away while its commit is being written (a client that hung up) must
    /// not leave the record it replaced in the read cache: the write still lands, and reads
    /// then see it.
    #[tokio::test]
    async fn an_abandoned_commit_leaves_no_stale_read_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).await.unwrap();
        store
            .commit(vec![put("k", "v1", Expect::Absent)])
            .await
            .unwrap();
        let read = store.get("a", Kind::Environment, "k").await.unwrap();
        assert_eq!(read.unwrap().body, b"v1");
        // Polled once (the commit is queued), then dropped.
        let abandoned = store.commit(vec![put("k", "v2", Expect::Revision(1))]);
        let _ = tokio::time::timeout(Duration::ZERO, abandoned).await;
        // A read right away may still see v1, and cache it, until the write lands.
        let _ = store.get("a", Kind::Environment, "k").await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let read = store.get("a", Kind::Environment, "k").await.unwrap();
            if read.unwrap().body == b"v2" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "v1 stayed in the cache"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Runs the futures concurrently on this task and returns their outputs in order.
    async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut set = Vec::new();
        for future in futures {
            set.push(Box::pin(future));
        }
        let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (slot, future) in outputs.iter_mut().zip(set.iter_mut()) {
                if slot.is_none() {
                    match future.as_mut().poll(cx) {
                        std::task::Poll::Ready(out) => *slot = Some(out),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        outputs.into_iter().map(|o| o.expect("ready")).collect()
    }

    fn sized(key: &str, size: usize) -> ((String, Kind, String), Record) {
        let record = Record {
            account: "a".into(),
            kind: Kind::Environment,
            key: key.into(),
            parent: None,
            revision: 1,
            body: vec![b'x'; size],
        };
        (("a".into(), Kind::Environment, key.into()), record)
    }

    #[test]
    fn the_read_cache_keeps_small_records_within_its_byte_bound() {
        let mut cache = RecordCache::default();
        let (id, big) = sized("big", RecordCache::MAX_RECORD + 1);
        cache.keep(id, &big);
        assert!(cache.records.is_empty(), "a large record is never kept");

        let (id, small) = sized("small", 1000);
        cache.keep(id.clone(), &small);
        cache.keep(id.clone(), &small);
        assert_eq!((cache.records.len(), cache.bytes), (1, 1000));
        cache.forget(&[id]);
        assert_eq!((cache.records.len(), cache.bytes), (0, 0));

        let per = RecordCache::MAX_RECORD;
        for n in 0..(RecordCache::MAX_BYTES / per + 3) {
            let (id, record) = sized(&format!("r{n}"), per);
            cache.keep(id, &record);
            assert!(cache.bytes <= RecordCache::MAX_BYTES);
        }
    }
}
