//! History, staged changes, large-file streaming and the baseline, against
//! real git repositories built in temporary directories.

use crate::corpus;

use std::path::{Path, PathBuf};
use std::process::Command;

use strongroom_scan::baseline::Baseline;
use strongroom_scan::{git, walk};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strongroom-scan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn token(rng: &mut corpus::Rng) -> String {
    let random = rng.chars(corpus::ALNUM, 30);
    let check = strongroom_scan::checks::base62_crc32(crc32fast::hash(random.as_bytes()));
    format!("ghp_{random}{check}")
}

#[test]
fn history_reports_the_commit_that_introduced_a_removed_secret() {
    let dir = tempdir("history");
    let mut rng = corpus::Rng::new(11);
    let t = token(&mut rng);
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("app.py"), "import os\n\nprint('hi')\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "first"]);
    let base = git(&dir, &["rev-parse", "HEAD"]);
    std::fs::write(
        dir.join("app.py"),
        format!("import os\n\nGH = \"{t}\"\nprint('hi')\n"),
    )
    .unwrap();
    git(&dir, &["commit", "-qam", "add token"]);
    let introduced = git(&dir, &["rev-parse", "HEAD"]);
    std::fs::write(
        dir.join("app.py"),
        "import os\n\nGH = os.environ['GH']\nprint('hi')\n",
    )
    .unwrap();
    git(&dir, &["commit", "-qam", "remove token"]);
    // a secret only on another branch
    git(&dir, &["checkout", "-qb", "side"]);
    std::fs::write(
        dir.join("side.env"),
        format!("\nTOKEN={}\n", token(&mut rng)),
    )
    .unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "side"]);
    let side = git(&dir, &["rev-parse", "HEAD"]);
    git(&dir, &["checkout", "-q", "main"]);

    // the working tree is clean
    let (now, _) = walk::scan_paths(&[dir.to_string_lossy().into_owned()], 2);
    assert!(now.is_empty(), "{now:?}");

    let d = dir.to_string_lossy();
    let (hist, _) = git::scan_history(&d, None).expect("history");
    assert_eq!(hist.len(), 2, "{hist:?}");
    let a = hist
        .iter()
        .find(|f| f.path == "app.py")
        .expect("app.py finding");
    assert_eq!(a.rule, "github-token");
    assert_eq!(a.line, 3);
    assert_eq!(a.commit.as_deref(), Some(introduced.as_str()));
    let s = hist
        .iter()
        .find(|f| f.path == "side.env")
        .expect("side branch finding");
    assert_eq!(s.line, 2);
    assert_eq!(s.commit.as_deref(), Some(side.as_str()));

    // --since: commits after `introduced` only
    let (since, _) = git::scan_history(&d, Some(&introduced)).expect("since");
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].path, "side.env");
    let (since_base, _) = git::scan_history(&d, Some(&base)).expect("since base");
    assert_eq!(since_base.len(), 2);
    // bad input: a clear error, not a crash
    let e = git::scan_history(&d, Some("no-such-rev")).expect_err("bad rev");
    assert!(e.0.contains("git log failed"), "{}", e.0);
    let e = git::scan_history(&d, Some("--output=/tmp/x")).expect_err("option injection");
    assert!(e.0.contains("cannot start with '-'"), "{}", e.0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn staged_scans_only_what_is_about_to_be_committed() {
    let dir = tempdir("staged");
    let mut rng = corpus::Rng::new(12);
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("a.txt"), "hello\n").unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "first"]);
    let d = dir.to_string_lossy();
    assert!(git::scan_staged(&d).expect("staged").0.is_empty());
    // unstaged secret: not reported by --staged
    std::fs::write(dir.join("b.txt"), format!("{}\n", token(&mut rng))).unwrap();
    assert!(git::scan_staged(&d).expect("staged").0.is_empty());
    // staged: reported, with the line in the new file
    std::fs::write(
        dir.join("a.txt"),
        format!("hello\nx\n{}\n", token(&mut rng)),
    )
    .unwrap();
    git(&dir, &["add", "a.txt"]);
    let (f, _) = git::scan_staged(&d).expect("staged");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].path.as_str(), f[0].line, f[0].commit.as_deref()),
        ("a.txt", 3, None)
    );
    let e = git::scan_staged(&std::env::temp_dir().to_string_lossy()).expect_err("not a repo");
    assert!(!e.0.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn large_files_are_streamed_with_correct_lines_across_windows() {
    let dir = tempdir("large");
    let mut rng = corpus::Rng::new(13);
    let filler = "let x = compute(42); // ordinary code line of moderate length\n";
    let lines_before = walk::WINDOW / filler.len() - 3; // the key straddles the first window end
    let mut text = filler.repeat(lines_before);
    let key_line = lines_before + 1;
    let body: Vec<String> = (0..8).map(|_| rng.chars(corpus::B64, 64)).collect();
    text.push_str(&format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    ));
    text.push_str(&filler.repeat(walk::WINDOW / filler.len()));
    let t = token(&mut rng);
    text.push_str(&format!("GH = \"{t}\"\n"));
    let last_line = text.lines().count();
    assert!(text.len() > 2 * walk::WINDOW);
    std::fs::write(dir.join("big.rs"), &text).unwrap();
    let (f, stats) = walk::scan_paths(&[dir.to_string_lossy().into_owned()], 2);
    assert_eq!(stats.files, 1);
    let got: Vec<(&str, usize)> = f.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(
        got,
        vec![("private-key", key_line), ("github-token", last_line)]
    );
    // binaries are skipped
    let mut bin = vec![0u8; 100];
    bin.extend_from_slice(t.as_bytes());
    std::fs::write(dir.join("blob.bin"), bin).unwrap();
    let (f2, stats2) = walk::scan_paths(&[dir.to_string_lossy().into_owned()], 2);
    assert_eq!(f2.len(), 2);
    assert_eq!(stats2.skipped_binary, 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn baseline_holds_fingerprints_only_and_filters_known_findings() {
    let dir = tempdir("baseline");
    let mut rng = corpus::Rng::new(14);
    let t1 = token(&mut rng);
    std::fs::write(dir.join("a.py"), format!("A = \"{t1}\"\n")).unwrap();
    let (f, _) = walk::scan_paths(&[dir.join("a.py").to_string_lossy().into_owned()], 1);
    assert_eq!(f.len(), 1);
    let path = dir.join("baseline.json");
    let p = path.to_string_lossy();
    Baseline::of(&f).save(&p).expect("save");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&t1[4..]), "the baseline holds no secret");
    let b = Baseline::load(&p).expect("load");
    assert!(b.contains(&f[0]));
    // a moved secret is still known; a new one is not
    let t2 = token(&mut rng);
    std::fs::write(
        dir.join("a.py"),
        format!("\n\nB = \"{t2}\"\nA = \"{t1}\"\n"),
    )
    .unwrap();
    let (f, _) = walk::scan_paths(&[dir.join("a.py").to_string_lossy().into_owned()], 1);
    let new: Vec<_> = f.iter().filter(|x| !b.contains(x)).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].line, 3);
    // bad baselines are refused with a reason
    std::fs::write(
        &path,
        "{\"version\":1,\"note\":\"\",\"fingerprints\":[\"zz\"]}",
    )
    .unwrap();
    assert!(Baseline::load(&p)
        .unwrap_err()
        .contains("not a fingerprint"));
    std::fs::write(&path, "not json").unwrap();
    assert!(Baseline::load(&p).unwrap_err().contains("--write-baseline"));
    let _ = std::fs::remove_dir_all(dir);
}
