//! Credentials for deployment commands: each deployment's commands get an access key of their
//! own that can only report on that deployment, never the operator's keys.
//!
//! The access key names the deployment (`PROTOND-DEPLOYMENT.<account>.<region>.<id>`) and its
//! secret is an HMAC of that name under a secret of the installation, so any node can check a
//! signature without storing per-deployment secrets, and nobody can forge a key for another
//! deployment without the installation's secret.

use hmac::{KeyInit, Mac};
use sha2::Sha256;

const PREFIX: &str = "PROTOND-DEPLOYMENT.";

/// The deployment an access key was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentKey {
    /// The account of the deployment.
    pub account_id: String,
    /// The region of the deployment.
    pub region: String,
    /// The deployment's id.
    pub deployment_id: String,
}

impl DeploymentKey {
    /// The access key id for this deployment.
    pub fn access_key_id(&self) -> String {
        format!(
            "{PREFIX}{}.{}.{}",
            self.account_id, self.region, self.deployment_id
        )
    }

    /// Reads an access key id made by [`DeploymentKey::access_key_id`].
    pub fn parse(access_key_id: &str) -> Option<DeploymentKey> {
        let rest = access_key_id.strip_prefix(PREFIX)?;
        let mut parts = rest.splitn(3, '.');
        let (account_id, region, deployment_id) = (parts.next()?, parts.next()?, parts.next()?);
        let valid = account_id.len() == 12
            && account_id.bytes().all(|b| b.is_ascii_digit())
            && !region.is_empty()
            && !deployment_id.is_empty();
        valid.then(|| DeploymentKey {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            deployment_id: deployment_id.to_owned(),
        })
    }

    /// The secret access key for this deployment under the installation's `secret`.
    pub fn secret_access_key(&self, secret: &[u8]) -> String {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .expect("HMAC takes keys of any length");
        mac.update(self.access_key_id().as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_key_round_trips_and_its_secret_depends_on_the_installation() {
        let key = DeploymentKey {
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            deployment_id: "01a2-b3".into(),
        };
        assert_eq!(
            DeploymentKey::parse(&key.access_key_id()),
            Some(key.clone())
        );
        assert_ne!(key.secret_access_key(b"one"), key.secret_access_key(b"two"));
        assert_eq!(key.secret_access_key(b"one").len(), 64);
        assert_eq!(DeploymentKey::parse("AKIDEXAMPLE"), None);
    }
}
