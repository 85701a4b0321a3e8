//! The signed compliance report as it travels: the envelope
//! (`{ "report", "signature" }`), its verification and its Markdown and
//! HTML renderings. The server builds and signs reports
//! (`strongroom_service::report`); the CLI verifies and renders them.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
use base64::Engine as _;
use serde_json::{json, Value};

use strongroom_core::keys::dates::format_rfc3339;

/// Domain prefix of report signatures (apart from audit checkpoints).
pub const SIGNING_DOMAIN: &str = "strongroom-compliance-report-v1";

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of the report's canonical JSON (serde_json's compact form).
pub fn report_digest(report: &Value) -> Vec<u8> {
    let bytes = serde_json::to_vec(report).unwrap_or_default();
    digest(&SHA256, &bytes).as_ref().to_vec()
}

/// `{ "report": …, "signature": { … } }`.
pub fn envelope(report: Value, signature: &[u8], public_key: &[u8]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let d = report_digest(&report);
    json!({
        "report": report,
        "signature": {
            "algorithm": "Ed25519",
            "domain": SIGNING_DOMAIN,
            "sha256": hex(&d),
            "public_key": b64.encode(public_key),
            "value": b64.encode(signature),
        }
    })
}

/// Checks a signed JSON report: the digest matches the report and the
/// signature verifies under the embedded key (and, if given, that key is
/// `expected_key`). Returns the public key (base64) on success.
pub fn verify(env: &Value, expected_key: Option<&str>) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let report = env.get("report").ok_or("not a signed report: no \"report\" field (only the JSON format carries the signature; see docs/LIFECYCLE.md)")?;
    let sig = env
        .get("signature")
        .ok_or("not a signed report: no \"signature\" field")?;
    if sig["domain"] != SIGNING_DOMAIN || sig["algorithm"] != "Ed25519" {
        return Err("unknown signature domain or algorithm".into());
    }
    let d = report_digest(report);
    if sig["sha256"].as_str() != Some(hex(&d).as_str()) {
        return Err("the report was modified: its SHA-256 does not match the signed digest".into());
    }
    let pk_b64 = sig["public_key"].as_str().unwrap_or("");
    if let Some(e) = expected_key {
        if e.trim() != pk_b64 {
            return Err(
                "the report is signed by a different key than the expected audit key".into(),
            );
        }
    }
    let pk = b64
        .decode(pk_b64)
        .map_err(|_| "public key is not base64".to_string())?;
    let sv = b64
        .decode(sig["value"].as_str().unwrap_or(""))
        .map_err(|_| "signature is not base64".to_string())?;
    let mut msg = SIGNING_DOMAIN.as_bytes().to_vec();
    msg.push(0);
    msg.extend_from_slice(&d);
    UnparsedPublicKey::new(&ED25519, &pk)
        .verify(&msg, &sv)
        .map_err(|_| "the signature does not verify".to_string())?;
    Ok(pk_b64.to_string())
}

fn status_mark(s: &str) -> &'static str {
    match s {
        "pass" => "PASS",
        "fail" => "FAIL",
        _ => "N/A",
    }
}

/// Markdown: summary first, then a table per framework, then the signature.
pub fn render_markdown(env: &Value) -> String {
    let r = &env["report"];
    let sm = &r["summary"];
    let mut o = String::new();
    o.push_str("# Strongroom compliance report\n\n");
    o.push_str(&format!(
        "Generated {} · overall **{}** · {} pass, {} fail, {} not applicable · {} keys ({} live)\n\n",
        format_rfc3339(r["generated_at"].as_i64().unwrap_or(0)),
        status_mark(sm["overall"].as_str().unwrap_or("")),
        sm["pass"], sm["fail"], sm["not_applicable"], sm["keys"], sm["live_keys"]
    ));
    o.push_str("## Findings\n\n");
    let fs = sm["findings"].as_array().cloned().unwrap_or_default();
    if fs.is_empty() {
        o.push_str("None.\n");
    }
    for f in &fs {
        o.push_str(&format!("- {}\n", f.as_str().unwrap_or("")));
    }
    let mut frameworks: Vec<String> = Vec::new();
    for c in r["controls"].as_array().into_iter().flatten() {
        let fw = c["framework"].as_str().unwrap_or("").to_string();
        if !frameworks.contains(&fw) {
            frameworks.push(fw);
        }
    }
    for fw in &frameworks {
        o.push_str(&format!(
            "\n## {fw}\n\n| Control | Status | Evidence | Findings |\n|---|---|---|---|\n"
        ));
        for c in r["controls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["framework"] == fw.as_str())
        {
            let join = |f: &str| {
                c[f].as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join("<br>")
                    })
                    .unwrap_or_default()
                    .replace('|', "\\|")
            };
            o.push_str(&format!(
                "| {} {} | {} | {} | {} |\n",
                c["id"].as_str().unwrap_or(""),
                c["title"].as_str().unwrap_or(""),
                status_mark(c["status"].as_str().unwrap_or("")),
                join("evidence"),
                join("findings")
            ));
        }
    }
    o.push_str(&format!(
        "\n---\nSigned ({}, {}) · SHA-256 of the canonical JSON report: `{}` · public key `{}` · signature `{}`. Verify the JSON form with `strongroom report verify`.\n",
        env["signature"]["algorithm"].as_str().unwrap_or(""),
        SIGNING_DOMAIN,
        env["signature"]["sha256"].as_str().unwrap_or(""),
        env["signature"]["public_key"].as_str().unwrap_or(""),
        env["signature"]["value"].as_str().unwrap_or("")
    ));
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Key age (since creation or last rotation) against its cryptoperiod.
fn chart(r: &Value) -> String {
    let keys: Vec<&Value> = r["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["state"] != "Destroyed")
        .take(40)
        .collect();
    if keys.is_empty() {
        return "<p>No live keys.</p>".into();
    }
    let max = keys
        .iter()
        .map(|k| {
            k["age_days"]
                .as_i64()
                .unwrap_or(0)
                .max(k["rotation_period_days"].as_i64().unwrap_or(0))
        })
        .max()
        .unwrap_or(1)
        .max(1);
    let (w, row) = (520i64, 22i64);
    let h = row * keys.len() as i64 + 20;
    let mut o = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" role=\"img\" aria-label=\"key age against cryptoperiod\">", w + 300);
    for (i, k) in keys.iter().enumerate() {
        let y = i as i64 * row + 4;
        let age = k["age_days"].as_i64().unwrap_or(0);
        let period = k["rotation_period_days"].as_i64();
        let bw = age * w / max;
        let color = if k["rotation_overdue"] == true {
            "#c62828"
        } else if period.is_none() {
            "#9e9e9e"
        } else {
            "#2e7d32"
        };
        let id = k["id"].as_str().unwrap_or("");
        o.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"11\" font-family=\"monospace\">{}</text><rect x=\"90\" y=\"{y}\" width=\"{}\" height=\"14\" fill=\"{color}\"/>",
            y + 11, esc(&id.chars().take(8).collect::<String>()), bw.max(1)
        ));
        if let Some(p) = period {
            let x = 90 + p * w / max;
            o.push_str(&format!("<line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\" stroke=\"#000\" stroke-width=\"2\"/>", y - 2, y + 16));
        }
        o.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"11\">{age} d / {}</text>",
            w + 100,
            y + 11,
            period
                .map(|p| format!("{p} d"))
                .unwrap_or_else(|| "no period".into())
        ));
    }
    o.push_str("</svg><p class=\"legend\">Bar: days since creation or last rotation (green: within its period, red: overdue, grey: no rotation period). Black tick: the rotation period.</p>");
    o
}

/// One self-contained HTML page: summary, chart, a table per framework.
pub fn render_html(env: &Value) -> String {
    let r = &env["report"];
    let sm = &r["summary"];
    let overall = sm["overall"].as_str().unwrap_or("");
    let mut o = String::from("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Strongroom compliance report</title><style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;width:100%;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.4em;vertical-align:top;font-size:.9em}th{background:#f3f3f3;text-align:left}.pass{color:#2e7d32;font-weight:bold}.fail{color:#c62828;font-weight:bold}.not_applicable{color:#777}.sum{font-size:1.2em}.legend{font-size:.85em;color:#555}code{word-break:break-all;font-size:.8em}</style></head><body>");
    o.push_str("<h1>Strongroom compliance report</h1>");
    o.push_str(&format!(
        "<p class=\"sum\">Overall: <span class=\"{overall}\">{}</span> — {} pass, {} fail, {} not applicable. {} keys ({} live). Generated {}.</p>",
        status_mark(overall), sm["pass"], sm["fail"], sm["not_applicable"], sm["keys"], sm["live_keys"],
        esc(&format_rfc3339(r["generated_at"].as_i64().unwrap_or(0)))
    ));
    o.push_str("<h2>Findings</h2><ul>");
    let fs = sm["findings"].as_array().cloned().unwrap_or_default();
    if fs.is_empty() {
        o.push_str("<li>None.</li>");
    }
    for f in &fs {
        o.push_str(&format!("<li>{}</li>", esc(f.as_str().unwrap_or(""))));
    }
    o.push_str("</ul><h2>Key age against cryptoperiod</h2>");
    o.push_str(&chart(r));
    let mut frameworks: Vec<String> = Vec::new();
    for c in r["controls"].as_array().into_iter().flatten() {
        let fw = c["framework"].as_str().unwrap_or("").to_string();
        if !frameworks.contains(&fw) {
            frameworks.push(fw);
        }
    }
    for fw in &frameworks {
        o.push_str(&format!("<h2>{}</h2><table><tr><th>Control</th><th>Status</th><th>Evidence</th><th>Findings</th></tr>", esc(fw)));
        for c in r["controls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["framework"] == fw.as_str())
        {
            let join = |f: &str| {
                c[f].as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(esc)
                            .collect::<Vec<_>>()
                            .join("<br>")
                    })
                    .unwrap_or_default()
            };
            let st = c["status"].as_str().unwrap_or("");
            o.push_str(&format!(
                "<tr><td><b>{}</b> {}</td><td class=\"{st}\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(c["id"].as_str().unwrap_or("")),
                esc(c["title"].as_str().unwrap_or("")),
                status_mark(st),
                join("evidence"),
                join("findings")
            ));
        }
        o.push_str("</table>");
    }
    o.push_str(&format!(
        "<hr><p class=\"legend\">Signed with the audit signing key (Ed25519, {SIGNING_DOMAIN}). SHA-256 of the canonical JSON report: <code>{}</code><br>Public key: <code>{}</code><br>Signature: <code>{}</code><br>Verify the JSON form with <code>strongroom report verify</code>.</p></body></html>\n",
        esc(env["signature"]["sha256"].as_str().unwrap_or("")),
        esc(env["signature"]["public_key"].as_str().unwrap_or("")),
        esc(env["signature"]["value"].as_str().unwrap_or(""))
    ));
    o
}
