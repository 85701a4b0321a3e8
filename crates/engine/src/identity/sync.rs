//! Keeping the in-memory registry (identities, tokens, access keys,
//! policies, approvals) in step with a database that several nodes share.
//! Another node's change arrives as a notification naming one record
//! (`server::ha`); [`Registry::reload_record`] re-reads just that record.
//! [`Registry::resync`] reloads everything (after the notification
//! connection was lost, and periodically as a fallback).

use super::{
    rebuild_effective, AccessKeyRecord, Identity, Inner, Registry, TokenInfo, KIND_ACCESS_KEY,
    KIND_APPROVAL, KIND_IDENTITY, KIND_POLICY, KIND_TOKEN,
};
use crate::error::Result;
use crate::policy::{ApprovalRequest, Policy};

impl Registry {
    /// Re-reads record (`kind`, `id`) from storage and installs it in memory,
    /// or removes it from memory when storage no longer has it. Unknown
    /// kinds are ignored.
    pub fn reload_record(&self, kind: &str, id: &str) -> Result<()> {
        // Serialized with this node's own changes.
        let _w = self.write.lock().map_err(|_| super::poisoned())?;
        let rec = self.store.load_record(kind, id)?;
        let body = rec.as_ref().map(|r| r.body.as_slice());
        let mut inner = self.inner.write().map_err(|_| super::poisoned())?;
        match kind {
            KIND_IDENTITY => match body {
                Some(b) => {
                    let v: Identity = self.open(kind, id, b)?;
                    inner.identities.insert(v.name.clone(), v);
                }
                None => {
                    inner.identities.remove(id);
                }
            },
            KIND_TOKEN => match body {
                Some(b) => {
                    let v: TokenInfo = self.open(kind, id, b)?;
                    inner.tokens.insert(v.id.clone(), v);
                }
                None => {
                    inner.tokens.remove(id);
                }
            },
            KIND_ACCESS_KEY => match body {
                Some(b) => {
                    let v: AccessKeyRecord = self.open(kind, id, b)?;
                    inner.access_keys.insert(v.id.clone(), v);
                }
                None => {
                    inner.access_keys.remove(id);
                }
            },
            KIND_POLICY => match body {
                Some(b) => {
                    let v: Policy = self.open(kind, id, b)?;
                    inner.policies.insert(v.name.clone(), v);
                }
                None => {
                    inner.policies.remove(id);
                }
            },
            KIND_APPROVAL => match body {
                Some(b) => {
                    let v: ApprovalRequest = self.open(kind, id, b)?;
                    inner.approvals.insert(v.id.clone(), v);
                }
                None => {
                    inner.approvals.remove(id);
                }
            },
            super::KIND_CERT_BINDING => super::certs::reload_into(self, &mut inner, id, body)?,
            _ => return Ok(()),
        }
        rebuild_effective(&mut inner);
        Ok(())
    }

    /// Reloads every record from storage and replaces memory with it.
    pub fn resync(&self) -> Result<()> {
        let _w = self.write.lock().map_err(|_| super::poisoned())?;
        let mut fresh = Inner::default();
        for rec in self.store.load_records(KIND_IDENTITY)? {
            let v: Identity = self.open(KIND_IDENTITY, &rec.id, &rec.body)?;
            fresh.identities.insert(v.name.clone(), v);
        }
        for rec in self.store.load_records(KIND_TOKEN)? {
            let v: TokenInfo = self.open(KIND_TOKEN, &rec.id, &rec.body)?;
            fresh.tokens.insert(v.id.clone(), v);
        }
        for rec in self.store.load_records(KIND_ACCESS_KEY)? {
            let v: AccessKeyRecord = self.open(KIND_ACCESS_KEY, &rec.id, &rec.body)?;
            fresh.access_keys.insert(v.id.clone(), v);
        }
        for rec in self.store.load_records(KIND_POLICY)? {
            let v: Policy = self.open(KIND_POLICY, &rec.id, &rec.body)?;
            fresh.policies.insert(v.name.clone(), v);
        }
        for rec in self.store.load_records(KIND_APPROVAL)? {
            let v: ApprovalRequest = self.open(KIND_APPROVAL, &rec.id, &rec.body)?;
            fresh.approvals.insert(v.id.clone(), v);
        }
        super::certs::load_into(self, &mut fresh)?;
        rebuild_effective(&mut fresh);
        *self.inner.write().map_err(|_| super::poisoned())? = fresh;
        Ok(())
    }
}
