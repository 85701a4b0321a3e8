//! `[[secret_rotation_hook]]`: the operator's rotation hooks for secrets of
//! kind `hook` (docs/SECRETS.md, "Rotation hooks"): a command or an HTTPS
//! webhook. Defined here, in the
//! server's configuration, and never by a secret's writer.

use std::time::Duration;

use serde::Deserialize;

use strongroom_core::error::Error;
use strongroom_service::hooks::{HookTarget, RotationHook, RotationHooks, DEFAULT_TIMEOUT};

/// One `[[secret_rotation_hook]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// What a secret's `rotation_hook` names.
    pub name: String,
    /// An absolute path to an executable and its arguments (no shell).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Or an HTTPS webhook the JSON is POSTed to.
    #[serde(default)]
    pub url: Option<String>,
    /// For `url`: PEM certificates to trust instead of the system's store.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Seconds the hook is given (1 to 120; default 30).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Secret paths it may rotate: `app/db`, `app/*` or `*` (default: any).
    #[serde(default)]
    pub paths: Vec<String>,
}

/// The tables of a hooks file (`STRONGROOM_SECRET_ROTATION_HOOKS_FILE`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HooksFile {
    #[serde(default)]
    secret_rotation_hook: Vec<HookConfig>,
}

impl HookConfig {
    fn build(&self) -> Result<RotationHook, String> {
        let target = match (&self.command, &self.url) {
            (Some(c), None) if self.ca_file.is_none() => HookTarget::Command(c.clone()),
            (None, Some(u)) => HookTarget::Webhook {
                url: u.clone(),
                ca_file: self.ca_file.clone(),
            },
            (Some(_), None) => {
                return Err(format!(
                    "secret_rotation_hook {:?}: ca_file goes with url, not command",
                    self.name
                ))
            }
            _ => {
                return Err(format!(
                    "secret_rotation_hook {:?}: give either command = [\"/path/to/executable\", \"arg\", ...] or url = \"https://...\"",
                    self.name
                ))
            }
        };
        let h = RotationHook {
            name: self.name.clone(),
            target,
            timeout: self
                .timeout_secs
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            paths: self.paths.clone(),
        };
        h.validate()?;
        Ok(h)
    }
}

/// The hooks of the configuration plus those of the file named by
/// `STRONGROOM_SECRET_ROTATION_HOOKS_FILE` (read by a dev server too).
pub fn rotation_hooks(
    configured: &[HookConfig],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RotationHooks, Error> {
    let mut all: Vec<HookConfig> = configured.to_vec();
    if let Some(path) = env("STRONGROOM_SECRET_ROTATION_HOOKS_FILE").filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::InvalidArgument(format!(
                "STRONGROOM_SECRET_ROTATION_HOOKS_FILE={path:?}: cannot read it: {e}"
            ))
        })?;
        let f: HooksFile = toml::from_str(&text).map_err(|e| {
            Error::InvalidArgument(format!(
                "STRONGROOM_SECRET_ROTATION_HOOKS_FILE={path:?}: it holds only [[secret_rotation_hook]] tables: {e}"
            ))
        })?;
        all.extend(f.secret_rotation_hook);
    }
    let hooks = all
        .iter()
        .map(HookConfig::build)
        .collect::<Result<Vec<_>, String>>()
        .map_err(Error::InvalidArgument)?;
    RotationHooks::new(hooks).map_err(Error::InvalidArgument)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn hooks_parse_and_bad_ones_are_refused() {
        let none = |_: &str| None;
        const BASE: &str = "storage_path = \"/tmp/x.db\"\ntls_disable = true\n";
        let c = Config::from_toml(
            &format!("{BASE}[[secret_rotation_hook]]\nname = \"stripe\"\ncommand = [\"/usr/local/bin/rotate\", \"--live\"]\ntimeout_secs = 10\npaths = [\"payments/*\"]\n"),
            &none,
        )
        .expect("config");
        let hooks = rotation_hooks(&c.secret_rotation_hook, &none).expect("hooks");
        assert_eq!(hooks.names(), vec!["stripe"]);
        assert!(hooks.find("stripe", "payments/x").is_ok());
        assert!(hooks.find("stripe", "app/x").is_err());
        assert!(hooks.find("other", "payments/x").is_err());
        for (bad, says) in [
            ("name = \"x\"\ncommand = [\"rotate\"]", "absolute path"),
            ("name = \"x\"\nurl = \"http://h/\"", "https://"),
            (
                "name = \"x\"\nurl = \"https://h/\"\ncommand = [\"/bin/true\"]",
                "either",
            ),
            (
                "name = \"x\"\nurl = \"https://h/\"\nca_file = \"/nonexistent.pem\"",
                "ca_file",
            ),
            ("name = \"x\"", "give either"),
            ("name = \"x y\"\ncommand = [\"/bin/true\"]", "not allowed"),
            (
                "name = \"x\"\ncommand = [\"/bin/true\"]\ntimeout_secs = 0",
                "timeout_secs",
            ),
        ] {
            let c = Config::from_toml(&format!("{BASE}[[secret_rotation_hook]]\n{bad}\n"), &none)
                .expect("parses");
            let e = rotation_hooks(&c.secret_rotation_hook, &none)
                .expect_err("refused")
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let c = Config::from_toml(
            &format!("{BASE}[[secret_rotation_hook]]\nname = \"a\"\ncommand = [\"/bin/true\"]\n[[secret_rotation_hook]]\nname = \"a\"\ncommand = [\"/bin/false\"]\n"),
            &none,
        )
        .expect("parses");
        assert!(
            rotation_hooks(&c.secret_rotation_hook, &none).is_err(),
            "twice"
        );
    }
}
