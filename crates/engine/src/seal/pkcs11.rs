//! The PKCS#11 seal: the root key is encrypted (wrapped) by a
//! non-extractable, sensitive AES-256 key that lives inside an HSM, with
//! CKM_AES_GCM. The HSM key never leaves the token; the server sends the
//! root key in to be wrapped (at init or migrate-seal) and the wrapped blob
//! in to be unwrapped (at every start).
//!
//! Wrapped root key (`META_ROOT_KEY` on a pkcs11 seal):
//! `0x01 || iv(12) || ciphertext(32) || tag(16)`; the IV is drawn by the
//! server's RNG, the AAD binds the blob to the cluster id.
//!
//! This module has no `unsafe`: the `cryptoki` crate wraps the C API.
//!
//! Every session is short: load the library, initialize, find the token,
//! open a session, log in, do one operation, log out and finalize. A lost
//! session (token removed, session closed by the device) is retried once
//! with a fresh one; a wrong or locked PIN is never retried (real HSMs lock
//! the PIN after a few failures). Messages name the library, token and key
//! label, never the PIN.

use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};

use crate::crypto::material::AES_KEY_LEN;
use crate::crypto::rng::Rng;
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};

/// Debian's SoftHSM2 module.
pub const DEFAULT_LIBRARY: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The HSM key label when the config names none.
pub const DEFAULT_KEY_LABEL: &str = "strongroom-root-wrap";

const BLOB_V1: u8 = 1;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const BLOB_LEN: usize = 1 + IV_LEN + AES_KEY_LEN + TAG_LEN;

/// One PKCS#11 library per process is initialized at a time (C_Initialize
/// is process-wide), so HSM operations are serialized.
static HSM_LOCK: Mutex<()> = Mutex::new(());

/// Where the HSM key is and how to log in. Holds the PIN: no Debug, no Clone.
pub struct Pkcs11Settings {
    pub library: String,
    pub token_label: Option<String>,
    pub slot: Option<u64>,
    pub key_label: String,
    pin: SecretBytes,
}

impl Pkcs11Settings {
    pub fn new(
        library: String,
        token_label: Option<String>,
        slot: Option<u64>,
        key_label: String,
        pin: SecretBytes,
    ) -> Self {
        Self {
            library,
            token_label,
            slot,
            key_label,
            pin,
        }
    }

    /// "token \"X\"" or "slot N", for messages.
    fn token_name(&self) -> String {
        match (&self.token_label, self.slot) {
            (Some(l), _) => format!("token {l:?}"),
            (None, Some(s)) => format!("slot {s}"),
            (None, None) => "the first token".into(),
        }
    }

    fn pin(&self) -> Result<AuthPin> {
        let s = std::str::from_utf8(self.pin.expose())
            .map_err(|_| Error::InvalidArgument("the PKCS#11 PIN is not valid UTF-8".into()))?;
        Ok(AuthPin::from(s.to_string()))
    }
}

/// What went wrong with the HSM, as an error the operator can act on.
fn hsm_err(s: &Pkcs11Settings, what: &str, e: &CkError) -> Error {
    let hint = match e {
        CkError::Pkcs11(RvError::PinIncorrect, _) => {
            " (the PIN is wrong: check STRONGROOM_PKCS11_PIN or pkcs11_pin_file)"
        }
        CkError::Pkcs11(RvError::PinLocked, _) => {
            " (the user PIN is locked: the security officer must unlock it)"
        }
        CkError::Pkcs11(RvError::PinLenRange, _) => " (the PIN has a length the token refuses)",
        CkError::Pkcs11(RvError::TokenNotPresent | RvError::DeviceRemoved, _) => {
            " (the token is not present)"
        }
        CkError::Pkcs11(RvError::SessionHandleInvalid | RvError::SessionClosed, _) => {
            " (the HSM session was lost)"
        }
        _ => "",
    };
    let detail = match e {
        CkError::Pkcs11(rv, f) => format!("{f} returned {rv:?}"),
        CkError::LibraryLoading(le) => format!("cannot load the library: {le}"),
        other => format!("{other:?}"),
    };
    Error::HsmUnavailable(format!(
        "PKCS#11 {what} failed on {} via {}: {detail}{hint}",
        s.token_name(),
        s.library
    ))
}

fn is_session_lost(e: &Error) -> bool {
    // `hsm_err` writes "<function> returned <RvError:?>".
    matches!(e, Error::HsmUnavailable(m) if [
        " returned SessionHandleInvalid",
        " returned SessionClosed",
        " returned DeviceRemoved",
        " returned DeviceError",
    ]
    .iter()
    .any(|rv| m.contains(rv)))
}

fn ulong(n: usize) -> Result<Ulong> {
    Ulong::try_from(n).map_err(|_| Error::Internal("length does not fit CK_ULONG".into()))
}

fn label_bytes(label: &str) -> Vec<u8> {
    label.as_bytes().to_vec()
}

/// Runs `f` in a logged-in read-write session; a lost session is retried
/// once with a fresh library context.
fn with_session<T>(s: &Pkcs11Settings, f: &dyn Fn(&Session) -> Result<T>) -> Result<T> {
    match session_once(s, f) {
        Err(e) if is_session_lost(&e) => {
            tracing::warn!(error = %e, "PKCS#11 session lost; retrying once with a new session");
            session_once(s, f)
        }
        r => r,
    }
}

fn session_once<T>(s: &Pkcs11Settings, f: &dyn Fn(&Session) -> Result<T>) -> Result<T> {
    let _guard = HSM_LOCK
        .lock()
        .map_err(|_| Error::Internal("HSM lock poisoned".into()))?;
    if !std::path::Path::new(&s.library).exists() {
        return Err(Error::HsmUnavailable(format!(
            "the PKCS#11 library {} does not exist; install the HSM's module (for SoftHSM2: apt-get install softhsm2) or set pkcs11_library",
            s.library
        )));
    }
    let ctx = Pkcs11::new(&s.library).map_err(|e| hsm_err(s, "library load", &e))?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| hsm_err(s, "C_Initialize", &e))?;
    let result = (|| {
        let slot = find_slot(s, &ctx)?;
        let session = ctx
            .open_rw_session(slot)
            .map_err(|e| hsm_err(s, "open session", &e))?;
        let pin = s.pin()?;
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(hsm_err(s, "login", &e)),
        }
        let r = f(&session);
        let _ = session.logout();
        r
    })();
    let _ = ctx.finalize();
    result
}

fn find_slot(s: &Pkcs11Settings, ctx: &Pkcs11) -> Result<Slot> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| hsm_err(s, "slot list", &e))?;
    let mut labels = Vec::new();
    for slot in &slots {
        let info = ctx
            .get_token_info(*slot)
            .map_err(|e| hsm_err(s, "token info", &e))?;
        let label = info.label().trim_end().to_string();
        let hit = match (&s.token_label, s.slot) {
            (Some(l), _) => *l == label,
            (None, Some(id)) => slot.id() == id,
            (None, None) => true,
        };
        if hit {
            if !info.token_initialized() {
                return Err(Error::HsmUnavailable(format!(
                    "{} is not initialized; initialize it first (softhsm2-util --init-token ...)",
                    s.token_name()
                )));
            }
            return Ok(*slot);
        }
        labels.push(format!("{label:?} (slot {})", slot.id()));
    }
    Err(Error::HsmUnavailable(format!(
        "no {} found via {}; tokens present: {}. Check pkcs11_token_label / pkcs11_slot (and SOFTHSM2_CONF for SoftHSM2)",
        s.token_name(),
        s.library,
        if labels.is_empty() {
            "none".to_string()
        } else {
            labels.join(", ")
        }
    )))
}

/// The AES key labelled `key_label`, if there is exactly one.
fn find_key(s: &Pkcs11Settings, session: &Session) -> Result<Option<ObjectHandle>> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Label(label_bytes(&s.key_label)),
        ])
        .map_err(|e| hsm_err(s, "find key", &e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        more => Err(Error::HsmUnavailable(format!(
            "{} AES keys are labelled {:?} on {}; the label must name exactly one key",
            more.len(),
            s.key_label,
            s.token_name()
        ))),
    }
}

/// Refuses a key that could leave the HSM or is not AES-256.
fn check_key(s: &Pkcs11Settings, session: &Session, key: ObjectHandle) -> Result<()> {
    let attrs = session
        .get_attributes(
            key,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::ValueLen,
                AttributeType::Encrypt,
                AttributeType::Decrypt,
            ],
        )
        .map_err(|e| hsm_err(s, "key attributes", &e))?;
    let mut ok = (false, false, false, false, false);
    for a in attrs {
        match a {
            Attribute::Sensitive(v) => ok.0 = v,
            Attribute::Extractable(v) => ok.1 = !v,
            Attribute::ValueLen(n) => ok.2 = usize::from(n) == AES_KEY_LEN,
            Attribute::Encrypt(v) => ok.3 = v,
            Attribute::Decrypt(v) => ok.4 = v,
            _ => {}
        }
    }
    if ok != (true, true, true, true, true) {
        return Err(Error::HsmUnavailable(format!(
            "the HSM key labelled {:?} on {} is not a sensitive, non-extractable AES-256 encrypt/decrypt key; refusing to use it (choose another pkcs11_key_label)",
            s.key_label,
            s.token_name()
        )));
    }
    Ok(())
}

fn generate_key(s: &Pkcs11Settings, session: &Session) -> Result<ObjectHandle> {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(ulong(AES_KEY_LEN)?),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Label(label_bytes(&s.key_label)),
    ];
    session
        .generate_key(&Mechanism::AesKeyGen, &template)
        .map_err(|e| hsm_err(s, "key generation", &e))
}

/// Ensures the HSM key exists: reuses the key with the label (after checking
/// it cannot leave the HSM) or generates one. Returns whether it was created.
pub fn ensure_key(s: &Pkcs11Settings) -> Result<bool> {
    with_session(s, &|session| match find_key(s, session)? {
        Some(k) => check_key(s, session, k).map(|()| false),
        None => generate_key(s, session).map(|_| true),
    })
}

/// Wraps the root key under the HSM key (which must exist). `aad` binds the
/// blob to the cluster.
pub fn wrap(s: &Pkcs11Settings, rng: &dyn Rng, aad: &[u8], root: &SecretBytes) -> Result<Vec<u8>> {
    if root.len() != AES_KEY_LEN {
        return Err(Error::Internal("root key has the wrong length".into()));
    }
    let mut iv = [0u8; IV_LEN];
    rng.fill(&mut iv)?;
    let ct = with_session(s, &|session| {
        let key = find_key(s, session)?.ok_or_else(|| missing_key(s))?;
        check_key(s, session, key)?;
        let mut iv2 = iv;
        let params = GcmParams::new(&mut iv2, aad, ulong(TAG_LEN * 8)?)
            .map_err(|e| hsm_err(s, "GCM parameters", &e))?;
        session
            .encrypt(&Mechanism::AesGcm(params), key, root.expose())
            .map_err(|e| hsm_err(s, "wrap (C_Encrypt AES-GCM)", &e))
    })?;
    if ct.len() != AES_KEY_LEN + TAG_LEN {
        return Err(Error::HsmUnavailable(format!(
            "the HSM returned {} bytes for a wrapped 32-byte key (expected {})",
            ct.len(),
            AES_KEY_LEN + TAG_LEN
        )));
    }
    let mut blob = Vec::with_capacity(BLOB_LEN);
    blob.push(BLOB_V1);
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(&ct);
    Ok(blob)
}

fn missing_key(s: &Pkcs11Settings) -> Error {
    Error::HsmUnavailable(format!(
        "no AES key labelled {:?} on {}: the HSM key that wraps the root key is missing (deleted, or the wrong token/pkcs11_key_label); the server stays sealed",
        s.key_label,
        s.token_name()
    ))
}

/// Asks the HSM to unwrap the stored root key.
pub fn unwrap(s: &Pkcs11Settings, aad: &[u8], blob: &[u8]) -> Result<SecretBytes> {
    if blob.len() != BLOB_LEN || blob[0] != BLOB_V1 {
        return Err(Error::Internal(
            "the stored HSM-wrapped root key has an unknown format".into(),
        ));
    }
    let (iv, ct) = blob[1..].split_at(IV_LEN);
    let pt = with_session(s, &|session| {
        let key = find_key(s, session)?.ok_or_else(|| missing_key(s))?;
        let mut iv2 = [0u8; IV_LEN];
        iv2.copy_from_slice(iv);
        let params = GcmParams::new(&mut iv2, aad, ulong(TAG_LEN * 8)?)
            .map_err(|e| hsm_err(s, "GCM parameters", &e))?;
        match session.decrypt(&Mechanism::AesGcm(params), key, ct) {
            Ok(v) => Ok(SecretBytes::new(v)),
            Err(CkError::Pkcs11(RvError::EncryptedDataInvalid, _))
            | Err(CkError::Pkcs11(RvError::EncryptedDataLenRange, _)) => {
                Err(Error::HsmUnavailable(format!(
                    "the HSM key labelled {:?} on {} did not unwrap the stored root key (a different key with the same label, or a tampered record); the server stays sealed",
                    s.key_label,
                    s.token_name()
                )))
            }
            Err(e) => Err(hsm_err(s, "unwrap (C_Decrypt AES-GCM)", &e)),
        }
    })?;
    if pt.len() != AES_KEY_LEN {
        return Err(Error::Internal(
            "the HSM unwrapped a root key of the wrong length".into(),
        ));
    }
    Ok(pt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    fn settings() -> Pkcs11Settings {
        Pkcs11Settings::new(
            DEFAULT_LIBRARY.into(),
            Some("tok".into()),
            None,
            DEFAULT_KEY_LABEL.into(),
            SecretBytes::from_slice(b"pin-8c1f2e"),
        )
    }

    #[test]
    fn errors_name_the_fault_and_only_lost_sessions_are_retried() {
        let s = settings();
        let pin = hsm_err(
            &s,
            "login",
            &CkError::Pkcs11(RvError::PinIncorrect, Function::Login),
        );
        let m = pin.to_string();
        assert!(
            m.contains("PinIncorrect") && m.contains("token \"tok\""),
            "{m}"
        );
        assert!(!m.contains("pin-8c1f2e"), "{m}");
        assert!(!is_session_lost(&pin), "a wrong PIN is never retried");
        for rv in [
            RvError::SessionHandleInvalid,
            RvError::SessionClosed,
            RvError::DeviceRemoved,
            RvError::DeviceError,
        ] {
            let e = hsm_err(&s, "unwrap", &CkError::Pkcs11(rv, Function::Decrypt));
            assert!(is_session_lost(&e), "{e}");
        }
        let e = hsm_err(
            &s,
            "unwrap",
            &CkError::Pkcs11(RvError::TokenNotPresent, Function::OpenSession),
        );
        assert!(
            !is_session_lost(&e) && e.to_string().contains("not present"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let mut s = settings();
        s.library = "/nonexistent/lib.so".into();
        let e = ensure_key(&s).expect_err("no library");
        assert_eq!(e.code(), "HsmUnavailable");
        assert!(e.to_string().contains("/nonexistent/lib.so"), "{e}");
        assert!(
            unwrap(&s, b"aad", &[0u8; 3]).is_err(),
            "a malformed blob is refused before the HSM is asked"
        );
    }
}
