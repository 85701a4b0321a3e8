//! The PKCS#11 seal settings: `seal = "pkcs11"`, the module, token, key
//! label, and the PIN — from `STRONGROOM_PKCS11_PIN` or `pkcs11_pin_file`,
//! never from the config file in clear.

use serde::{Deserialize, Deserializer};

use super::{parse_num, Config};
use strongroom_core::crypto::SecretBytes;
use strongroom_core::error::Error;
use strongroom_service::node::pkcs11::{Pkcs11Settings, DEFAULT_KEY_LABEL, DEFAULT_LIBRARY};

pub(super) fn default_seal() -> String {
    "shamir".into()
}

/// Accepts any TOML value and keeps nothing of it: `pkcs11_pin = "..."` is
/// parsed only so that it can be refused with a clear message.
#[derive(Debug, Clone, Copy)]
pub struct RefusedSecret;

impl<'de> Deserialize<'de> for RefusedSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(RefusedSecret)
    }
}

impl Config {
    pub(super) fn apply_pkcs11_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), Error> {
        if let Some(v) = env("STRONGROOM_SEAL") {
            self.seal = v;
        }
        if let Some(v) = env("STRONGROOM_PKCS11_LIBRARY") {
            self.pkcs11_library = Some(v);
        }
        if let Some(v) = env("STRONGROOM_PKCS11_TOKEN_LABEL") {
            self.pkcs11_token_label = Some(v);
        }
        if let Some(v) = env("STRONGROOM_PKCS11_SLOT") {
            self.pkcs11_slot = Some(parse_num("STRONGROOM_PKCS11_SLOT", &v)?);
        }
        if let Some(v) = env("STRONGROOM_PKCS11_KEY_LABEL") {
            self.pkcs11_key_label = Some(v);
        }
        if let Some(v) = env("STRONGROOM_PKCS11_PIN_FILE") {
            self.pkcs11_pin_file = Some(v);
        }
        Ok(())
    }

    pub(super) fn validate_seal(&self) -> Result<(), Error> {
        if self.pkcs11_pin.is_some() {
            return Err(Error::InvalidArgument(
                "pkcs11_pin is refused in the config file: the HSM PIN must not sit there in clear. Remove it and set STRONGROOM_PKCS11_PIN in the server's environment, or pkcs11_pin_file = \"/etc/strongroom/pkcs11.pin\" (a file readable only by the server)".into(),
            ));
        }
        match self.seal.as_str() {
            "shamir" => Ok(()),
            "pkcs11" => {
                if self.pkcs11_token_label.is_some() && self.pkcs11_slot.is_some() {
                    return Err(Error::InvalidArgument(
                        "set pkcs11_token_label or pkcs11_slot, not both".into(),
                    ));
                }
                if self.pkcs11_token_label.is_none() && self.pkcs11_slot.is_none() {
                    return Err(Error::InvalidArgument(
                        "seal = \"pkcs11\" needs the token: set pkcs11_token_label = \"strongroom\" (or pkcs11_slot)".into(),
                    ));
                }
                if self.pkcs11_key_label.as_deref() == Some("") {
                    return Err(Error::InvalidArgument(
                        "pkcs11_key_label must not be empty".into(),
                    ));
                }
                Ok(())
            }
            other => Err(Error::InvalidArgument(format!(
                "seal = {other:?} is not a seal; use \"shamir\" (the default) or \"pkcs11\""
            ))),
        }
    }

    /// The HSM settings with the PIN, read now from `STRONGROOM_PKCS11_PIN`
    /// (which wins) or `pkcs11_pin_file`. Used whether or not `seal` says
    /// pkcs11 (migrate-seal reads them both ways).
    pub fn pkcs11_settings(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Pkcs11Settings, Error> {
        if self.pkcs11_token_label.is_none() && self.pkcs11_slot.is_none() {
            return Err(Error::InvalidArgument(
                "the PKCS#11 seal needs the token: set pkcs11_token_label = \"strongroom\" (or pkcs11_slot) in the config".into(),
            ));
        }
        let pin = match (env("STRONGROOM_PKCS11_PIN"), &self.pkcs11_pin_file) {
            (Some(p), _) if !p.is_empty() => SecretBytes::new(p.into_bytes()),
            (_, Some(path)) => read_pin_file(path)?,
            _ => {
                return Err(Error::InvalidArgument(
                    "the PKCS#11 seal needs the token's user PIN: set STRONGROOM_PKCS11_PIN in the environment, or pkcs11_pin_file = \"/path/to/pin\" in the config".into(),
                ))
            }
        };
        Ok(Pkcs11Settings::new(
            self.pkcs11_library
                .clone()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| DEFAULT_LIBRARY.to_string()),
            self.pkcs11_token_label.clone(),
            self.pkcs11_slot,
            self.pkcs11_key_label
                .clone()
                .unwrap_or_else(|| DEFAULT_KEY_LABEL.to_string()),
            pin,
        ))
    }
}

fn read_pin_file(path: &str) -> Result<SecretBytes, Error> {
    let mut bytes = std::fs::read(path).map_err(|e| {
        Error::InvalidArgument(format!("cannot read pkcs11_pin_file {path:?}: {e}"))
    })?;
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    let pin = SecretBytes::new(bytes);
    if pin.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "pkcs11_pin_file {path:?} is empty; write the token's user PIN into it"
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path,
                    "pkcs11_pin_file is readable by group or others; chmod 600 it"
                );
            }
        }
    }
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const BASE: &str = "storage_path = \"a.db\"\ntls_disable = true\n";

    #[test]
    fn pin_in_the_config_is_refused() {
        let text = format!(
            "{BASE}seal = \"pkcs11\"\npkcs11_token_label = \"t\"\npkcs11_pin = \"123456\"\n"
        );
        let e = Config::from_toml(&text, &no_env).expect_err("pin refused");
        let m = e.to_string();
        assert!(m.contains("pkcs11_pin is refused"), "{m}");
        assert!(m.contains("STRONGROOM_PKCS11_PIN"), "{m}");
        assert!(!m.contains("123456"), "{m}");
        // Even as a number, even with the Shamir seal.
        let e = Config::from_toml(&format!("{BASE}pkcs11_pin = 1234\n"), &no_env)
            .expect_err("pin refused");
        assert!(e.to_string().contains("pkcs11_pin is refused"), "{e}");
    }

    #[test]
    fn seal_settings_are_checked() {
        let c = Config::from_toml(BASE, &no_env).expect("default");
        assert_eq!(c.seal, "shamir");
        let e = Config::from_toml(&format!("{BASE}seal = \"hsm\"\n"), &no_env).expect_err("bad");
        assert!(e.to_string().contains("\"shamir\""), "{e}");
        let e = Config::from_toml(&format!("{BASE}seal = \"pkcs11\"\n"), &no_env)
            .expect_err("token needed");
        assert!(e.to_string().contains("pkcs11_token_label"), "{e}");
        let env = |k: &str| match k {
            "STRONGROOM_SEAL" => Some("pkcs11".to_string()),
            "STRONGROOM_PKCS11_TOKEN_LABEL" => Some("tok".to_string()),
            _ => None,
        };
        let c = Config::from_toml(BASE, &env).expect("env seal");
        assert_eq!(c.seal, "pkcs11");
        // No PIN anywhere: a clear error.
        let e = c.pkcs11_settings(&no_env).err().expect("pin needed");
        assert!(e.to_string().contains("STRONGROOM_PKCS11_PIN"), "{e}");
        let with_pin = |k: &str| (k == "STRONGROOM_PKCS11_PIN").then(|| "9876".to_string());
        let s = c.pkcs11_settings(&with_pin).expect("settings");
        assert_eq!(s.library, DEFAULT_LIBRARY);
        assert_eq!(s.key_label, DEFAULT_KEY_LABEL);
        assert_eq!(s.token_label.as_deref(), Some("tok"));
    }

    #[test]
    fn pin_file_is_read_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("sr-pinfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("pin");
        std::fs::write(&path, "4321\n").expect("write");
        let text = format!(
            "{BASE}seal = \"pkcs11\"\npkcs11_token_label = \"t\"\npkcs11_pin_file = {:?}\n",
            path.display().to_string()
        );
        let c = Config::from_toml(&text, &no_env).expect("config");
        assert!(c.pkcs11_settings(&no_env).is_ok());
        std::fs::write(&path, "\n").expect("write");
        let e = c.pkcs11_settings(&no_env).err().expect("empty");
        assert!(e.to_string().contains("is empty"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
