//! The rotation scheduler: every key whose `next_rotation_at` has come is
//! rotated (RotationType::Automatic) and the rotation is audited as done by
//! the system. It runs on every node; the engine's compare-and-set makes
//! each scheduled rotation happen once (see `keys::engine::schedule`).

use crate::keys::engine::RotationRun;
use crate::node::Seal;

/// One scheduler pass; returns what it did (empty when sealed).
pub async fn rotate_once(seal: &Seal) -> RotationRun {
    let Ok(services) = seal.services() else {
        return RotationRun::default();
    };
    let engine = services.engine.clone();
    let due = match engine.due_for_rotation() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "rotation scheduler failed");
            return RotationRun::default();
        }
    };
    if due.is_empty() {
        return RotationRun::default();
    }
    let e2 = engine.clone();
    let run = match tokio::task::spawn_blocking(move || e2.rotate_due()).await {
        Ok(Ok(run)) => run,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "rotation scheduler failed");
            return RotationRun::default();
        }
        Err(e) => {
            tracing::error!(error = %e, "rotation scheduler task failed");
            return RotationRun::default();
        }
    };
    for (id, version) in &run.rotated {
        tracing::info!(key_id = %id, version, "scheduled rotation");
        let ev = services.system_event(
            "strongroom:ScheduledRotation",
            id,
            Some(*version),
            "allowed",
            format!("rotation period reached; new primary version {version} (AUTOMATIC)"),
        );
        if let Err(e) = services.audit_append(ev).await {
            tracing::error!(key_id = %id, error = %e, "scheduled rotation done but its audit record failed");
        }
    }
    for (id, err) in &run.failed {
        let ev = services.system_event(
            "strongroom:ScheduledRotation",
            id,
            None,
            "error",
            format!("scheduled rotation failed: {err}"),
        );
        if let Err(e) = services.audit_append(ev).await {
            tracing::error!(key_id = %id, error = %e, "audit write failed");
        }
    }
    run
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::audit::AuditFilter;
    use crate::clock::DAY;

    use crate::keys::engine::CreateKey;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scheduled_rotation_is_audited_as_a_system_event() {
        let (seal, clock) = crate::node::dev_seal_on_manual_clock(1_700_000_000);
        let engine = seal.engine().expect("engine");
        let id = engine
            .create(CreateKey {
                rotation_period_days: Some(90),
                ..Default::default()
            })
            .expect("create")
            .id;
        clock.advance(89 * DAY);
        assert!(rotate_once(&seal).await.rotated.is_empty());
        clock.advance(DAY);
        assert_eq!(rotate_once(&seal).await.rotated, vec![(id.clone(), 2)]);
        assert!(rotate_once(&seal).await.rotated.is_empty(), "once");
        let services = seal.services().expect("services");
        let path = services.audit_log().expect("audit on").path().to_path_buf();
        let events = crate::audit::query(
            &path,
            &AuditFilter {
                operation: Some("strongroom:ScheduledRotation".into()),
                ..AuditFilter::default()
            },
        )
        .expect("query");
        assert_eq!(events.len(), 1);
        let e = &events[0].1;
        assert_eq!(
            (
                e.identity.as_str(),
                e.key_id.as_deref(),
                e.key_version,
                e.outcome.as_str()
            ),
            ("system", Some(id.as_str()), Some(2), "allowed")
        );
    }
}
