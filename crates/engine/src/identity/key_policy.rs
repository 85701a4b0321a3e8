//! Key policies (AWS PutKeyPolicy/GetKeyPolicy) stored as ordinary
//! policies: one per identity, named `kp-<key id>-<n>` and attached to that
//! identity. Replacing a key policy detaches and deletes the old ones and
//! creates and attaches the new ones in one storage transaction.

use super::{Registry, KIND_IDENTITY, KIND_POLICY};
use crate::error::{Error, Result};
use crate::policy::key_policy::{is_stored_for, stored_name, Grant};
use crate::policy::Policy;
use crate::storage::Op;

impl Registry {
    /// The stored key-policy policies of `key_id`, with the identity each
    /// is attached to, ordered by identity name.
    pub fn key_policy(&self, key_id: &str) -> Result<Vec<(String, Policy)>> {
        let inner = self.read()?;
        let mut out = Vec::new();
        for (name, ident) in &inner.identities {
            for p in &ident.policies {
                if is_stored_for(p, key_id) {
                    if let Some(pol) = inner.policies.get(p) {
                        out.push((name.clone(), pol.clone()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Replaces the key policy of `key_id` with `grants`. Every named
    /// identity must exist.
    pub fn set_key_policy(&self, key_id: &str, grants: Vec<Grant>) -> Result<()> {
        self.change(|inner| {
            for g in &grants {
                if !inner.identities.contains_key(&g.identity) {
                    return Err(Error::InvalidArgument(format!(
                        "principal {:?} is not a Strongroom identity; create it first (`strongroom identity create {}`)",
                        g.identity, g.identity
                    )));
                }
            }
            let old: Vec<String> = inner
                .policies
                .keys()
                .filter(|n| is_stored_for(n, key_id))
                .cloned()
                .collect();
            let mut policies = Vec::new();
            for (i, g) in grants.iter().enumerate() {
                let p = Policy {
                    name: stored_name(key_id, i),
                    description: format!("key policy of key {key_id} for {}", g.identity),
                    statements: g.statements.clone(),
                };
                p.validate_custom()
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                policies.push((g.identity.clone(), p));
            }
            let new_names: Vec<&str> = policies.iter().map(|(_, p)| p.name.as_str()).collect();
            let mut ops = Vec::new();
            let mut idents = Vec::new();
            for (name, ident) in &inner.identities {
                let had = ident.policies.iter().any(|p| is_stored_for(p, key_id));
                let gets: Vec<String> = policies
                    .iter()
                    .filter(|(who, _)| who == name)
                    .map(|(_, p)| p.name.clone())
                    .collect();
                if !had && gets.is_empty() {
                    continue;
                }
                let mut updated = ident.clone();
                updated.policies.retain(|p| !is_stored_for(p, key_id));
                updated.policies.extend(gets);
                ops.push(self.record_op(KIND_IDENTITY, name, &updated, false)?);
                idents.push(updated);
            }
            for (_, p) in &policies {
                ops.push(self.record_op(KIND_POLICY, &p.name, p, false)?);
            }
            for n in &old {
                if !new_names.contains(&n.as_str()) {
                    ops.push(Op::DeleteRecord {
                        kind: KIND_POLICY.into(),
                        id: n.clone(),
                    });
                }
            }
            Ok((
                ops,
                Box::new(move |i: &mut super::Inner| {
                    for n in old {
                        i.policies.remove(&n);
                    }
                    for (_, p) in policies {
                        i.policies.insert(p.name.clone(), p);
                    }
                    for ident in idents {
                        i.identities.insert(ident.name.clone(), ident);
                    }
                }),
                (),
            ))
        })
    }
}
