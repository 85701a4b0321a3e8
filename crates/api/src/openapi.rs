//! The OpenAPI 3.1 document served at `/v1/openapi.json`. It is built from
//! one table of endpoints; a test checks every route in the router is here.

use axum::Json;
use serde_json::{json, Map, Value};

/// (method, path, summary, auth required, request body fields: (name, type, required)).
type Endpoint = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [(&'static str, &'static str, bool)],
);

pub const ENDPOINTS: &[Endpoint] = &[
    (
        "post",
        "/",
        "AWS KMS JSON 1.1 protocol (X-Amz-Target: TrentService.<Operation>, SigV4); see docs/AWS.md",
        false,
        &[],
    ),
    (
        "get",
        "/v1/sys/health",
        "Health: 200 when initialized and unsealed, 503 otherwise",
        false,
        &[],
    ),
    (
        "get",
        "/v1/sys/seal-status",
        "Seal status and unseal progress",
        false,
        &[],
    ),
    (
        "post",
        "/v1/sys/init",
        "Initialize: returns the unseal shares and root token, once",
        false,
        &[("shares", "integer", false), ("threshold", "integer", false)],
    ),
    (
        "post",
        "/v1/sys/unseal",
        "Submit one unseal share (or hsm: true to retry the PKCS#11 seal)",
        false,
        &[("share", "string", false), ("hsm", "boolean", false)],
    ),
    (
        "post",
        "/v1/sys/seal",
        "Seal the server (drops all key material from memory)",
        true,
        &[],
    ),
    (
        "post",
        "/v1/sys/rekey",
        "New unseal shares and threshold from a quorum of the current shares (returned once; the current ones stop working)",
        false,
        &[
            ("shares", "array", true),
            ("new_shares", "integer", true),
            ("new_threshold", "integer", true),
        ],
    ),
    (
        "post",
        "/v1/sys/generate-root",
        "A new root token from a quorum of unseal shares (returned once; replaces the current one)",
        false,
        &[("shares", "array", true)],
    ),
    (
        "post",
        "/v1/sys/revoke-root",
        "Revoke the root token (only the root token itself may call this)",
        true,
        &[],
    ),
    ("get", "/v1/openapi.json", "This document", false, &[]),
    ("get", "/metrics", "Prometheus metrics", false, &[]),
    (
        "post",
        "/v1/keys",
        "Create a key",
        true,
        &[
            ("spec", "string", false),
            ("usage", "string", false),
            ("description", "string", false),
            ("owner", "string", false),
            ("purpose", "string", false),
            ("tags", "object", false),
            ("aliases", "array", false),
            ("activation_date", "integer", false),
            ("expiry_date", "integer", false),
            ("rotation_period_days", "integer", false),
        ],
    ),
    (
        "get",
        "/v1/keys",
        "List keys (query: limit, cursor, alias, owner, state, tag=k=v)",
        true,
        &[],
    ),
    (
        "get",
        "/v1/keys/{key}",
        "Describe a key (id, alias/NAME or ARN)",
        true,
        &[],
    ),
    (
        "patch",
        "/v1/keys/{key}",
        "Update description, owner, purpose, tags, activation and expiry dates (null removes a date)",
        true,
        &[
            ("description", "string", false),
            ("owner", "string", false),
            ("purpose", "string", false),
            ("set_tags", "object", false),
            ("remove_tags", "array", false),
            ("activation_date", "integer", false),
            ("expiry_date", "integer", false),
        ],
    ),
    (
        "post",
        "/v1/rotate",
        "Rotate: add a new primary version",
        true,
        &[("key", "string", true)],
    ),
    (
        "post",
        "/v1/rotation-policy",
        "Set (days 1-3650) or clear (days null) the automatic rotation period",
        true,
        &[("key", "string", true), ("days", "integer", false)],
    ),
    (
        "post",
        "/v1/enable",
        "Enable a key",
        true,
        &[("key", "string", true)],
    ),
    (
        "post",
        "/v1/disable",
        "Disable a key",
        true,
        &[("key", "string", true)],
    ),
    (
        "post",
        "/v1/enable-version",
        "Enable a key version",
        true,
        &[("key", "string", true), ("version", "integer", true)],
    ),
    (
        "post",
        "/v1/disable-version",
        "Disable a key version (not the primary)",
        true,
        &[("key", "string", true), ("version", "integer", true)],
    ),
    (
        "post",
        "/v1/min-decryption-version",
        "Set the minimum decryption version",
        true,
        &[("key", "string", true), ("version", "integer", true)],
    ),
    (
        "post",
        "/v1/schedule-deletion",
        "Schedule destruction after 7-30 days (default 30)",
        true,
        &[
            ("key", "string", true),
            ("pending_window_days", "integer", false),
        ],
    ),
    (
        "post",
        "/v1/cancel-deletion",
        "Cancel a scheduled deletion (the key stays disabled)",
        true,
        &[("key", "string", true)],
    ),
    ("get", "/v1/aliases", "List aliases", true, &[]),
    (
        "post",
        "/v1/aliases",
        "Create an alias",
        true,
        &[("alias", "string", true), ("key", "string", true)],
    ),
    (
        "delete",
        "/v1/aliases/{alias}",
        "Delete an alias",
        true,
        &[],
    ),
    (
        "post",
        "/v1/encrypt",
        "Encrypt up to 4096 bytes (base64)",
        true,
        &[
            ("key", "string", true),
            ("plaintext", "string", true),
            ("context", "object", false),
        ],
    ),
    (
        "post",
        "/v1/decrypt",
        "Decrypt (the key is read from the ciphertext header)",
        true,
        &[
            ("ciphertext", "string", true),
            ("context", "object", false),
            ("key", "string", false),
            ("allow_compromised", "boolean", false),
        ],
    ),
    (
        "post",
        "/v1/reencrypt",
        "Re-encrypt under another key without exposing plaintext",
        true,
        &[
            ("ciphertext", "string", true),
            ("source_context", "object", false),
            ("source_key", "string", false),
            ("destination_key", "string", true),
            ("destination_context", "object", false),
            ("allow_compromised", "boolean", false),
        ],
    ),
    (
        "post",
        "/v1/generate-data-key",
        "Generate a data key (with or without plaintext)",
        true,
        &[
            ("key", "string", true),
            ("number_of_bytes", "integer", false),
            ("context", "object", false),
            ("include_plaintext", "boolean", false),
        ],
    ),
    (
        "post",
        "/v1/random",
        "Random bytes (1-1024)",
        true,
        &[("number_of_bytes", "integer", true)],
    ),
    (
        "post",
        "/v1/sign",
        "Sign a message or digest",
        true,
        &[
            ("key", "string", true),
            ("message", "string", true),
            ("message_type", "string", false),
            ("signing_algorithm", "string", false),
        ],
    ),
    (
        "post",
        "/v1/verify",
        "Verify a signature",
        true,
        &[
            ("key", "string", true),
            ("message", "string", true),
            ("message_type", "string", false),
            ("signature", "string", true),
            ("signing_algorithm", "string", false),
        ],
    ),
    (
        "post",
        "/v1/mac",
        "Generate an HMAC",
        true,
        &[("key", "string", true), ("message", "string", true)],
    ),
    (
        "post",
        "/v1/verify-mac",
        "Verify an HMAC",
        true,
        &[
            ("key", "string", true),
            ("message", "string", true),
            ("mac", "string", true),
        ],
    ),
    (
        "post",
        "/v1/public-key",
        "Get the public key (SubjectPublicKeyInfo DER and PEM)",
        true,
        &[("key", "string", true)],
    ),
    (
        "post",
        "/v1/encapsulate",
        "ML-KEM: a new 32-byte shared secret and its ciphertext (ENCAPSULATE_DECAPSULATE keys)",
        true,
        &[("key", "string", true)],
    ),
    (
        "post",
        "/v1/decapsulate",
        "ML-KEM: the shared secret of a ciphertext (version: the one Encapsulate returned; default primary)",
        true,
        &[
            ("key", "string", true),
            ("ciphertext", "string", true),
            ("version", "integer", false),
        ],
    ),
    (
        "post",
        "/v1/batch/encrypt",
        "Encrypt many items; each gets its own result",
        true,
        &[("items", "array", true)],
    ),
    (
        "post",
        "/v1/batch/decrypt",
        "Decrypt many items; each gets its own result",
        true,
        &[("items", "array", true)],
    ),
    ("get", "/v1/identities", "List identities", true, &[]),
    (
        "post",
        "/v1/identities",
        "Create an identity (with roles/policies: dual-controlled)",
        true,
        &[
            ("name", "string", true),
            ("kind", "string", false),
            ("roles", "array", false),
            ("policies", "array", false),
        ],
    ),
    (
        "get",
        "/v1/identities/{name}",
        "Show an identity and its tokens",
        true,
        &[],
    ),
    (
        "post",
        "/v1/identity/disable",
        "Disable an identity (its tokens stop working at once)",
        true,
        &[("name", "string", true)],
    ),
    (
        "post",
        "/v1/identity/grants",
        "Set an identity's roles and/or policies (dual-controlled)",
        true,
        &[
            ("name", "string", true),
            ("roles", "array", false),
            ("policies", "array", false),
        ],
    ),
    (
        "post",
        "/v1/identity/bind-cert",
        "Bind a client-certificate name (field cn, dns or uri; exact match) to an identity",
        true,
        &[
            ("identity", "string", true),
            ("field", "string", true),
            ("value", "string", true),
        ],
    ),
    (
        "post",
        "/v1/identity/unbind-cert",
        "Remove a client-certificate name's binding (it stops authenticating at once)",
        true,
        &[("field", "string", true), ("value", "string", true)],
    ),
    (
        "get",
        "/v1/identity/certs",
        "List client-certificate bindings (query: identity)",
        true,
        &[],
    ),
    (
        "get",
        "/v1/tokens",
        "List tokens (query: identity)",
        true,
        &[],
    ),
    (
        "post",
        "/v1/tokens",
        "Create a token for an identity (shown once)",
        true,
        &[("identity", "string", true), ("ttl_secs", "integer", false)],
    ),
    (
        "post",
        "/v1/tokens/revoke",
        "Revoke a token (by id or the token itself)",
        true,
        &[("token_id", "string", true)],
    ),
    (
        "get",
        "/v1/access-keys",
        "List access keys (never secrets)",
        true,
        &[],
    ),
    (
        "post",
        "/v1/access-keys",
        "Create an access key pair (secret shown once)",
        true,
        &[("identity", "string", true)],
    ),
    (
        "post",
        "/v1/access-keys/revoke",
        "Revoke an access key",
        true,
        &[("access_key_id", "string", true)],
    ),
    (
        "get",
        "/v1/policies",
        "List policies and built-in roles",
        true,
        &[],
    ),
    (
        "post",
        "/v1/policies",
        "Create or replace a policy (dual-controlled)",
        true,
        &[
            ("name", "string", true),
            ("description", "string", false),
            ("statements", "array", true),
        ],
    ),
    (
        "get",
        "/v1/policies/{name}",
        "Show a policy (role:NAME for a built-in role)",
        true,
        &[],
    ),
    (
        "delete",
        "/v1/policies/{name}",
        "Delete a policy (dual-controlled)",
        true,
        &[],
    ),
    (
        "post",
        "/v1/policy/explain",
        "Why an identity may or may not do an action on a key",
        true,
        &[
            ("identity", "string", true),
            ("action", "string", true),
            ("key", "string", false),
            ("context", "object", false),
        ],
    ),
    (
        "get",
        "/v1/approvals",
        "List dual-control approval requests",
        true,
        &[],
    ),
    (
        "post",
        "/v1/approvals/approve",
        "Approve a request; at quorum it executes",
        true,
        &[("id", "string", true)],
    ),
    (
        "post",
        "/v1/approvals/deny",
        "Deny a request",
        true,
        &[("id", "string", true)],
    ),
    (
        "get",
        "/v1/audit/verify",
        "Verify the audit hash chain and checkpoints",
        true,
        &[],
    ),
    (
        "get",
        "/v1/audit/query",
        "Query audit records (key, identity, action, outcome, from_ms, to_ms, limit)",
        true,
        &[],
    ),
    (
        "get",
        "/v1/audit/export",
        "Export audit records as JSON Lines (same filters)",
        true,
        &[],
    ),
    (
        "post",
        "/v1/compromise",
        "Declare a key version compromised (default: primary), rotate at once, and return the exposure report from the audit log",
        true,
        &[
            ("key", "string", true),
            ("version", "integer", false),
            ("reason", "string", true),
        ],
    ),
    (
        "get",
        "/v1/inventory",
        "Every key with lifecycle facts (query: owner, state, overdue=true, expiring_within=DAYS, no_owner=true)",
        true,
        &[],
    ),
    (
        "post",
        "/v1/sys/dev/advance-clock",
        "Dev server only: move the clock forward, then run the destruction sweep and the rotation scheduler once",
        true,
        &[("days", "integer", false), ("seconds", "integer", false)],
    ),
    (
        "post",
        "/v1/sys/dev/run-scheduler",
        "Dev server only: run the destruction sweep and the rotation scheduler once",
        true,
        &[],
    ),
    (
        "get",
        "/v1/reports/compliance",
        "The compliance report (PCI DSS, NIST SP 800-57, ISO 27001, SOC 2, HIPAA) from live state, signed with the audit key",
        true,
        &[],
    ),
    (
        "post",
        "/v1/scans",
        "File a strongroom scan report: per finding its rule, category, path, line, commit and fingerprint; never a value (docs/SCAN.md)",
        true,
        &[
            ("repository", "string", true),
            ("source", "string", true),
            ("scanner", "string", false),
            ("findings", "array", true),
        ],
    ),
    (
        "get",
        "/v1/scans",
        "The latest scan report of every repository (counts, no findings)",
        true,
        &[],
    ),
    (
        "get",
        "/v1/scans/{repository}",
        "One repository's latest scan report with its findings (fingerprints, no values)",
        true,
        &[],
    ),
    (
        "post",
        "/v1/backup",
        "An encrypted, integrity-protected backup (base64) with sample ciphertexts",
        true,
        &[],
    ),
    (
        "post",
        "/v1/backup/drill",
        "Restore a backup into a scratch in-memory instance, decrypt its samples, record pass/fail",
        true,
        &[("backup", "string", true)],
    ),
    (
        "get",
        "/v1/secrets/data/{path}",
        "Read a secret's value: the current version, or ?version=N (audited: path, version, identity)",
        true,
        &[],
    ),
    (
        "put",
        "/v1/secrets/data/{path}",
        "Write a new version of a secret; cas 0 = create only, n = only if the current version is n",
        true,
        &[("data", "object", true), ("cas", "integer", false)],
    ),
    (
        "post",
        "/v1/secrets/data/{path}",
        "Write a new version of a secret (as PUT)",
        true,
        &[("data", "object", true), ("cas", "integer", false)],
    ),
    (
        "patch",
        "/v1/secrets/data/{path}",
        "A new version from the current one: data fields set, remove fields dropped",
        true,
        &[("data", "object", false), ("remove", "array", false), ("cas", "integer", false)],
    ),
    (
        "get",
        "/v1/secrets/metadata/{path}",
        "A secret's metadata and version history (never values)",
        true,
        &[],
    ),
    (
        "patch",
        "/v1/secrets/metadata/{path}",
        "Change a secret's metadata (creates it without versions if absent)",
        true,
        &[
            ("max_versions", "integer", false),
            ("cas_required", "boolean", false),
            ("owner", "string", false),
            ("purpose", "string", false),
            ("custom_metadata", "object", false),
            ("rotation_period_days", "integer", false),
            ("expires_ms", "integer", false),
            ("kind", "string", false),
            ("rotation_hook", "string", false),
        ],
    ),
    (
        "delete",
        "/v1/secrets/metadata/{path}",
        "Delete a whole secret: metadata and every version, for good (dual control)",
        true,
        &[],
    ),
    (
        "get",
        "/v1/secrets/list",
        "List the secrets and folders at the top level (?after=&limit=)",
        true,
        &[],
    ),
    (
        "get",
        "/v1/secrets/list/{path}",
        "List the secrets and folders directly under a folder (?after=&limit=)",
        true,
        &[],
    ),
    (
        "post",
        "/v1/secrets/delete/{path}",
        "Soft-delete versions (empty: the current one); undelete restores them",
        true,
        &[("versions", "array", false)],
    ),
    (
        "post",
        "/v1/secrets/undelete/{path}",
        "Restore soft-deleted versions (empty: the current one)",
        true,
        &[("versions", "array", false)],
    ),
    (
        "post",
        "/v1/secrets/destroy/{path}",
        "Destroy versions for good (crypto-shred; dual control)",
        true,
        &[("versions", "array", false)],
    ),
    (
        "post",
        "/v1/secrets/rotate/{path}",
        "Rotate a secret of kind postgres (new password, ALTER ROLE, verified login) or hook (the operator's rotation hook prints the new version), then write it as a new version",
        true,
        &[],
    ),
    (
        "get",
        "/v1/secrets/inventory",
        "Every secret's metadata (owner, versions, rotation, overdue, last read), never a value",
        true,
        &[],
    ),
];

pub fn build() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, auth, fields) in ENDPOINTS {
        let mut op = json!({
            "summary": summary,
            "responses": {
                "200": { "description": "Success" },
                "default": { "description": "Error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            }
        });
        if *auth {
            op["security"] = json!([{ "bearer": [] }]);
        }
        if !fields.is_empty() {
            let props: Map<String, Value> = fields
                .iter()
                .map(|(n, t, _)| (n.to_string(), json!({ "type": t })))
                .collect();
            let required: Vec<&str> = fields.iter().filter(|f| f.2).map(|f| f.0).collect();
            op["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": { "type": "object", "properties": props, "required": required, "additionalProperties": false } } }
            });
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Strongroom native API", "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": { "error": { "type": "object", "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } }
                }
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}
