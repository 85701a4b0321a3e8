//! Secret rules, each written from the format's public documentation (the
//! `doc` field; docs/SCAN.md lists them). A rule is a regex whose `s` group
//! is the secret, literal keywords that gate it (found in one
//! Aho-Corasick pass per file), and a validator: a checksum where the
//! format has one, otherwise structure and the false-positive filters in
//! [`crate::checks`].

use crate::checks;

pub struct Rule {
    pub id: &'static str,
    /// Grouping for the precision/recall table.
    pub family: &'static str,
    pub description: &'static str,
    /// The public documentation the rule was written from.
    pub doc: &'static str,
    /// Lower-case literals; the rule runs only on files containing one (ASCII case-insensitive).
    pub keywords: &'static [&'static str],
    /// `regex::bytes` syntax with a named group `s` for the secret.
    pub pattern: &'static str,
    /// Checks the secret (`s` group) beyond the pattern.
    pub validate: fn(&[u8]) -> bool,
}

fn not_placeholder(s: &[u8]) -> bool {
    !checks::is_placeholder(s)
}

fn random_looking(s: &[u8]) -> bool {
    not_placeholder(s) && checks::shannon_entropy(s) >= 3.0
}

/// Vendors' documented example values (never reported).
const DOCUMENTED_EXAMPLES: &[&[u8]] = &[
    // AWS IAM User Guide, "Managing access keys"
    b"AKIAIOSFODNN7EXAMPLE",
    b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    // Google Cloud "Manage API keys"
    b"AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    // SendGrid "API Keys" (v3 example)
    b"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",
];

pub fn is_documented_example(s: &[u8]) -> bool {
    DOCUMENTED_EXAMPLES.contains(&s)
}

pub const GENERIC_ID: &str = "generic-secret";

pub static RULES: &[Rule] = &[
    // ---------- cloud ----------
    Rule {
        id: "aws-access-key-id",
        family: "cloud",
        description: "AWS access key ID (AKIA long-term, ASIA temporary STS, ABIA/ACCA): identifies a key pair whose secret is usually nearby",
        doc: "https://docs.aws.amazon.com/STS/latest/APIReference/API_GetAccessKeyInfo.html",
        keywords: &["akia", "asia", "abia", "acca"],
        pattern: r"\b(?P<s>(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        validate: not_placeholder,
    },
    Rule {
        id: "aws-secret-access-key",
        family: "cloud",
        description: "AWS secret access key (40 characters) assigned to an aws_secret_access_key-like name",
        doc: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
        keywords: &["secret_access_key", "secretaccesskey", "secret-access-key", "aws_secret"],
        pattern: r#"(?i)(?:aws_?secret_?access_?key|secret_?access_?key|secret-access-key|aws_?secret)["']?\s*(?::=|=>|=|:)\s*["']?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        validate: |s| not_placeholder(s) && checks::shannon_entropy(s) >= 4.0,
    },
    Rule {
        id: "google-api-key",
        family: "cloud",
        description: "Google Cloud API key (AIza...)",
        doc: "https://cloud.google.com/docs/authentication/api-keys",
        keywords: &["aiza"],
        pattern: r"\b(?P<s>AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)",
        validate: random_looking,
    },
    Rule {
        id: "azure-storage-account-key",
        family: "cloud",
        description: "Azure Storage account key in a connection string (AccountKey=, 64 bytes base64)",
        doc: "https://learn.microsoft.com/en-us/azure/storage/common/storage-configure-connection-string",
        keywords: &["accountkey="],
        pattern: r"AccountKey=(?P<s>[A-Za-z0-9+/]{86}==)",
        validate: |s| not_placeholder(s) && checks::base64_len(s, 64),
    },
    // ---------- version control and package registries ----------
    Rule {
        id: "github-token",
        family: "vcs-registry",
        description: "GitHub token (ghp_/gho_/ghu_/ghs_/ghr_) with a valid CRC32 checksum",
        doc: "https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: r"\b(?P<s>gh[pousr]_[A-Za-z0-9]{36})\b",
        validate: |s| checks::github_checksum_ok(&s[4..]),
    },
    Rule {
        id: "github-fine-grained-token",
        family: "vcs-registry",
        description: "GitHub fine-grained personal access token (github_pat_)",
        doc: "https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-authentication-to-github#githubs-token-formats",
        keywords: &["github_pat_"],
        pattern: r"\b(?P<s>github_pat_[A-Za-z0-9_]{70,255})\b",
        validate: |s| random_looking(&s[11..]),
    },
    Rule {
        id: "gitlab-token",
        family: "vcs-registry",
        description: "GitLab token with a documented prefix (glpat-, gldt-, glrt-, glptt-, glft-, glsoat-, glcbt-, glimt-)",
        doc: "https://docs.gitlab.com/security/tokens/#token-prefixes",
        keywords: &["glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glsoat-", "glcbt-", "glimt-"],
        pattern: r"\b(?P<s>(?:glpat|gldt|glrt|glptt|glft|glsoat|glcbt|glimt)-[A-Za-z0-9_-]{20,64})(?:[^A-Za-z0-9_-]|$)",
        validate: random_looking,
    },
    Rule {
        id: "npm-token",
        family: "vcs-registry",
        description: "npm access token (npm_) with a valid CRC32 checksum",
        doc: "https://github.blog/security/announcing-npms-new-access-token-format/",
        keywords: &["npm_"],
        pattern: r"\b(?P<s>npm_[A-Za-z0-9]{36})\b",
        validate: |s| checks::github_checksum_ok(&s[4..]),
    },
    Rule {
        id: "pypi-token",
        family: "vcs-registry",
        description: "PyPI API token (pypi- followed by a macaroon for pypi.org)",
        doc: "https://pypi.org/help/#apitoken",
        keywords: &["pypi-ageichlwas5vcmc"],
        pattern: r"\b(?P<s>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})",
        validate: not_placeholder,
    },
    // ---------- chat, payment, e-mail ----------
    Rule {
        id: "slack-token",
        family: "saas",
        description: "Slack bot, user, app-level or configuration token (xoxb-, xoxp-, xoxa-, xoxe-, xapp-)",
        doc: "https://docs.slack.dev/authentication/tokens",
        keywords: &["xoxb-", "xoxp-", "xoxa-", "xoxe-", "xoxs-", "xoxr-", "xapp-"],
        pattern: r"\b(?P<s>(?:xox[bpaesr](?:\.xox[bpaesr])?|xapp)-[0-9A-Za-z]+-[0-9A-Za-z-]{16,})",
        validate: random_looking,
    },
    Rule {
        id: "stripe-secret-key",
        family: "saas",
        description: "Stripe secret or restricted API key (sk_live_, rk_live_, sk_test_, rk_test_)",
        doc: "https://docs.stripe.com/keys",
        keywords: &["sk_live_", "rk_live_", "sk_test_", "rk_test_"],
        pattern: r"\b(?P<s>(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,247})\b",
        validate: |s| random_looking(&s[8..]),
    },
    Rule {
        id: "sendgrid-api-key",
        family: "saas",
        description: "Twilio SendGrid API key (SG., 69 characters)",
        doc: "https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys",
        keywords: &["sg."],
        pattern: r"\b(?P<s>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
        validate: random_looking,
    },
    Rule {
        id: "twilio-api-key",
        family: "saas",
        description: "Twilio API key SID (SK followed by 32 hex digits)",
        doc: "https://www.twilio.com/docs/iam/api-keys",
        keywords: &["sk"],
        pattern: r"\b(?P<s>SK[0-9a-f]{32})\b",
        validate: random_looking,
    },
    // ---------- webhooks ----------
    Rule {
        id: "slack-webhook",
        family: "webhook",
        description: "Slack incoming-webhook or workflow-trigger URL (the URL is the credential)",
        doc: "https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks",
        keywords: &["hooks.slack.com"],
        pattern: r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/]{20,})",
        validate: random_looking,
    },
    Rule {
        id: "discord-webhook",
        family: "webhook",
        description: "Discord webhook URL with its token",
        doc: "https://discord.com/developers/docs/resources/webhook#execute-webhook",
        keywords: &["/api/webhooks/"],
        pattern: r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/(?P<s>[0-9]{17,20}/[A-Za-z0-9_-]{60,70})",
        validate: random_looking,
    },
    // ---------- private keys ----------
    Rule {
        id: "private-key",
        family: "private-key",
        description: "Private key block: PKCS#1/PKCS#8/SEC1 PEM, encrypted PEM, OpenSSH, PGP; also inside JSON strings with \\n escapes",
        doc: "https://www.rfc-editor.org/rfc/rfc7468",
        keywords: &["private key"],
        pattern: r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----(?P<s>(?:\\[rn]|[\r\n\t ]|[A-Za-z0-9+/=]|(?:Proc-Type|DEK-Info|Version|Comment): [^\r\n\\]*)+?)-----END ",
        validate: |s| {
            let body: Vec<u8> = s
                .split(|&b| b == b'\n' || b == b'\r' || b == b' ' || b == b'\t')
                .flat_map(|p| p.iter().copied())
                .collect();
            let body = String::from_utf8_lossy(&body).replace("\\n", "").replace("\\r", "");
            body.len() >= 64 && not_placeholder(body.as_bytes())
        },
    },
    // ---------- tokens ----------
    Rule {
        id: "jwt",
        family: "jwt",
        description: "JSON Web Token (signed: header.payload.signature, header holds alg)",
        doc: "https://www.rfc-editor.org/rfc/rfc7519",
        keywords: &["eyj"],
        pattern: r"\b(?P<s>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})",
        validate: |s| not_placeholder(s) && checks::jwt_ok(s),
    },
    // ---------- connection strings ----------
    Rule {
        id: "url-password",
        family: "connection-string",
        description: "URL or connection URI with a password in its userinfo (scheme://user:password@host)",
        doc: "https://www.rfc-editor.org/rfc/rfc3986#section-3.2.1",
        keywords: &["://"],
        pattern: r#"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/?#@'"<>]{1,64}:(?P<s>[^\s/?#@'"<>]{3,128})@[A-Za-z0-9.\[\]_-]+"#,
        validate: url_password_ok,
    },
    Rule {
        id: "connection-string-password",
        family: "connection-string",
        description: "Key=value connection string (ADO.NET, ODBC, JDBC properties) with Password= or Pwd=",
        doc: "https://learn.microsoft.com/en-us/dotnet/framework/data/adonet/connection-string-syntax",
        keywords: &["password=", "pwd="],
        pattern: r#"(?i)(?:server|data source|host|hostname|address|addr)\s*=[^;\r\n]+;[^\r\n]*?\b(?:password|pwd)\s*=\s*(?P<s>[^;"'\s]{4,128})"#,
        validate: url_password_ok,
    },
    // ---------- Strongroom's own ----------
    Rule {
        id: "strongroom-token",
        family: "strongroom",
        description: "Strongroom token: root (sr. + 43 base64url) or identity (sr.<16 hex>.<43 base64url>)",
        doc: "crates/strongroom/src/auth/mod.rs (new_token), crates/strongroom/src/identity/mod.rs (create_token)",
        keywords: &["sr."],
        pattern: r"\b(?P<s>sr\.(?:[0-9a-f]{16}\.)?[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
        validate: |s| {
            not_placeholder(s) && checks::strongroom_token_secret_ok(&s[s.len() - 43..])
        },
    },
    Rule {
        id: "strongroom-access-key-id",
        family: "strongroom",
        description: "Strongroom access key ID (SRAK + 16 base32); its secret is usually nearby",
        doc: "crates/strongroom/src/identity/mod.rs (create_access_key)",
        keywords: &["srak"],
        pattern: r"\b(?P<s>SRAK[A-Z2-7]{16})\b",
        validate: not_placeholder,
    },
    Rule {
        id: "strongroom-unseal-share",
        family: "strongroom",
        description: "Strongroom unseal share (base64url, SS\\x01 magic) whose SHA-256 check verifies",
        doc: "crates/strongroom/src/seal/shamir.rs (module comment)",
        keywords: &["u1mb"],
        pattern: r"(?:^|[^A-Za-z0-9_-])(?P<s>U1MB[A-Za-z0-9_-]{76})(?:[^A-Za-z0-9_-]|$)",
        validate: checks::strongroom_share_ok,
    },
];

/// Common documentation stand-ins for a password in URLs and connection strings.
const DOC_PASSWORDS: &[&str] = &[
    "password", "passwd", "pass", "pwd", "secret", "admin", "root", "test", "user", "guest",
    "postgres", "mysql", "changeme", "pw", "p@ssw0rd", "passw0rd",
];

fn url_password_ok(s: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(s).to_ascii_lowercase();
    if DOC_PASSWORDS.contains(&lower.as_str()) || checks::is_placeholder(s) {
        return false;
    }
    // ${VAR}, $VAR, %s, %(name)s, {password}, :password (templating)
    !matches!(s.first(), Some(b'$' | b'%' | b'{' | b':' | b'*'))
}

/// Keywords that gate the generic rule (lower case).
pub const GENERIC_KEYWORDS: &[&str] = &[
    "secret",
    "passw",
    "pwd",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "accesskey",
    "private_key",
    "privatekey",
    "credential",
    "auth_key",
];

/// The generic rule, applied per line around a keyword: a secret-like name,
/// an assignment, and a literal value.
pub const GENERIC_PATTERN: &str = r#"(?i)(?P<name>[a-z0-9_.\-]*(?:secret|passw(?:or)?d|pwd|token|api[_.\-]?key|access[_.\-]?key|private[_.\-]?key|auth[_.\-]?key|credentials?)[a-z0-9_.\-]*)["'\]]?\s*(?::=|=>|=|:|,)\s*(?:[bru]?["'`](?P<q>[^"'`\r\n]{8,200})["'`]|(?P<u>[^\s"'`,;)\]}]{8,200}))"#;

/// Name parts that say the value is not a secret even though the name
/// contains a secret-like word.
const GENERIC_NAME_EXCLUDES: &[&str] = &[
    "public",
    "_url",
    "url_",
    "uri",
    "_file",
    "file_",
    "_path",
    "path_",
    "_env",
    "_name",
    "name_",
    "_id",
    "_type",
    "type_",
    "_len",
    "length",
    "_size",
    "size_",
    "_count",
    "count_",
    "max_",
    "min_",
    "_prefix",
    "_header",
    "_field",
    "_endpoint",
    "endpoint",
    "tokenizer",
    "_ttl",
    "ttl_",
    "expir",
    "_hash",
    "hash_",
    "_policy",
    "_regex",
    "_pattern",
    "_label",
    "_key_id",
    "keyid",
    "_format",
    "_version",
    "_kind",
    "_mode",
    "_ref",
    "_error",
    "_cmd",
    "_command",
    "_dir",
];

/// The entropy thresholds of the generic rule (docs/SCAN.md "Generic secrets").
pub const GENERIC_MIN_LEN: usize = 16;
pub const GENERIC_MIN_ENTROPY: f64 = 3.5;
pub const GENERIC_HEX_MIN_LEN: usize = 20;
pub const GENERIC_HEX_MIN_ENTROPY: f64 = 3.0;
pub const GENERIC_PASSWORD_MIN_LEN: usize = 8;
pub const GENERIC_PASSWORD_MIN_ENTROPY: f64 = 2.8;

/// Decides the generic rule for one `name = value` candidate.
pub fn generic_ok(name: &[u8], value: &[u8], quoted: bool) -> bool {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    if GENERIC_NAME_EXCLUDES.iter().any(|x| name.contains(x)) {
        return false;
    }
    if checks::is_placeholder(value) || checks::is_identifier_or_digest(value) {
        return false;
    }
    if is_documented_example(value) {
        return false;
    }
    let v = String::from_utf8_lossy(value);
    // code, templating and references, not literals
    if v.contains(['(', '[', '{', '$', '%', '<', '>', '\\', ' ', '#'])
        || v.starts_with("http://")
        || v.starts_with("https://")
        || v.starts_with('/')
        || v.starts_with("./")
        || v.starts_with("../")
        || v.starts_with('~')
        || v.starts_with('@')
        || v.starts_with('&')
        || v.starts_with('*')
        || v.contains("::")
        || v.contains("->")
    {
        return false;
    }
    let bytes = v.as_bytes();
    let is_ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    // dotted identifiers (settings.SECRET_KEY, process.env.TOKEN), and bare
    // words without digits (variable names in .env/YAML)
    let ident_like = bytes
        .split(|&b| b == b'.')
        .all(|p| !p.is_empty() && p.iter().all(is_ident) && !p[0].is_ascii_digit());
    let dotted = bytes.contains(&b'.');
    let has_digit = bytes.iter().any(|b| b.is_ascii_digit());
    if ident_like && (dotted || (!quoted && !has_digit)) {
        return false;
    }
    if bytes
        .iter()
        .all(|b| b.is_ascii_uppercase() || *b == b'_' || b.is_ascii_digit())
        && bytes.contains(&b'_')
    {
        return false;
    }
    let lower = bytes.iter().any(|b| b.is_ascii_lowercase());
    let upper = bytes.iter().any(|b| b.is_ascii_uppercase());
    let digit = bytes.iter().any(|b| b.is_ascii_digit());
    let other = bytes.iter().any(|b| !b.is_ascii_alphanumeric());
    let classes = [lower, upper, digit, other].iter().filter(|&&c| c).count();
    let h = checks::shannon_entropy(bytes);
    if name.contains("passw") || name.contains("pwd") {
        return bytes.len() >= GENERIC_PASSWORD_MIN_LEN
            && h >= GENERIC_PASSWORD_MIN_ENTROPY
            && classes >= 2;
    }
    if bytes.iter().all(|b| b.is_ascii_hexdigit()) {
        return bytes.len() >= GENERIC_HEX_MIN_LEN && h >= GENERIC_HEX_MIN_ENTROPY;
    }
    bytes.len() >= GENERIC_MIN_LEN && h >= GENERIC_MIN_ENTROPY && classes >= 2
}
