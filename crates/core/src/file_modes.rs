//! Files that hold secrets or sealed data are the server's alone: the
//! SQLite database (and its -wal/-shm, which SQLite creates with the
//! database file's mode), the audit log, the TLS key and the HSM PIN file
//! are created 0600, and an existing one that others can read or write
//! gets a warning at start (docs/OPERATIONS.md, "File permissions").

use std::path::Path;

/// Creates an empty file with mode 0600 if nothing is at `path` yet, so a
/// program that then opens it (SQLite) keeps that mode.
pub fn precreate_private(path: &Path) -> std::io::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The mode bits of `path` that give the group or others any access, or
/// `None` when it is private, missing, or not on Unix.
pub fn loose_bits(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then_some(mode & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Logs a warning for each existing file that the group or others can access.
pub fn warn_if_loose(paths: &[(&str, String)]) {
    for (what, p) in paths {
        if let Some(mode) = loose_bits(Path::new(p)) {
            tracing::warn!(
                file = %p,
                mode = %format!("{mode:04o}"),
                "the {what} can be read or written by other users; restrict it with `chmod 600 {p}` (and make it owned by the server's user)"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests
mod tests {
    use super::*;

    #[test]
    fn precreated_files_are_private_and_loose_ones_are_found() {
        let dir = std::env::temp_dir().join(format!("strongroom-modes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("db");
        let _ = std::fs::remove_file(&f);
        precreate_private(&f).unwrap();
        assert_eq!(loose_bits(&f), None);
        // An existing file is left as it is (and reported if loose).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            precreate_private(&f).unwrap();
            assert_eq!(loose_bits(&f), Some(0o644));
        }
        assert_eq!(loose_bits(&dir.join("missing")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
