//! Certificate identities: a name from a verified client certificate (its
//! subject CN, a DNS SAN or a URI SAN) bound to an identity, so a request
//! over mutual TLS without a token acts as that identity
//! (docs/ACCESS.md, "Client certificates").
//!
//! A binding is one stored record (`cert_binding`, id = a hash of
//! `field:value`, so two nodes cannot bind one name twice). Matching is
//! exact and case-sensitive, byte for byte: no wildcards, no case folding,
//! no trimming. A certificate's names are all looked up (URI SANs, then
//! DNS SANs, then the subject CNs); they must lead to exactly one
//! identity, which must be enabled.

use serde::{Deserialize, Serialize};

use super::{Inner, Registry};
use crate::auth::Principal;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::storage::Op;

pub const KIND_CERT_BINDING: &str = "cert_binding";

/// Longest name a binding may hold (a URI SAN can be long; a CN is at most 64).
pub const MAX_CERT_NAME: usize = 1024;

/// Which part of a certificate a name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertField {
    /// A `uniformResourceIdentifier` subjectAltName (e.g. a SPIFFE id).
    Uri,
    /// A `dNSName` subjectAltName.
    Dns,
    /// A commonName attribute of the subject.
    Cn,
}

impl CertField {
    pub fn name(self) -> &'static str {
        match self {
            CertField::Uri => "uri",
            CertField::Dns => "dns",
            CertField::Cn => "cn",
        }
    }

    pub fn parse(s: &str) -> Result<CertField> {
        match s {
            "uri" => Ok(CertField::Uri),
            "dns" => Ok(CertField::Dns),
            "cn" => Ok(CertField::Cn),
            _ => Err(Error::InvalidArgument(format!(
                "unknown certificate field {s:?}; use cn (subject common name), dns (DNS subjectAltName) or uri (URI subjectAltName)"
            ))),
        }
    }
}

/// One name of a certificate: the field it is in and its exact text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertName {
    pub field: CertField,
    pub value: String,
}

impl std::fmt::Display for CertName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.field.name(), self.value)
    }
}

/// A stored binding of a certificate name to an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertBinding {
    pub id: String,
    pub field: CertField,
    pub value: String,
    pub identity: String,
    pub created_at: Timestamp,
}

/// The record id of a name: the first 128 bits of SHA-256(`field:value`), hex.
pub fn binding_id(field: CertField, value: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{}:{value}", field.name()).as_bytes(),
    );
    super::hex(&d.as_ref()[..16])
}

/// A name an operator may bind: 1 to 1024 characters, no control characters
/// and no leading or trailing space (it would never match what was meant).
pub fn validate_cert_value(field: CertField, value: &str) -> Result<()> {
    let bad = value.is_empty()
        || value.len() > MAX_CERT_NAME
        || value.chars().any(char::is_control)
        || value.trim() != value;
    if bad {
        return Err(Error::InvalidArgument(format!(
            "the certificate {} name must be 1 to {MAX_CERT_NAME} characters, without control characters or surrounding spaces; it is compared exactly (case-sensitive)",
            field.name()
        )));
    }
    Ok(())
}

/// Shown in messages: at most a few names of a certificate.
fn shown(names: &[CertName]) -> String {
    let mut s: Vec<String> = names.iter().take(6).map(|n| n.to_string()).collect();
    if names.len() > 6 {
        s.push(format!("and {} more", names.len() - 6));
    }
    if s.is_empty() {
        "no CN, DNS or URI name".into()
    } else {
        s.join(", ")
    }
}

impl Registry {
    /// Binds a certificate name to an enabled identity. A name is bound to
    /// at most one identity (`Conflict` otherwise).
    pub fn bind_cert(&self, identity: &str, field: CertField, value: &str) -> Result<CertBinding> {
        validate_cert_value(field, value)?;
        let id = binding_id(field, value);
        let b = CertBinding {
            id: id.clone(),
            field,
            value: value.to_string(),
            identity: identity.to_string(),
            created_at: self.clock.now(),
        };
        self.change(|inner| {
            if inner.identities.get(identity).is_none_or(|i| i.disabled) {
                return Err(Error::InvalidArgument(format!(
                    "no enabled identity named {identity:?}; list them with `strongroom identity list`"
                )));
            }
            if let Some(old) = inner.cert_bindings.get(&id) {
                return Err(Error::Conflict(format!(
                    "certificate name {}:{value} is already bound to identity {}; unbind it first with `strongroom identity unbind-cert --{} {value:?}`",
                    field.name(),
                    old.identity,
                    field.name()
                )));
            }
            let op = self.record_op(KIND_CERT_BINDING, &id, &b, true)?;
            let out = b.clone();
            Ok((
                vec![op],
                Box::new(move |i: &mut Inner| {
                    i.cert_bindings.insert(b.id.clone(), b);
                }),
                out,
            ))
        })
    }

    /// Removes the binding of a certificate name; the certificate stops
    /// authenticating at once.
    pub fn unbind_cert(&self, field: CertField, value: &str) -> Result<CertBinding> {
        let id = binding_id(field, value);
        self.change(|inner| {
            let old = inner.cert_bindings.get(&id).cloned().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "certificate name {}:{value} is not bound; list bindings with `strongroom identity certs`",
                    field.name()
                ))
            })?;
            let gone = id.clone();
            Ok((
                vec![Op::DeleteRecord {
                    kind: KIND_CERT_BINDING.into(),
                    id: id.clone(),
                }],
                Box::new(move |i: &mut Inner| {
                    i.cert_bindings.remove(&gone);
                }),
                old,
            ))
        })
    }

    /// Bindings, of one identity or all, by identity then name.
    pub fn list_cert_bindings(&self, identity: Option<&str>) -> Result<Vec<CertBinding>> {
        let inner = self.read()?;
        let mut v: Vec<CertBinding> = inner
            .cert_bindings
            .values()
            .filter(|b| identity.is_none_or(|i| b.identity == i))
            .cloned()
            .collect();
        v.sort_by(|a, b| (&a.identity, a.field, &a.value).cmp(&(&b.identity, b.field, &b.value)));
        Ok(v)
    }

    /// The identity a verified client certificate acts as, and the name
    /// that bound it. Every name is looked up; they must lead to exactly
    /// one identity, and it must be enabled.
    pub fn authenticate_cert(&self, names: &[CertName]) -> Result<(Principal, CertName)> {
        let inner = self.read()?;
        let mut found: Option<(&str, &CertName)> = None;
        for n in names {
            let Some(b) = inner.cert_bindings.get(&binding_id(n.field, &n.value)) else {
                continue;
            };
            // The id is a hash: the stored name must be the very same.
            if b.field != n.field || b.value != n.value {
                continue;
            }
            match found {
                None => found = Some((b.identity.as_str(), n)),
                Some((who, _)) if who == b.identity => {}
                Some(_) => {
                    return Err(Error::CertificateNotBound(format!(
                        "the client certificate's names ({}) are bound to more than one identity, so it authenticates as none; unbind all but one (`strongroom identity certs` lists them), or send a token",
                        shown(names)
                    )))
                }
            }
        }
        let not_bound = || {
            Error::CertificateNotBound(format!(
                "the client certificate ({}) is not bound to an enabled identity; bind one of its names with `strongroom identity bind-cert IDENTITY --cn|--dns|--uri NAME`, or send a token",
                shown(names)
            ))
        };
        let (identity, name) = found.ok_or_else(not_bound)?;
        let principal = self
            .principal_locked(&inner, identity)
            .map_err(|_| not_bound())?;
        Ok((principal, name.clone()))
    }
}

/// Loads the binding records into `inner` (registry load and resync).
pub(super) fn load_into(r: &Registry, inner: &mut Inner) -> Result<()> {
    for rec in r.store.load_records(KIND_CERT_BINDING)? {
        let b: CertBinding = r.open(KIND_CERT_BINDING, &rec.id, &rec.body)?;
        inner.cert_bindings.insert(b.id.clone(), b);
    }
    Ok(())
}

/// Re-reads one binding record (another node's change).
pub(super) fn reload_into(
    r: &Registry,
    inner: &mut Inner,
    id: &str,
    body: Option<&[u8]>,
) -> Result<()> {
    match body {
        Some(b) => {
            let v: CertBinding = r.open(KIND_CERT_BINDING, id, b)?;
            inner.cert_bindings.insert(v.id.clone(), v);
        }
        None => {
            inner.cert_bindings.remove(id);
        }
    }
    Ok(())
}
