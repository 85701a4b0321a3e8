//! How keys are named across front-ends: key ids, `alias/NAME`, and ARNs
//! in this server's partition, region and account. Both the native API and
//! the AWS front-end accept ARNs; the AWS front-end also returns them.

use crate::error::Error;

/// Where ARNs point.
#[derive(Debug, Clone)]
pub struct ArnConfig {
    pub region: String,
    pub account_id: String,
}

impl Default for ArnConfig {
    fn default() -> Self {
        ArnConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        }
    }
}

impl ArnConfig {
    pub fn key_arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account_id)
    }
    pub fn alias_arn(&self, alias: &str) -> String {
        format!("arn:aws:kms:{}:{}:{alias}", self.region, self.account_id)
    }

    /// Refuses a key or alias ARN that names another partition, region or
    /// account than this server's: such an ARN names someone else's key,
    /// which must not resolve to a local one with the same id. Plain ids
    /// and `alias/NAME` pass.
    pub fn check_arn(&self, key_ref: &str) -> Result<(), Error> {
        let Some(rest) = key_ref.strip_prefix("arn:") else {
            return Ok(());
        };
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let ours = |what: &str, got: &str, want: &str| {
            if got == want {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "the ARN {key_ref:?} names {what} {got:?}, but this server's keys are in {what} {want:?} (arn:aws:kms:{}:{}:key/ID); use the key id or an ARN this server returned",
                    self.region, self.account_id
                )))
            }
        };
        match parts.as_slice() {
            [partition, "kms", region, account, _] => {
                ours("partition", partition, "aws")?;
                ours("region", region, &self.region)?;
                ours("account", account, &self.account_id)
            }
            // Malformed ARNs are the engine's to refuse.
            _ => Ok(()),
        }
    }
}
