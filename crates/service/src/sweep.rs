//! The destruction sweep: keys whose deletion window has ended are
//! destroyed, storage is purged of their remnants, and each destruction is
//! audited as a system event (an intent before, the result after).

use std::sync::Arc;

use crate::node::{Seal, Services};

const DESTROY: &str = "strongroom:DestroyKey";

/// One sweep. `purge_pending` carries a failed purge over to the next sweep.
pub async fn sweep_once(seal: &Seal, purge_pending: &mut bool) {
    let Ok(services) = seal.services() else {
        return;
    };
    let engine = services.engine.clone();
    let due = match engine.due_for_destruction() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "deletion sweep failed");
            return;
        }
    };
    if due.is_empty() && !*purge_pending {
        return;
    }
    // Fail closed: nothing is destroyed unless its intent is on record.
    for id in &due {
        let ev =
            services.system_event(DESTROY, id, None, "pending", "deletion window ended".into());
        if let Err(e) = services.audit_append(ev).await {
            tracing::error!(error = %e, "audit write failed; destruction postponed to the next sweep");
            return;
        }
    }
    let e2 = engine.clone();
    let destroyed = match tokio::task::spawn_blocking(move || e2.destroy_due()).await {
        Ok(Ok(ids)) => ids,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "deletion sweep failed");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "deletion sweep task failed");
            return;
        }
    };
    let purged = if destroyed.is_empty() && !*purge_pending {
        Ok(())
    } else {
        let e3 = engine.clone();
        match tokio::task::spawn_blocking(move || e3.purge_storage()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    *purge_pending = purged.is_err();
    let detail = match &purged {
        Ok(()) => "deletion window ended; material destroyed and storage purged".to_string(),
        Err(e) => {
            tracing::error!(error = %e, "storage purge after destruction failed; retried next sweep");
            "deletion window ended; material destroyed; storage purge failed and will be retried"
                .to_string()
        }
    };
    record(&services, &destroyed, &detail).await;
}

async fn record(services: &Arc<Services>, ids: &[String], detail: &str) {
    for id in ids {
        tracing::warn!(key_id = %id, "key destroyed: deletion window ended");
        if let Err(e) = services
            .audit_append(services.system_event(DESTROY, id, None, "allowed", detail.to_string()))
            .await
        {
            tracing::error!(key_id = %id, error = %e, "destruction done but its result record failed; its intent record stands");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::audit::AuditFilter;
    use crate::clock::DAY;

    use crate::keys::engine::CreateKey;
    use crate::keys::state::KeyState;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn destruction_is_audited_as_a_system_event_with_intent_and_result() {
        let (seal, clock) = crate::node::dev_seal_on_manual_clock(1_700_000_000);
        let engine = seal.engine().expect("engine");
        let id = engine.create(CreateKey::default()).expect("create").id;
        let other = engine.create(CreateKey::default()).expect("create").id;
        engine.schedule_deletion(&id, Some(7)).expect("schedule");
        let mut pending = false;
        clock.advance(7 * DAY - 1);
        sweep_once(&seal, &mut pending).await;
        assert_eq!(
            engine.describe(&id).expect("describe").state,
            KeyState::PendingDeletion
        );
        clock.advance(1);
        sweep_once(&seal, &mut pending).await;
        assert!(!pending, "purge succeeded");
        let m = engine.describe(&id).expect("describe");
        assert_eq!(
            (m.state, m.destroyed_at),
            (KeyState::Destroyed, Some(1_700_000_000 + 7 * DAY))
        );
        let services = seal.services().expect("services");
        let path = services.audit_log().expect("audit on").path().to_path_buf();
        let events = crate::audit::query(
            &path,
            &AuditFilter {
                operation: Some("strongroom:DestroyKey".into()),
                ..AuditFilter::default()
            },
        )
        .expect("query");
        let seen: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|(_, e)| {
                (
                    e.key_id.as_deref().unwrap_or(""),
                    e.identity.as_str(),
                    e.outcome.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (id.as_str(), "system", "pending"),
                (id.as_str(), "system", "allowed")
            ]
        );
        assert!(events[1]
            .1
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("storage purged"));
        // A later sweep with nothing due writes nothing.
        sweep_once(&seal, &mut pending).await;
        let again = crate::audit::query(&path, &AuditFilter::default()).expect("query");
        assert!(again
            .iter()
            .all(|(_, e)| e.key_id.as_deref() != Some(other.as_str())));
        assert_eq!(
            again
                .iter()
                .filter(|(_, e)| e.operation == "strongroom:DestroyKey")
                .count(),
            2
        );
    }
}
