//! Weak-cryptography rules for Python, JavaScript/TypeScript, Go, Java,
//! Rust and C#. Each [`CryptoRule`] is one detector (one SARIF rule); its
//! [`Pattern`]s are the API calls that express it in each language, some
//! with a context that must appear near the call (a password or signature
//! for MD5/SHA-1, a token or key for a non-cryptographic RNG).

/// Source languages the weak-crypto rules understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    JavaScript,
    Go,
    Java,
    Rust,
    CSharp,
}

impl Lang {
    /// By file extension.
    pub fn of_path(path: &str) -> Option<Lang> {
        let ext = path.rsplit_once('.').map(|(_, e)| e)?;
        Some(match ext.to_ascii_lowercase().as_str() {
            "py" | "pyw" => Lang::Python,
            "js" | "mjs" | "cjs" | "jsx" | "ts" | "tsx" | "mts" | "cts" => Lang::JavaScript,
            "go" => Lang::Go,
            "java" => Lang::Java,
            "rs" => Lang::Rust,
            "cs" => Lang::CSharp,
            _ => return None,
        })
    }
}

pub struct CryptoRule {
    pub id: &'static str,
    pub family: &'static str,
    pub description: &'static str,
    pub doc: &'static str,
}

pub struct Pattern {
    pub rule: &'static str,
    pub langs: &'static [Lang],
    pub regex: &'static str,
    /// A regex that must match within `context_lines` lines of the call.
    pub context: Option<&'static str>,
    pub context_lines: usize,
    /// A literal the file must contain (e.g. Go's `"math/rand"` import).
    pub file_requires: Option<&'static str>,
    /// For key sizes: report only if the first numeric group is below this.
    pub number_below: Option<u32>,
}

use Lang::*;
const ALL: &[Lang] = &[Python, JavaScript, Go, Java, Rust, CSharp];

pub static RULES: &[CryptoRule] = &[
    CryptoRule {
        id: "weak-hash-password-or-signature",
        family: "weak-hash",
        description: "MD5 or SHA-1 used to hash a password or to make or check a signature",
        doc: "https://csrc.nist.gov/pubs/sp/800/131/a/r2/final",
    },
    CryptoRule {
        id: "broken-cipher",
        family: "broken-cipher",
        description: "DES, 3DES (TDEA), RC4, RC2 or Blowfish cipher",
        doc: "https://csrc.nist.gov/pubs/sp/800/131/a/r2/final",
    },
    CryptoRule {
        id: "ecb-mode",
        family: "ecb-mode",
        description: "Block cipher in ECB mode (equal plaintext blocks give equal ciphertext blocks), including Java's Cipher.getInstance(\"AES\") default",
        doc: "https://csrc.nist.gov/pubs/sp/800/38/a/final",
    },
    CryptoRule {
        id: "rsa-key-too-short",
        family: "rsa-short-key",
        description: "RSA key generated with a modulus under 2048 bits",
        doc: "https://csrc.nist.gov/pubs/sp/800/131/a/r2/final",
    },
    CryptoRule {
        id: "hardcoded-iv-nonce-salt",
        family: "static-iv",
        description: "Hard-coded IV, nonce or salt (a literal instead of fresh random bytes)",
        doc: "https://csrc.nist.gov/pubs/sp/800/38/d/final",
    },
    CryptoRule {
        id: "insecure-random-for-secret",
        family: "insecure-random",
        description: "Non-cryptographic random generator used for a token, key, password, nonce or salt",
        doc: "https://docs.python.org/3/library/random.html",
    },
];

const PASSWORD_OR_SIGNATURE: &str =
    r"(?i)passw|pwd|passphrase|signature|\bsign(?:ed|ing|s|er)?\b|_sign|sign\(";
const SECRET_USE: &str = r"(?i)token|secret|passw|\bkey\b|_key|key_|apikey|api_key|nonce|salt|\biv\b|otp|session_?id|sessionid|csrf|Key\b";

pub static PATTERNS: &[Pattern] = &[
    // ---------- MD5 / SHA-1 for passwords or signatures ----------
    Pattern {
        rule: "weak-hash-password-or-signature",
        langs: ALL,
        regex: r#"(?:hashlib\.(?:md5|sha1)\(|hashlib\.new\(\s*["'](?:md5|sha1)["']|createHash\(\s*["'](?:md5|sha1)["']|\bmd5\.(?:Sum|New)\(|\bsha1\.(?:Sum|New)\(|MessageDigest\.getInstance\(\s*"(?:MD5|SHA-?1)"|\b(?:MD5|SHA1)\.(?:Create|HashData)\(|new\s+(?:MD5CryptoServiceProvider|SHA1CryptoServiceProvider|SHA1Managed)\(|\bmd5::compute\(|\b(?:Md5|Sha1)::(?:new|digest)\(|DigestUtils\.(?:md5|sha1)(?:Hex)?\()"#,
        context: Some(PASSWORD_OR_SIGNATURE),
        context_lines: 2,
        file_requires: None,
        number_below: None,
    },
    Pattern {
        rule: "weak-hash-password-or-signature",
        langs: ALL,
        regex: r#"(?:\b(?:SHA1|MD5)with(?:RSA|ECDSA|DSA)\b|x509\.(?:SHA1|MD5)WithRSA\b|crypto\.(?:SHA1|MD5)\s*,|hashes\.(?:SHA1|MD5)\(\)\s*\)|HashAlgorithmName\.(?:SHA1|MD5)\b)"#,
        context: Some(r"(?i)sign|verif"),
        context_lines: 2,
        file_requires: None,
        number_below: None,
    },
    // ---------- DES / 3DES / RC4 / RC2 / Blowfish ----------
    Pattern {
        rule: "broken-cipher",
        langs: ALL,
        regex: r#"(?:\b(?:DES|DES3|ARC4|ARC2|Blowfish)\.new\(|algorithms\.(?:TripleDES|ARC4|Blowfish|CAST5|IDEA)\(|create(?:Cipher|Cipheriv|Decipher|Decipheriv)\(\s*["'](?:des|des3|rc4|rc2|bf|blowfish)(?:-[a-z0-9-]*)?["']|\b(?:des\.NewCipher|des\.NewTripleDESCipher|rc4\.NewCipher|blowfish\.NewCipher)\(|Cipher\.getInstance\(\s*"(?:DES|DESede|TripleDES|RC4|ARCFOUR|Blowfish|RC2)(?:/|")|KeyGenerator\.getInstance\(\s*"(?:DES|DESede|Blowfish|RC4|RC2)"|\b(?:DES|TripleDES|RC2)\.Create\(|new\s+(?:DES|TripleDES|RC2)CryptoServiceProvider\(|\b(?:Des|TdesEde3|TdesEde2|Rc4|Blowfish)::(?:new|new_from_slice)\b)"#,
        context: None,
        context_lines: 0,
        file_requires: None,
        number_below: None,
    },
    // ---------- ECB ----------
    Pattern {
        rule: "ecb-mode",
        langs: ALL,
        regex: r#"(?:\b(?:AES|DES|DES3|Blowfish)\.MODE_ECB\b|modes\.ECB\(|["'](?:aes|AES)-(?:128|192|256)-ecb["']|"(?:AES|DES|DESede|Blowfish)/ECB/|Cipher\.getInstance\(\s*"AES"\s*\)|CipherMode\.ECB\b|\becb::(?:Encryptor|Decryptor)\b|NewECB(?:Encrypter|Decrypter)\(|\bEcb<|\.EncryptEcb\(|\.DecryptEcb\()"#,
        context: None,
        context_lines: 0,
        file_requires: None,
        number_below: None,
    },
    // ---------- RSA < 2048 ----------
    Pattern {
        rule: "rsa-key-too-short",
        langs: ALL,
        regex: r#"(?:rsa\.generate_private_key\([^)]*key_size\s*=\s*(\d{3,5})|RSA\.generate\(\s*(\d{3,5})|modulusLength\s*:\s*(\d{3,5})|rsa\.GenerateKey\([^,()]+,\s*(\d{3,5})\s*\)|\.initialize\(\s*(\d{3,5})|new\s+RSACryptoServiceProvider\(\s*(\d{3,5})|RSA\.Create\(\s*(\d{3,5})|RsaPrivateKey::new\([^,()]+,\s*(\d{3,5})|KeySize\s*=\s*(\d{3,5}))"#,
        context: Some(r"(?i)rsa"),
        context_lines: 2,
        file_requires: None,
        number_below: Some(2048),
    },
    // ---------- hard-coded IV / nonce / salt ----------
    Pattern {
        rule: "hardcoded-iv-nonce-salt",
        langs: ALL,
        regex: r#"(?:\b(?:[A-Za-z0-9]+_)*(?:iv|IV|nonce|NONCE|salt|SALT|[a-z][A-Za-z0-9]*(?:Iv|IV|Nonce|Salt))(?:_[A-Za-z0-9]+)*(?:\s*:\s*[&\[\]A-Za-z0-9_; ]+)?\s*(?::=|=|:)\s*(?:b["'][^"'\r\n]{4,}["']|["'][^"'\r\n]{8,}["']|\[\]byte\(\s*"|\[\]byte\{\s*0x|Buffer\.from\(\s*["']|new\s+byte\[\]\s*\{|bytes\(\[|bytes\.fromhex\(|&?\[\s*0x|b"\\x|Encoding\.[A-Za-z0-9]+\.GetBytes\(\s*")|IvParameterSpec\(\s*(?:"|new\s+byte\[)|GCMParameterSpec\(\s*\d+\s*,\s*(?:"|new\s+byte\[)|Nonce::(?:from_slice|assume_unique_for_key)\(\s*(?:b"|&\[|\[)|GenericArray::from_slice\(\s*b")"#,
        context: None,
        context_lines: 0,
        file_requires: None,
        number_below: None,
    },
    // ---------- non-cryptographic RNG for secrets ----------
    Pattern {
        rule: "insecure-random-for-secret",
        langs: &[Python],
        regex: r#"\brandom\.(?:random|randint|randrange|choice|choices|getrandbits|sample)\("#,
        context: Some(SECRET_USE),
        context_lines: 1,
        file_requires: None,
        number_below: None,
    },
    Pattern {
        rule: "insecure-random-for-secret",
        langs: &[JavaScript, Java],
        regex: r#"\bMath\.random\(\)"#,
        context: Some(SECRET_USE),
        context_lines: 1,
        file_requires: None,
        number_below: None,
    },
    Pattern {
        rule: "insecure-random-for-secret",
        langs: &[Go],
        regex: r#"\brand\.(?:Intn|Int63|Int31|Int|Uint32|Uint64|Read|Int63n|Int31n|IntN|N)\("#,
        context: Some(SECRET_USE),
        context_lines: 1,
        file_requires: Some("\"math/rand"),
        number_below: None,
    },
    Pattern {
        rule: "insecure-random-for-secret",
        langs: &[Java, CSharp],
        regex: r#"\bnew\s+(?:java\.util\.)?Random\("#,
        context: Some(SECRET_USE),
        context_lines: 1,
        file_requires: None,
        number_below: None,
    },
    Pattern {
        rule: "insecure-random-for-secret",
        langs: &[Rust],
        regex: r#"(?:\bfastrand::|\bSmallRng::|\bStdRng::seed_from_u64\(|\boorandom::|\bXorShiftRng::)"#,
        context: Some(SECRET_USE),
        context_lines: 1,
        file_requires: None,
        number_below: None,
    },
];

pub fn rule(id: &str) -> Option<&'static CryptoRule> {
    RULES.iter().find(|r| r.id == id)
}
