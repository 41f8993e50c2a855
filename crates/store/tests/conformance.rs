//! The behaviour every store engine must have: each case runs against SQLite and against
//! PostgreSQL (on a schema of its own in the database at `PROTOND_TEST_DATABASE_URL`, by default
//! the local server's `test` database). Without a reachable PostgreSQL the PostgreSQL cases are
//! skipped with a note, except under CI, where they fail.

use protond_store::{
    Expect, Kind, ListQuery, PgStore, Record, SqliteStore, Store, StoreError, WorkItem, Write,
};

/// Runs each named case against both engines.
macro_rules! on_every_engine {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::SqliteStore::open(&dir.path().join("protond.db"))
                        .await
                        .unwrap();
                    super::$case(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some((store, schema)) = super::postgres().await else { return };
                    super::$case(&store).await;
                    super::drop_schema(&schema).await;
                }
            )*
        }
    };
}

fn database_url() -> String {
    std::env::var("PROTOND_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A PostgreSQL store in a fresh schema, or `None` (with a note) when there is no server.
async fn postgres() -> Option<(PgStore, String)> {
    let schema = format!("protond_test_{}", uuid_like());
    match PgStore::open(&database_url(), Some(&schema)).await {
        Ok(store) => Some((store, schema)),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipping the PostgreSQL case: no database at {}: {e}",
                database_url()
            );
            None
        }
        Err(e) => panic!("CI needs PostgreSQL at {}: {e}", database_url()),
    }
}

async fn drop_schema(schema: &str) {
    let pool = sqlx::PgPool::connect(&database_url()).await.unwrap();
    let statement = format!("DROP SCHEMA \"{schema}\" CASCADE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&pool)
        .await
        .unwrap();
}

fn uuid_like() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}_{}_{n}", std::process::id())
}

on_every_engine!(
    a_read_after_a_commit_sees_the_commit,
    put_then_get_returns_body_and_first_revision,
    accounts_never_see_each_others_records,
    a_failed_expectation_writes_nothing_of_the_batch,
    revisions_guard_concurrent_updates,
    delete_expects_the_revision_it_read,
    list_pages_by_key_within_a_parent_in_both_directions,
    claimed_work_is_not_claimed_again_until_its_lease_ends,
    only_the_holder_can_finish_or_mark_its_work,
    renewal_extends_leases_and_reports_requested_cancels,
);

fn record(account: &str, kind: Kind, key: &str, parent: Option<&str>, body: &str) -> Record {
    Record {
        account: account.into(),
        kind,
        key: key.into(),
        parent: parent.map(Into::into),
        revision: 0,
        body: body.as_bytes().to_vec(),
    }
}

fn put(record: Record, expect: Expect) -> Write {
    Write::Put { record, expect }
}

async fn a_read_after_a_commit_sees_the_commit(store: &dyn Store) {
    let first = record("a", Kind::Environment, "dev", None, "one");
    store
        .commit(vec![put(first, Expect::Absent)])
        .await
        .unwrap();
    // Read twice, so that an engine that keeps recent reads has this one.
    for _ in 0..2 {
        let got = store
            .get("a", Kind::Environment, "dev")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.body, b"one".to_vec());
    }
    let second = record("a", Kind::Environment, "dev", None, "two");
    store
        .commit(vec![put(second, Expect::Revision(1))])
        .await
        .unwrap();
    let got = store
        .get("a", Kind::Environment, "dev")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.revision, got.body), (2, b"two".to_vec()));
    let delete = Write::Delete {
        account: "a".into(),
        kind: Kind::Environment,
        key: "dev".into(),
        expect: Expect::Revision(2),
    };
    store.commit(vec![delete]).await.unwrap();
    assert!(
        store
            .get("a", Kind::Environment, "dev")
            .await
            .unwrap()
            .is_none()
    );
}

async fn put_then_get_returns_body_and_first_revision(store: &dyn Store) {
    let r = record("a", Kind::Environment, "dev", None, "one");
    store.commit(vec![put(r, Expect::Absent)]).await.unwrap();
    let got = store
        .get("a", Kind::Environment, "dev")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.revision, got.body), (1, b"one".to_vec()));
}

async fn accounts_never_see_each_others_records(store: &dyn Store) {
    let r = record("a", Kind::Environment, "dev", None, "one");
    store.commit(vec![put(r, Expect::Absent)]).await.unwrap();
    assert!(
        store
            .get("b", Kind::Environment, "dev")
            .await
            .unwrap()
            .is_none()
    );
    let all = ListQuery {
        limit: 10,
        ..Default::default()
    };
    assert!(
        store
            .list("b", Kind::Environment, &all)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_failed_expectation_writes_nothing_of_the_batch(store: &dyn Store) {
    let first = record("a", Kind::Environment, "dev", None, "one");
    store
        .commit(vec![put(first, Expect::Absent)])
        .await
        .unwrap();

    let other = record("a", Kind::Environment, "prod", None, "two");
    let stale = record("a", Kind::Environment, "dev", None, "three");
    let result = store
        .commit(vec![
            put(other, Expect::Absent),
            put(stale, Expect::Revision(7)),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))));
    assert!(
        store
            .get("a", Kind::Environment, "prod")
            .await
            .unwrap()
            .is_none()
    );
    let dev = store
        .get("a", Kind::Environment, "dev")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dev.body, b"one".to_vec());
}

async fn revisions_guard_concurrent_updates(store: &dyn Store) {
    let r = record("a", Kind::Environment, "dev", None, "one");
    store
        .commit(vec![put(r.clone(), Expect::Absent)])
        .await
        .unwrap();
    store
        .commit(vec![put(r.clone(), Expect::Revision(1))])
        .await
        .unwrap();
    let again = store
        .commit(vec![put(r.clone(), Expect::Revision(1))])
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    let duplicate = store.commit(vec![put(r, Expect::Absent)]).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
}

async fn delete_expects_the_revision_it_read(store: &dyn Store) {
    let r = record("a", Kind::Environment, "dev", None, "one");
    store.commit(vec![put(r, Expect::Absent)]).await.unwrap();
    let delete = |expect| Write::Delete {
        account: "a".into(),
        kind: Kind::Environment,
        key: "dev".into(),
        expect,
    };
    assert!(
        store
            .commit(vec![delete(Expect::Revision(2))])
            .await
            .is_err()
    );
    store
        .commit(vec![delete(Expect::Revision(1))])
        .await
        .unwrap();
    assert!(
        store
            .get("a", Kind::Environment, "dev")
            .await
            .unwrap()
            .is_none()
    );
}

async fn list_pages_by_key_within_a_parent_in_both_directions(store: &dyn Store) {
    let mut writes = Vec::new();
    for (key, parent) in [("d1", "dev"), ("d2", "prod"), ("d3", "dev"), ("d4", "dev")] {
        writes.push(put(
            record("a", Kind::Deployment, key, Some(parent), key),
            Expect::Absent,
        ));
    }
    store.commit(writes).await.unwrap();
    let keys = |records: Vec<Record>| records.into_iter().map(|r| r.key).collect::<Vec<_>>();

    let dev = |after: Option<&str>, descending| ListQuery {
        parent: Some("dev".into()),
        after: after.map(Into::into),
        descending,
        limit: 2,
    };
    let first = store
        .list("a", Kind::Deployment, &dev(None, false))
        .await
        .unwrap();
    assert_eq!(keys(first), ["d1", "d3"]);
    let second = store
        .list("a", Kind::Deployment, &dev(Some("d3"), false))
        .await
        .unwrap();
    assert_eq!(keys(second), ["d4"]);
    let newest = store
        .list("a", Kind::Deployment, &dev(None, true))
        .await
        .unwrap();
    assert_eq!(keys(newest), ["d4", "d3"]);
    let all = ListQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        store.list("a", Kind::Deployment, &all).await.unwrap().len(),
        4
    );
}

async fn claimed_work_is_not_claimed_again_until_its_lease_ends(store: &dyn Store) {
    store
        .commit(vec![Write::Enqueue(WorkItem::new("dep-1", "a"))])
        .await
        .unwrap();

    let mine = store.claim("node-1", 1_000, 2_000, 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        mine[0].node, None,
        "items come back as they were before the claim"
    );
    assert!(
        store
            .claim("node-2", 1_500, 2_500, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let taken = store.claim("node-2", 2_001, 3_000, 10).await.unwrap();
    assert_eq!(taken[0].node.as_deref(), Some("node-1"));
}

async fn only_the_holder_can_finish_or_mark_its_work(store: &dyn Store) {
    store
        .commit(vec![Write::Enqueue(WorkItem::new("dep-1", "a"))])
        .await
        .unwrap();
    store.claim("node-1", 1_000, 2_000, 10).await.unwrap();
    store.claim("node-2", 9_000, 10_000, 10).await.unwrap();

    assert!(
        store
            .mark_started("dep-1", "node-1", "pgid=1")
            .await
            .is_err()
    );
    let stale = Write::Finish {
        deployment_id: "dep-1".into(),
        node: "node-1".into(),
    };
    assert!(matches!(
        store.commit(vec![stale]).await,
        Err(StoreError::Conflict(_))
    ));

    store
        .mark_started("dep-1", "node-2", "pgid=2")
        .await
        .unwrap();
    let item = store.work_item("dep-1").await.unwrap().unwrap();
    assert!(item.started);
    assert_eq!(item.runner.as_deref(), Some("pgid=2"));
    let finish = Write::Finish {
        deployment_id: "dep-1".into(),
        node: "node-2".into(),
    };
    store.commit(vec![finish]).await.unwrap();
    assert!(store.work_item("dep-1").await.unwrap().is_none());
}

async fn renewal_extends_leases_and_reports_requested_cancels(store: &dyn Store) {
    let writes = vec![
        Write::Enqueue(WorkItem::new("dep-1", "a")),
        Write::Enqueue(WorkItem::new("dep-2", "a")),
    ];
    store.commit(writes).await.unwrap();
    store.claim("node-1", 1_000, 2_000, 10).await.unwrap();
    store
        .commit(vec![Write::RequestCancel {
            deployment_id: "dep-2".into(),
        }])
        .await
        .unwrap();

    let cancelled = store.renew("node-1", 5_000).await.unwrap();
    assert_eq!(cancelled, ["dep-2"]);
    assert!(
        store
            .claim("node-2", 4_000, 6_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("protond.db");
    let _first = SqliteStore::open(&path).await.unwrap();
    let second = SqliteStore::open(&path).await;
    assert!(matches!(second, Err(StoreError::Open(_))));
}

#[tokio::test]
async fn committed_records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("protond.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        let r = record("a", Kind::Environment, "dev", None, "one");
        store.commit(vec![put(r, Expect::Absent)]).await.unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(
        store
            .get("a", Kind::Environment, "dev")
            .await
            .unwrap()
            .is_some()
    );
}
