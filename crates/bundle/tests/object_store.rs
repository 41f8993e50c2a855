//! The folder-backed object store.

use protond_bundle::{LocalObjectStore, ObjectStoreError};

#[test]
fn put_then_get_round_trips_and_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path());
    store
        .put("my-bundles", "env/vpc/v1.tar.gz", b"one")
        .unwrap();
    assert_eq!(
        store
            .get("my-bundles", "env/vpc/v1.tar.gz")
            .unwrap()
            .unwrap(),
        b"one"
    );
    store
        .put("my-bundles", "env/vpc/v1.tar.gz", b"two")
        .unwrap();
    assert_eq!(
        store
            .get("my-bundles", "env/vpc/v1.tar.gz")
            .unwrap()
            .unwrap(),
        b"two"
    );
    assert!(dir.path().join("my-bundles/env/vpc/v1.tar.gz").is_file());
    let leftovers = std::fs::read_dir(dir.path().join("my-bundles/env/vpc"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 1, "no temporary files remain");
}

#[test]
fn missing_objects_are_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path());
    assert!(store.get("nobucket", "a").unwrap().is_none());
    store.put("bucket", "a/b", b"x").unwrap();
    assert!(
        store.get("bucket", "a").unwrap().is_none(),
        "a folder is not an object"
    );
}

#[test]
fn invalid_bucket_names_are_refused() {
    let store = LocalObjectStore::new("/nonexistent");
    for bucket in [
        "ab",
        "Upper",
        "a..b",
        "-ab",
        "192.168.1.1",
        "xn--abc",
        "my_bucket",
        "../etc",
    ] {
        let error = store.get(bucket, "k").unwrap_err();
        assert!(
            matches!(error, ObjectStoreError::InvalidBucket { .. }),
            "{bucket}: {error}"
        );
    }
}

#[test]
fn keys_that_escape_or_alias_are_refused() {
    let store = LocalObjectStore::new("/nonexistent");
    let long = "k".repeat(1025);
    for key in [
        "",
        "/abs",
        "a/../b",
        "..",
        "a/./b",
        "a//b",
        "dir/",
        "nul\0",
        long.as_str(),
    ] {
        let error = store.put("bucket", key, b"x").unwrap_err();
        assert!(
            matches!(error, ObjectStoreError::InvalidKey { .. }),
            "{key:?}: {error}"
        );
    }
}
