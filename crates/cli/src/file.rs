//! `strongroom encrypt --in/--out` and `decrypt --in/--out`: envelope
//! encryption of files of any size with the streaming format in
//! `strongroom_core::envelope`. Output goes to a temporary file renamed into place
//! only on success, so a failed decrypt never leaves partial plaintext.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::client::Client;
use super::CliError;
use strongroom_core::crypto::context::EncryptionContext;
use strongroom_core::crypto::SecretBytes;
use strongroom_core::envelope;

const IO_BUF: usize = 1 << 20;

fn open_input(path: &str) -> Result<(Box<dyn Read>, Option<u64>), CliError> {
    if path == "-" {
        return Ok((
            Box::new(BufReader::with_capacity(IO_BUF, io::stdin().lock())),
            None,
        ));
    }
    let f =
        File::open(path).map_err(|e| CliError::new(format!("cannot open --in {path:?}: {e}")))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(BufReader::with_capacity(IO_BUF, f)), len))
}

/// Removes the temporary output unless disarmed.
struct TmpGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The output file, written under a temporary name until `finish`.
enum Output {
    Stdout(BufWriter<io::Stdout>),
    File {
        w: BufWriter<File>,
        dest: PathBuf,
        guard: TmpGuard,
        /// Refuse to replace an existing `dest` (decrypt without --force).
        no_clobber: bool,
    },
}

impl Output {
    fn create(path: &str, no_clobber: bool) -> Result<Self, CliError> {
        if path == "-" {
            return Ok(Output::Stdout(BufWriter::with_capacity(
                IO_BUF,
                io::stdout(),
            )));
        }
        let dest = PathBuf::from(path);
        if dest.is_dir() {
            return Err(CliError::new(format!(
                "--out {path:?} is a directory; give a file path"
            )));
        }
        if no_clobber && dest.symlink_metadata().is_ok() {
            return Err(exists_error(path));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| CliError::new(format!("--out {path:?} is not a file path")))?
            .to_string_lossy()
            .into_owned();
        let tmp = dest.with_file_name(format!(".{name}.strongroom-tmp-{}", std::process::id()));
        let f = File::create(&tmp)
            .map_err(|e| CliError::new(format!("cannot create output next to {path:?}: {e}")))?;
        Ok(Output::File {
            w: BufWriter::with_capacity(IO_BUF, f),
            dest,
            guard: TmpGuard {
                path: tmp,
                armed: true,
            },
            no_clobber,
        })
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Stdout(w) => w,
            Output::File { w, .. } => w,
        }
    }

    fn finish(self) -> Result<(), CliError> {
        match self {
            Output::Stdout(mut w) => w
                .flush()
                .map_err(|e| CliError::new(format!("write to stdout: {e}"))),
            Output::File {
                w,
                dest,
                mut guard,
                no_clobber,
            } => {
                let f = w.into_inner().map_err(|e| {
                    CliError::new(format!("write {}: {}", dest.display(), e.error()))
                })?;
                f.sync_all()
                    .map_err(|e| CliError::new(format!("sync {}: {e}", dest.display())))?;
                if no_clobber {
                    // A hard link fails if `dest` appeared meanwhile; the
                    // guard then removes the temporary file.
                    std::fs::hard_link(&guard.path, &dest).map_err(|e| {
                        if e.kind() == io::ErrorKind::AlreadyExists {
                            exists_error(&dest.display().to_string())
                        } else {
                            CliError::new(format!(
                                "cannot move output into place at {}: {e}",
                                dest.display()
                            ))
                        }
                    })?;
                    return Ok(());
                }
                std::fs::rename(&guard.path, &dest).map_err(|e| {
                    CliError::new(format!(
                        "cannot move output into place at {}: {e}",
                        dest.display()
                    ))
                })?;
                guard.armed = false;
                Ok(())
            }
        }
    }
}

fn exists_error(path: &str) -> CliError {
    CliError::new(format!(
        "--out {path:?} already exists; give --force to overwrite it, or another path"
    ))
}

struct Progress {
    enabled: bool,
    total: Option<u64>,
    label: &'static str,
    last: Instant,
    start: Instant,
}

impl Progress {
    fn new(label: &'static str, total: Option<u64>) -> Self {
        let now = Instant::now();
        Self {
            enabled: io::stderr().is_terminal(),
            total,
            label,
            last: now,
            start: now,
        }
    }

    fn update(&mut self, done: u64) {
        if !self.enabled || self.last.elapsed().as_millis() < 100 {
            return;
        }
        self.last = Instant::now();
        let mib = done as f64 / 1048576.0;
        match self.total {
            Some(t) if t > 0 => {
                let pct = (done as f64 / t as f64 * 100.0).min(100.0);
                let filled = (pct / 5.0) as usize;
                eprint!(
                    "\r{} [{}{}] {pct:5.1}% {mib:.1} MiB",
                    self.label,
                    "#".repeat(filled),
                    " ".repeat(20 - filled.min(20))
                );
            }
            _ => eprint!("\r{} {mib:.1} MiB", self.label),
        }
    }

    fn done(&self, total: u64) {
        if self.enabled {
            let secs = self.start.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "\r{} done: {:.1} MiB in {secs:.2}s ({:.0} MiB/s)          ",
                self.label,
                total as f64 / 1048576.0,
                total as f64 / 1048576.0 / secs
            );
        }
    }
}

fn env_err(e: envelope::EnvelopeError) -> CliError {
    CliError::new(e.to_string())
}

pub fn encrypt_file(
    client: &Client,
    key: &str,
    ctx: &EncryptionContext,
    input: &str,
    output: &str,
) -> Result<u64, CliError> {
    let (reader, len) = open_input(input)?;
    let mut out = Output::create(output, false)?;
    let v = client.call(
        "POST",
        "/v1/generate-data-key",
        Some(&json!({ "key": key, "number_of_bytes": 32, "context": ctx, "include_plaintext": true })),
    )?;
    let wrapped = b64_field(&v, "ciphertext")?;
    let dk = SecretBytes::new(b64_field(&v, "plaintext")?);
    let mut p = Progress::new("encrypt", len);
    let n = envelope::encrypt_stream(dk.expose(), &wrapped, reader, out.writer(), &mut |d| {
        p.update(d)
    })
    .map_err(env_err)?;
    out.finish()?;
    p.done(n);
    Ok(n)
}

pub fn decrypt_file(
    client: &Client,
    key: Option<&str>,
    ctx: &EncryptionContext,
    input: &str,
    output: &str,
    force: bool,
) -> Result<u64, CliError> {
    if !force && output != "-" && std::path::Path::new(output).symlink_metadata().is_ok() {
        // Before asking the server for the data key.
        return Err(exists_error(output));
    }
    let (mut reader, len) = open_input(input)?;
    let header = envelope::read_header(&mut reader).map_err(env_err)?;
    let mut body = json!({ "ciphertext": STANDARD.encode(header.wrapped_key()), "context": ctx });
    if let Some(k) = key {
        body["key"] = Value::String(k.to_string());
    }
    let v = client.call("POST", "/v1/decrypt", Some(&body))?;
    let dk = SecretBytes::new(b64_field(&v, "plaintext")?);
    let mut out = Output::create(output, !force)?;
    let mut p = Progress::new("decrypt", len);
    let n = envelope::decrypt_stream(&header, dk.expose(), reader, out.writer(), &mut |d| {
        p.update(d)
    })
    .map_err(env_err)?;
    out.finish()?;
    p.done(n);
    Ok(n)
}

pub fn b64_field(v: &Value, field: &str) -> Result<Vec<u8>, CliError> {
    let s = v[field]
        .as_str()
        .ok_or_else(|| CliError::new(format!("server response has no {field}")))?;
    STANDARD
        .decode(s)
        .map_err(|_| CliError::new(format!("server response field {field} is not base64")))
}
