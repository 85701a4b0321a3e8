//! Server-side sessions. The browser holds only a random session id in an
//! HttpOnly, SameSite=Strict cookie (`Secure` under TLS); the session holds
//! the Strongroom token it signed in with (zeroized when it ends), which is
//! authenticated again on every request, so a revoked or expired token ends
//! the session at once. A session ends at sign-out, after
//! [`DEFAULT_IDLE_SECS`] without a request (on the node's clock), or when
//! its token stops authenticating.

use std::collections::HashMap;
use std::sync::Mutex;

use strongroom_core::crypto::rng::Rng;
use strongroom_core::crypto::secret::{ct_eq, SecretBytes};

/// The cookie that names a session.
pub const SESSION_COOKIE: &str = "strongroom_console";
/// The cookie that carries the sign-in form's anti-forgery token.
pub const SIGN_IN_COOKIE: &str = "strongroom_console_signin";
/// A session unused for this long is gone.
pub const DEFAULT_IDLE_SECS: i64 = 15 * 60;
/// At most this many sessions at once; the least recently used goes first.
const MAX_SESSIONS: usize = 10_000;

/// A one-time message shown on the next page (after a redirect).
#[derive(Clone)]
pub struct Flash {
    /// "ok", "info" or "error".
    pub kind: &'static str,
    pub text: String,
}

struct Session {
    token: SecretBytes,
    csrf: String,
    last_seen_ms: i64,
    flash: Option<Flash>,
}

/// What a request learns from its session.
pub struct Current {
    pub id: String,
    pub csrf: String,
    pub flash: Option<Flash>,
}

/// Why there is no usable session.
pub enum NoSession {
    /// No cookie, or an unknown session id.
    Absent,
    /// The session was idle too long; it is gone now.
    Expired,
}

pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle_ms: i64,
}

/// 32 random bytes, hex: a session id or an anti-forgery token.
pub fn random_token(rng: &dyn Rng) -> Option<String> {
    let mut b = [0u8; 32];
    rng.fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl Sessions {
    pub fn new(idle_secs: i64) -> Self {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle_ms: idle_secs.saturating_mul(1000),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves plain data behind: keep going.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for `token`; answers its id, or `None` if the RNG failed.
    pub fn create(&self, rng: &dyn Rng, token: SecretBytes, now_ms: i64) -> Option<String> {
        let id = random_token(rng)?;
        let csrf = random_token(rng)?;
        let mut map = self.lock();
        map.retain(|_, s| now_ms - s.last_seen_ms <= self.idle_ms);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen_ms)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                token,
                csrf,
                last_seen_ms: now_ms,
                flash: None,
            },
        );
        Some(id)
    }

    /// The session `id` names, touched now, with a copy of its token and
    /// its pending message (taken).
    pub fn touch(&self, id: &str, now_ms: i64) -> Result<(Current, SecretBytes), NoSession> {
        let mut map = self.lock();
        let Some(s) = map.get_mut(id) else {
            return Err(NoSession::Absent);
        };
        if now_ms - s.last_seen_ms > self.idle_ms {
            map.remove(id);
            return Err(NoSession::Expired);
        }
        s.last_seen_ms = now_ms;
        Ok((
            Current {
                id: id.to_string(),
                csrf: s.csrf.clone(),
                flash: s.flash.take(),
            },
            s.token.duplicate(),
        ))
    }

    pub fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(flash);
        }
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Sessions held now (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a submitted anti-forgery token matches the expected one.
pub fn csrf_ok(expected: &str, submitted: Option<&str>) -> bool {
    submitted.is_some_and(|s| !expected.is_empty() && ct_eq(expected.as_bytes(), s.as_bytes()))
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path `/ui`, Secure under TLS.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use strongroom_core::crypto::rng::TestRng;

    #[test]
    fn a_session_expires_after_its_idle_time_and_is_removed() {
        let s = Sessions::new(60);
        let rng = TestRng::new(1);
        let id = s
            .create(&rng, SecretBytes::from_slice(b"tok"), 1_000)
            .expect("id");
        assert_eq!(id.len(), 64);
        let (cur, tok) = s.touch(&id, 30_000).ok().expect("fresh");
        assert_eq!(tok.expose(), b"tok");
        assert_eq!(cur.csrf.len(), 64);
        assert_ne!(cur.csrf, id);
        // 60 s after the last use: still there; 1 ms later: gone.
        assert!(s.touch(&id, 90_000).is_ok());
        assert!(matches!(s.touch(&id, 150_001), Err(NoSession::Expired)));
        assert!(matches!(s.touch(&id, 150_002), Err(NoSession::Absent)));
        assert!(s.is_empty());
    }

    #[test]
    fn flash_is_shown_once_and_sign_out_ends_the_session() {
        let s = Sessions::new(60);
        let id = s
            .create(&TestRng::new(2), SecretBytes::from_slice(b"t"), 0)
            .expect("id");
        s.set_flash(
            &id,
            Flash {
                kind: "ok",
                text: "done".into(),
            },
        );
        assert_eq!(
            s.touch(&id, 1).ok().expect("s").0.flash.map(|f| f.text),
            Some("done".to_string())
        );
        assert!(s.touch(&id, 2).ok().expect("s").0.flash.is_none());
        s.end(&id);
        assert!(matches!(s.touch(&id, 3), Err(NoSession::Absent)));
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        assert!(csrf_ok("abc", Some("abc")));
        assert!(!csrf_ok("abc", Some("abd")));
        assert!(!csrf_ok("abc", Some("")));
        assert!(!csrf_ok("abc", None));
        assert!(!csrf_ok("", Some("")));
    }

    #[test]
    fn cookies_are_read_by_exact_name_and_set_strictly() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; strongroom_console_signin=x; strongroom_console=abc"
                .parse()
                .expect("header"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, SIGN_IN_COOKIE), Some("x"));
        assert_eq!(cookie(&h, "b"), None);
        let c = set_cookie(SESSION_COOKIE, "v", true, None);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie(SESSION_COOKIE, "v", false, Some(0)).contains("Secure"));
    }
}
