//! The typed records protond keeps in its store, and how each maps to a store key.
//!
//! A record is the Proton wire shape the API returns, plus what protond needs beside it (the
//! outputs of a deployment, what kind of work it is). Keeping the wire shape itself means a
//! read is one decode and no mapping; the store sees only bytes.

use protond_store::{Expect, Kind, Record, Store, StoreError, Write};
use protond_wire as wire;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A record type: its kind, its key and its parent in the store.
pub trait Entity: Serialize + DeserializeOwned + Send + Sync {
    /// The store kind of this record.
    const KIND: Kind;
    /// The record's key within its account.
    fn key(&self) -> String;
    /// The key of the record this one is listed under.
    fn parent(&self) -> Option<String> {
        None
    }
}

/// A record read from the store, with the revision a later write must expect.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    /// The record.
    pub value: T,
    /// Its revision when read.
    pub revision: i64,
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored body did not decode; the store holds something this version cannot read.
    #[error("stored {kind} {key} is unreadable: {reason}")]
    Corrupt {
        /// The record's kind.
        kind: &'static str,
        /// The record's key.
        key: String,
        /// The decoder's complaint.
        reason: String,
    },
}

/// Decodes a stored record.
pub fn decode<T: Entity>(record: &Record) -> Result<Stored<T>, RecordError> {
    let value = serde_json::from_slice(&record.body).map_err(|e| RecordError::Corrupt {
        kind: T::KIND.as_str(),
        key: record.key.clone(),
        reason: e.to_string(),
    })?;
    Ok(Stored {
        value,
        revision: record.revision,
    })
}

/// Reads and decodes one record.
pub async fn load<T: Entity>(
    store: &dyn Store,
    account: &str,
    key: &str,
) -> Result<Option<Stored<T>>, RecordError> {
    match store.get(account, T::KIND, key).await? {
        Some(record) => Ok(Some(decode(&record)?)),
        None => Ok(None),
    }
}

/// The write that stores `value`, expecting `expect`.
pub fn put<T: Entity>(account: &str, value: &T, expect: Expect) -> Write {
    let body = serde_json::to_vec(value).expect("records always serialize");
    Write::Put {
        record: Record {
            account: account.to_owned(),
            kind: T::KIND,
            key: value.key(),
            parent: value.parent(),
            revision: 0,
            body,
        },
        expect,
    }
}

/// The write that deletes the record under `key`, expecting `expect`.
pub fn delete<T: Entity>(account: &str, key: &str, expect: Expect) -> Write {
    Write::Delete {
        account: account.to_owned(),
        kind: T::KIND,
        key: key.to_owned(),
        expect,
    }
}

/// An environment template.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateRecord {
    /// The template as the API shows it.
    pub template: wire::EnvironmentTemplate,
    /// The request that created it, so that a retry can be told from a different request.
    #[serde(default)]
    pub create_request: Option<String>,
    /// Whether it was updated since it was created; a retried create then conflicts.
    #[serde(default)]
    pub modified: bool,
}

impl Entity for TemplateRecord {
    const KIND: Kind = Kind::EnvironmentTemplate;
    fn key(&self) -> String {
        self.template.name.clone()
    }
}

/// A version of an environment template.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateVersionRecord {
    /// The version as the API shows it.
    pub version: wire::EnvironmentTemplateVersion,
    /// Where the bundle came from.
    pub source: BundleSource,
}

/// The S3 location a bundle was registered from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleSource {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
}

/// The key of a template version: `template/major.minor`, which sorts a template's versions
/// together. Version parts are zero-padded in the key so that `10` sorts after `9`.
pub fn version_key(template: &str, major: &str, minor: &str) -> String {
    format!("{template}/{major:0>8}.{minor:0>8}")
}

impl Entity for TemplateVersionRecord {
    const KIND: Kind = Kind::EnvironmentTemplateVersion;
    fn key(&self) -> String {
        let v = &self.version;
        version_key(&v.template_name, &v.major_version, &v.minor_version)
    }
    fn parent(&self) -> Option<String> {
        Some(self.version.template_name.clone())
    }
}

/// A registered bundle, copied at registration so that later changes to the source object do
/// not change what a version deploys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleRecord {
    /// The version's key, as [`version_key`] makes it.
    pub version_key: String,
    /// The gzipped tar archive.
    #[serde(with = "base64_bytes")]
    pub archive: Vec<u8>,
}

impl Entity for BundleRecord {
    const KIND: Kind = Kind::Bundle;
    fn key(&self) -> String {
        self.version_key.clone()
    }
}

/// An environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    /// The environment as the API shows it: the version and spec of its last successful
    /// deployment, the status of its last attempted one.
    pub environment: wire::Environment,
    /// The request that created it, so that a retry can be told from a different request.
    #[serde(default)]
    pub create_request: Option<String>,
    /// Whether it was updated or cancelled since it was created; a retried create then
    /// conflicts.
    #[serde(default)]
    pub modified: bool,
}

impl Entity for EnvironmentRecord {
    const KIND: Kind = Kind::Environment;
    fn key(&self) -> String {
        self.environment.name.clone()
    }
}

/// What a deployment does to its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentKind {
    /// Provisions the target state.
    Deploy,
    /// Tears the environment down.
    Delete,
}

/// A deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// The deployment as the API shows it.
    pub deployment: wire::Deployment,
    /// Whether it deploys or deletes.
    pub kind: DeploymentKind,
    /// The outputs it reported, in the order first reported.
    #[serde(default)]
    pub outputs: Vec<wire::Output>,
    /// The resources the environment had when it succeeded, when its provisioner can tell
    /// (CloudFormation stacks); what ListEnvironmentProvisionedResources returns.
    #[serde(default)]
    pub resources: Vec<wire::ProvisionedResource>,
}

impl Entity for DeploymentRecord {
    const KIND: Kind = Kind::Deployment;
    fn key(&self) -> String {
        self.deployment.id.clone()
    }
    fn parent(&self) -> Option<String> {
        Some(self.deployment.environment_name.clone())
    }
}

/// The tags of one resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TagsRecord {
    /// The resource's ARN.
    pub arn: String,
    /// Its tags, in the order set.
    pub tags: Vec<wire::Tag>,
}

impl Entity for TagsRecord {
    const KIND: Kind = Kind::Tags;
    fn key(&self) -> String {
        self.arn.clone()
    }
}

/// A request made with a client token, remembered so that a retry gets the same answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientTokenRecord {
    /// `Operation/token`.
    pub key: String,
    /// The request that used the token, as canonical JSON.
    pub request: String,
    /// When the token was first used, in milliseconds since the Unix epoch; tokens expire
    /// eight hours later, as Proton's do.
    #[serde(default)]
    pub created_at_ms: i64,
    /// The key of the resource the request created.
    pub resource_key: String,
}

impl Entity for ClientTokenRecord {
    const KIND: Kind = Kind::ClientToken;
    fn key(&self) -> String {
        self.key.clone()
    }
}

/// Base64 (standard alphabet, padded): bundles travel inside JSON records this way, and
/// pagination tokens use it too.
pub mod base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode(&text).ok_or_else(|| serde::de::Error::custom("invalid base64"))
    }

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.trim_end_matches('=');
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        let mut n = 0u32;
        let mut bits = 0;
        for c in text.bytes() {
            let value = ALPHABET.iter().position(|a| *a == c)? as u32;
            n = (n << 6) | value;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((n >> bits) as u8);
                n &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn base64_round_trips_every_length() {
            for len in 0..10 {
                let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
                assert_eq!(super::decode(&super::encode(&bytes)).unwrap(), bytes);
            }
            assert_eq!(super::encode(b"foobar"), "Zm9vYmFy");
            assert_eq!(super::encode(b"fo"), "Zm8=");
        }
    }
}
