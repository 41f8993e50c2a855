//! The behaviour every store engine must have. Each test takes a fresh store from `open()`, so
//! that the PostgreSQL engine can run the same cases when it arrives.

use protond_store::{
    Expect, Kind, ListQuery, Record, SqliteStore, Store, StoreError, WorkItem, Write,
};

struct Fresh {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

async fn open() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("protond.db"))
        .await
        .unwrap();
    Fresh { store, _dir: dir }
}

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

#[tokio::test]
async fn put_then_get_returns_body_and_first_revision() {
    let s = open().await;
    let r = record("a", Kind::Environment, "dev", None, "one");
    s.store.commit(vec![put(r, Expect::Absent)]).await.unwrap();
    let got = s
        .store
        .get("a", Kind::Environment, "dev")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.revision, got.body), (1, b"one".to_vec()));
}

#[tokio::test]
async fn accounts_never_see_each_others_records() {
    let s = open().await;
    let r = record("a", Kind::Environment, "dev", None, "one");
    s.store.commit(vec![put(r, Expect::Absent)]).await.unwrap();
    assert!(
        s.store
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
        s.store
            .list("b", Kind::Environment, &all)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_expectation_writes_nothing_of_the_batch() {
    let s = open().await;
    let first = record("a", Kind::Environment, "dev", None, "one");
    s.store
        .commit(vec![put(first, Expect::Absent)])
        .await
        .unwrap();

    let other = record("a", Kind::Environment, "prod", None, "two");
    let stale = record("a", Kind::Environment, "dev", None, "three");
    let result = s
        .store
        .commit(vec![
            put(other, Expect::Absent),
            put(stale, Expect::Revision(7)),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))));
    assert!(
        s.store
            .get("a", Kind::Environment, "prod")
            .await
            .unwrap()
            .is_none()
    );
    let dev = s
        .store
        .get("a", Kind::Environment, "dev")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dev.body, b"one".to_vec());
}

#[tokio::test]
async fn revisions_guard_concurrent_updates() {
    let s = open().await;
    let r = record("a", Kind::Environment, "dev", None, "one");
    s.store
        .commit(vec![put(r.clone(), Expect::Absent)])
        .await
        .unwrap();
    s.store
        .commit(vec![put(r.clone(), Expect::Revision(1))])
        .await
        .unwrap();
    let again = s
        .store
        .commit(vec![put(r.clone(), Expect::Revision(1))])
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))));
    let duplicate = s.store.commit(vec![put(r, Expect::Absent)]).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
}

#[tokio::test]
async fn delete_expects_the_revision_it_read() {
    let s = open().await;
    let r = record("a", Kind::Environment, "dev", None, "one");
    s.store.commit(vec![put(r, Expect::Absent)]).await.unwrap();
    let delete = |expect| Write::Delete {
        account: "a".into(),
        kind: Kind::Environment,
        key: "dev".into(),
        expect,
    };
    assert!(
        s.store
            .commit(vec![delete(Expect::Revision(2))])
            .await
            .is_err()
    );
    s.store
        .commit(vec![delete(Expect::Revision(1))])
        .await
        .unwrap();
    assert!(
        s.store
            .get("a", Kind::Environment, "dev")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn list_pages_by_key_within_a_parent_in_both_directions() {
    let s = open().await;
    let mut writes = Vec::new();
    for (key, parent) in [("d1", "dev"), ("d2", "prod"), ("d3", "dev"), ("d4", "dev")] {
        writes.push(put(
            record("a", Kind::Deployment, key, Some(parent), key),
            Expect::Absent,
        ));
    }
    s.store.commit(writes).await.unwrap();
    let keys = |records: Vec<Record>| records.into_iter().map(|r| r.key).collect::<Vec<_>>();

    let dev = |after: Option<&str>, descending| ListQuery {
        parent: Some("dev".into()),
        after: after.map(Into::into),
        descending,
        limit: 2,
    };
    let first = s
        .store
        .list("a", Kind::Deployment, &dev(None, false))
        .await
        .unwrap();
    assert_eq!(keys(first), ["d1", "d3"]);
    let second = s
        .store
        .list("a", Kind::Deployment, &dev(Some("d3"), false))
        .await
        .unwrap();
    assert_eq!(keys(second), ["d4"]);
    let newest = s
        .store
        .list("a", Kind::Deployment, &dev(None, true))
        .await
        .unwrap();
    assert_eq!(keys(newest), ["d4", "d3"]);
    let all = ListQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        s.store
            .list("a", Kind::Deployment, &all)
            .await
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn claimed_work_is_not_claimed_again_until_its_lease_ends() {
    let s = open().await;
    s.store
        .commit(vec![Write::Enqueue(WorkItem::new("dep-1", "a"))])
        .await
        .unwrap();

    let mine = s.store.claim("node-1", 1_000, 2_000, 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        mine[0].node, None,
        "items come back as they were before the claim"
    );
    assert!(
        s.store
            .claim("node-2", 1_500, 2_500, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let taken = s.store.claim("node-2", 2_001, 3_000, 10).await.unwrap();
    assert_eq!(taken[0].node.as_deref(), Some("node-1"));
}

#[tokio::test]
async fn only_the_holder_can_finish_or_mark_its_work() {
    let s = open().await;
    s.store
        .commit(vec![Write::Enqueue(WorkItem::new("dep-1", "a"))])
        .await
        .unwrap();
    s.store.claim("node-1", 1_000, 2_000, 10).await.unwrap();
    s.store.claim("node-2", 9_000, 10_000, 10).await.unwrap();

    assert!(
        s.store
            .mark_started("dep-1", "node-1", "pgid=1")
            .await
            .is_err()
    );
    let stale = Write::Finish {
        deployment_id: "dep-1".into(),
        node: "node-1".into(),
    };
    assert!(matches!(
        s.store.commit(vec![stale]).await,
        Err(StoreError::Conflict(_))
    ));

    s.store
        .mark_started("dep-1", "node-2", "pgid=2")
        .await
        .unwrap();
    let item = s.store.work_item("dep-1").await.unwrap().unwrap();
    assert!(item.started);
    assert_eq!(item.runner.as_deref(), Some("pgid=2"));
    let finish = Write::Finish {
        deployment_id: "dep-1".into(),
        node: "node-2".into(),
    };
    s.store.commit(vec![finish]).await.unwrap();
    assert!(s.store.work_item("dep-1").await.unwrap().is_none());
}

#[tokio::test]
async fn renewal_extends_leases_and_reports_requested_cancels() {
    let s = open().await;
    let writes = vec![
        Write::Enqueue(WorkItem::new("dep-1", "a")),
        Write::Enqueue(WorkItem::new("dep-2", "a")),
    ];
    s.store.commit(writes).await.unwrap();
    s.store.claim("node-1", 1_000, 2_000, 10).await.unwrap();
    s.store
        .commit(vec![Write::RequestCancel {
            deployment_id: "dep-2".into(),
        }])
        .await
        .unwrap();

    let cancelled = s.store.renew("node-1", 5_000).await.unwrap();
    assert_eq!(cancelled, ["dep-2"]);
    assert!(
        s.store
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
