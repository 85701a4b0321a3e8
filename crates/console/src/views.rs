//! The pages' templates (askama, compiled, HTML-escaped by default) and
//! the plain view rows they show. Handlers (`pages.rs`) fill these in;
//! every string reaches the page escaped.

use askama::Template;

use crate::session::Flash;

/// What every signed-in page shows around its content.
pub struct Chrome {
    /// The signed-in identity ("" on the sign-in page: no navigation).
    pub user: String,
    pub root: bool,
    /// The session's anti-forgery token, for every form.
    pub csrf: String,
    pub flash: Option<Flash>,
    /// Which navigation entry is current.
    pub nav: &'static str,
    pub title: String,
}

/// Whether the signed-in caller may do something, and if not, why.
pub struct Allowed {
    pub allowed: bool,
    pub why: String,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignIn {
    pub chrome: Chrome,
    pub form_token: String,
    pub notice: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub chrome: Chrome,
    pub text: String,
    pub back: String,
}

pub struct Count {
    pub label: String,
    pub n: usize,
}

#[derive(Clone)]
pub struct Chain {
    pub ok: bool,
    pub entries: u64,
    pub checkpoints: u64,
    pub first_bad: String,
    pub reason: String,
    pub head: String,
}

pub struct Brief {
    pub id: String,
    pub owner: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct Overview {
    pub chrome: Chrome,
    pub seal: String,
    pub storage: String,
    pub dual_control: String,
    pub keys: Option<Vec<Count>>,
    pub total_keys: usize,
    pub overdue: Option<Vec<Brief>>,
    /// Overdue rotations in all (up to the cap; the list shows the first).
    pub overdue_total: String,
    pub expiring: Option<Vec<Brief>>,
    pub expiring_total: String,
    pub pending: Option<usize>,
    pub chain: Option<ChainStatus>,
    pub refusals: Vec<String>,
}

/// The audit chain check as the overview shows it: the last result (kept
/// by the console, see `chain.rs`), when it was made, and whether one is
/// running now.
pub struct ChainStatus {
    pub last: Option<Chain>,
    /// "2026-12-04T10:00:00Z by alice, took 1.2 s"
    pub checked: String,
    /// When the running check started ("" if none is running).
    pub running_since: String,
    /// How often the console checks again by itself, in words.
    pub every: String,
}

pub struct KeyRow {
    pub id: String,
    pub alias: String,
    pub description: String,
    pub state: String,
    pub spec: String,
    pub owner: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "keys.html")]
pub struct Keys {
    pub chrome: Chrome,
    pub state: String,
    pub alias: String,
    pub owner: String,
    pub tag: String,
    pub sort: String,
    pub limit: usize,
    /// (state, selected)
    pub states: Vec<(&'static str, bool)>,
    pub rows: Vec<KeyRow>,
    pub next: Option<String>,
    pub first: Option<String>,
    /// The page stopped at the search budget before it was full: says how
    /// far it searched ("" otherwise).
    pub partial: String,
    pub refused: String,
    pub create: Allowed,
    pub specs: Vec<&'static str>,
}

pub struct VersionRow {
    pub version: u32,
    pub state: String,
    pub created: String,
    pub rotation: String,
    pub uses: String,
    pub primary: bool,
}

/// The actions on a key, each with whether the caller may do it now.
pub struct KeyActions {
    pub rotate: Allowed,
    pub enable: Allowed,
    pub disable: Allowed,
    pub min_version: Allowed,
    pub schedule: Allowed,
    pub cancel: Allowed,
    pub compromise: Allowed,
    /// "Request" when the deletion is dual-controlled for this caller.
    pub schedule_label: String,
}

#[derive(Template)]
#[template(path = "key.html")]
pub struct KeyPage {
    pub chrome: Chrome,
    pub id: String,
    pub facts: Vec<(String, String)>,
    pub aliases: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub policy: Vec<String>,
    pub versions: Vec<VersionRow>,
    pub rotation: Vec<(String, String)>,
    pub compromises: Vec<String>,
    pub public_key: String,
    pub actions: KeyActions,
    pub audit_link: String,
}

pub struct ApprovalRow {
    pub id: String,
    pub action: String,
    pub key: String,
    pub key_link: String,
    pub requester: String,
    pub created: String,
    pub expires: String,
    pub status: String,
    pub progress: String,
    pub decided_by: String,
    pub pending: bool,
    pub decide: Allowed,
}

#[derive(Template)]
#[template(path = "approvals.html")]
pub struct Approvals {
    pub chrome: Chrome,
    pub rows: Vec<ApprovalRow>,
    pub refused: String,
}

pub struct AuditRow {
    pub index: u64,
    pub time: String,
    pub identity: String,
    pub root: bool,
    pub operation: String,
    pub key: String,
    pub outcome: String,
    pub code: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct Audit {
    pub chrome: Chrome,
    pub key: String,
    pub identity: String,
    pub action: String,
    pub from: String,
    pub to: String,
    /// (outcome, selected)
    pub outcomes: Vec<(&'static str, bool)>,
    pub rows: Vec<AuditRow>,
    pub matched: usize,
    pub showing: String,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub chain: Option<Chain>,
    pub verify_link: String,
    pub refused: String,
}

pub struct ControlRow {
    pub framework: String,
    pub id: String,
    pub title: String,
    pub status: String,
    pub evidence: Vec<String>,
    pub findings: Vec<String>,
}

#[derive(Template)]
#[template(path = "compliance.html")]
pub struct Compliance {
    pub chrome: Chrome,
    pub overall: String,
    pub generated: String,
    pub counts: String,
    pub findings: Vec<String>,
    pub controls: Vec<ControlRow>,
    pub digest: String,
    pub refused: String,
}

pub struct IdentityRow {
    pub name: String,
    pub kind: String,
    pub roles: String,
    pub policies: String,
    pub status: String,
    pub created: String,
}

pub struct TokenRow {
    pub id: String,
    pub identity: String,
    pub created: String,
    pub expires: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "identities.html")]
pub struct Identities {
    pub chrome: Chrome,
    pub identities: Vec<IdentityRow>,
    pub tokens: Vec<TokenRow>,
    pub refused: String,
}

/// One child of a secrets folder: a secret, or a sub-folder (name ends in `/`).
pub struct SecretEntry {
    pub name: String,
    pub link: String,
    pub folder: bool,
}

#[derive(Template)]
#[template(path = "secrets.html")]
pub struct SecretsList {
    pub chrome: Chrome,
    /// The folder shown ("" for the top).
    pub folder: String,
    /// (label, link) from the top down to the folder.
    pub crumbs: Vec<(String, String)>,
    pub entries: Vec<SecretEntry>,
    pub limit: usize,
    pub next: Option<String>,
    pub first: Option<String>,
    pub refused: String,
}

pub struct SecretVersionRow {
    pub version: u32,
    pub created: String,
    /// "live", "deleted at …" or "destroyed".
    pub state: String,
    pub current: bool,
    pub live: bool,
    pub deleted: bool,
    pub destroyed: bool,
}

/// The secret actions, each with whether the caller may do it (by policy).
pub struct SecretActions {
    pub reveal: Allowed,
    pub delete: Allowed,
    pub destroy: Allowed,
    /// "Request destruction (needs 2 approvals)" under dual control.
    pub destroy_label: String,
}

#[derive(Template)]
#[template(path = "secret.html")]
pub struct SecretPage {
    pub chrome: Chrome,
    pub path: String,
    pub facts: Vec<(String, String)>,
    pub custom: Vec<(String, String)>,
    pub rotation: Vec<(String, String)>,
    pub overdue: bool,
    pub versions: Vec<SecretVersionRow>,
    /// The current version can be revealed (it is live).
    pub current_live: bool,
    pub current_version: u32,
    pub actions: SecretActions,
    pub audit_link: String,
    pub folder_link: String,
}

/// The answer to an explicit reveal: the value, once, on this page only
/// (never in a URL, a redirect, the session or a log). Borrows the fields
/// from the service's answer, so no other copy of a value is made before
/// the page is rendered into a buffer that is wiped when it is dropped.
#[derive(Template)]
#[template(path = "reveal.html")]
pub struct Reveal<'a> {
    pub chrome: Chrome,
    pub path: &'a str,
    pub version: u32,
    pub fields: Vec<(&'a str, &'a str)>,
    pub read_at: String,
    pub back: String,
    pub audit_link: String,
}
