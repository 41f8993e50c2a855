//! What the HTTP layer learned about a request before the operation runs.

/// The caller and request an operation serves, filled in by the HTTP layer after
/// authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The id answered in `x-amzn-requestid` and written in the request's log line.
    pub request_id: String,
    /// The 12-digit account the caller's access key belongs to; resources are scoped to it.
    pub account_id: String,
    /// The region from the request's SigV4 credential scope, used in ARNs.
    pub region: String,
    /// The access key the request was signed with, if it was signed.
    pub access_key_id: Option<String>,
    /// Set when the caller is the commands of one deployment, signing with the credentials
    /// protond gave them: such a caller may only report on that deployment.
    pub deployment_id: Option<String>,
}

impl RequestContext {
    /// The partition the caller's resources live in: its account in its region. Resources are
    /// regional, as in AWS, so the same account sees different resources in another region.
    pub fn partition(&self) -> String {
        format!("{}/{}", self.account_id, self.region)
    }
}
