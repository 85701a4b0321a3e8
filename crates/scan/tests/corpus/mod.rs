//! The labelled corpus generator: synthetic secrets (made with a seeded
//! PRNG at test time, so no real-looking secret is committed), weak-crypto
//! snippets in six languages, and false-positive traps, spread over many
//! file types. Every expected finding is labelled (path, line, family).
//! Used by tests/it/corpus_test.rs and by examples/gen_corpus.rs (which writes
//! it to disk for comparing other scanners).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// splitmix64
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
    pub fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const UPPER_B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const HEX: &[u8] = b"0123456789abcdef";
pub const DIGITS: &[u8] = b"0123456789";
pub const PASSWORD: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!*-_+=";

/// One expected finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Label {
    pub path: String,
    pub line: usize,
    pub family: String,
}

#[derive(Default)]
pub struct Corpus {
    pub files: BTreeMap<String, String>,
    pub labels: Vec<Label>,
    /// Every generated secret value (canaries: no output may contain one).
    pub secrets: Vec<String>,
    /// The number of false-positive traps planted.
    pub traps: usize,
}

fn github_like(rng: &mut Rng, prefix: &str, valid: bool) -> String {
    let random = rng.chars(ALNUM, 30);
    let mut check = strongroom_scan::checks::base62_crc32(crc32fast::hash(random.as_bytes()));
    if !valid {
        // a look-alike: one checksum character changed
        let c = if check.ends_with('A') { "B" } else { "A" };
        check.replace_range(5..6, c);
    }
    format!("{prefix}{random}{check}")
}

fn share(rng: &mut Rng, valid: bool) -> String {
    let mut f = b"SS\x01".to_vec();
    f.extend(rng.bytes(16 + 1 + 32));
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"strongroom-share-v1");
    ctx.update(&f[3..52]);
    let d = ctx.finish();
    f.extend_from_slice(&d.as_ref()[..8]);
    if !valid {
        f[59] ^= 1;
    }
    URL_SAFE_NO_PAD.encode(f)
}

fn pem_body(rng: &mut Rng, lines: usize) -> Vec<String> {
    let raw = rng.bytes(lines * 48);
    let b = STANDARD.encode(raw);
    b.as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// A value for a secret rule: (family, value, name to assign it to).
fn secret_value(rng: &mut Rng, rule: &str) -> (&'static str, String, &'static str) {
    match rule {
        "aws-access-key-id" => ("cloud", format!("{}{}", rng.pick(&["AKIA", "ASIA"]), rng.chars(UPPER_B32, 16)), "aws_access_key_id"),
        "aws-secret-access-key" => ("cloud", rng.chars(B64, 40), "aws_secret_access_key"),
        "google-api-key" => ("cloud", format!("AIza{}", rng.chars(B64URL, 35)), "maps_client_ref"),
        "github-token" => {
            let p = *rng.pick(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]);
            ("vcs-registry", github_like(rng, p, true), "ci_github")
        }
        "github-fine-grained-token" => ("vcs-registry", format!("github_pat_{}_{}", rng.chars(ALNUM, 22), rng.chars(ALNUM, 59)), "ci_github"),
        "gitlab-token" => ("vcs-registry", format!("glpat-{}", rng.chars(B64URL, 20)), "ci_gitlab"),
        "npm-token" => ("vcs-registry", github_like(rng, "npm_", true), "registry_npm"),
        "pypi-token" => ("vcs-registry", format!("pypi-AgEIcHlwaS5vcmc{}", rng.chars(B64URL, 120)), "registry_pypi"),
        "slack-token" => ("saas", format!("{}-{}-{}-{}", rng.pick(&["xoxb", "xoxp"]), rng.chars(DIGITS, 11), rng.chars(DIGITS, 12), rng.chars(ALNUM, 24)), "chat_bot"),
        "stripe-secret-key" => {
            let p = *rng.pick(&["sk", "rk"]);
            let n = 24 + rng.below(75);
            ("saas", format!("{p}_live_{}", rng.chars(ALNUM, n)), "payments")
        }
        "sendgrid-api-key" => ("saas", format!("SG.{}.{}", rng.chars(B64URL, 22), rng.chars(B64URL, 43)), "mailer"),
        "twilio-api-key" => ("saas", format!("SK{}", rng.chars(HEX, 32)), "sms_sid"),
        "slack-webhook" => ("webhook", format!("https://hooks.slack.com/services/T{}/B{}/{}", rng.chars(UPPER_B32, 8), rng.chars(UPPER_B32, 10), rng.chars(ALNUM, 24)), "alerts_hook"),
        "discord-webhook" => ("webhook", format!("https://discord.com/api/webhooks/{}/{}", rng.chars(DIGITS, 18), rng.chars(B64URL, 68)), "alerts_hook"),
        "jwt" => {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let p = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{}","iat":{}}}"#, rng.chars(ALNUM, 12), 1_700_000_000 + rng.below(1_000_000)));
            let s = URL_SAFE_NO_PAD.encode(rng.bytes(32));
            ("jwt", format!("{h}.{p}.{s}"), "session_blob")
        }
        "url-password" => {
            let scheme = *rng.pick(&["postgres", "postgresql", "mysql", "mongodb", "redis", "amqp", "https"]);
            ("connection-string", format!("{scheme}://app:{}@db{}.internal:5432/app", rng.chars(ALNUM, 18), rng.below(9)), "database_url")
        }
        "connection-string-password" => ("connection-string", format!("Server=tcp:db{}.internal,1433;Database=app;User Id=app;Password={};Encrypt=true", rng.below(9), rng.chars(ALNUM, 20)), "sql_conn"),
        "strongroom-token" => {
            let t = if rng.below(2) == 0 {
                format!("sr.{}", URL_SAFE_NO_PAD.encode(rng.bytes(32)))
            } else {
                format!("sr.{}.{}", rng.chars(HEX, 16), URL_SAFE_NO_PAD.encode(rng.bytes(32)))
            };
            ("strongroom", t, "vault_login")
        }
        "strongroom-access-key-id" => ("strongroom", format!("SRAK{}", rng.chars(UPPER_B32, 16)), "kms_access"),
        "strongroom-unseal-share" => ("strongroom", share(rng, true), "unseal_1"),
        "azure-storage-account-key" => ("cloud", format!("DefaultEndpointsProtocol=https;AccountName=acct{};AccountKey={};EndpointSuffix=core.windows.net", rng.below(99), STANDARD.encode(rng.bytes(64))), "storage_conn"),
        "generic-password" => ("generic", rng.chars(PASSWORD, 14), "db_password"),
        "generic-secret" => ("generic", rng.chars(PASSWORD, 28), *rng.pick(&["client_secret", "api_key", "apiKey", "SIGNING_SECRET", "auth_token", "webhookSecret"])),
        _ => unreachable!("{rule}"),
    }
}

/// The secret part of a generated value (URLs and connection strings hold
/// public parts too: scheme, host, documentation-like prefixes).
fn canary(rule: &str, value: &str) -> String {
    let between = |start: &str, end: char| {
        value
            .split_once(start)
            .map(|(_, r)| r.split(end).next().unwrap_or(r).to_string())
            .unwrap_or_else(|| value.to_string())
    };
    match rule {
        "url-password" => between("://app:", '@'),
        "connection-string-password" => between("Password=", ';'),
        "azure-storage-account-key" => between("AccountKey=", ';'),
        "slack-webhook" => between("/services/", ' '),
        "discord-webhook" => between("/webhooks/", ' '),
        _ => value.to_string(),
    }
}

pub const SECRET_RULES: &[&str] = &[
    "aws-access-key-id",
    "aws-secret-access-key",
    "google-api-key",
    "azure-storage-account-key",
    "github-token",
    "github-fine-grained-token",
    "gitlab-token",
    "npm-token",
    "pypi-token",
    "slack-token",
    "stripe-secret-key",
    "sendgrid-api-key",
    "twilio-api-key",
    "slack-webhook",
    "discord-webhook",
    "jwt",
    "url-password",
    "connection-string-password",
    "strongroom-token",
    "strongroom-access-key-id",
    "strongroom-unseal-share",
    "generic-password",
    "generic-secret",
];

/// File types and how each assigns `name` to a string literal.
pub const FILE_KINDS: &[&str] = &[
    "py",
    "js",
    "ts",
    "go",
    "java",
    "rs",
    "cs",
    "yaml",
    "json",
    "env",
    "toml",
    "properties",
    "sh",
    "tf",
    "rb",
    "php",
    "xml",
    "md",
    "Dockerfile",
    "ini",
];

fn assign(kind: &str, name: &str, value: &str) -> String {
    match kind {
        "py" | "rb" => format!("{name} = \"{value}\""),
        "js" | "ts" => format!("const {name} = \"{value}\";"),
        "go" => format!("\t{name} := \"{value}\""),
        "java" => format!("    private static final String {name} = \"{value}\";"),
        "rs" => format!("    let {name} = \"{value}\";"),
        "cs" => format!("        var {name} = \"{value}\";"),
        "yaml" => format!("  {name}: \"{value}\""),
        "json" => format!("  \"{name}\": \"{value}\","),
        "env" => format!("{}={value}", name.to_ascii_uppercase()),
        "toml" | "tf" | "ini" => format!("{name} = \"{value}\""),
        "properties" => format!("{name}={value}"),
        "sh" => format!("export {}='{value}'", name.to_ascii_uppercase()),
        "php" => format!("${name} = '{value}';"),
        "xml" => format!("  <{name}>{value}</{name}>"),
        "md" => format!("Use `{value}` for {name}."),
        "Dockerfile" => format!("ENV {}={value}", name.to_ascii_uppercase()),
        _ => unreachable!(),
    }
}

fn filler(kind: &str, rng: &mut Rng) -> String {
    let lines: &[&str] = match kind {
        "py" => &[
            "import os",
            "def handler(event):",
            "    return {\"ok\": True}",
            "LOG_LEVEL = \"info\"",
        ],
        "js" | "ts" => &[
            "import fs from 'fs';",
            "export function f(a) { return a + 1; }",
            "const retries = 3;",
        ],
        "go" => &[
            "package main",
            "import \"fmt\"",
            "func main() { fmt.Println(\"hi\") }",
        ],
        "java" => &[
            "package app;",
            "import java.util.List;",
            "public class App {",
            "}",
        ],
        "rs" => &["use std::io;", "fn main() {", "}", "// a comment"],
        "cs" => &["using System;", "namespace App {", "}"],
        "yaml" => &["service:", "  replicas: 3", "  image: app:1.2.3"],
        "json" => &["{", "  \"name\": \"app\","],
        _ => &["# configuration", "", "debug = false"],
    };
    let n = rng.below(4);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(lines[rng.below(lines.len())]);
        s.push('\n');
    }
    s
}

/// Weak-crypto snippets: (family, language extension, lines, index of the flagged line).
fn crypto_snippets() -> Vec<(&'static str, &'static str, Vec<&'static str>, usize)> {
    vec![
        // Python
        ("weak-hash", "py", vec!["import hashlib", "stored = hashlib.md5(password.encode()).hexdigest()"], 1),
        ("weak-hash", "py", vec!["import hashlib", "sig = hashlib.sha1(secret + payload).hexdigest()  # request signature"], 1),
        ("broken-cipher", "py", vec!["from Crypto.Cipher import DES3", "cipher = DES3.new(key, DES3.MODE_CBC, iv)"], 1),
        ("broken-cipher", "py", vec!["from cryptography.hazmat.primitives.ciphers import algorithms", "alg = algorithms.ARC4(key)"], 1),
        ("ecb-mode", "py", vec!["from Crypto.Cipher import AES", "cipher = AES.new(key, AES.MODE_ECB)"], 1),
        ("rsa-short-key", "py", vec!["from cryptography.hazmat.primitives.asymmetric import rsa", "key = rsa.generate_private_key(public_exponent=65537, key_size=1024)"], 1),
        ("static-iv", "py", vec!["from Crypto.Cipher import AES", "iv = b\"\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x09\\x0a\\x0b\\x0c\\x0d\\x0e\\x0f\""], 1),
        ("static-iv", "py", vec!["import hashlib", "SALT = \"k9f8a7s6d5f4\"", "h = hashlib.pbkdf2_hmac('sha256', pw, SALT.encode(), 600000)"], 1),
        ("insecure-random", "py", vec!["import random, string", "token = ''.join(random.choice(string.ascii_letters) for _ in range(32))"], 1),
        // JavaScript / TypeScript
        ("weak-hash", "js", vec!["const crypto = require('crypto');", "const hashed = crypto.createHash('md5').update(password).digest('hex');"], 1),
        ("broken-cipher", "ts", vec!["import * as crypto from 'crypto';", "const c = crypto.createCipheriv('des-ede3-cbc', key, iv);"], 1),
        ("broken-cipher", "js", vec!["const c = crypto.createCipheriv('rc4', key, null);"], 0),
        ("ecb-mode", "js", vec!["const c = crypto.createCipheriv('aes-128-ecb', key, null);"], 0),
        ("rsa-short-key", "ts", vec!["const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {", "  modulusLength: 1024,", "});"], 1),
        ("static-iv", "js", vec!["const iv = Buffer.from('a1b2c3d4e5f6a7b8');", "const c = crypto.createCipheriv('aes-128-cbc', key, iv);"], 0),
        ("insecure-random", "ts", vec!["export function newSessionToken(): string {", "  const token = Math.random().toString(36).slice(2);", "  return token;", "}"], 1),
        // Go
        ("weak-hash", "go", vec!["import \"crypto/md5\"", "func hashPassword(password string) [16]byte { return md5.Sum([]byte(password)) }"], 1),
        ("broken-cipher", "go", vec!["import \"crypto/des\"", "block, err := des.NewTripleDESCipher(key)"], 1),
        ("broken-cipher", "go", vec!["import \"crypto/rc4\"", "c, err := rc4.NewCipher(key)"], 1),
        ("ecb-mode", "go", vec!["mode := ecb.NewECBEncrypter(block)"], 0),
        ("rsa-short-key", "go", vec!["import \"crypto/rsa\"", "priv, err := rsa.GenerateKey(rand.Reader, 1024)"], 1),
        ("static-iv", "go", vec!["iv := []byte(\"0123456789abcdef\")", "mode := cipher.NewCBCEncrypter(block, iv)"], 0),
        ("insecure-random", "go", vec!["import \"math/rand\"", "func apiKey() string { return fmt.Sprintf(\"%x\", rand.Int63()) } // api_key"], 1),
        // Java
        ("weak-hash", "java", vec!["MessageDigest md = MessageDigest.getInstance(\"MD5\");", "byte[] hashed = md.digest(password.getBytes(StandardCharsets.UTF_8));"], 0),
        ("weak-hash", "java", vec!["Signature s = Signature.getInstance(\"SHA1withRSA\");", "s.initSign(privateKey);"], 0),
        ("broken-cipher", "java", vec!["Cipher c = Cipher.getInstance(\"DESede/CBC/PKCS5Padding\");"], 0),
        ("ecb-mode", "java", vec!["Cipher c = Cipher.getInstance(\"AES/ECB/PKCS5Padding\");"], 0),
        ("ecb-mode", "java", vec!["Cipher c = Cipher.getInstance(\"AES\");"], 0),
        ("rsa-short-key", "java", vec!["KeyPairGenerator kpg = KeyPairGenerator.getInstance(\"RSA\");", "kpg.initialize(1024);"], 1),
        ("static-iv", "java", vec!["IvParameterSpec spec = new IvParameterSpec(\"0123456789abcdef\".getBytes());"], 0),
        ("insecure-random", "java", vec!["String token = Long.toHexString(new Random().nextLong());"], 0),
        // Rust
        ("weak-hash", "rs", vec!["let digest = md5::compute(password.as_bytes());"], 0),
        ("broken-cipher", "rs", vec!["use des::Des;", "let cipher = Des::new_from_slice(&key).unwrap();"], 1),
        ("ecb-mode", "rs", vec!["type Aes128EcbEnc = ecb::Encryptor<aes::Aes128>;"], 0),
        ("rsa-short-key", "rs", vec!["use rsa::RsaPrivateKey;", "let key = RsaPrivateKey::new(&mut rng, 1024)?;"], 1),
        ("static-iv", "rs", vec!["let nonce = Nonce::from_slice(b\"unique nonce\");"], 0),
        ("insecure-random", "rs", vec!["let session_token = fastrand::u64(..);"], 0),
        // C#
        ("weak-hash", "cs", vec!["using var md5 = MD5.Create();", "var hash = md5.ComputeHash(Encoding.UTF8.GetBytes(password));"], 0),
        ("broken-cipher", "cs", vec!["using var des = TripleDES.Create();"], 0),
        ("ecb-mode", "cs", vec!["aes.Mode = CipherMode.ECB;"], 0),
        ("rsa-short-key", "cs", vec!["using var rsa = new RSACryptoServiceProvider(1024);"], 0),
        ("static-iv", "cs", vec!["aes.IV = Encoding.UTF8.GetBytes(\"0123456789abcdef\");"], 0),
        ("insecure-random", "cs", vec!["var token = new Random().Next().ToString(\"x\");"], 0),
    ]
}

/// Lines that must produce no finding.
fn traps(rng: &mut Rng) -> Vec<(&'static str, String)> {
    let sha = rng.chars(HEX, 40);
    let uuid = format!(
        "{}-{}-4{}-a{}-{}",
        rng.chars(HEX, 8),
        rng.chars(HEX, 4),
        rng.chars(HEX, 3),
        rng.chars(HEX, 3),
        rng.chars(HEX, 12)
    );
    let sri = format!("sha512-{}", STANDARD.encode(rng.bytes(64)));
    let pubkey = format!(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{} user@host",
        rng.chars(B64, 43)
    );
    vec![
        // documented example keys
        ("py", "aws_access_key_id = \"AKIAIOSFODNN7EXAMPLE\"".into()),
        (
            "ini",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        ),
        // look-alikes failing their checksum
        (
            "js",
            format!("const t = \"{}\";", github_like(rng, "ghp_", false)),
        ),
        (
            "yaml",
            format!("  npm: \"{}\"", github_like(rng, "npm_", false)),
        ),
        ("env", format!("UNSEAL_SHARE={}", share(rng, false))),
        ("txt", format!("share: U1MB{}", rng.chars(B64URL, 76))),
        // placeholders and templating
        ("py", "password = \"changeme\"".into()),
        ("yaml", "  api_key: \"<your-api-key>\"".into()),
        ("yaml", "  token: ${GITHUB_TOKEN}".into()),
        ("yaml", "  secret: \"{{ .Values.secret }}\"".into()),
        ("py", "password = os.environ[\"DB_PASSWORD\"]".into()),
        ("js", "const token = process.env.API_TOKEN;".into()),
        ("py", "API_KEY = os.getenv(\"API_KEY\")".into()),
        ("py", "password = settings.DB_PASSWORD".into()),
        ("go", "\tpassword := os.Getenv(\"DB_PASSWORD\")".into()),
        (
            "env",
            "DATABASE_URL=postgres://user:password@localhost:5432/app".into(),
        ),
        (
            "env",
            "DATABASE_URL=postgres://app:${DB_PASS}@db:5432/app".into(),
        ),
        (
            "properties",
            "spring.datasource.password=${DB_PASSWORD}".into(),
        ),
        ("tf", "  password = var.db_password".into()),
        (
            "json",
            "  \"clientSecret\": \"xxxxxxxxxxxxxxxxxxxxxxxx\",".into(),
        ),
        (
            "cs",
            "        var apiKey = Configuration[\"ApiKey\"];".into(),
        ),
        (
            "java",
            "    String secret = System.getenv(\"APP_SECRET\");".into(),
        ),
        (
            "sh",
            "export GITHUB_TOKEN=\"$(cat /run/secrets/gh)\"".into(),
        ),
        ("md", "Set `password: <password>` in the config.".into()),
        ("toml", "token = \"REPLACE_WITH_YOUR_TOKEN\"".into()),
        // digests, ids
        ("json", format!("      \"integrity\": \"{sri}\",")),
        ("toml", format!("checksum = \"{}\"", rng.chars(HEX, 64))),
        ("yaml", format!("  auth_token_rev: \"{sha}\"")),
        ("py", format!("session_token = \"{uuid}\"")),
        ("txt", format!("commit {sha}")),
        // public keys and certificates
        (
            "txt",
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
                pem_body(rng, 4).join("\n")
            ),
        ),
        (
            "txt",
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
                pem_body(rng, 8).join("\n")
            ),
        ),
        ("py", format!("public_key = \"{pubkey}\"")),
        (
            "md",
            "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----".into(),
        ),
        // ordinary code
        ("py", "token_type = \"bearer_access_token\"".into()),
        (
            "js",
            "const passwordField = document.getElementById('password-input');".into(),
        ),
        (
            "go",
            "\tpasswordHash, err := bcrypt.GenerateFromPassword([]byte(pw), 12)".into(),
        ),
        // weak-crypto look-alikes
        (
            "py",
            "checksum = hashlib.md5(file_bytes).hexdigest()".into(),
        ),
        (
            "py",
            "stored = hashlib.sha256(password.encode()).hexdigest()".into(),
        ),
        (
            "py",
            "cipher = AES.new(key, AES.MODE_GCM, nonce=os.urandom(12))".into(),
        ),
        (
            "py",
            "key = rsa.generate_private_key(public_exponent=65537, key_size=3072)".into(),
        ),
        ("py", "iv = os.urandom(16)".into()),
        ("py", "color = random.choice(colors)".into()),
        ("py", "token = secrets.token_hex(32)".into()),
        ("js", "const iv = crypto.randomBytes(16);".into()),
        ("js", "const x = Math.random() * width;".into()),
        (
            "go",
            "import \"crypto/rand\"\n\tif _, err := rand.Read(key); err != nil { return err }"
                .into(),
        ),
        (
            "java",
            "SecureRandom rng = new SecureRandom(); byte[] key = new byte[32]; rng.nextBytes(key);"
                .into(),
        ),
        (
            "java",
            "Cipher c = Cipher.getInstance(\"AES/GCM/NoPadding\");".into(),
        ),
        (
            "cs",
            "        var key = RandomNumberGenerator.GetBytes(32);".into(),
        ),
        (
            "rs",
            "    let key = rand::rngs::OsRng.gen::<[u8; 32]>();".into(),
        ),
        (
            "go",
            "\tpriv, err := rsa.GenerateKey(rand.Reader, 4096)".into(),
        ),
    ]
}

/// Builds the corpus from `seed`. `rounds` positive samples per rule.
pub fn generate(seed: u64, rounds: usize) -> Corpus {
    let mut rng = Rng::new(seed);
    let mut c = Corpus::default();
    let mut n = 0usize;
    for round in 0..rounds {
        for rule in SECRET_RULES {
            let (family, value, name) = secret_value(&mut rng, rule);
            // file kinds a rule's value can sit in
            let kind = match *rule {
                "generic-password" | "generic-secret" | "aws-secret-access-key" => *rng.pick(&[
                    "py",
                    "js",
                    "ts",
                    "go",
                    "java",
                    "rs",
                    "cs",
                    "yaml",
                    "json",
                    "env",
                    "toml",
                    "properties",
                    "sh",
                    "tf",
                    "rb",
                    "php",
                    "ini",
                    "Dockerfile",
                ]),
                _ => *rng.pick(FILE_KINDS),
            };
            let mut text = filler(kind, &mut rng);
            let line = text.lines().count() + 1;
            text.push_str(&assign(kind, name, &value));
            text.push('\n');
            text.push_str(&filler(kind, &mut rng));
            let path = if kind == "Dockerfile" {
                format!("svc{n}/Dockerfile")
            } else if kind == "env" {
                format!("svc{n}/.env")
            } else {
                format!("svc{n}/config.{kind}")
            };
            n += 1;
            c.files.insert(path.clone(), text);
            c.labels.push(Label {
                path,
                line,
                family: family.into(),
            });
            c.secrets.push(canary(rule, &value));
        }
        // private keys: PEM files, and inside JSON strings (a service account file)
        for (i, kind) in ["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "]
            .iter()
            .enumerate()
        {
            let body = pem_body(&mut rng, 6 + i);
            let pre = filler("txt", &mut rng);
            let line = pre.lines().count() + 1;
            let text = format!(
                "{pre}-----BEGIN {kind}PRIVATE KEY-----\n{}\n-----END {kind}PRIVATE KEY-----\n",
                body.join("\n")
            );
            let path = format!("keys{round}/{i}/id.pem");
            c.files.insert(path.clone(), text);
            c.labels.push(Label {
                path,
                line,
                family: "private-key".into(),
            });
            c.secrets.push(body.join(""));
        }
        let body = pem_body(&mut rng, 10);
        let path = format!("keys{round}/service-account.json");
        c.files.insert(
            path.clone(),
            format!(
                "{{\n  \"type\": \"service_account\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n\",\n  \"client_email\": \"svc@example.iam\"\n}}\n",
                body.join("\\n")
            ),
        );
        c.labels.push(Label {
            path,
            line: 3,
            family: "private-key".into(),
        });
        c.secrets.push(body.join(""));
        // weak crypto
        for (j, (family, ext, lines, flagged)) in crypto_snippets().into_iter().enumerate() {
            let pre = filler(ext, &mut rng);
            let line = pre.lines().count() + 1 + flagged;
            let path = format!("src{round}/m{j}.{ext}");
            c.files
                .insert(path.clone(), format!("{pre}{}\n", lines.join("\n")));
            c.labels.push(Label {
                path,
                line,
                family: family.into(),
            });
        }
        // traps
        for (k, (ext, text)) in traps(&mut rng).into_iter().enumerate() {
            let path = format!("traps{round}/t{k}.{ext}");
            c.files
                .insert(path, format!("{}{text}\n", filler(ext, &mut rng)));
            c.traps += 1;
        }
        // an inline allow on a real-looking token
        let tok = github_like(&mut rng, "ghp_", true);
        c.files.insert(
            format!("traps{round}/allowed.py"),
            format!("TEST_TOKEN = \"{tok}\"  # strongroom:allow test fixture\n"),
        );
        c.traps += 1;
        c.secrets.push(tok);
    }
    // a .gitignore'd file with a secret: not scanned
    c.files.insert(".gitignore".into(), "ignored/\n".into());
    let tok = github_like(&mut rng, "ghp_", true);
    c.files
        .insert("ignored/token.txt".into(), format!("{tok}\n"));
    c.secrets.push(tok);
    c.traps += 1;
    c
}

pub fn write(dir: &Path, c: &Corpus) -> std::io::Result<()> {
    for (p, text) in &c.files {
        let full = dir.join(p);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(full, text)?;
    }
    Ok(())
}

/// Per-family true positives, false positives and false negatives.
#[derive(Debug, Default, Clone, Copy)]
pub struct Score {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl Score {
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

/// Scores reported (path, line, family) against the labels. A report on a
/// labelled line with the right family is a TP; anything else is an FP.
pub fn score(labels: &[Label], reported: &[Label]) -> BTreeMap<String, Score> {
    use std::collections::BTreeSet;
    let expected: BTreeSet<&Label> = labels.iter().collect();
    let got: BTreeSet<&Label> = reported.iter().collect();
    let mut s: BTreeMap<String, Score> = BTreeMap::new();
    for l in &expected {
        let e = s.entry(l.family.clone()).or_default();
        if got.contains(l) {
            e.tp += 1
        } else {
            e.fn_ += 1
        }
    }
    for r in &got {
        if !expected.contains(r) {
            s.entry(r.family.clone()).or_default().fp += 1;
        }
    }
    s
}
