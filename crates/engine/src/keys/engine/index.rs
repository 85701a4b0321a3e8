//! The engine's in-memory secondary indexes, kept beside the keys by
//! [`Inner::install`] (every change of a key in memory goes through it):
//! keys by state, by owner and by tag, and the keys that are not destroyed
//! by next rotation time and by expiry. They let the key list's filters,
//! the counts by state and the overview's overdue and expiring lists cost
//! in proportion to what they return, not to the number of keys.
//!
//! Every set holds creation sequence numbers (the key list's order and
//! cursor); `Inner::order` maps them to keys.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use super::{Engine, Inner, KeyEntry, KeyFilter};
use crate::clock::{Timestamp, DAY};
use crate::error::{Error, Result};
use crate::keys::model::KeyMeta;
use crate::keys::state::KeyState;

#[derive(Default)]
pub(super) struct Index {
    by_state: HashMap<KeyState, BTreeSet<u64>>,
    by_owner: HashMap<String, BTreeSet<u64>>,
    by_tag: HashMap<(String, String), BTreeSet<u64>>,
    /// (next rotation time, seq) of keys that are not destroyed.
    rotation: BTreeSet<(Timestamp, u64)>,
    /// (expiry date, seq) of keys that are not destroyed.
    expiry: BTreeSet<(Timestamp, u64)>,
}

impl Index {
    fn add(&mut self, e: &KeyEntry) {
        let m = &e.meta;
        self.by_state.entry(m.state).or_default().insert(e.seq);
        if !m.owner.is_empty() {
            self.by_owner
                .entry(m.owner.clone())
                .or_default()
                .insert(e.seq);
        }
        for (k, v) in &m.tags {
            self.by_tag
                .entry((k.clone(), v.clone()))
                .or_default()
                .insert(e.seq);
        }
        if m.state != KeyState::Destroyed {
            if let Some(t) = m.next_rotation_at {
                self.rotation.insert((t, e.seq));
            }
            if let Some(t) = m.expiry_date {
                self.expiry.insert((t, e.seq));
            }
        }
    }

    fn remove(&mut self, e: &KeyEntry) {
        fn drop_from<K: std::hash::Hash + Eq>(
            map: &mut HashMap<K, BTreeSet<u64>>,
            k: &K,
            seq: u64,
        ) {
            if let Some(set) = map.get_mut(k) {
                set.remove(&seq);
                if set.is_empty() {
                    map.remove(k);
                }
            }
        }
        let m = &e.meta;
        drop_from(&mut self.by_state, &m.state, e.seq);
        if !m.owner.is_empty() {
            drop_from(&mut self.by_owner, &m.owner, e.seq);
        }
        for (k, v) in &m.tags {
            drop_from(&mut self.by_tag, &(k.clone(), v.clone()), e.seq);
        }
        if let Some(t) = m.next_rotation_at {
            self.rotation.remove(&(t, e.seq));
        }
        if let Some(t) = m.expiry_date {
            self.expiry.remove(&(t, e.seq));
        }
    }
}

impl Inner {
    /// Puts `e` in memory (new, or replacing the key's previous entry) and
    /// keeps the indexes in step.
    pub(super) fn install(&mut self, e: Arc<KeyEntry>) {
        if let Some(old) = self.keys.insert(e.uuid, Arc::clone(&e)) {
            self.index.remove(&old);
        }
        self.index.add(&e);
    }

    fn entry_at(&self, seq: u64) -> Option<&Arc<KeyEntry>> {
        self.order.get(&seq).and_then(|id| self.keys.get(id))
    }
}

/// One page of [`Engine::list_bounded`].
#[derive(Debug)]
pub struct KeyListPage {
    pub keys: Vec<KeyMeta>,
    /// Where the next page starts (`None`: this was the last page).
    pub next: Option<String>,
    /// The page stopped early (fewer than `limit` keys) because it had
    /// examined `max_scan` keys; `next` continues the search.
    pub scan_limited: bool,
    /// Keys examined for this page.
    pub examined: usize,
}

/// Keys due for something (rotation, expiry) with the total due.
#[derive(Debug)]
pub struct DueKeys {
    /// The earliest due first, at most the limit asked for.
    pub keys: Vec<KeyMeta>,
    /// How many are due, counted up to the cap asked for.
    pub total: usize,
}

fn parse_cursor(cursor: Option<&str>) -> Result<u64> {
    match cursor {
        None => Ok(0),
        Some(c) => c.parse::<u64>().map_err(|_| {
            Error::InvalidArgument(format!(
                "cursor {c:?} is not valid; pass the next_cursor value from the previous page"
            ))
        }),
    }
}

fn keep(filter: &KeyFilter, m: &KeyMeta) -> bool {
    filter.alias.as_ref().is_none_or(|a| m.aliases.contains(a))
        && filter.owner.as_ref().is_none_or(|o| &m.owner == o)
        && filter.state.is_none_or(|s| m.state == s)
        && filter
            .tag
            .as_ref()
            .is_none_or(|(k, v)| m.tags.get(k) == Some(v))
}

static EMPTY: BTreeSet<u64> = BTreeSet::new();

impl Engine {
    /// One page of keys in creation order, walking the smallest index the
    /// filter allows (an alias names at most one key; then the state, owner
    /// or tag set with the fewest keys; with no filter, every key) and
    /// examining at most `max_scan` keys: a page that stops at that budget
    /// says so and its cursor continues the search. The cursor is opaque.
    pub fn list_bounded(
        &self,
        filter: &KeyFilter,
        limit: usize,
        cursor: Option<&str>,
        max_scan: usize,
    ) -> Result<KeyListPage> {
        let limit = limit.clamp(1, 1000);
        let max_scan = max_scan.max(1);
        let start = parse_cursor(cursor)?;
        let inner = self.read()?;
        let mut page = KeyListPage {
            keys: Vec::new(),
            next: None,
            scan_limited: false,
            examined: 0,
        };
        if let Some(a) = &filter.alias {
            let hit = inner
                .aliases
                .get(a)
                .and_then(|id| inner.keys.get(id))
                .filter(|e| e.seq >= start && keep(filter, &e.meta));
            page.examined = usize::from(hit.is_some());
            page.keys.extend(hit.map(|e| e.meta.clone()));
            return Ok(page);
        }
        let mut sets: Vec<&BTreeSet<u64>> = Vec::new();
        if let Some(s) = filter.state {
            sets.push(inner.index.by_state.get(&s).unwrap_or(&EMPTY));
        }
        if let Some(o) = &filter.owner {
            sets.push(inner.index.by_owner.get(o).unwrap_or(&EMPTY));
        }
        if let Some(t) = &filter.tag {
            sets.push(inner.index.by_tag.get(t).unwrap_or(&EMPTY));
        }
        let seqs: Box<dyn Iterator<Item = u64> + '_> = match sets.iter().min_by_key(|s| s.len()) {
            Some(set) => Box::new(set.range(start..).copied()),
            None => Box::new(inner.order.range(start..).map(|(s, _)| *s)),
        };
        for seq in seqs {
            if page.keys.len() == limit {
                page.next = Some(seq.to_string());
                break;
            }
            if page.examined == max_scan {
                page.next = Some(seq.to_string());
                page.scan_limited = true;
                break;
            }
            page.examined += 1;
            let Some(e) = inner.entry_at(seq) else {
                continue;
            };
            if keep(filter, &e.meta) {
                page.keys.push(e.meta.clone());
            }
        }
        Ok(page)
    }

    /// Key counts by state, from the index (no walk over the keys).
    pub fn counts_by_state(&self) -> Result<HashMap<KeyState, usize>> {
        let inner = self.read()?;
        Ok(inner
            .index
            .by_state
            .iter()
            .map(|(s, set)| (*s, set.len()))
            .collect())
    }

    /// Keys (not destroyed) whose rotation is due now, earliest first: at
    /// most `limit` of them, and how many (counted up to `cap`).
    pub fn rotation_overdue(&self, limit: usize, cap: usize) -> Result<DueKeys> {
        let now = self.now();
        let inner = self.read()?;
        Ok(due(
            &inner,
            &inner.index.rotation,
            Bound::Included((now, u64::MAX)),
            limit,
            cap,
        ))
    }

    /// Keys (not destroyed) that expire within `days` days or have
    /// expired, earliest first: at most `limit`, and how many (up to `cap`).
    pub fn expiring_within(&self, days: i64, limit: usize, cap: usize) -> Result<DueKeys> {
        let until = self.now().saturating_add(days.saturating_mul(DAY));
        let inner = self.read()?;
        Ok(due(
            &inner,
            &inner.index.expiry,
            Bound::Excluded((until, 0)),
            limit,
            cap,
        ))
    }
}

fn due(
    inner: &Inner,
    set: &BTreeSet<(Timestamp, u64)>,
    upper: Bound<(Timestamp, u64)>,
    limit: usize,
    cap: usize,
) -> DueKeys {
    let mut out = DueKeys {
        keys: Vec::new(),
        total: 0,
    };
    for (_, seq) in set.range((Bound::Unbounded, upper)).take(cap) {
        out.total += 1;
        if out.keys.len() < limit {
            if let Some(e) = inner.entry_at(*seq) {
                out.keys.push(e.meta.clone());
            }
        }
    }
    out
}

/// For tests: the index rebuilt from scratch must equal the one kept.
#[cfg(test)]
pub(super) fn index_matches(inner: &Inner) -> bool {
    let mut fresh = Index::default();
    for e in inner.keys.values() {
        fresh.add(e);
    }
    use std::collections::BTreeMap;
    let flat = |m: &HashMap<KeyState, BTreeSet<u64>>| -> BTreeMap<String, BTreeSet<u64>> {
        m.iter()
            .map(|(k, v)| (k.name().to_string(), v.clone()))
            .collect()
    };
    flat(&fresh.by_state) == flat(&inner.index.by_state)
        && fresh.by_owner == inner.index.by_owner
        && fresh.by_tag == inner.index.by_tag
        && fresh.rotation == inner.index.rotation
        && fresh.expiry == inner.index.expiry
}

#[cfg(test)]
mod tests;
