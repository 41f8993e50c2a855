//! Registered bundles, parsed once.
//!
//! A registered template version never changes its bundle, so a parsed bundle can be kept and
//! shared: checking a spec and running a deployment then skip the base64, gunzip, untar and
//! YAML work. A version number can be used again after its version was deleted, so the cache
//! key includes the version's creation time as well as its name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use protond_bundle::{Bundle, Limits};
use protond_store::Store;

use crate::records::{self, BundleRecord, TemplateVersionRecord, version_key};

/// How many parsed bundles are kept; past that the cache starts afresh.
const CAPACITY: usize = 256;

/// Why a version has no bundle to read.
fn gone(template: &str, major: &str, minor: &str) -> String {
    format!("template version {template}:{major}.{minor} no longer exists")
}

/// Parsed bundles by partition, version and creation time.
#[derive(Default)]
pub struct BundleCache {
    parsed: Mutex<HashMap<String, Arc<Bundle>>>,
}

impl BundleCache {
    /// The parsed bundle of a registered version, or why there is none.
    pub async fn get(
        &self,
        store: &dyn Store,
        partition: &str,
        template: &str,
        major: &str,
        minor: &str,
    ) -> Result<Arc<Bundle>, String> {
        let key = version_key(template, major, minor);
        let version = records::load::<TemplateVersionRecord>(store, partition, &key)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| gone(template, major, minor))?;
        self.of_version(store, partition, &version.value).await
    }

    /// The parsed bundle of `version`, a registered version the caller has read already.
    pub async fn of_version(
        &self,
        store: &dyn Store,
        partition: &str,
        version: &TemplateVersionRecord,
    ) -> Result<Arc<Bundle>, String> {
        let v = &version.version;
        let key = version_key(&v.template_name, &v.major_version, &v.minor_version);
        let created = v.created_at.as_unix_millis();
        let cache_key = format!("{partition}\n{key}\n{created}");
        if let Some(bundle) = self.parsed.lock().expect("poisoned").get(&cache_key) {
            return Ok(Arc::clone(bundle));
        }

        let record = records::load::<BundleRecord>(store, partition, &key)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| gone(&v.template_name, &v.major_version, &v.minor_version))?;
        let archive = record.value.archive;
        let bundle = tokio::task::spawn_blocking(move || {
            Bundle::from_archive(&archive, &Limits::default()).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("reading the bundle stopped: {e}"))??;
        let bundle = Arc::new(bundle);

        let mut parsed = self.parsed.lock().expect("poisoned");
        if parsed.len() >= CAPACITY {
            parsed.clear();
        }
        parsed.insert(cache_key, Arc::clone(&bundle));
        Ok(bundle)
    }
}
