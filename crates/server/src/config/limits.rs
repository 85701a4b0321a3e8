//! Connection hygiene and abuse limits: listener timeouts, the connection
//! cap, the header size limit and the failed-authentication rate limit
//! (docs/OPERATIONS.md, "Connection limits"). Dev mode reads the same
//! `STRONGROOM_*` overrides, so the limits can be tried on a dev server.

use std::time::Duration;

use super::{parse_num, Config};
use strongroom_core::error::Error;

pub(super) fn default_header_read_timeout_ms() -> u64 {
    10_000
}
pub(super) fn default_body_read_timeout_ms() -> u64 {
    30_000
}
pub(super) fn default_keep_alive_timeout_ms() -> u64 {
    10_000
}
pub(super) fn default_max_connections() -> usize {
    4096
}
pub(super) fn default_max_header_bytes() -> usize {
    16 * 1024
}
pub(super) fn default_auth_failure_burst() -> u32 {
    100
}
pub(super) fn default_auth_failures_per_minute() -> u32 {
    600
}
pub(super) fn default_auth_failure_audit_interval_secs() -> u64 {
    60
}
/// 1 GiB: at ~430 B per record, over two million records of warning.
pub(super) fn default_audit_low_space_bytes() -> u64 {
    1 << 30
}

pub(super) fn default_audit_rotate_bytes() -> u64 {
    1 << 30
}

/// hyper's smallest read buffer (`http1::Builder::max_buf_size` panics below it).
pub const MIN_HEADER_BYTES: usize = 8192;

/// The listener's limits, as the accept loop uses them.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
}

pub use strongroom_service::auth_limit::AuthFailureLimits;

impl Config {
    pub fn listener_limits(&self) -> ListenerLimits {
        ListenerLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            keep_alive_timeout: Duration::from_millis(self.keep_alive_timeout_ms),
            max_connections: self.max_connections,
            max_header_bytes: self.max_header_bytes,
        }
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    pub fn auth_failure_limits(&self) -> AuthFailureLimits {
        AuthFailureLimits {
            burst: self.auth_failure_burst,
            per_minute: self.auth_failures_per_minute,
            audit_interval: Duration::from_secs(self.auth_failure_audit_interval_secs),
        }
    }

    pub fn audit_rotation(&self) -> strongroom_audit::Rotation {
        strongroom_audit::Rotation {
            max_bytes: self.audit_rotate_bytes,
            max_age: Duration::from_secs(self.audit_rotate_secs),
            retain: self.audit_retain_segments,
        }
    }

    pub fn apply_limits_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
        let num = |name: &str| env(name).map(|v| parse_num::<u64>(name, &v)).transpose();
        if let Some(v) = num("STRONGROOM_HEADER_READ_TIMEOUT_MS")? {
            self.header_read_timeout_ms = v;
        }
        if let Some(v) = num("STRONGROOM_BODY_READ_TIMEOUT_MS")? {
            self.body_read_timeout_ms = v;
        }
        if let Some(v) = num("STRONGROOM_KEEP_ALIVE_TIMEOUT_MS")? {
            self.keep_alive_timeout_ms = v;
        }
        if let Some(v) = env("STRONGROOM_MAX_CONNECTIONS") {
            self.max_connections = parse_num("STRONGROOM_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = env("STRONGROOM_MAX_HEADER_BYTES") {
            self.max_header_bytes = parse_num("STRONGROOM_MAX_HEADER_BYTES", &v)?;
        }
        if let Some(v) = env("STRONGROOM_AUTH_FAILURE_BURST") {
            self.auth_failure_burst = parse_num("STRONGROOM_AUTH_FAILURE_BURST", &v)?;
        }
        if let Some(v) = env("STRONGROOM_AUTH_FAILURES_PER_MINUTE") {
            self.auth_failures_per_minute = parse_num("STRONGROOM_AUTH_FAILURES_PER_MINUTE", &v)?;
        }
        if let Some(v) = num("STRONGROOM_AUTH_FAILURE_AUDIT_INTERVAL_SECS")? {
            self.auth_failure_audit_interval_secs = v;
        }
        if let Some(v) = num("STRONGROOM_AUDIT_ROTATE_BYTES")? {
            self.audit_rotate_bytes = v;
        }
        if let Some(v) = num("STRONGROOM_AUDIT_ROTATE_SECS")? {
            self.audit_rotate_secs = v;
        }
        if let Some(v) = num("STRONGROOM_AUDIT_LOW_SPACE_BYTES")? {
            self.audit_low_space_bytes = v;
        }
        if let Some(v) = env("STRONGROOM_AUDIT_RETAIN_SEGMENTS") {
            self.audit_retain_segments = parse_num("STRONGROOM_AUDIT_RETAIN_SEGMENTS", &v)?;
        }
        Ok(())
    }

    pub fn validate_limits(&self) -> Result<(), Error> {
        let ms = |name: &str, v: u64| {
            if (100..=3_600_000).contains(&v) {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "{name} = {v} is out of range; use 100 to 3600000 (milliseconds)"
                )))
            }
        };
        ms("header_read_timeout_ms", self.header_read_timeout_ms)?;
        ms("body_read_timeout_ms", self.body_read_timeout_ms)?;
        ms("keep_alive_timeout_ms", self.keep_alive_timeout_ms)?;
        if !(2..=1_000_000).contains(&self.max_connections) {
            return Err(Error::InvalidArgument(format!(
                "max_connections = {} is out of range; use 2 to 1000000",
                self.max_connections
            )));
        }
        if !(MIN_HEADER_BYTES..=1 << 20).contains(&self.max_header_bytes) {
            return Err(Error::InvalidArgument(format!(
                "max_header_bytes = {} is out of range; use {MIN_HEADER_BYTES} to 1048576",
                self.max_header_bytes
            )));
        }
        if self.auth_failure_burst == 0 || self.auth_failures_per_minute == 0 {
            return Err(Error::InvalidArgument(
                "auth_failure_burst and auth_failures_per_minute must be at least 1".into(),
            ));
        }
        if self.audit_rotate_bytes != 0 && self.audit_rotate_bytes < 4096 {
            return Err(Error::InvalidArgument(format!(
                "audit_rotate_bytes = {} is too small; use at least 4096, or 0 to rotate by age only",
                self.audit_rotate_bytes
            )));
        }
        if !(1..=86_400).contains(&self.auth_failure_audit_interval_secs) {
            return Err(Error::InvalidArgument(format!(
                "auth_failure_audit_interval_secs = {} is out of range; use 1 to 86400",
                self.auth_failure_audit_interval_secs
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn limits_default_override_and_refuse_bad_values() {
        let base = "storage_path = \"a.db\"\ntls_disable = true\n";
        let c = Config::from_toml(base, &|_| None).expect("defaults");
        assert_eq!(c.header_read_timeout_ms, 10_000);
        assert_eq!(c.max_connections, 4096);
        let env = |k: &str| match k {
            "STRONGROOM_HEADER_READ_TIMEOUT_MS" => Some("500".to_string()),
            "STRONGROOM_MAX_CONNECTIONS" => Some("8".to_string()),
            _ => None,
        };
        let c = Config::from_toml(base, &env).expect("env");
        assert_eq!(c.header_read_timeout_ms, 500);
        assert_eq!(c.max_connections, 8);
        for (extra, word) in [
            ("header_read_timeout_ms = 0\n", "header_read_timeout_ms"),
            ("max_connections = 1\n", "max_connections"),
            ("max_header_bytes = 100\n", "max_header_bytes"),
            ("auth_failure_burst = 0\n", "auth_failure_burst"),
        ] {
            let e =
                Config::from_toml(&format!("{base}{extra}"), &|_| None).expect_err("out of range");
            assert!(e.to_string().contains(word), "{e}");
        }
        let env = |k: &str| (k == "STRONGROOM_BODY_READ_TIMEOUT_MS").then(|| "soon".to_string());
        let e = Config::from_toml(base, &env).expect_err("not a number");
        assert!(
            e.to_string().contains("STRONGROOM_BODY_READ_TIMEOUT_MS"),
            "{e}"
        );
    }
}
