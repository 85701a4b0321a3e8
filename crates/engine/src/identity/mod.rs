//! Identities and their credentials: bearer tokens and AWS-style access
//! keys, plus the stored policies and dual-control approval requests. All
//! of it is kept in memory for the request path and in sealed storage
//! records (`kind`, `id`) for durability; every change is committed before
//! it is acknowledged.
//!
//! Tokens look like `sr.<token-id>.<secret>`: the id finds the record, the
//! SHA-256 of the whole token is compared in constant time. Only the hash is
//! stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::auth::{token_hash, Principal, PrincipalKind};
use crate::clock::{SharedClock, Timestamp};
use crate::crypto::rng::SharedRng;
use crate::crypto::secret::ct_eq;
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};
use crate::policy::{self, ApprovalRequest, Policy};
use crate::seal::barrier::Barrier;
use crate::storage::{Op, Store, Transaction};

pub const KIND_IDENTITY: &str = "identity";
/// Longest token lifetime accepted: 100 years.
pub const MAX_TOKEN_TTL_SECS: i64 = 100 * 365 * 86_400;
pub const KIND_TOKEN: &str = "token";
pub const KIND_ACCESS_KEY: &str = "access_key";
pub const KIND_POLICY: &str = "policy";
pub const KIND_APPROVAL: &str = "approval";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    Human,
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub kind: IdentityKind,
    pub roles: Vec<String>,
    pub policies: Vec<String>,
    pub disabled: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub identity: String,
    /// SHA-256 of the whole token, hex.
    pub hash: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Serialize, Deserialize)]
struct AccessKeyRecord {
    id: String,
    identity: String,
    secret: String,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
}

impl Drop for AccessKeyRecord {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

/// What listing access keys shows (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct AccessKeyInfo {
    pub id: String,
    pub identity: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Default)]
struct Inner {
    identities: BTreeMap<String, Identity>,
    tokens: HashMap<String, TokenInfo>,
    access_keys: HashMap<String, AccessKeyRecord>,
    policies: BTreeMap<String, Policy>,
    approvals: BTreeMap<String, ApprovalRequest>,
    /// Certificate names bound to identities, by record id (certs.rs).
    cert_bindings: HashMap<String, CertBinding>,
    /// Effective policies per identity, rebuilt on every change.
    effective: HashMap<String, Arc<Vec<Policy>>>,
}

pub struct Registry {
    store: Arc<dyn Store>,
    barrier: Arc<Barrier>,
    clock: SharedClock,
    rng: SharedRng,
    inner: RwLock<Inner>,
    write: Mutex<()>,
}

fn identity_of(kind: &str, id: &str) -> String {
    format!("strongroom/record/{kind}/{id}")
}

/// Identity names: 1–64 of `[a-z0-9._-]`, starting with a letter.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_lowercase()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
        });
    if !ok || ["root", "system", "anonymous"].contains(&name) {
        return Err(Error::InvalidArgument(format!(
            "invalid {what} name {name:?}: use 1-64 characters from a-z 0-9 . _ - starting with a letter (`root`, `system` and `anonymous` are reserved)"
        )));
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Registry {
    pub fn load(
        store: Arc<dyn Store>,
        barrier: Arc<Barrier>,
        clock: SharedClock,
        rng: SharedRng,
    ) -> Result<Self> {
        let r = Registry {
            store,
            barrier,
            clock,
            rng,
            inner: RwLock::new(Inner::default()),
            write: Mutex::new(()),
        };
        let mut inner = Inner::default();
        for rec in r.store.load_records(KIND_IDENTITY)? {
            let i: Identity = r.open(KIND_IDENTITY, &rec.id, &rec.body)?;
            inner.identities.insert(i.name.clone(), i);
        }
        for rec in r.store.load_records(KIND_TOKEN)? {
            let t: TokenInfo = r.open(KIND_TOKEN, &rec.id, &rec.body)?;
            inner.tokens.insert(t.id.clone(), t);
        }
        for rec in r.store.load_records(KIND_ACCESS_KEY)? {
            let a: AccessKeyRecord = r.open(KIND_ACCESS_KEY, &rec.id, &rec.body)?;
            inner.access_keys.insert(a.id.clone(), a);
        }
        for rec in r.store.load_records(KIND_POLICY)? {
            let p: Policy = r.open(KIND_POLICY, &rec.id, &rec.body)?;
            inner.policies.insert(p.name.clone(), p);
        }
        for rec in r.store.load_records(KIND_APPROVAL)? {
            let a: ApprovalRequest = r.open(KIND_APPROVAL, &rec.id, &rec.body)?;
            inner.approvals.insert(a.id.clone(), a);
        }
        certs::load_into(&r, &mut inner)?;
        rebuild_effective(&mut inner);
        *r.inner.write().map_err(|_| poisoned())? = inner;
        Ok(r)
    }

    fn open<T: serde::de::DeserializeOwned>(&self, kind: &str, id: &str, body: &[u8]) -> Result<T> {
        let plain = self.barrier.open(&identity_of(kind, id), body)?;
        serde_json::from_slice(plain.expose())
            .map_err(|e| Error::Internal(format!("{kind} record {id} unreadable: {e}")))
    }

    fn seal<T: Serialize>(&self, kind: &str, id: &str, v: &T) -> Result<Vec<u8>> {
        let json = SecretBytes::new(
            serde_json::to_vec(v).map_err(|e| Error::Internal(format!("serialize {kind}: {e}")))?,
        );
        self.barrier.seal(&identity_of(kind, id), json.expose())
    }

    /// Seals `v` as record (`kind`, `id`) and returns its write: an insert
    /// (which fails if the record exists) or an upsert.
    fn record_op<T: Serialize>(&self, kind: &str, id: &str, v: &T, insert: bool) -> Result<Op> {
        let (kind, id, body) = (kind.to_string(), id.to_string(), self.seal(kind, id, v)?);
        Ok(if insert {
            Op::InsertRecord { kind, id, body }
        } else {
            Op::PutRecord { kind, id, body }
        })
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Inner>> {
        self.inner.read().map_err(|_| poisoned())
    }

    /// Runs `f` on a copy-on-write view under the write lock: `f` returns the
    /// ops to commit and the change to apply to memory after the commit.
    fn change<T>(
        &self,
        f: impl FnOnce(&Inner) -> Result<(Vec<Op>, Box<dyn FnOnce(&mut Inner)>, T)>,
    ) -> Result<T> {
        let _w = self.write.lock().map_err(|_| poisoned())?;
        let (ops, apply, out) = {
            let inner = self.read()?;
            f(&inner)?
        };
        let mut tx = Transaction::new();
        for op in ops {
            tx = tx.push(op);
        }
        self.store.commit(tx)?;
        let mut inner = self.inner.write().map_err(|_| poisoned())?;
        apply(&mut inner);
        rebuild_effective(&mut inner);
        Ok(out)
    }

    // ---------- identities ----------

    pub fn create_identity(
        &self,
        name: &str,
        kind: IdentityKind,
        roles: Vec<String>,
        policies: Vec<String>,
    ) -> Result<Identity> {
        validate_name("identity", name)?;
        let now = self.clock.now();
        self.change(|inner| {
            if inner.identities.contains_key(name) {
                return Err(Error::Conflict(format!("identity {name} already exists")));
            }
            check_roles_and_policies(inner, &roles, &policies)?;
            let ident = Identity {
                name: name.to_string(),
                kind,
                roles,
                policies,
                disabled: false,
                created_at: now,
            };
            let op = self.record_op(KIND_IDENTITY, name, &ident, true)?;
            let out = ident.clone();
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.identities.insert(ident.name.clone(), ident);
                }),
                out,
            ))
        })
    }

    pub fn identity(&self, name: &str) -> Result<Identity> {
        self.read()?.identities.get(name).cloned().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no identity named {name:?}; list them with `strongroom identity list`"
            ))
        })
    }

    pub fn list_identities(&self) -> Result<Vec<Identity>> {
        Ok(self.read()?.identities.values().cloned().collect())
    }

    /// Updates an identity (disable, roles, policies).
    pub fn update_identity(&self, name: &str, f: impl FnOnce(&mut Identity)) -> Result<Identity> {
        self.change(|inner| {
            let mut ident = inner
                .identities
                .get(name)
                .cloned()
                .ok_or_else(|| Error::InvalidArgument(format!("no identity named {name:?}")))?;
            f(&mut ident);
            check_roles_and_policies(inner, &ident.roles, &ident.policies)?;
            let op = self.record_op(KIND_IDENTITY, name, &ident, false)?;
            let out = ident.clone();
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.identities.insert(ident.name.clone(), ident);
                }),
                out,
            ))
        })
    }

    // ---------- tokens ----------

    /// A new token for `identity`, valid for `ttl_secs` (none = no expiry).
    /// The token is returned once; only its hash is stored.
    pub fn create_token(
        &self,
        identity: &str,
        ttl_secs: Option<i64>,
    ) -> Result<(SecretBytes, TokenInfo)> {
        if let Some(t) = ttl_secs {
            if t <= 0 {
                return Err(Error::InvalidArgument(
                    "--ttl must be a positive number of seconds".into(),
                ));
            }
            if t > MAX_TOKEN_TTL_SECS {
                return Err(Error::InvalidArgument(format!(
                    "--ttl {t} is too long; the most is {MAX_TOKEN_TTL_SECS} seconds (100 years), or omit it for a token without expiry"
                )));
            }
        }
        let mut idb = [0u8; 8];
        self.rng.fill(&mut idb)?;
        let id = hex(&idb);
        let mut secret = SecretBytes::zeroed(32);
        self.rng.fill(secret.expose_mut())?;
        let token = SecretBytes::new(
            format!("sr.{id}.{}", URL_SAFE_NO_PAD.encode(secret.expose())).into_bytes(),
        );
        let now = self.clock.now();
        let info = TokenInfo {
            id: id.clone(),
            identity: identity.to_string(),
            hash: hex(&token_hash(token.expose())),
            created_at: now,
            // Checked: the bound above keeps it far from i64::MAX for any real clock.
            expires_at: match ttl_secs {
                None => None,
                Some(t) => Some(now.checked_add(t).ok_or_else(|| {
                    Error::InvalidArgument(format!("--ttl {t} overflows the expiry time"))
                })?),
            },
            revoked_at: None,
        };
        let out = info.clone();
        self.change(|inner| {
            match inner.identities.get(identity) {
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "no identity named {identity:?}"
                    )))
                }
                Some(i) if i.disabled => {
                    return Err(Error::InvalidArgument(format!(
                        "identity {identity} is disabled"
                    )))
                }
                Some(_) => {}
            }
            let op = self.record_op(KIND_TOKEN, &id, &info, true)?;
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.tokens.insert(info.id.clone(), info);
                }),
                (),
            ))
        })?;
        Ok((token, out))
    }

    /// Revokes by token id (from `token create`) or by the token itself.
    pub fn revoke_token(&self, id_or_token: &str) -> Result<TokenInfo> {
        let id = parse_token(id_or_token)
            .map(|(id, _)| id)
            .unwrap_or(id_or_token)
            .to_string();
        let now = self.clock.now();
        self.change(|inner| {
            let mut t = inner
                .tokens
                .get(&id)
                .cloned()
                .ok_or_else(|| Error::InvalidArgument(format!("no token with id {id:?}")))?;
            t.revoked_at.get_or_insert(now);
            let op = self.record_op(KIND_TOKEN, &id, &t, false)?;
            let out = t.clone();
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.tokens.insert(t.id.clone(), t);
                }),
                out,
            ))
        })
    }

    pub fn list_tokens(&self, identity: Option<&str>) -> Result<Vec<TokenInfo>> {
        let inner = self.read()?;
        let mut v: Vec<TokenInfo> = inner
            .tokens
            .values()
            .filter(|t| identity.is_none_or(|i| t.identity == i))
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(v)
    }

    /// Checks a presented token: known id, constant-time hash match, not
    /// revoked, not expired, identity enabled.
    pub fn authenticate(&self, token: &[u8]) -> Result<Principal> {
        let text = std::str::from_utf8(token).map_err(|_| Error::InvalidToken)?;
        let (id, _) = parse_token(text).ok_or(Error::InvalidToken)?;
        let inner = self.read()?;
        let t = inner.tokens.get(id).ok_or(Error::InvalidToken)?;
        let presented = hex(&token_hash(token));
        if !ct_eq(presented.as_bytes(), t.hash.as_bytes()) {
            return Err(Error::InvalidToken);
        }
        let now = self.clock.now();
        // Whole seconds: a token is valid through its last second, so it
        // lives at least `ttl` seconds.
        if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| now > e) {
            return Err(Error::InvalidToken);
        }
        self.principal_locked(&inner, &t.identity)
    }

    fn principal_locked(&self, inner: &Inner, name: &str) -> Result<Principal> {
        let ident = inner.identities.get(name).ok_or(Error::InvalidToken)?;
        if ident.disabled {
            return Err(Error::InvalidToken);
        }
        Ok(Principal {
            id: ident.name.clone(),
            kind: PrincipalKind::Identity,
            roles: ident.roles.clone(),
            policies: inner.effective.get(name).cloned().unwrap_or_default(),
        })
    }

    /// The principal for an identity name (used when executing an approved request).
    pub fn principal(&self, name: &str) -> Result<Principal> {
        let inner = self.read()?;
        self.principal_locked(&inner, name)
    }

    // ---------- access keys ----------

    /// A new access key pair; the secret is returned once and stored sealed.
    pub fn create_access_key(&self, identity: &str) -> Result<(String, SecretBytes)> {
        const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut idb = [0u8; 16];
        self.rng.fill(&mut idb)?;
        let id = format!(
            "SRAK{}",
            idb.iter()
                .map(|b| B32[(*b & 31) as usize] as char)
                .collect::<String>()
        );
        let mut sb = SecretBytes::zeroed(30);
        self.rng.fill(sb.expose_mut())?;
        let secret = SecretBytes::new(
            base64::engine::general_purpose::STANDARD
                .encode(sb.expose())
                .into_bytes(),
        );
        let now = self.clock.now();
        let rec = AccessKeyRecord {
            id: id.clone(),
            identity: identity.to_string(),
            secret: String::from_utf8_lossy(secret.expose()).into_owned(),
            created_at: now,
            revoked_at: None,
        };
        self.change(|inner| {
            if inner.identities.get(identity).is_none_or(|i| i.disabled) {
                return Err(Error::InvalidArgument(format!(
                    "no enabled identity named {identity:?}"
                )));
            }
            let op = self.record_op(KIND_ACCESS_KEY, &id, &rec, true)?;
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.access_keys.insert(rec.id.clone(), rec);
                }),
                (),
            ))
        })?;
        Ok((id, secret))
    }

    pub fn revoke_access_key(&self, id: &str) -> Result<AccessKeyInfo> {
        let now = self.clock.now();
        self.change(|inner| {
            let old = inner
                .access_keys
                .get(id)
                .ok_or_else(|| Error::InvalidArgument(format!("no access key {id:?}")))?;
            let rec = AccessKeyRecord {
                id: old.id.clone(),
                identity: old.identity.clone(),
                secret: old.secret.clone(),
                created_at: old.created_at,
                revoked_at: Some(old.revoked_at.unwrap_or(now)),
            };
            let info = AccessKeyInfo {
                id: rec.id.clone(),
                identity: rec.identity.clone(),
                created_at: rec.created_at,
                revoked_at: rec.revoked_at,
            };
            let op = self.record_op(KIND_ACCESS_KEY, id, &rec, false)?;
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.access_keys.insert(rec.id.clone(), rec);
                }),
                info,
            ))
        })
    }

    pub fn list_access_keys(&self) -> Result<Vec<AccessKeyInfo>> {
        let inner = self.read()?;
        let mut v: Vec<AccessKeyInfo> = inner
            .access_keys
            .values()
            .map(|r| AccessKeyInfo {
                id: r.id.clone(),
                identity: r.identity.clone(),
                created_at: r.created_at,
                revoked_at: r.revoked_at,
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }

    /// For request signing (SigV4): the secret and principal of an active
    /// access key, or `None` (callers answer unknown and revoked alike).
    pub fn access_key(&self, id: &str) -> Result<Option<(SecretBytes, Principal)>> {
        let inner = self.read()?;
        let Some(rec) = inner.access_keys.get(id) else {
            return Ok(None);
        };
        if rec.revoked_at.is_some() {
            return Ok(None);
        }
        match self.principal_locked(&inner, &rec.identity) {
            Ok(p) => Ok(Some((SecretBytes::from_slice(rec.secret.as_bytes()), p))),
            Err(_) => Ok(None),
        }
    }

    // ---------- policies ----------

    pub fn put_policy(&self, p: Policy) -> Result<Policy> {
        p.validate_custom()
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.change(|_| {
            let op = self.record_op(KIND_POLICY, &p.name, &p, false)?;
            let out = p.clone();
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.policies.insert(p.name.clone(), p);
                }),
                out,
            ))
        })
    }

    pub fn delete_policy(&self, name: &str) -> Result<()> {
        self.change(|inner| {
            if !inner.policies.contains_key(name) {
                return Err(Error::InvalidArgument(format!("no policy named {name:?}")));
            }
            if let Some(i) = inner
                .identities
                .values()
                .find(|i| i.policies.iter().any(|p| p == name))
            {
                return Err(Error::InvalidArgument(format!(
                    "policy {name} is attached to identity {}; detach it first",
                    i.name
                )));
            }
            let n = name.to_string();
            Ok((
                vec![Op::DeleteRecord {
                    kind: KIND_POLICY.into(),
                    id: name.into(),
                }],
                Box::new(move |i: &mut Inner| {
                    i.policies.remove(&n);
                }),
                (),
            ))
        })
    }

    pub fn policy(&self, name: &str) -> Result<Policy> {
        if let Some(p) = policy::builtin_role(name) {
            return Ok(p);
        }
        self.read()?
            .policies
            .get(name)
            .cloned()
            .ok_or_else(|| Error::InvalidArgument(format!("no policy named {name:?}")))
    }

    pub fn list_policies(&self) -> Result<Vec<Policy>> {
        Ok(self.read()?.policies.values().cloned().collect())
    }

    // ---------- approvals ----------

    pub fn put_approval(&self, a: ApprovalRequest, insert: bool) -> Result<ApprovalRequest> {
        self.change(|_| {
            let op = self.record_op(KIND_APPROVAL, &a.id, &a, insert)?;
            let out = a.clone();
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.approvals.insert(a.id.clone(), a);
                }),
                out,
            ))
        })
    }

    /// Reads, changes and saves one approval request under the registry's
    /// write lock, so concurrent decisions on it are serialized. The request
    /// is saved even when `f` fails (an expired request is stored as
    /// Expired); `f`'s error is returned after the save.
    pub fn update_approval<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut ApprovalRequest) -> Result<T>,
    ) -> Result<(ApprovalRequest, T)> {
        let (saved, out) = self.change(|inner| {
            let mut a = inner.approvals.get(id).cloned().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "no approval request {id:?}; list them with `strongroom approval list`"
                ))
            })?;
            let out = f(&mut a);
            let op = self.record_op(KIND_APPROVAL, &a.id, &a, false)?;
            let saved = a.clone();
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.approvals.insert(a.id.clone(), a);
                }) as Box<dyn FnOnce(&mut Inner)>,
                (saved, out),
            ))
        })?;
        Ok((saved, out?))
    }

    pub fn approval(&self, id: &str) -> Result<ApprovalRequest> {
        self.read()?.approvals.get(id).cloned().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no approval request {id:?}; list them with `strongroom approval list`"
            ))
        })
    }

    pub fn list_approvals(&self) -> Result<Vec<ApprovalRequest>> {
        Ok(self.read()?.approvals.values().cloned().collect())
    }

    /// A fresh random id (approvals, request ids).
    pub fn new_id(&self) -> Result<String> {
        let mut b = [0u8; 8];
        self.rng.fill(&mut b)?;
        Ok(hex(&b))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Splits `sr.<id>.<secret>`.
fn parse_token(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix("sr.")?;
    let (id, secret) = rest.split_once('.')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

fn check_roles_and_policies(inner: &Inner, roles: &[String], policies: &[String]) -> Result<()> {
    for r in roles {
        if !policy::BUILTIN_ROLES.contains(&r.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "unknown role {r:?}; built-in roles are {}",
                policy::BUILTIN_ROLES.join(", ")
            )));
        }
        if r == "root" {
            return Err(Error::InvalidArgument(
                "the root role is break-glass only and belongs to the root token; grant specific roles instead".into(),
            ));
        }
    }
    for p in policies {
        if !inner.policies.contains_key(p) {
            return Err(Error::InvalidArgument(format!(
                "unknown policy {p:?}; create it with `strongroom policy put`"
            )));
        }
    }
    Ok(())
}

fn rebuild_effective(inner: &mut Inner) {
    let mut eff = HashMap::new();
    for (name, ident) in &inner.identities {
        let attached: Vec<Policy> = ident
            .policies
            .iter()
            .filter_map(|p| inner.policies.get(p).cloned())
            .collect();
        let ps = policy::effective_policies(&ident.roles, &attached).unwrap_or_default();
        eff.insert(name.clone(), Arc::new(ps));
    }
    inner.effective = eff;
}

fn poisoned() -> Error {
    Error::Internal("identity registry lock poisoned".into())
}

mod certs;
pub use certs::{
    binding_id, validate_cert_value, CertBinding, CertField, CertName, KIND_CERT_BINDING,
    MAX_CERT_NAME,
};
mod key_policy;

mod sync;
#[cfg(test)]
mod tests;
