//! The secrets pages: a folder list (`Service::secret_list`), a secret's
//! metadata and history (`secret_metadata`, never a value), and the
//! explicit reveal: a form post (with the session's anti-forgery token)
//! that reads the value as the signed-in identity (`secret_get`, so the
//! policy's `strongroom:ReadSecret` decides and the service audits the
//! read) and shows it once, in that answer only. The value never goes into
//! a URL, a redirect, the session (no one-time message carries it) or a
//! log, and the page is rendered into a buffer that is wiped when the
//! answer has been sent. Soft delete, undelete and destroy (dual
//! control) are form posts through the service too.

use std::sync::Arc;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use strongroom_core::crypto::secret::SecretBytes;
use strongroom_core::error::Error;
use strongroom_service::secrets::list_folder;
use strongroom_service::Service;

use crate::pages::{
    back_with, back_with_result, bad_query, chrome, field, form, html, message, nonempty, opt_time,
    say, status_of, time_ms, Ctx, QueryResult, St,
};
use crate::views::*;

/// Names per page of a folder when the address does not say.
const DEFAULT_PAGE: usize = 100;

fn may_secret(c: &Ctx, action: &str, target: &str) -> Allowed {
    let d = Service::decide_on_secret(&c.caller.principal, action, target);
    Allowed {
        allowed: d.allowed,
        why: if d.allowed {
            String::new()
        } else {
            format!("Not available to you: {}", d.reason)
        },
    }
}

/// `/ui/secrets?folder=…` (the top folder without one).
fn folder_link(folder: &str) -> String {
    if folder.is_empty() {
        "/ui/secrets".into()
    } else {
        format!(
            "/ui/secrets?{}",
            serde_urlencoded::to_string([("folder", folder)]).unwrap_or_default()
        )
    }
}

/// The folder a secret is in (`app/db` → `app/`; `db` → ``).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    }
}

fn secret_audit_link(path: &str) -> String {
    format!(
        "/ui/audit?{}",
        serde_urlencoded::to_string([("key", format!("secret/{path}"))]).unwrap_or_default()
    )
}

// ---------- the folder list ----------

#[derive(Deserialize, Default)]
pub struct SecretsQuery {
    folder: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

fn list_link(folder: &str, limit: Option<&str>, after: Option<&str>) -> String {
    let mut p: Vec<(&str, &str)> = Vec::new();
    if !folder.is_empty() {
        p.push(("folder", folder));
    }
    if let Some(l) = limit {
        p.push(("limit", l));
    }
    if let Some(a) = after {
        p.push(("after", a));
    }
    if p.is_empty() {
        "/ui/secrets".into()
    } else {
        format!(
            "/ui/secrets?{}",
            serde_urlencoded::to_string(&p).unwrap_or_default()
        )
    }
}

pub async fn secrets(State(st): St, c: Ctx, q: QueryResult<SecretsQuery>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(r) => return bad_query(&c, r, "/ui/secrets"),
    };
    let folder = list_folder(
        nonempty(&q.folder)
            .unwrap_or_default()
            .trim_start_matches('/'),
    );
    let mut crumbs = vec![("secrets".to_string(), "/ui/secrets".to_string())];
    let mut so_far = String::new();
    for seg in folder.split('/').filter(|s| !s.is_empty()) {
        so_far.push_str(seg);
        so_far.push('/');
        crumbs.push((seg.to_string(), folder_link(&so_far)));
    }
    let limit_text = nonempty(&q.limit);
    let mut view = SecretsList {
        chrome: chrome(&c, "secrets", "Secrets"),
        folder: folder.clone(),
        crumbs,
        entries: Vec::new(),
        limit: DEFAULT_PAGE,
        next: None,
        first: None,
        refused: String::new(),
    };
    let limit = match limit_text.as_deref() {
        None => DEFAULT_PAGE,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                view.refused = format!(
                    "{l:?} names per page is out of range; use a whole number from 1 to 1000."
                );
                return html(StatusCode::BAD_REQUEST, view);
            }
        },
    };
    view.limit = limit;
    let after = nonempty(&q.after);
    let r = st
        .service
        .secret_list(&c.caller, &folder, after.clone(), Some(limit))
        .await;
    match r {
        Ok(page) => {
            view.entries = page
                .keys
                .into_iter()
                .map(|name| {
                    let full = format!("{folder}{name}");
                    let is_folder = name.ends_with('/');
                    SecretEntry {
                        link: if is_folder {
                            folder_link(&full)
                        } else {
                            format!("/ui/secrets/{full}")
                        },
                        folder: is_folder,
                        name,
                    }
                })
                .collect();
            view.next = page
                .next
                .as_deref()
                .map(|n| list_link(&folder, limit_text.as_deref(), Some(n)));
            view.first = after
                .as_ref()
                .map(|_| list_link(&folder, limit_text.as_deref(), None));
            html(StatusCode::OK, view)
        }
        Err(e) => {
            view.refused = say(&e);
            html(status_of(&e), view)
        }
    }
}

// ---------- one secret ----------

pub async fn secret(State(st): St, c: Ctx, Path(path): Path<String>) -> Response {
    let m = match st.service.secret_metadata(&c.caller, &path).await {
        Ok(m) => m,
        Err(e) => return message(Some(&c), status_of(&e), "Secret", say(&e), "/ui/secrets"),
    };
    let meta = &m.meta;
    let dual = !c.caller.principal.is_root()
        && st.service.dual_control.requires("strongroom:DestroySecret");
    let actions = SecretActions {
        reveal: may_secret(&c, "strongroom:ReadSecret", &path),
        delete: may_secret(&c, "strongroom:DeleteSecret", &path),
        destroy: may_secret(&c, "strongroom:DestroySecret", &path),
        destroy_label: if dual {
            format!(
                "Request destruction (needs {} approvals)",
                st.service.dual_control.approvals
            )
        } else {
            "Destroy".into()
        },
    };
    let versions: Vec<SecretVersionRow> = meta
        .versions
        .values()
        .rev()
        .map(|v| {
            let deleted = !v.destroyed && v.deletion_ms.is_some();
            SecretVersionRow {
                version: v.version,
                created: time_ms(v.created_ms),
                state: if v.destroyed {
                    "destroyed".into()
                } else if let Some(d) = v.deletion_ms {
                    format!("deleted at {}", time_ms(d))
                } else {
                    "live".into()
                },
                current: v.version == meta.current_version,
                live: !v.destroyed && v.deletion_ms.is_none(),
                deleted,
                destroyed: v.destroyed,
            }
        })
        .collect();
    let current_live = versions.iter().any(|v| v.current && v.live);
    let ms = |t: Option<i64>| opt_time(t.map(|t| t.div_euclid(1000)));
    let facts = vec![
        ("Path".to_string(), meta.path.clone()),
        (
            "Kind".into(),
            serde_json::to_value(meta.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
        ("Owner".into(), meta.owner.clone()),
        ("Purpose".into(), meta.purpose.clone()),
        ("Created".into(), time_ms(meta.created_ms)),
        ("Updated".into(), time_ms(meta.updated_ms)),
        ("Current version".into(), meta.current_version.to_string()),
        ("Oldest version kept".into(), m.oldest_version.to_string()),
        (
            "Versions kept".into(),
            if meta.max_versions == 0 {
                "10 (the default)".into()
            } else {
                meta.max_versions.to_string()
            },
        ),
        (
            "Check-and-set required".into(),
            if meta.cas_required { "yes" } else { "no" }.into(),
        ),
        (
            "Last read".into(),
            match &m.last_read {
                Some(r) => format!(
                    "{} by {}, version {} (on this node since it was unsealed)",
                    time_ms(r.time_ms),
                    r.identity,
                    r.version
                ),
                None => "not read on this node since it was unsealed".into(),
            },
        ),
    ];
    let rotation = vec![
        (
            "Period".to_string(),
            if meta.rotation_period_days == 0 {
                "none".into()
            } else {
                format!("every {} days", meta.rotation_period_days)
            },
        ),
        ("Next rotation".into(), ms(meta.next_rotation_ms)),
        ("Expires".into(), ms(meta.expires_ms)),
        (
            "Overdue".into(),
            if m.overdue { "yes" } else { "no" }.into(),
        ),
    ];
    html(
        StatusCode::OK,
        SecretPage {
            chrome: chrome(&c, "secrets", format!("Secret {}", meta.path)),
            path: meta.path.clone(),
            facts,
            custom: meta
                .custom_metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            rotation,
            overdue: m.overdue,
            versions,
            current_live,
            current_version: meta.current_version,
            actions,
            audit_link: secret_audit_link(&meta.path),
            folder_link: folder_link(parent(&meta.path)),
        },
    )
}

/// A rendered page whose bytes are wiped when the answer is done with them.
struct Wiped(SecretBytes);

impl AsRef<[u8]> for Wiped {
    fn as_ref(&self) -> &[u8] {
        self.0.expose()
    }
}

/// Renders `t` into one buffer reserved up front (so no partial copy is
/// left behind by a reallocation) that is wiped when dropped.
fn render_wiped(t: &Reveal<'_>) -> Result<Bytes, askama::Error> {
    let values: usize = t.fields.iter().map(|(n, v)| n.len() + v.len()).sum();
    // Escaping makes a byte at most 6 (`&quot;`); the rest is the page.
    let mut out = String::with_capacity(Reveal::SIZE_HINT + 6 * values + 16 * 1024);
    let r = t.render_into(&mut out);
    let wiped = Wiped(SecretBytes::new(out.into_bytes()));
    r.map(|()| Bytes::from_owner(wiped))
}

fn versions_field(f: &std::collections::BTreeMap<String, String>) -> Result<Option<u32>, String> {
    let v = field(f, "version");
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<u32>()
        .map(Some)
        .map_err(|_| format!("The version {v:?} is not a whole number; nothing was changed."))
}

pub async fn secret_action(
    State(st): St,
    c: Ctx,
    Path(path): Path<String>,
    body: Bytes,
) -> Response {
    let f = match form(&c, &body) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let back = format!("/ui/secrets/{path}");
    let version = match versions_field(&f) {
        Ok(v) => v,
        Err(m) => {
            return message(Some(&c), StatusCode::BAD_REQUEST, "Secret", m, &back);
        }
    };
    let svc = &st.service;
    let versions: Vec<u32> = version.into_iter().collect();
    match field(&f, "action") {
        "reveal" => reveal(&st, &c, &path, version, &back).await,
        "delete" => {
            let r = svc.secret_delete(&c.caller, &path, versions).await;
            back_with_result(
                &st,
                &c,
                r,
                |v| {
                    format!(
                        "Deleted version {}: it can be undeleted until it is destroyed.",
                        join(&v)
                    )
                },
                &back,
            )
        }
        "undelete" => {
            let r = svc.secret_undelete(&c.caller, &path, versions).await;
            back_with_result(
                &st,
                &c,
                r,
                |v| format!("Undeleted version {}.", join(&v)),
                &back,
            )
        }
        "destroy" => {
            let r = svc.secret_destroy(&c.caller, &path, versions).await;
            back_with_result(
                &st,
                &c,
                r,
                |v| {
                    format!(
                        "Destroyed version {}: its value is gone for good.",
                        join(&v)
                    )
                },
                &back,
            )
        }
        other => back_with(
            &st,
            &c,
            "error",
            format!("There is no secret action {other:?}; nothing was changed."),
            &back,
        ),
    }
}

fn join(v: &[u32]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

async fn reveal(
    st: &Arc<crate::ConsoleState>,
    c: &Ctx,
    path: &str,
    version: Option<u32>,
    back: &str,
) -> Response {
    let v = match st.service.secret_get(&c.caller, path, version).await {
        Ok(v) => v,
        Err(e) => {
            let text = match &e {
                Error::AccessDenied(_) => format!(
                    "{} Revealing a value needs strongroom:ReadSecret on secret/{path}; nothing was shown, and the refusal is in the audit log.",
                    say(&e)
                ),
                _ => say(&e),
            };
            return message(Some(c), status_of(&e), "Reveal refused", text, back);
        }
    };
    let page = Reveal {
        chrome: chrome(
            c,
            "secrets",
            format!("Secret {path}: version {}", v.version.version),
        ),
        path,
        version: v.version.version,
        fields: v.fields.iter().collect(),
        read_at: time_ms(st.service.now_ms()),
        back: back.to_string(),
        audit_link: secret_audit_link(path),
    };
    match render_wiped(&page) {
        Ok(bytes) => (
            StatusCode::OK,
            [(CONTENT_TYPE, "text/html; charset=utf-8")],
            Body::from(bytes),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_parents() {
        assert_eq!(parent("app/db"), "app/");
        assert_eq!(parent("a/b/c"), "a/b/");
        assert_eq!(parent("db"), "");
        assert_eq!(folder_link(""), "/ui/secrets");
        assert_eq!(folder_link("app/"), "/ui/secrets?folder=app%2F");
        assert_eq!(
            list_link("app/", Some("5"), Some("x y")),
            "/ui/secrets?folder=app%2F&limit=5&after=x+y"
        );
        assert_eq!(
            secret_audit_link("app/db"),
            "/ui/audit?key=secret%2Fapp%2Fdb"
        );
    }

    #[test]
    fn a_reveal_page_escapes_values_and_renders_into_one_buffer() {
        let page = Reveal {
            chrome: Chrome {
                user: "alice".into(),
                root: false,
                csrf: "t".into(),
                flash: None,
                nav: "secrets",
                title: "Secret app/db".into(),
            },
            path: "app/db",
            version: 3,
            fields: vec![("password", "<script>alert(1)</script>&\"'")],
            read_at: "2026-01-01T00:00:00Z".into(),
            back: "/ui/secrets/app/db".into(),
            audit_link: secret_audit_link("app/db"),
        };
        let b = render_wiped(&page).expect("render");
        let s = std::str::from_utf8(&b).expect("utf-8");
        assert!(
            s.contains("&#60;script&#62;alert(1)&#60;/script&#62;&#38;"),
            "{s}"
        );
        assert!(!s.contains("<script>"));
    }
}
