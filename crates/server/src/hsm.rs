//! Start-up with the PKCS#11 seal: the settings (with the PIN) are read
//! once, and an initialized server asks the HSM to unwrap its root key.
//! Any failure leaves the server up and sealed, with the reason in
//! `operator status` and the log; it never falls back to another seal.

use std::sync::Arc;

use super::config::Config;
use strongroom_core::error::Error;
use strongroom_service::node::Seal;

/// Applies `seal = "pkcs11"` (never in dev mode). A missing PIN or token
/// setting stops the start with a clear error.
pub(super) fn configure(seal: Seal, cfg: &Config, dev: bool) -> Result<Seal, Error> {
    if dev || cfg.seal != "pkcs11" {
        return Ok(seal);
    }
    let settings = cfg.pkcs11_settings(&|k| std::env::var(k).ok())?;
    Ok(seal.with_pkcs11(settings))
}

/// Auto-unseals an initialized pkcs11 server and prints what happened.
/// Returns false when this is not a pkcs11 server (nothing printed).
pub(super) async fn start(seal: &Arc<Seal>) -> Result<bool, Error> {
    if !seal.is_pkcs11() {
        let st = seal.status()?;
        if st.initialized && st.seal_type != "shamir" {
            println!(
                "Sealed: the storage is sealed by {:?}, but the config says seal = \"shamir\"; set seal = {:?} and its settings, or run `strongroom operator migrate-seal --to shamir` with the server stopped",
                st.seal_type, st.seal_type
            );
            return Ok(true);
        }
        return Ok(false);
    }
    if !seal.status()?.initialized {
        println!("Not initialized: run `strongroom operator init` (PKCS#11 seal: no shares)");
        return Ok(true);
    }
    let s = seal.clone();
    match tokio::task::spawn_blocking(move || s.auto_unseal())
        .await
        .map_err(|e| Error::Internal(format!("auto-unseal task: {e}")))?
    {
        Ok(_) => println!("Unsealed by the PKCS#11 HSM"),
        Err(e) => println!("Sealed: the PKCS#11 HSM did not unseal the server: {e}"),
    }
    Ok(true)
}
