//! Scanning a working tree: a parallel walk (one thread per core) that
//! respects `.gitignore`, `.ignore` and git's exclude files, skips binary
//! files and `.git`, and streams large files in windows.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ignore::{WalkBuilder, WalkState};

use crate::engine::Engine;
use crate::Finding;

/// Files are read in windows of this size; a file up to this size is read whole.
pub const WINDOW: usize = 8 << 20;
/// Bytes of the previous window scanned again with the next one, so a
/// secret spanning a window boundary (a PEM block) is still seen whole.
pub const OVERLAP: usize = 64 << 10;
/// Like git and grep: a NUL byte in the first 8 KiB means binary.
const BINARY_SNIFF: usize = 8 << 10;

#[derive(Debug, Default)]
pub struct WalkStats {
    pub files: u64,
    pub bytes: u64,
    pub skipped_binary: u64,
    pub errors: Vec<String>,
}

/// Scans every file under `roots` (files or directories).
pub fn scan_paths(roots: &[String], threads: usize) -> (Vec<Finding>, WalkStats) {
    let mut builder = WalkBuilder::new(roots.first().map_or(".", |s| s.as_str()));
    for r in roots.iter().skip(1) {
        builder.add(r);
    }
    builder
        .hidden(false) // .env files are exactly where secrets hide
        .require_git(false) // .gitignore applies outside a repository too
        .threads(threads)
        .filter_entry(|e| e.file_name() != ".git");
    let findings = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let files = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let binary = AtomicU64::new(0);
    builder.build_parallel().run(|| {
        Box::new(|entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    lock(&errors).push(e.to_string());
                    return WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let path = entry.path();
            let shown = display_path(path);
            let mut local = Vec::new();
            match scan_file(path, &shown, &mut local) {
                Ok(FileOutcome::Scanned(n)) => {
                    files.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add(n, Ordering::Relaxed);
                }
                Ok(FileOutcome::Binary) => {
                    binary.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => lock(&errors).push(format!("{shown}: {e}")),
            }
            if !local.is_empty() {
                lock(&findings).append(&mut local);
            }
            WalkState::Continue
        })
    });
    let mut findings = findings.into_inner().unwrap_or_else(|p| p.into_inner());
    findings.sort_by(|a, b| (&a.path, a.line, a.rule).cmp(&(&b.path, b.line, b.rule)));
    let stats = WalkStats {
        files: files.into_inner(),
        bytes: bytes.into_inner(),
        skipped_binary: binary.into_inner(),
        errors: errors.into_inner().unwrap_or_else(|p| p.into_inner()),
    };
    (findings, stats)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn display_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

pub enum FileOutcome {
    Scanned(u64),
    Binary,
}

/// Scans one file, streaming it in [`WINDOW`]s with [`OVERLAP`].
pub fn scan_file(path: &Path, shown: &str, out: &mut Vec<Finding>) -> io::Result<FileOutcome> {
    let mut f = File::open(path)?;
    scan_reader(&mut f, shown, out)
}

/// Scans any reader as the file `shown` (streamed like [`scan_file`]).
pub fn scan_reader(
    r: &mut impl Read,
    shown: &str,
    out: &mut Vec<Finding>,
) -> io::Result<FileOutcome> {
    let engine = Engine::get();
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0u64;
    // The line number of buf[0], and how much of buf is carried-over overlap.
    let mut first_line = 1usize;
    let mut carried = 0usize;
    let mut first = true;
    loop {
        let want = carried + WINDOW;
        let start = buf.len();
        // read_to_end through take: no zero-filling of a window per file
        r.by_ref()
            .take((want - start) as u64)
            .read_to_end(&mut buf)?;
        let filled = buf.len();
        let eof = filled < want;
        total += (filled - start) as u64;
        if first {
            let sniff = &buf[..buf.len().min(BINARY_SNIFF)];
            if memchr::memchr(0, sniff).is_some() {
                return Ok(FileOutcome::Binary);
            }
            first = false;
        }
        engine.scan(shown, &buf, first_line, carried, out);
        if eof {
            return Ok(FileOutcome::Scanned(total));
        }
        // Keep the last OVERLAP bytes, cut at a line start, for the next window.
        let mut keep_from = buf.len().saturating_sub(OVERLAP);
        if let Some(i) = memchr::memchr(b'\n', &buf[keep_from..]) {
            keep_from += i + 1;
        }
        first_line += memchr::memchr_iter(b'\n', &buf[..keep_from]).count();
        buf.drain(..keep_from);
        carried = buf.len();
    }
}
