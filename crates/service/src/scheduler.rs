//! The rotation scheduler: every key whose `next_rotation_at` has come is
//! rotated (RotationType::Automatic) and the rotation is audited as done by
//! the system. It runs on every node; the engine's compare-and-set makes
//! each scheduled rotation happen once (see `keys::engine::schedule`).

use crate::keys::engine::RotationRun;
use crate::node::Seal;

/// One scheduler pass; returns what it did (empty when sealed): keys, then
/// secrets Strongroom rotates itself (kind `postgres` and `hook`) whose
/// rotation date has come, listed as `secret/<path>`. A failed secret
/// rotation keeps its due date, so the next pass retries it. Each secret
/// is rotated under its rotation lease, so with several nodes only one
/// rotates it (rotator.rs).
pub async fn rotate_once(seal: &Seal) -> RotationRun {
    let mut run = rotate_keys(seal).await;
    if let Ok(services) = seal.services() {
        rotate_secrets(&services, &mut run).await;
    }
    run
}

async fn rotate_secrets(services: &std::sync::Arc<crate::node::Services>, run: &mut RotationRun) {
    let s = services.clone();
    let now = services.now_ms();
    let due = match tokio::task::spawn_blocking(move || s.secrets.all()).await {
        Ok(Ok(all)) => all
            .into_iter()
            .filter(|m| m.kind != crate::secrets_model::SecretKind::Generic && m.rotation_due(now))
            .map(|m| m.path)
            .collect::<Vec<_>>(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "secret rotation scheduler failed");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "secret rotation scheduler task failed");
            return;
        }
    };
    for path in due {
        let (s, p) = (services.clone(), path.clone());
        let result =
            tokio::task::spawn_blocking(move || crate::rotator::rotate_if_due(&s, &p, now))
                .await
                .unwrap_or_else(|e| {
                    Err(crate::error::Error::Internal(format!("rotation task: {e}")))
                });
        let id = format!("secret/{path}");
        let ev = match &result {
            Ok(None) => continue,
            Ok(Some(v)) => {
                tracing::info!(secret = %path, version = v.version, "scheduled secret rotation");
                run.rotated.push((id.clone(), v.version));
                services.system_event(
                    "strongroom:RotateSecret",
                    &id,
                    Some(v.version),
                    "allowed",
                    format!("rotation period reached; new version {}", v.version),
                )
            }
            Err(e) => {
                tracing::warn!(secret = %path, error = %e, "scheduled secret rotation failed; the next pass retries");
                run.failed.push((id.clone(), e.to_string()));
                services.system_event(
                    "strongroom:RotateSecret",
                    &id,
                    None,
                    "error",
                    format!("scheduled rotation failed (retried on the next pass): {e}"),
                )
            }
        };
        if let Err(e) = services.audit_append(ev).await {
            tracing::error!(secret = %path, error = %e, "audit write failed");
        }
    }
}

async fn rotate_keys(seal: &Seal) -> RotationRun {
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
