//! The one place every request is authenticated, authorized and audited,
//! before the engine is called.
//!
//! Order for each request: sealed? → token → principal → key facts →
//! policy decision (deny → audit "denied", 403) → dual control (pending
//! approval, 202) → for changes, an audited intent ("pending") → execute →
//! audited result. Any audit write that fails refuses the request with 503
//! (for a change, before it runs).

use std::sync::Arc;

use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::crypto::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::keys::engine::KeyHandle;
use crate::node::{Seal, Services};
use crate::policy::{self, ApprovalRequest, KeyFacts};

tokio::task_local! {
    /// Set when a request's audit record has been written, so the outer
    /// middleware can audit whatever was refused before reaching the guard.
    pub static AUDITED: Arc<std::sync::atomic::AtomicBool>;
    /// A front-end's non-secret note for every audit record the gate writes
    /// within this scope (the XKS proxy's `requestMetadata`), unless the
    /// record carries its own detail.
    pub static AUDIT_DETAIL: String;
}

/// The service every front-end calls: the running node and the rules
/// around it. Front-ends hold one (`Arc<Service>`) and nothing else of the
/// service's; they translate their wire format into `run` calls and the
/// results back.
pub struct Service {
    /// The running node: seal state, and while unsealed the engine, the
    /// identity registry and the audit log.
    pub seal: Arc<Seal>,
    /// Failed-authentication limit and compact audit of anonymous failures.
    pub auth_failures: crate::auth_limit::AuthFailures,
    pub dual_control: DualControl,
    /// The ARN partition, region and account this server's keys are named in.
    pub arn: crate::naming::ArnConfig,
    /// Rotation period given to new AES keys by the native API (0 = none).
    pub default_rotation_days: u32,
    /// Dev mode's movable clock (`None` outside dev mode).
    pub dev_clock: Option<Arc<crate::clock::OffsetClock>>,
    /// Whether the listener serves TLS (the compliance report reads it).
    pub tls: bool,
}

/// The error code of a refused or failed request, kept in the response
/// (as an extension) for metrics and for the outer audit of requests that
/// never reached the gate.
#[derive(Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// An authenticated caller, with where the request came from.
#[derive(Clone)]
pub struct Caller {
    pub principal: Principal,
    pub source: String,
    pub request_id: String,
    /// The certificate name (e.g. `dns:payments.internal`) that
    /// authenticated the caller, when it came by client certificate instead
    /// of a token; every audit record of the request says so.
    pub certificate: Option<String>,
}

/// The verified client certificate of a mutual-TLS connection, as the
/// listener puts it in each request's extensions: its names (URI SANs, DNS
/// SANs, then subject CNs, each in certificate order). Only a certificate
/// that chained to `tls_client_ca` and was in its validity period gets here.
#[derive(Clone, Debug)]
pub struct ClientCert {
    pub names: Arc<Vec<crate::identity::CertName>>,
}

/// The audit detail of a caller who came by client certificate starts
/// with `via certificate NAME`.
fn with_certificate(caller: &Caller, detail: Option<String>) -> Option<String> {
    match (&caller.certificate, detail) {
        (None, d) => d,
        (Some(c), None) => Some(format!("via certificate {c}")),
        (Some(c), Some(d)) => Some(format!("via certificate {c}; {d}")),
    }
}

/// What a request does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads metadata or uses key material in memory: runs inline, audited after.
    Use,
    /// Reads files or storage: runs on a blocking thread, audited after.
    Read,
    /// Changes stored state: runs on a blocking thread, audited before and after.
    Change,
}

/// One guarded request.
pub struct Guarded<'a> {
    pub action: &'static str,
    /// The key as the caller named it (id, alias or ARN), if the action acts on one.
    pub key: Option<&'a str>,
    pub context: Option<&'a EncryptionContext>,
    pub kind: Kind,
    /// For dual-controlled actions: the command to store and run on approval.
    pub command: Option<&'a crate::approvals::Command>,
}

impl Guarded<'static> {
    /// A request on the service as a whole (no key, no context, no
    /// dual-controlled command): what most `strongroom:` actions are.
    pub fn global(action: &'static str, kind: Kind) -> Self {
        Guarded {
            action,
            key: None,
            context: None,
            kind,
            command: None,
        }
    }
}

/// What `run` needs back from the operation for the audit record.
pub struct Done<T> {
    pub value: T,
    pub key_id: Option<String>,
    pub version: Option<u32>,
}

impl<T> Done<T> {
    pub fn new(value: T) -> Self {
        Done {
            value,
            key_id: None,
            version: None,
        }
    }
    pub fn key(mut self, key_id: impl Into<String>, version: Option<u32>) -> Self {
        self.key_id = Some(key_id.into());
        self.version = version;
        self
    }
}

impl Service {
    /// The key a ciphertext names, if its header parses and the key exists
    /// (for the policy decision on a decrypt). Unknown keys stay unnamed, so
    /// the answer is the generic `InvalidCiphertext`.
    pub fn key_of_ciphertext(&self, ct: &[u8]) -> Option<String> {
        let (h, _) = crate::keys::ciphertext::Header::parse(ct).ok()?;
        let id = h.key_id.hyphenated().to_string();
        self.seal
            .engine()
            .ok()?
            .handle(&id)
            .ok()
            .map(|h| h.meta().id.clone())
    }

    /// A fresh request id, from the node's injected RNG.
    pub fn request_id(&self) -> String {
        crate::crypto::rng::request_id(self.seal.rng().as_ref())
    }

    /// Milliseconds since the epoch, from the node's injected clock.
    pub fn now_ms(&self) -> i64 {
        self.seal.clock().now_ms()
    }

    /// Authenticates a bearer token (the root token or an identity's)
    /// presented from `source`. A failure is audited (never the token) and
    /// counts against the source's failure limit; `operation` names what was
    /// asked for in that record. A sealed node answers `Sealed` first.
    pub async fn authenticate_bearer(
        &self,
        token: Option<&[u8]>,
        source: String,
        operation: impl FnOnce() -> String,
    ) -> Result<Caller> {
        let services = self.seal.services()?;
        let request_id = self.request_id();
        let result = match token {
            None => Err(Error::Unauthenticated),
            Some(t) => self.seal.authenticate(t),
        };
        match result {
            Ok(principal) => Ok(Caller {
                principal,
                source,
                request_id,
                certificate: None,
            }),
            Err(e) => {
                self.audit_auth_failure(&services, &request_id, &source, &operation(), e.code())
                    .await?;
                Err(e)
            }
        }
    }

    /// Authenticates a request by its token, or, when it has none, by its
    /// verified client certificate (mutual TLS): a token always wins, so a
    /// client with a certificate can still act as another identity by
    /// sending that identity's token. Failures are audited and limited as
    /// for [`Service::authenticate_bearer`].
    pub async fn authenticate_request(
        &self,
        token: Option<&[u8]>,
        cert: Option<&ClientCert>,
        source: String,
        operation: impl FnOnce() -> String,
    ) -> Result<Caller> {
        let Some(cert) = cert.filter(|_| token.is_none()) else {
            return self.authenticate_bearer(token, source, operation).await;
        };
        let services = self.seal.services()?;
        let request_id = self.request_id();
        match services.registry.authenticate_cert(&cert.names) {
            Ok((principal, by)) => Ok(Caller {
                principal,
                source,
                request_id,
                certificate: Some(by.to_string()),
            }),
            Err(e) => {
                self.audit_auth_failure(&services, &request_id, &source, &operation(), e.code())
                    .await?;
                Err(e)
            }
        }
    }

    /// Audits a request that failed authentication (fail closed: 503 if
    /// the record cannot be written) and applies the per-source limit: the
    /// first failure of a source in an interval gets its own record, later
    /// ones are counted into one aggregate record (api/auth_limit.rs).
    /// `Err(TooManyRequests)` when the source is over its limit.
    pub async fn audit_auth_failure(
        &self,
        services: &Services,
        request_id: &str,
        source: &str,
        operation: &str,
        code: &str,
    ) -> Result<()> {
        let ip = source.parse::<std::net::SocketAddr>().ok().map(|s| s.ip());
        let verdict = self.auth_failures.record(
            ip,
            true,
            std::time::Instant::now(),
            services.now_ms(),
            operation,
            code,
        );
        if verdict.audit_now {
            let ev = AuditEvent {
                time_ms: services.now_ms(),
                request_id: request_id.to_string(),
                identity: "anonymous".into(),
                source: source.to_string(),
                operation: operation.to_string(),
                key_id: None,
                key_version: None,
                outcome: "denied".into(),
                error_code: Some(code.to_string()),
                root: false,
                detail: None,
            };
            self.audit(services, ev).await?;
        } else {
            // Counted into the source's aggregate record: nothing more to audit.
            let _ = AUDITED.try_with(|f| f.store(true, std::sync::atomic::Ordering::Relaxed));
        }
        match verdict.retry_after {
            Some(retry_after_secs) => Err(Error::TooManyRequests { retry_after_secs }),
            None => Ok(()),
        }
    }

    // The arguments are the audit record's fields, named at every call site.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        caller: &Caller,
        action: &str,
        key_id: Option<String>,
        version: Option<u32>,
        outcome: &str,
        code: Option<&str>,
        detail: Option<String>,
    ) -> AuditEvent {
        AuditEvent {
            time_ms: self.seal.clock().now_ms(),
            request_id: caller.request_id.clone(),
            identity: caller.principal.id.clone(),
            source: caller.source.clone(),
            operation: action.to_string(),
            key_id,
            key_version: version,
            outcome: outcome.into(),
            error_code: code.map(str::to_string),
            root: caller.principal.is_root(),
            detail: with_certificate(
                caller,
                detail.or_else(|| AUDIT_DETAIL.try_with(|d| d.clone()).ok()),
            ),
        }
    }

    pub async fn audit(&self, services: &Services, ev: AuditEvent) -> Result<()> {
        let _ = AUDITED.try_with(|f| f.store(true, std::sync::atomic::Ordering::Relaxed));
        services.audit_append(ev).await.map_err(|e| {
            tracing::error!(error = %e, "audit write failed; refusing the request");
            Error::AuditUnavailable
        })
    }

    /// Decides whether `caller` may do `action` on `key` (already resolved).
    pub fn decide(
        principal: &Principal,
        action: &str,
        key: Option<&crate::keys::model::KeyMeta>,
        context: Option<&EncryptionContext>,
    ) -> policy::Decision {
        let policies: Vec<&policy::Policy> = principal.policies.iter().collect();
        let facts = key.map(|m| KeyFacts {
            id: &m.id,
            aliases: &m.aliases,
            tags: &m.tags,
        });
        policy::evaluate(
            &policies,
            &policy::Request {
                action,
                key: facts,
                context,
                secret: None,
            },
        )
    }

    /// Decides whether `caller` may do a secret `action` on `target` (a
    /// secret path, or for listing a folder: `""` or a path ending in `/`).
    pub fn decide_on_secret(principal: &Principal, action: &str, target: &str) -> policy::Decision {
        let policies: Vec<&policy::Policy> = principal.policies.iter().collect();
        policy::evaluate(
            &policies,
            &policy::Request {
                action,
                key: None,
                context: None,
                secret: Some(target),
            },
        )
    }

    /// Authorizes, audits and runs one request.
    pub async fn run<T, F>(&self, caller: &Caller, g: Guarded<'_>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Services) -> Result<Done<T>> + Send + 'static,
    {
        self.run_inner(caller, g, None, move |s, _| f(s)).await
    }

    /// [`Service::run`] for an operation on a secret: the policy decision
    /// is on `target` (a secret path, or for listing a folder), checked
    /// against the path grammar first, and the audit record names
    /// `secret/<target>` in its `key_id` field.
    pub async fn run_on_secret<T, F>(
        &self,
        caller: &Caller,
        g: Guarded<'_>,
        target: &str,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Services) -> Result<Done<T>> + Send + 'static,
    {
        if g.key.is_some() {
            return Err(Error::Internal(format!(
                "{} names a key for run_on_secret",
                g.action
            )));
        }
        self.run_inner(caller, g, Some(target), move |s, _| f(s))
            .await
    }

    /// [`Service::run`] for an operation on the request's key: the key the
    /// gate resolved (once) for the policy decision is handed to the
    /// operation, which must use it rather than look the key up again.
    pub async fn run_on_key<T, F>(&self, caller: &Caller, g: Guarded<'_>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Services, &KeyHandle) -> Result<Done<T>> + Send + 'static,
    {
        if g.key.is_none() {
            return Err(Error::Internal(format!(
                "{} names no key for run_on_key",
                g.action
            )));
        }
        self.run_inner(caller, g, None, move |s, h| match h {
            Some(h) => f(s, &h),
            None => Err(Error::Internal("the gate resolved no key".into())),
        })
        .await
    }

    pub(crate) async fn run_inner<T, F>(
        &self,
        caller: &Caller,
        g: Guarded<'_>,
        secret: Option<&str>,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Services, Option<KeyHandle>) -> Result<Done<T>> + Send + 'static,
    {
        let services = self.seal.services()?;
        let meta = match g.key {
            None => None,
            Some(k) => match self
                .arn
                .check_arn(k)
                .and_then(|()| services.engine.handle(k))
            {
                Ok(m) => Some(m),
                Err(e) => {
                    self.audit(
                        &services,
                        self.event(caller, g.action, None, None, "error", Some(e.code()), None),
                    )
                    .await?;
                    return Err(e);
                }
            },
        };
        let mut key_id = meta.as_ref().map(|m| m.meta().id.clone());
        let decision = match secret {
            None => Self::decide(
                &caller.principal,
                g.action,
                meta.as_ref().map(|m| m.meta()),
                g.context,
            ),
            Some(target) => {
                let valid = match target.strip_suffix('/') {
                    Some(p) => crate::secrets_model::path::validate_path(p),
                    None if target.is_empty() => Ok(()),
                    None => crate::secrets_model::path::validate_path(target),
                };
                if let Err(m) = valid {
                    let e = Error::InvalidArgument(m);
                    self.audit(
                        &services,
                        self.event(caller, g.action, None, None, "error", Some(e.code()), None),
                    )
                    .await?;
                    return Err(e);
                }
                key_id = Some(format!("secret/{target}"));
                Self::decide_on_secret(&caller.principal, g.action, target)
            }
        };
        if !decision.allowed {
            self.audit(
                &services,
                self.event(
                    caller,
                    g.action,
                    key_id,
                    None,
                    "denied",
                    Some("AccessDenied"),
                    None,
                ),
            )
            .await?;
            return Err(Error::AccessDenied(decision.reason));
        }
        if let Some(cmd) = g.command {
            if !caller.principal.is_root() && self.dual_control.requires(g.action) {
                let id = services.registry.new_id()?;
                let req = ApprovalRequest::new(
                    id.clone(),
                    g.action.to_string(),
                    caller.principal.id.clone(),
                    key_id.clone(),
                    serde_json::to_value(cmd)
                        .map_err(|e| Error::Internal(format!("approval payload: {e}")))?,
                    services.now_ms(),
                    self.dual_control.ttl_secs * 1000,
                    self.dual_control.approvals,
                )
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                let message = format!(
                    "{} is under dual control: approval request {id} was created and needs {} approval(s) from identities with the approver role (not the requester). Approve with `strongroom approval approve {id}`",
                    g.action, self.dual_control.approvals
                );
                self.audit(
                    &services,
                    self.event(
                        caller,
                        g.action,
                        key_id,
                        None,
                        "pending",
                        Some("ApprovalRequired"),
                        Some(format!("approval {id}")),
                    ),
                )
                .await?;
                let reg = services.registry.clone();
                tokio::task::spawn_blocking(move || reg.put_approval(req, true))
                    .await
                    .map_err(|e| Error::Internal(format!("approval task: {e}")))??;
                return Err(Error::ApprovalRequired { id, message });
            }
        }
        if g.kind == Kind::Change {
            self.audit(
                &services,
                self.event(
                    caller,
                    g.action,
                    key_id.clone(),
                    None,
                    "pending",
                    None,
                    None,
                ),
            )
            .await?;
        }
        // A use that would write to storage (the next usage reservation, or
        // the rotation due at the usage threshold) does that first, on a
        // blocking thread: the inline path below stays memory-only.
        let mut meta = meta;
        if let (Kind::Use, Some(h), Some(k)) = (g.kind, &meta, g.key) {
            if services.engine.use_needs_preparation(h) {
                let (engine, h2) = (services.engine.clone(), h.clone());
                let changed = tokio::task::spawn_blocking(move || engine.prepare_use(&h2))
                    .await
                    .map_err(|e| Error::Internal(format!("usage task: {e}")))??;
                if changed {
                    meta = Some(services.engine.handle(k)?);
                }
            }
        }
        let result = match g.kind {
            Kind::Use => f(&services, meta),
            Kind::Read | Kind::Change => {
                let s = services.clone();
                tokio::task::spawn_blocking(move || f(&s, meta))
                    .await
                    .map_err(|e| Error::Internal(format!("worker task: {e}")))?
            }
        };
        match result {
            Ok(done) => {
                let ev = self.event(
                    caller,
                    g.action,
                    done.key_id.clone().or(key_id),
                    done.version,
                    "allowed",
                    None,
                    None,
                );
                if let Err(e) = self.audit(&services, ev).await {
                    if g.kind != Kind::Change {
                        // The result is withheld: an unaudited use never happened.
                        return Err(e);
                    }
                    tracing::error!(
                        "a change completed but its result record failed; its intent record stands"
                    );
                }
                Ok(done.value)
            }
            Err(e) => {
                self.audit(
                    &services,
                    self.event(
                        caller,
                        g.action,
                        key_id,
                        None,
                        "error",
                        Some(e.code()),
                        None,
                    ),
                )
                .await?;
                Err(e)
            }
        }
    }
}

/// A page size given by a client: 1 to 1000, default 100. Out of range is
/// refused (400) rather than silently clamped (docs/API.md).
pub fn page_limit(name: &str, limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(Error::InvalidArgument(format!(
            "{name}={n} is out of range; use 1 to 1000 (default 100) and page with the cursor"
        ))),
    }
}

/// Dual-control settings.
#[derive(Debug, Clone)]
pub struct DualControl {
    pub enabled: bool,
    pub actions: Vec<String>,
    pub approvals: u32,
    pub ttl_secs: i64,
}

impl DualControl {
    pub fn off() -> Self {
        DualControl {
            enabled: false,
            actions: vec![],
            approvals: 2,
            ttl_secs: 86_400,
        }
    }

    pub fn default_on() -> Self {
        DualControl {
            enabled: true,
            actions: policy::DEFAULT_DUAL_CONTROL
                .iter()
                .map(|s| s.to_string())
                .collect(),
            approvals: 2,
            ttl_secs: 86_400,
        }
    }

    pub fn requires(&self, action: &str) -> bool {
        self.enabled && policy::requires_approval(action, &self.actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth_limit::{AuthFailureLimits, AuthFailures};
    use crate::keys::engine::{CreateKey, EngineConfig};
    use crate::node::AuditConfig;
    use std::time::Duration;

    /// A service over a dev node (SQLite in memory, audit in a temp file)
    /// with a small usage block, so reservations happen often.
    fn service(cfg: EngineConfig) -> (Service, Arc<dyn crate::storage::Store>) {
        let store: Arc<dyn crate::storage::Store> =
            Arc::new(strongroom_store_sql::sqlite::SqliteStore::open(":memory:").expect("sqlite"));
        let seal = Seal::open(
            store.clone(),
            Arc::new(crate::clock::SystemClock),
            Arc::new(crate::crypto::rng::SystemRng),
            cfg,
            AuditConfig::in_temp_dir(),
        )
        .expect("seal");
        seal.init_dev(None).expect("init");
        let svc = Service {
            seal: Arc::new(seal),
            auth_failures: AuthFailures::new(AuthFailureLimits {
                burst: 10,
                per_minute: 10,
                audit_interval: Duration::from_secs(60),
            }),
            dual_control: DualControl::off(),
            arn: crate::naming::ArnConfig::default(),
            default_rotation_days: 0,
            dev_clock: None,
            tls: false,
        };
        (svc, store)
    }

    fn root() -> Caller {
        Caller {
            principal: Principal::root(),
            source: "127.0.0.1:1".into(),
            request_id: "t".into(),
            certificate: None,
        }
    }

    fn encrypt_intent(key: &str) -> Guarded<'_> {
        Guarded {
            action: "kms:Encrypt",
            key: Some(key),
            context: None,
            kind: Kind::Use,
            command: None,
        }
    }

    async fn encrypt(svc: &Service, key: &str) -> u32 {
        svc.run_on_key(&root(), encrypt_intent(key), |s, h| {
            let out = s
                .engine
                .encrypt_resolved(h, b"x", &EncryptionContext::default())?;
            let v = out.version;
            Ok(Done::new(v).key(out.key_id, Some(v)))
        })
        .await
        .expect("encrypt through the gate")
    }

    fn reserved(store: &Arc<dyn crate::storage::Store>, key: &str, version: u32) -> u64 {
        store
            .load_versions(key)
            .expect("versions")
            .into_iter()
            .find(|v| v.version == version)
            .map(|v| v.usage_reserved)
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn the_gate_reserves_usage_ahead_so_the_inline_use_never_outruns_it() {
        let (svc, store) = service(EngineConfig {
            usage_block: 8,
            rotate_at_usage: u64::MAX,
            max_usage: 1_000,
        });
        let engine = svc.seal.engine().expect("engine");
        let id = engine.create(CreateKey::default()).expect("create").id;
        for i in 1..=40u64 {
            assert_eq!(encrypt(&svc, &id).await, 1);
            let used = engine.usage_count(&id, 1).expect("usage");
            assert_eq!(used, i);
            // Reserved durably ahead of every use, by at least the margin
            // (usage_block / 4) once the gate's preparation has run.
            assert!(
                reserved(&store, &id, 1) > used,
                "use {used} is not ahead of the stored reservation {}",
                reserved(&store, &id, 1)
            );
        }
    }

    #[tokio::test]
    async fn the_gate_rotates_at_the_usage_threshold_before_the_use() {
        let (svc, _store) = service(EngineConfig {
            usage_block: 4,
            rotate_at_usage: 5,
            max_usage: 100,
        });
        let engine = svc.seal.engine().expect("engine");
        let id = engine.create(CreateKey::default()).expect("create").id;
        let mut versions = Vec::new();
        for _ in 0..12 {
            versions.push(encrypt(&svc, &id).await);
        }
        // Four uses of each version, then the fifth goes to a fresh one.
        assert_eq!(versions, vec![1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
        assert!(engine.usage_count(&id, 1).expect("usage") < 5);
    }

    #[tokio::test]
    async fn run_on_key_without_a_key_is_refused() {
        let (svc, _store) = service(EngineConfig::default());
        let g = Guarded {
            action: "kms:Encrypt",
            key: None,
            context: None,
            kind: Kind::Use,
            command: None,
        };
        let r = svc.run_on_key(&root(), g, |_, _| Ok(Done::new(()))).await;
        assert!(matches!(r, Err(Error::Internal(_))));
    }
}
