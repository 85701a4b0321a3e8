//! `strongroom backup restore`: a backup made on server A is restored
//! offline into an empty storage and served by server B, unsealed with A's
//! shares (docs/LIFECYCLE.md). Refusals: non-empty storage, wrong shares,
//! tampered backup.

use crate::common;

use common::{cli_json, cli_ok, forge_share, init_and_unseal, run_cmd, BIN};
use std::process::Command;
use strongroom_testkit::{Server, TempDir};

fn restore(file: &str, config: &str, shares: Option<&str>) -> (i32, String, String) {
    let mut c = Command::new(BIN);
    c.args(["backup", "restore", file, "--config", config]);
    if let Some(s) = shares {
        c.args(["--shares-file", s]);
    }
    run_cmd(&mut c)
}

#[test]
fn backup_restores_into_an_empty_storage_and_refuses_bad_input() {
    let mut a = Server::production(BIN, TempDir::new("restore-a"), None);
    a.wait_health(503);
    let shares = init_and_unseal(&mut a, 3, 2);
    let k1 = cli_json(&a, &["key", "create", "--owner", "team"]);
    let k1 = k1["id"].as_str().unwrap().to_string();
    cli_ok(&a, &["key", "rotate", &k1]); // revision > 1, two versions
    let ct1 = cli_ok(
        &a,
        &["encrypt", "--key", &k1, "--plaintext", "before backup"],
    );
    cli_ok(
        &a,
        &[
            "identity", "create", "svc", "--kind", "service", "--role", "key-user",
        ],
    );
    let tok = cli_json(&a, &["token", "create", "--identity", "svc"]);
    let tok = tok["token"].as_str().unwrap().to_string();
    let file = a.dir.path().join("b.srbk").display().to_string();
    cli_ok(&a, &["backup", "create", "--out", &file]);
    let root = a.token.clone();
    a.stop();

    let dir_b = TempDir::new("restore-b");
    let cfg_b = dir_b.path().join("restore.toml").display().to_string();
    let db_b = dir_b.path().join("strongroom.db").display().to_string();
    std::fs::write(
        &cfg_b,
        format!("storage_path = {db_b:?}\ntls_disable = true\n"),
    )
    .unwrap();
    let good = dir_b.path().join("shares.txt");
    std::fs::write(&good, format!("{}\n{}\n", shares[0], shares[2])).unwrap();
    let good = good.display().to_string();

    // Wrong shares: refused, nothing written.
    let bad = dir_b.path().join("bad.txt");
    std::fs::write(
        &bad,
        format!(
            "{}\n{}\n",
            shares[0],
            forge_share(&shares[1], 2, &[7u8; 32])
        ),
    )
    .unwrap();
    let (code, _, err) = restore(&file, &cfg_b, Some(bad.to_str().unwrap()));
    assert_ne!(code, 0);
    assert!(err.contains("did not reconstruct the unseal key"), "{err}");
    // Tampered: one flipped byte in the sealed snapshot.
    let mut blob = std::fs::read(&file).unwrap();
    let n = blob.len();
    blob[n - 20] ^= 1;
    let tampered = dir_b.path().join("tampered.srbk").display().to_string();
    std::fs::write(&tampered, &blob).unwrap();
    let (code, _, err) = restore(&tampered, &cfg_b, Some(&good));
    assert_ne!(code, 0);
    assert!(err.contains("does not authenticate"), "{err}");
    // Into A's own (initialized) storage: refused.
    let cfg_a = a.dir.path().join("strongroom.toml").display().to_string();
    let (code, _, err) = restore(&file, &cfg_a, Some(&good));
    assert_ne!(code, 0);
    assert!(err.contains("already initialized"), "{err}");

    // The real restore.
    let (code, out, err) = restore(&file, &cfg_b, Some(&good));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 key, 2 versions"), "{out}");
    // A second restore into the now-initialized storage is refused.
    let (code, _, err) = restore(&file, &cfg_b, Some(&good));
    assert!(code != 0 && err.contains("already initialized"), "{err}");

    let mut b = Server::production(BIN, dir_b, None);
    b.wait_health(503);
    b.token = root;
    cli_ok(&b, &["operator", "unseal", &shares[1]]);
    cli_ok(&b, &["operator", "unseal", &shares[2]]);
    b.wait_health(200);
    assert_eq!(
        cli_ok(&b, &["decrypt", "--ciphertext", ct1.trim()]),
        "before backup"
    );
    // The identity's token works on B.
    let (code, out, err) = run_cmd(
        b.cli()
            .env("STRONGROOM_TOKEN", &tok)
            .args(["-o", "json", "key", "list"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&k1), "{out}");
    let ct2 = cli_ok(&b, &["encrypt", "--key", &k1, "--plaintext", "on b"]);
    assert_eq!(cli_ok(&b, &["decrypt", "--ciphertext", ct2.trim()]), "on b");
}
