//! The PKCS#11 seal against a real SoftHSM2 token: init, restart and
//! auto-unseal; wrong PIN; missing token, library and key; migrate-seal
//! Shamir → HSM → Shamir with ciphertexts made before each step still
//! decrypting. Each test has its own token directory and SOFTHSM2_CONF.
//! (The root-key-not-on-disk proof needs the seal's internals: it is the
//! unit test `seal::pkcs11_tests`.)

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{b64, cli, cli_err, cli_json, cli_ok, init_and_unseal, run_cmd, unb64, BIN};
use serde_json::{json, Value};
use strongroom_testkit::{Server, TempDir};

const LIB: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "sr-test";
const PIN: &str = "it-pin-93f1c0a7";
const WRONG_PIN: &str = "it-wrong-pin-5d2e8b";
const SO_PIN: &str = "it-so-pin-2b6e";
const KEY_LABEL: &str = "sr-it-wrap";

/// True when SoftHSM2 is installed; otherwise a loud skip (or a failure
/// when `STRONGROOM_REQUIRE_SOFTHSM` is set, as scripts/test.sh does).
fn softhsm() -> bool {
    let ok = Path::new(LIB).exists()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("STRONGROOM_REQUIRE_SOFTHSM").is_none(),
            "SoftHSM2 is required (STRONGROOM_REQUIRE_SOFTHSM is set) but {LIB} or softhsm2-util is missing"
        );
        eprintln!(
            "\n!!!!! SKIPPED: SoftHSM2 is not installed ({LIB}, softhsm2-util); \
             `apt-get install -y softhsm2` to run the PKCS#11 seal tests !!!!!\n"
        );
    }
    ok
}

/// A SoftHSM2 config with its token directory inside `dir`, and one
/// initialized token. Returns the config path.
fn init_token(dir: &Path) -> PathBuf {
    let tokens = dir.join("hsm-tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            SO_PIN,
            "--pin",
            PIN,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "softhsm2-util: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

const PKCS11_TOML: &str =
    "seal = \"pkcs11\"\npkcs11_token_label = \"sr-test\"\npkcs11_key_label = \"sr-it-wrap\"\n";

/// A production server on the PKCS#11 seal, with its own token.
fn hsm_server(tag: &str) -> Server {
    let dir = TempDir::new(tag);
    let conf = init_token(dir.path());
    let conf = conf.display().to_string();
    Server::production_with(
        BIN,
        dir,
        None,
        PKCS11_TOML,
        &[
            ("SOFTHSM2_CONF", conf.as_str()),
            ("STRONGROOM_PKCS11_PIN", PIN),
        ],
    )
}

fn conf_of(s: &Server) -> String {
    s.dir.path().join("softhsm2.conf").display().to_string()
}

fn status(s: &Server) -> Value {
    cli_json(s, &["operator", "status"])
}

/// `operator init` on a pkcs11 server: a root token, no shares.
fn hsm_init(s: &mut Server) {
    let v = cli_json(s, &["operator", "init"]);
    assert_eq!(v["seal_type"], "pkcs11", "{v}");
    assert_eq!(v["shares"], json!([]), "{v}");
    assert_eq!(v["sealed"], false, "{v}");
    s.token = v["root_token"].as_str().unwrap().to_string();
    s.wait_health(200);
}

fn encrypt(s: &Server, key: &str, pt: &[u8]) -> String {
    let (st, v) = s.post("/v1/encrypt", &json!({ "key": key, "plaintext": b64(pt) }));
    assert_eq!(st, 200, "{v}");
    v["ciphertext"].as_str().unwrap().to_string()
}

fn decrypt(s: &Server, ct: &str) -> Vec<u8> {
    let (st, v) = s.post("/v1/decrypt", &json!({ "ciphertext": ct }));
    assert_eq!(st, 200, "{v}");
    unb64(v["plaintext"].as_str().unwrap())
}

fn create_key(s: &Server) -> String {
    let (st, v) = s.post("/v1/keys", &json!({}));
    assert_eq!(st, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// `pkcs11-tool` (OpenSC) on the test's token.
fn pkcs11_tool(conf: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", conf)
        .args([
            "--module",
            LIB,
            "--token-label",
            TOKEN,
            "--login",
            "--pin",
            PIN,
        ])
        .args(args)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "pkcs11-tool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn assert_no_pin(s: &Server) {
    let logs = s.logs();
    assert!(!logs.contains(PIN), "the PIN is in the server log");
    assert!(
        !logs.contains(WRONG_PIN),
        "the wrong PIN is in the server log"
    );
}

#[test]
fn hsm_init_restart_auto_unseal() {
    if !softhsm() {
        return;
    }
    let mut s = hsm_server("hsm-init");
    let st = status(&s);
    assert_eq!(st["initialized"], false);
    assert_eq!(st["seal_type"], "pkcs11");
    // Shares make no sense here.
    let e = cli_err(&s, &["operator", "init", "--shares", "3"]);
    assert!(
        e.contains("PKCS#11") && e.contains("no unseal shares"),
        "{e}"
    );
    hsm_init(&mut s);
    let st = status(&s);
    assert_eq!(st["sealed"], false);
    assert_eq!(st["seal_type"], "pkcs11");
    assert_eq!(st["shares"], 0);

    let key = create_key(&s);
    let ct = encrypt(&s, &key, b"made before the restart");

    // The wrapping key is in the token: sensitive, never extractable.
    let conf = conf_of(&s);
    if let Some(list) = pkcs11_tool(&conf, &["--list-objects", "--type", "secrkey"]) {
        assert!(list.contains(KEY_LABEL), "{list}");
        assert!(list.contains("AES length 32"), "{list}");
        assert!(list.contains("never extractable"), "{list}");
        assert!(list.contains("sensitive"), "{list}");
    }

    // Shares are refused on an HSM seal.
    let e = cli_err(&s, &["operator", "unseal", "c29tZS1zaGFyZQ"]);
    assert!(
        e.contains("PKCS#11") && e.contains("takes no shares"),
        "{e}"
    );

    // Restart: no operator action, the HSM unseals it.
    let mut s = s.restart();
    s.wait_health(200);
    assert_eq!(status(&s)["sealed"], false);
    assert_eq!(decrypt(&s, &ct), b"made before the restart");
    assert!(s.logs().contains("unsealed by the PKCS#11 HSM"));
    // Init again is refused.
    let e = cli_err(&s, &["operator", "init"]);
    assert!(e.contains("AlreadyInitialized"), "{e}");
    // The HSM key was reused, not duplicated, by a second restart.
    s = s.restart();
    s.wait_health(200);
    assert_eq!(decrypt(&s, &ct), b"made before the restart");
    if let Some(list) = pkcs11_tool(&conf, &["--list-objects", "--type", "secrkey"]) {
        assert_eq!(list.matches(KEY_LABEL).count(), 1, "{list}");
    }
    assert_no_pin(&s);
}

#[test]
fn wrong_pin_stays_sealed_with_a_clear_error() {
    if !softhsm() {
        return;
    }
    let mut s = hsm_server("hsm-pin");
    hsm_init(&mut s);
    let key = create_key(&s);
    let ct = encrypt(&s, &key, b"pin test");
    let conf = conf_of(&s);

    let s = s.restart_with_env(&[
        ("SOFTHSM2_CONF", conf.as_str()),
        ("STRONGROOM_PKCS11_PIN", WRONG_PIN),
    ]);
    s.wait_health(503);
    let st = status(&s);
    assert_eq!(st["initialized"], true);
    assert_eq!(st["sealed"], true);
    let why = st["seal_error"].as_str().unwrap_or_default().to_string();
    assert!(
        why.contains("PinIncorrect") && why.contains("PIN is wrong"),
        "{st}"
    );
    assert!(!why.contains(WRONG_PIN) && !why.contains(PIN), "{why}");
    // Key operations: 503 Sealed, no fallback.
    let (code, v) = s.post(
        "/v1/encrypt",
        &json!({ "key": key, "plaintext": b64(b"x") }),
    );
    assert_eq!(code, 503, "{v}");
    assert_eq!(v["error"]["code"], "Sealed", "{v}");
    // Shares do not get in either.
    let e = cli_err(&s, &["operator", "unseal", "c29tZS1zaGFyZQ"]);
    assert!(e.contains("PKCS#11"), "{e}");
    // No retry with the same wrong PIN (it could lock a real token); the
    // HSM is not asked again.
    let attempts = s.logs().matches("HSM auto-unseal failed").count();
    let e = cli_err(&s, &["operator", "unseal", "--hsm"]);
    assert!(
        e.contains("failed on the PIN") && e.contains("restart"),
        "{e}"
    );
    assert!(!e.contains(WRONG_PIN), "{e}");
    assert_eq!(s.logs().matches("HSM auto-unseal failed").count(), attempts);
    assert!(s.logs().contains("HSM auto-unseal failed"), "{}", s.logs());
    assert_no_pin(&s);

    // The right PIN: unsealed, data intact.
    let s = s.restart_with_env(&[
        ("SOFTHSM2_CONF", conf.as_str()),
        ("STRONGROOM_PKCS11_PIN", PIN),
    ]);
    s.wait_health(200);
    assert_eq!(decrypt(&s, &ct), b"pin test");
    assert_no_pin(&s);
}

#[test]
fn missing_token_library_or_key_keep_the_server_sealed() {
    if !softhsm() {
        return;
    }
    let mut s = hsm_server("hsm-missing");
    hsm_init(&mut s);
    let key = create_key(&s);
    let ct = encrypt(&s, &key, b"still here");
    let conf = conf_of(&s);
    let env_ok = [
        ("SOFTHSM2_CONF", conf.as_str()),
        ("STRONGROOM_PKCS11_PIN", PIN),
    ];

    // No such token label.
    let s = s.restart_with_env(&[
        ("SOFTHSM2_CONF", conf.as_str()),
        ("STRONGROOM_PKCS11_PIN", PIN),
        ("STRONGROOM_PKCS11_TOKEN_LABEL", "no-such-token"),
    ]);
    s.wait_health(503);
    let why = status(&s)["seal_error"].as_str().unwrap().to_string();
    assert!(
        why.contains("no token \"no-such-token\" found") && why.contains("\"sr-test\""),
        "{why}"
    );

    // No library at that path.
    let s = s.restart_with_env(&[
        ("SOFTHSM2_CONF", conf.as_str()),
        ("STRONGROOM_PKCS11_PIN", PIN),
        ("STRONGROOM_PKCS11_LIBRARY", "/nonexistent/libpkcs11.so"),
    ]);
    s.wait_health(503);
    let why = status(&s)["seal_error"].as_str().unwrap().to_string();
    assert!(
        why.contains("/nonexistent/libpkcs11.so") && why.contains("does not exist"),
        "{why}"
    );

    // The token itself is gone (its directory emptied).
    let tokens = s.dir.path().join("hsm-tokens");
    let backup = s.dir.path().join("hsm-tokens.bak");
    std::fs::rename(&tokens, &backup).unwrap();
    std::fs::create_dir_all(&tokens).unwrap();
    let s = s.restart_with_env(&env_ok);
    s.wait_health(503);
    let why = status(&s)["seal_error"].as_str().unwrap().to_string();
    assert!(why.contains("no token \"sr-test\" found"), "{why}");
    assert!(why.contains("tokens present"), "{why}");
    std::fs::remove_dir_all(&tokens).unwrap();
    std::fs::rename(&backup, &tokens).unwrap();
    // Put back: `operator unseal --hsm` retries without a restart.
    let out = cli_ok(&s, &["operator", "unseal", "--hsm"]);
    assert!(out.contains("Unsealed"), "{out}");
    s.wait_health(200);
    assert_eq!(decrypt(&s, &ct), b"still here");

    // A different key label than the one that wrapped the root key.
    let s = s.restart_with_env(&[
        ("SOFTHSM2_CONF", conf.as_str()),
        ("STRONGROOM_PKCS11_PIN", PIN),
        ("STRONGROOM_PKCS11_KEY_LABEL", "another-label"),
    ]);
    s.wait_health(503);
    let why = status(&s)["seal_error"].as_str().unwrap().to_string();
    assert!(
        why.contains("\"sr-it-wrap\"") && why.contains("another-label"),
        "{why}"
    );

    // The HSM key deleted from the token.
    if pkcs11_tool(
        &conf,
        &["--delete-object", "--type", "secrkey", "--label", KEY_LABEL],
    )
    .is_some()
    {
        let s = s.restart_with_env(&env_ok);
        s.wait_health(503);
        let why = status(&s)["seal_error"].as_str().unwrap().to_string();
        assert!(why.contains("no AES key labelled \"sr-it-wrap\""), "{why}");
        assert_no_pin(&s);
    }

    // A pkcs11 config with no PIN at all refuses to start.
    let dir = TempDir::new("hsm-nopin");
    let cfg = dir.path().join("strongroom.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\nstorage_path = {:?}\ntls_disable = true\n{PKCS11_TOML}",
            dir.path().join("db").display().to_string()
        ),
    )
    .unwrap();
    let (code, _, err) = run_cmd(
        Command::new(BIN)
            .args(["server", "--config", cfg.to_str().unwrap()])
            .env_remove("STRONGROOM_PKCS11_PIN"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("STRONGROOM_PKCS11_PIN"), "{err}");
    // And a PIN in the config file in clear is refused.
    std::fs::write(
        &cfg,
        format!(
            "storage_path = \"x.db\"\ntls_disable = true\n{PKCS11_TOML}pkcs11_pin = \"{PIN}\"\n"
        ),
    )
    .unwrap();
    let (code, _, err) =
        run_cmd(Command::new(BIN).args(["server", "--config", cfg.to_str().unwrap()]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pkcs11_pin is refused"), "{err}");
    assert!(!err.contains(PIN), "{err}");
}

/// Runs `operator migrate-seal` with the test's token environment.
fn migrate(s: &Server, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let cfg = s.dir.path().join("strongroom.toml").display().to_string();
    let conf = conf_of(s);
    let mut cmd = Command::new(BIN);
    cmd.args(["-o", "json", "operator", "migrate-seal", "--config", &cfg])
        .args(args)
        .env("SOFTHSM2_CONF", &conf)
        .env("STRONGROOM_PKCS11_PIN", PIN);
    match stdin {
        Some(input) => {
            let (code, out, err) = common::run_with_stdin(&mut cmd, input.as_bytes());
            (code, String::from_utf8_lossy(&out).into_owned(), err)
        }
        None => run_cmd(&mut cmd),
    }
}

fn set_config_seal(s: &Server, pkcs11: bool) {
    let path = s.dir.path().join("strongroom.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut kept: String = text
        .lines()
        .filter(|l| !l.starts_with("seal ="))
        .map(|l| format!("{l}\n"))
        .collect();
    kept.push_str(if pkcs11 {
        "seal = \"pkcs11\"\n"
    } else {
        "seal = \"shamir\"\n"
    });
    std::fs::write(&path, kept).unwrap();
}

#[test]
fn migrate_seal_shamir_to_hsm_and_back() {
    if !softhsm() {
        return;
    }
    // A Shamir server whose config already names the token (seal = shamir).
    let dir = TempDir::new("hsm-migrate");
    let conf = init_token(dir.path()).display().to_string();
    let mut s = Server::production_with(
        BIN,
        dir,
        None,
        "seal = \"shamir\"\npkcs11_token_label = \"sr-test\"\npkcs11_key_label = \"sr-it-wrap\"\n",
        &[
            ("SOFTHSM2_CONF", conf.as_str()),
            ("STRONGROOM_PKCS11_PIN", PIN),
        ],
    );
    let old_shares = init_and_unseal(&mut s, 3, 2);
    assert_eq!(status(&s)["seal_type"], "shamir");
    let key = create_key(&s);
    let ct1 = encrypt(&s, &key, b"made under shamir");
    s.stop();

    // Too few shares: refused, nothing changed.
    let (code, _, err) = migrate(
        &s,
        &["--to", "pkcs11"],
        Some(&format!("{}\n", old_shares[0])),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 share(s) given, 2 needed"), "{err}");
    // Already Shamir.
    let (code, _, err) = migrate(&s, &["--to", "shamir"], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already sealed with Shamir"), "{err}");

    // Shamir → HSM, shares from a file.
    let shares_file = s.dir.path().join("shares.txt");
    std::fs::write(
        &shares_file,
        format!("{}\n{}\n", old_shares[2], old_shares[0]),
    )
    .unwrap();
    let (code, out, err) = migrate(
        &s,
        &[
            "--to",
            "pkcs11",
            "--shares-file",
            shares_file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["from"], "shamir");
    assert_eq!(v["to"], "pkcs11");
    std::fs::remove_file(&shares_file).unwrap();

    // The config still says shamir: that server refuses the shares and says why.
    let s = s.restart();
    let e = cli_err(&s, &["operator", "unseal", &old_shares[0]]);
    assert!(
        e.contains("not Shamir shares") && e.contains("pkcs11"),
        "{e}"
    );
    set_config_seal(&s, true);
    let mut s = s.restart();
    s.wait_health(200);
    assert_eq!(status(&s)["seal_type"], "pkcs11");
    assert_eq!(decrypt(&s, &ct1), b"made under shamir");
    let ct2 = encrypt(&s, &key, b"made under the hsm");
    s.stop();

    // HSM → Shamir: new shares printed once.
    let (code, out, err) = migrate(
        &s,
        &["--to", "shamir", "--shares", "3", "--threshold", "2"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let new_shares: Vec<String> = v["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_shares.len(), 3);
    // A pkcs11 config on Shamir storage stays sealed and says why.
    let s = s.restart();
    s.wait_health(503);
    let why = status(&s)["seal_error"].as_str().unwrap().to_string();
    assert!(why.contains("migrate-seal --to pkcs11"), "{why}");
    set_config_seal(&s, false);
    let s = s.restart();
    s.wait_health(503);
    // The old shares no longer open anything; the new ones do.
    cli_ok(&s, &["operator", "unseal", &old_shares[0]]);
    let e = cli_err(&s, &["operator", "unseal", &old_shares[1]]);
    assert!(e.contains("did not reconstruct"), "{e}");
    cli_ok(&s, &["operator", "unseal", &new_shares[1]]);
    cli_ok(&s, &["operator", "unseal", &new_shares[2]]);
    s.wait_health(200);
    assert_eq!(status(&s)["seal_type"], "shamir");
    assert_eq!(decrypt(&s, &ct1), b"made under shamir");
    assert_eq!(decrypt(&s, &ct2), b"made under the hsm");
    let (code, _, _) = cli(&s, &["operator", "unseal", "--hsm"]);
    assert_eq!(code, 1, "--hsm on a Shamir server is refused");
}

#[test]
fn backup_restore_with_the_hsm_seal() {
    if !softhsm() {
        return;
    }
    let mut s = hsm_server("hsm-restore");
    s.wait_health(503);
    hsm_init(&mut s);
    let key = create_key(&s);
    let ct = encrypt(&s, &key, b"before the backup");
    let file = s.dir.path().join("kms.backup").display().to_string();
    cli_ok(&s, &["backup", "create", "--out", &file]);
    s.stop();
    // Restore into a second, empty database; the HSM unwraps the root key.
    let cfg_path = s.dir.path().join("strongroom.toml");
    let db_b = s.dir.path().join("b.db").display().to_string();
    let old = std::fs::read_to_string(&cfg_path).unwrap();
    let text: String = old
        .lines()
        .filter(|l| !l.starts_with("storage_path"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + &format!("storage_path = {db_b:?}\n");
    std::fs::write(&cfg_path, text).unwrap();
    let cfg = cfg_path.display().to_string();
    let restore = |pin: &str| {
        run_cmd(
            Command::new(BIN)
                .args(["backup", "restore", &file, "--config", &cfg])
                .env("SOFTHSM2_CONF", conf_of(&s))
                .env("STRONGROOM_PKCS11_PIN", pin),
        )
    };
    let (code, _, err) = restore(WRONG_PIN);
    assert_ne!(code, 0, "{err}");
    assert!(!err.contains(WRONG_PIN), "{err}");
    let (code, out, err) = restore(PIN);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("sealed with pkcs11"), "{out}");
    // The server on the restored database unseals itself and decrypts.
    let s = s.restart();
    s.wait_health(200);
    assert_eq!(decrypt(&s, &ct), b"before the backup");
}

/// PKCS#11 seal: no shares, so generate-root runs offline with the server
/// stopped, authorized by the config, the storage and the HSM PIN.
#[test]
fn generate_root_offline_with_the_hsm_seal() {
    if !softhsm() {
        return;
    }
    let mut s = hsm_server("hsm-genroot");
    hsm_init(&mut s);
    let old_root = s.token.clone();
    let key = create_key(&s);
    // Online, with shares: refused, it has none.
    let (st, v) = s.request(
        "POST",
        "/v1/sys/generate-root",
        Some(&json!({"shares": ["x"]})),
        None,
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("PKCS#11"),
        "{v}"
    );
    // Revoke the root token, stop the server.
    cli_ok(&s, &["operator", "revoke-root"]);
    assert_eq!(
        s.request("POST", "/v1/keys", Some(&json!({})), Some(&old_root))
            .0,
        401
    );
    s.stop();

    let cfg = s.dir.path().join("strongroom.toml").display().to_string();
    let offline = |pin: &str| {
        run_cmd(
            Command::new(BIN)
                .args(["-o", "json", "operator", "generate-root", "--config", &cfg])
                .env("SOFTHSM2_CONF", conf_of(&s))
                .env("STRONGROOM_PKCS11_PIN", pin),
        )
    };
    // A wrong PIN: refused, nothing stored.
    let (code, _, err) = offline(WRONG_PIN);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains(WRONG_PIN), "{err}");
    let (code, out, err) = offline(PIN);
    assert_eq!(code, 0, "{err}");
    let new_root = serde_json::from_str::<Value>(&out).unwrap()["root_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(new_root.starts_with("sr.") && new_root != old_root);

    // The restarted server (auto-unsealed by the HSM) takes the new token only.
    let mut s = s.restart();
    s.wait_health(200);
    assert_eq!(
        s.request("POST", "/v1/keys", Some(&json!({})), Some(&old_root))
            .0,
        401
    );
    s.token = new_root;
    let ct = encrypt(&s, &key, b"still here");
    assert_eq!(decrypt(&s, &ct), b"still here");
    assert_no_pin(&s);
    // In the server's audit log, which still verifies.
    let audit = std::fs::read_to_string(s.dir.path().join("strongroom.db.audit.jsonl")).unwrap();
    assert!(
        audit.lines().any(|l| l.contains("strongroom:GenerateRoot")
            && l.contains("offline-hsm-operator")
            && l.contains("\"allowed\"")),
        "offline generate-root not audited"
    );
    assert!(
        !audit.contains(&s.token[..20]),
        "the token is in the audit log"
    );
    cli_ok(&s, &["audit", "verify"]);
}
