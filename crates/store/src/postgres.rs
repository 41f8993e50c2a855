//! The PostgreSQL engine, for several protond nodes serving one installation.
//!
//! Any node may answer any request; deployments are claimed with `FOR UPDATE SKIP LOCKED`, so
//! two nodes never take the same item, and a dead node's items are claimed by another once
//! their lease has run out. Expectations are checked by the writes themselves (an `UPDATE ...
//! WHERE revision = $n`, an `INSERT ... ON CONFLICT DO NOTHING`), so a commit needs no
//! stronger isolation than PostgreSQL's default. Keys use the "C" collation so that they sort
//! byte by byte, as in SQLite, and pages come out in the same order on both engines.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::{Expect, Kind, ListQuery, Record, Store, StoreError, WorkItem, Write};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS records (
    account TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    parent TEXT COLLATE "C",
    revision BIGINT NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (account, kind, key)
);
CREATE INDEX IF NOT EXISTS records_by_parent ON records (account, kind, parent, key);
CREATE TABLE IF NOT EXISTS work (
    deployment_id TEXT COLLATE "C" PRIMARY KEY,
    account TEXT NOT NULL,
    node TEXT,
    lease_expires_at BIGINT,
    started BOOLEAN NOT NULL DEFAULT FALSE,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    runner TEXT
);
CREATE INDEX IF NOT EXISTS work_by_node ON work (node);
"#;

/// The PostgreSQL store.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/database`) and creates the tables if
    /// needed. With `schema`, every table lives in that schema, which is created if needed:
    /// several installations (or test runs) can then share one database.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<PgStore, StoreError> {
        let mut options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Open(e.to_string()))?;
        if let Some(schema) = schema {
            let plain = !schema.is_empty()
                && schema
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !plain {
                return Err(StoreError::Open(format!(
                    "schema {schema:?} must be [A-Za-z0-9_]+"
                )));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone());
            let admin = admin.await?;
            let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&admin)
                .await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        // Two nodes starting at once may both create the tables; the lock makes the second wait.
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(7261696)")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(PgStore { pool })
    }
}

fn record_from_row(row: &PgRow, account: &str, kind: Kind) -> Result<Record, sqlx::Error> {
    Ok(Record {
        account: account.to_owned(),
        kind,
        key: row.try_get("key")?,
        parent: row.try_get("parent")?,
        revision: row.try_get("revision")?,
        body: row.try_get("body")?,
    })
}

fn work_from_row(row: &PgRow) -> Result<WorkItem, sqlx::Error> {
    Ok(WorkItem {
        deployment_id: row.try_get("deployment_id")?,
        account: row.try_get("account")?,
        node: row.try_get("node")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        started: row.try_get("started")?,
        cancel_requested: row.try_get("cancel_requested")?,
        runner: row.try_get("runner")?,
    })
}

fn conflict(kind: Kind, key: &str) -> StoreError {
    StoreError::Conflict(format!("{} {key} changed", kind.as_str()))
}

/// Applies one write; the write itself checks its expectation.
async fn apply(tx: &mut Transaction<'static, Postgres>, write: Write) -> Result<(), StoreError> {
    match write {
        Write::Put { record, expect } => put(tx, record, expect).await?,
        Write::Delete {
            account,
            kind,
            key,
            expect,
        } => {
            let done = match expect {
                Expect::Revision(revision) => {
                    sqlx::query(
                        "DELETE FROM records
                         WHERE account = $1 AND kind = $2 AND key = $3 AND revision = $4",
                    )
                    .bind(&account)
                    .bind(kind.as_str())
                    .bind(&key)
                    .bind(revision)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected()
                        == 1
                }
                Expect::Any | Expect::Absent => {
                    let deleted = sqlx::query(
                        "DELETE FROM records WHERE account = $1 AND kind = $2 AND key = $3",
                    )
                    .bind(&account)
                    .bind(kind.as_str())
                    .bind(&key)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    expect == Expect::Any || deleted == 0
                }
            };
            done.then_some(()).ok_or_else(|| conflict(kind, &key))?;
        }
        Write::Enqueue(item) => {
            sqlx::query("INSERT INTO work (deployment_id, account) VALUES ($1, $2)")
                .bind(&item.deployment_id)
                .bind(&item.account)
                .execute(&mut **tx)
                .await?;
        }
        Write::RequestCancel { deployment_id } => {
            sqlx::query("UPDATE work SET cancel_requested = TRUE WHERE deployment_id = $1")
                .bind(&deployment_id)
                .execute(&mut **tx)
                .await?;
        }
        Write::Finish {
            deployment_id,
            node,
        } => {
            let done = sqlx::query("DELETE FROM work WHERE deployment_id = $1 AND node = $2")
                .bind(&deployment_id)
                .bind(&node)
                .execute(&mut **tx)
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

async fn put(
    tx: &mut Transaction<'static, Postgres>,
    record: Record,
    expect: Expect,
) -> Result<(), StoreError> {
    let statement = match expect {
        Expect::Absent => sqlx::query(
            "INSERT INTO records (account, kind, key, parent, revision, body)
             VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT DO NOTHING",
        ),
        Expect::Revision(_) => sqlx::query(
            "UPDATE records SET parent = $4, body = $5, revision = revision + 1
             WHERE account = $1 AND kind = $2 AND key = $3 AND revision = $6",
        ),
        Expect::Any => sqlx::query(
            "INSERT INTO records (account, kind, key, parent, revision, body)
             VALUES ($1, $2, $3, $4, 1, $5)
             ON CONFLICT (account, kind, key) DO UPDATE SET
               parent = excluded.parent, body = excluded.body,
               revision = records.revision + 1",
        ),
    };
    let revision = match expect {
        Expect::Revision(revision) => revision,
        Expect::Absent | Expect::Any => 0,
    };
    let query = statement
        .bind(&record.account)
        .bind(record.kind.as_str())
        .bind(&record.key)
        .bind(&record.parent)
        .bind(&record.body);
    let query = if matches!(expect, Expect::Revision(_)) {
        query.bind(revision)
    } else {
        query
    };
    let affected = query.execute(&mut **tx).await?.rows_affected();
    if affected == 1 {
        Ok(())
    } else {
        Err(conflict(record.kind, &record.key))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn get(
        &self,
        account: &str,
        kind: Kind,
        key: &str,
    ) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(
            "SELECT key, parent, revision, body FROM records
             WHERE account = $1 AND kind = $2 AND key = $3",
        )
        .bind(account)
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| record_from_row(&r, account, kind))
            .transpose()?)
    }

    async fn list(
        &self,
        account: &str,
        kind: Kind,
        query: &ListQuery,
    ) -> Result<Vec<Record>, StoreError> {
        // Fixed statements, one per shape, so each keeps its own plan on the index; the
        // position has statements of its own because `($3 IS NULL OR key > $3)` cannot seek.
        let sql = match (
            query.parent.is_some(),
            query.descending,
            query.after.is_some(),
        ) {
            (false, false, false) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = $1 AND kind = $2 ORDER BY key ASC LIMIT $3"
            }
            (false, false, true) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = $1 AND kind = $2 AND key > $4 ORDER BY key ASC LIMIT $3"
            }
            (false, true, false) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = $1 AND kind = $2 ORDER BY key DESC LIMIT $3"
            }
            (false, true, true) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = $1 AND kind = $2 AND key < $4 ORDER BY key DESC LIMIT $3"
            }
            (true, false, false) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = $1 AND kind = $2 AND parent = $5 ORDER BY key ASC LIMIT $3"
            }
            (true, false, true) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = $1 AND kind = $2 AND parent = $5 AND key > $4
                 ORDER BY key ASC LIMIT $3"
            }
            (true, true, false) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = $1 AND kind = $2 AND parent = $5 ORDER BY key DESC LIMIT $3"
            }
            (true, true, true) => {
                "SELECT key, parent, revision, body FROM records
                 WHERE account = $1 AND kind = $2 AND parent = $5 AND key < $4
                 ORDER BY key DESC LIMIT $3"
            }
        };
        // Parameters are bound in order ($1, $2, $3 ...), so the ones a statement does not use
        // are left out from the end: the position ($4) only when given, the parent ($5) too.
        let mut statement = sqlx::query(sql)
            .bind(account)
            .bind(kind.as_str())
            .bind(i64::from(query.limit));
        match (&query.after, &query.parent) {
            (Some(after), Some(parent)) => statement = statement.bind(after).bind(parent),
            (Some(after), None) => statement = statement.bind(after),
            // $4 is unused but $5 is: PostgreSQL needs every placeholder up to the highest.
            (None, Some(parent)) => statement = statement.bind(None::<String>).bind(parent),
            (None, None) => {}
        }
        let rows = statement.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| record_from_row(r, account, kind))
            .collect::<Result<_, _>>()?)
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for write in writes {
            apply(&mut tx, write).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<WorkItem>, StoreError> {
        // The items are returned as they were before the claim (the `picked` rows), so the
        // caller sees whether a previous holder had started them.
        let rows = sqlx::query(
            "WITH picked AS (
                 SELECT * FROM work
                 WHERE node IS NULL OR lease_expires_at < $3
                 ORDER BY deployment_id LIMIT $4
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE work SET node = $1, lease_expires_at = $2
             FROM picked WHERE work.deployment_id = picked.deployment_id
             RETURNING picked.*",
        )
        .bind(node)
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(work_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        items.sort_by(|a, b| a.deployment_id.cmp(&b.deployment_id));
        Ok(items)
    }

    async fn renew(&self, node: &str, lease_until: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "UPDATE work SET lease_expires_at = $2 WHERE node = $1
             RETURNING deployment_id, cancel_requested",
        )
        .bind(node)
        .bind(lease_until)
        .fetch_all(&self.pool)
        .await?;
        let mut cancelled = Vec::new();
        for row in rows {
            if row.try_get::<bool, _>("cancel_requested")? {
                cancelled.push(row.try_get("deployment_id")?);
            }
        }
        cancelled.sort();
        Ok(cancelled)
    }

    async fn mark_started(
        &self,
        deployment_id: &str,
        node: &str,
        runner: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE work SET started = TRUE, runner = $1 WHERE deployment_id = $2 AND node = $3",
        )
        .bind(runner)
        .bind(deployment_id)
        .bind(node)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "deployment {deployment_id} is no longer held by this node"
            )))
        }
    }

    async fn work_item(&self, deployment_id: &str) -> Result<Option<WorkItem>, StoreError> {
        let row = sqlx::query("SELECT * FROM work WHERE deployment_id = $1")
            .bind(deployment_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| work_from_row(&r)).transpose()?)
    }

    fn is_exclusive(&self) -> bool {
        false
    }
}
