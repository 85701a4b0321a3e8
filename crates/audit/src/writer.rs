//! The file sink: `AuditLog` and its group-committing writer thread.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tokio::sync::oneshot;

use super::format::{
    checkpoint_body, checkpoint_message, entry_hash, hex, prepare_event, push_checkpoint_line,
    push_event_line, PreparedEvent, GENESIS_HASH,
};
use super::segments::{segment_files, segment_path, Rotation};
use super::verify::{checkpoint_anchor, last_checkpoint, ChainVerifier, ScanEnd};
use super::{AuditError, AuditEvent};

/// Files up to this size are verified whole when opened; larger ones from
/// their last signed checkpoint on (`strongroom audit verify` always reads
/// the whole file).
const FULL_VERIFY_BELOW: u64 = 16 * 1024 * 1024;

/// Most entries the writer puts into one write + fdatasync.
const DEFAULT_MAX_BATCH: usize = 8192;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these mutexes stays consistent even if a holder panicked
    // (every update is a single assignment), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Regular files currently open as an audit log in this process: two writers on one
/// file would fork the chain.
fn open_paths() -> &'static Mutex<HashSet<PathBuf>> {
    static OPEN: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    OPEN.get_or_init(|| Mutex::new(HashSet::new()))
}

type Answer = Result<u64, AuditError>;

enum Reply {
    Async(oneshot::Sender<Answer>),
    Blocking(mpsc::Sender<Answer>),
}

impl Reply {
    fn send(self, answer: Answer) {
        // A waiter that went away (dropped future) simply does not hear the answer.
        match self {
            Reply::Async(tx) => {
                let _ = tx.send(answer);
            }
            Reply::Blocking(tx) => {
                let _ = tx.send(answer);
            }
        }
    }
}

enum Request {
    Event(PreparedEvent),
    Checkpoint,
}

struct Pending {
    request: Request,
    reply: Reply,
}

struct Queue {
    items: Vec<Pending>,
    shutdown: bool,
    /// The writer is waiting on `wake`: only then does a submit notify it
    /// (a notify is a futex syscall even with nobody waiting; while the
    /// writer is busy it finds new items when it next takes the lock).
    idle: bool,
}

/// Test-only fault injection into the writer's I/O.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fault {
    /// Write half of the batch, then fail (like ENOSPC mid-write).
    PartialWrite,
    /// The write succeeds, fdatasync fails.
    Sync,
    /// The write fails half-way and the truncation back fails too.
    PartialWriteAndTruncate,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// (next index, head hash) of what is durably on disk.
    head: Mutex<(u64, [u8; 32])>,
    failed: AtomicBool,
    syncs: AtomicU64,
    /// Why the last write failed, until a later write succeeds (health reports it).
    last_error: Mutex<Option<String>>,
    /// (device, inode) of the live file, to notice it being removed or
    /// replaced (changes when the log rotates).
    identity: Mutex<Option<(u64, u64)>>,
    #[cfg(test)]
    fault: Mutex<Option<Fault>>,
}

impl Shared {
    fn submit(&self, request: Request, reply: Reply) -> Result<(), AuditError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(failed_error());
        }
        let mut q = lock(&self.queue);
        if q.shutdown {
            return Err(AuditError::Unavailable(
                "audit log is shutting down".to_string(),
            ));
        }
        q.items.push(Pending { request, reply });
        let wake = std::mem::replace(&mut q.idle, false);
        drop(q);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }
}

fn failed_error() -> AuditError {
    AuditError::Unavailable(
        "audit log is in a failed state after a write error it could not roll back; reopen it"
            .to_string(),
    )
}

struct Inner {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
    registered: Option<PathBuf>,
    public_key: Vec<u8>,
    /// Milliseconds since `opened` of the last recovery probe.
    last_probe_ms: AtomicU64,
    opened: std::time::Instant,
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.shared.queue).shutdown = true;
        self.shared.wake.notify_all();
        if let Some(t) = lock(&self.thread).take() {
            if t.join().is_err() {
                tracing::error!("audit writer thread panicked");
            }
        }
        if let Some(p) = &self.registered {
            lock(open_paths()).remove(p);
        }
    }
}

/// The tamper-evident, fail-closed, group-committed audit log (file sink).
///
/// Cloning is cheap (an `Arc`); all clones share one writer thread. When the last clone is
/// dropped the writer drains its queue, appends a final checkpoint if there are events after
/// the last one, and stops.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (next, _) = *lock(&self.inner.shared.head);
        f.debug_struct("AuditLog")
            .field("path", &self.inner.path)
            .field("next_index", &next)
            .field("failed", &self.inner.shared.failed.load(Ordering::Acquire))
            .finish()
    }
}

/// Chain state owned by the writer thread.
#[derive(Clone)]
struct ChainState {
    next_index: u64,
    head: [u8; 32],
    events_since_checkpoint: u64,
    /// Length of the file covered by durable entries.
    file_len: u64,
}

impl AuditLog {
    /// Opens (creating if absent) the audit file at `path`, verifies the existing chain
    /// (a broken chain is refused with [`AuditError::Tampered`]), resumes from its tail and
    /// starts the writer thread. `checkpoint_every` = number of events between automatic
    /// signed checkpoints; 0 disables automatic checkpoints (then only `checkpoint_now` and
    /// the final checkpoint on close sign the chain).
    pub fn open(
        path: &Path,
        signing_key_pkcs8: &[u8],
        checkpoint_every: u64,
    ) -> Result<AuditLog, AuditError> {
        Self::open_with(
            path,
            signing_key_pkcs8,
            checkpoint_every,
            DEFAULT_MAX_BATCH,
            Rotation::default(),
        )
    }

    /// [`AuditLog::open`] with rotation by size and age (module `segments`).
    /// A log that has rotated segments is always opened as one chain with
    /// them, whatever `rotation` says.
    pub fn open_rotating(
        path: &Path,
        signing_key_pkcs8: &[u8],
        checkpoint_every: u64,
        rotation: Rotation,
    ) -> Result<AuditLog, AuditError> {
        Self::open_with(
            path,
            signing_key_pkcs8,
            checkpoint_every,
            DEFAULT_MAX_BATCH,
            rotation,
        )
    }

    /// `open` with a cap on the entries per write + fdatasync (1 disables group commit;
    /// used to measure what group commit buys).
    pub(crate) fn open_with(
        path: &Path,
        signing_key_pkcs8: &[u8],
        checkpoint_every: u64,
        max_batch: usize,
        rotation: Rotation,
    ) -> Result<AuditLog, AuditError> {
        let key = Ed25519KeyPair::from_pkcs8(signing_key_pkcs8).map_err(|_| {
            AuditError::Invalid("audit signing key is not a valid Ed25519 PKCS#8 key".to_string())
        })?;
        let public_key = key.public_key().as_ref().to_vec();
        let unavailable = |what: &str, e: std::io::Error| {
            AuditError::Unavailable(format!("{what} audit log {}: {e}", path.display()))
        };
        // A rotated log: the live file continues the last segment.
        let segments = segment_files(path)?;
        let link = match segments.last() {
            None => None,
            Some((_, last)) => Some(segment_tail(last, &public_key)?),
        };
        let _ = std::fs::remove_file(next_path(path)); // left by a crash mid-rotation
        if let Some(anchor) = &link {
            if std::fs::metadata(path)
                .map(|m| m.len() == 0)
                .unwrap_or(true)
            {
                // Crashed between the two renames of a rotation (or the live
                // file was never started): start it from the segment's head.
                start_segment(path, &key, anchor.index + 1, &anchor.hash)
                    .map_err(|e| unavailable("cannot start", e))?;
            }
        }

        let existed = path.exists();
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut file = opts.open(path).map_err(|e| unavailable("cannot open", e))?;
        let meta = file.metadata().map_err(|e| unavailable("cannot stat", e))?;
        let regular = meta.is_file();
        let identity = regular.then(|| {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        });

        // One writer per file in this process.
        let registered = if regular {
            let canon =
                std::fs::canonicalize(path).map_err(|e| unavailable("cannot resolve", e))?;
            if !lock(open_paths()).insert(canon.clone()) {
                return Err(AuditError::Unavailable(format!(
                    "audit log {} is already open in this process",
                    path.display()
                )));
            }
            Some(canon)
        } else {
            None
        };
        let unregister = |r: &Option<PathBuf>| {
            if let Some(p) = r {
                lock(open_paths()).remove(p);
            }
        };

        // One writer per file across processes too: a second server on the
        // same file would fork the chain. The lock goes with the file handle.
        if regular {
            if let Err(e) = file.try_lock() {
                unregister(&registered);
                return Err(AuditError::Unavailable(match e {
                    std::fs::TryLockError::WouldBlock => format!(
                        "audit log {} is in use by another process (another strongroom server?); stop it or give this server its own audit_path",
                        path.display()
                    ),
                    std::fs::TryLockError::Error(e) => {
                        format!("cannot lock audit log {}: {e}", path.display())
                    }
                }));
            }
        }
        let state = if regular {
            let resumed = resume(
                &mut file,
                path,
                &public_key,
                existed,
                FULL_VERIFY_BELOW,
                link.is_some(),
            )
            .and_then(|st| match &link {
                Some(anchor) => check_link(&file, path, anchor, &public_key).map(|()| st),
                None => Ok(st),
            });
            match resumed {
                Ok(s) => s,
                Err(e) => {
                    unregister(&registered);
                    return Err(e);
                }
            }
        } else {
            // A device (tests use /dev/full): nothing to read or resume. Reading a device
            // could block or never end.
            tracing::warn!(
                path = %path.display(),
                "audit sink is not a regular file; its chain cannot be verified or resumed"
            );
            ChainState {
                next_index: 0,
                head: GENESIS_HASH,
                events_since_checkpoint: 0,
                file_len: 0,
            }
        };

        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: Vec::new(),
                shutdown: false,
                idle: false,
            }),
            wake: Condvar::new(),
            head: Mutex::new((state.next_index, state.head)),
            failed: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            last_error: Mutex::new(None),
            identity: Mutex::new(identity),
            #[cfg(test)]
            fault: Mutex::new(None),
        });

        let segment_first = if regular {
            first_index(&file).map_err(|e| unavailable("cannot read", e))?
        } else {
            0
        };
        let writer = Writer {
            shared: Arc::clone(&shared),
            file,
            state,
            key,
            public_key_b64: B64.encode(&public_key),
            checkpoint_every,
            max_batch: max_batch.max(1),
            regular,
            path: path.to_path_buf(),
            rotation,
            segment_first,
            segment_opened: std::time::Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("strongroom-audit".to_string())
            .spawn(move || writer.run())
            .map_err(|e| {
                unregister(&registered);
                AuditError::Unavailable(format!("cannot start audit writer thread: {e}"))
            })?;

        Ok(AuditLog {
            inner: Arc::new(Inner {
                shared,
                thread: Mutex::new(Some(thread)),
                path: path.to_path_buf(),
                registered,
                public_key,
                last_probe_ms: AtomicU64::new(0),
                opened: std::time::Instant::now(),
            }),
        })
    }

    /// Why the sink cannot take records right now, or `None` if it can:
    /// the log failed for good, the last write failed (ENOSPC, EIO, an
    /// fdatasync error) and none has succeeded since, or the file at the
    /// path was removed or replaced. Costs one `stat`.
    pub fn sink_problem(&self) -> Option<String> {
        if self.is_failed() {
            return Some(failed_error().to_string());
        }
        let identity = *lock(&self.inner.shared.identity);
        if let Some(want) = identity {
            use std::os::unix::fs::MetadataExt;
            match std::fs::metadata(&self.inner.path) {
                Err(e) => {
                    return Some(format!(
                        "the audit file {} is gone ({e}); restore it and restart",
                        self.inner.path.display()
                    ))
                }
                Ok(m) if (m.dev(), m.ino()) != want => {
                    return Some(format!(
                    "the audit file {} was replaced on disk; keep both files as evidence and restart",
                    self.inner.path.display()
                ))
                }
                Ok(_) => {}
            }
        }
        lock(&self.inner.shared.last_error).clone()
    }

    /// After a failed write, tries the sink again with a signed checkpoint
    /// (at most once per `every`), so that health turns healthy again once
    /// the disk has room, without waiting for client traffic. Returns
    /// [`AuditLog::sink_problem`] after the attempt.
    pub async fn probe(&self, every: std::time::Duration) -> Option<String> {
        let problem = self.sink_problem()?;
        if self.is_failed() || lock(&self.inner.shared.last_error).is_none() {
            return Some(problem); // removed, replaced or failed for good: a restart is needed
        }
        let now = u64::try_from(self.inner.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.inner.last_probe_ms.load(Ordering::Relaxed);
        let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < every {
            return Some(problem);
        }
        self.inner
            .last_probe_ms
            .store(now.max(1), Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if self
            .inner
            .shared
            .submit(Request::Checkpoint, Reply::Async(tx))
            .is_ok()
        {
            let _ = rx.await;
        }
        self.sink_problem()
    }

    /// Appends `event` and returns its index once it is durably on disk (written and
    /// fdatasync'ed). Concurrent appends share one write and one fdatasync.
    ///
    /// On any write or sync failure the answer is `Err(Unavailable)` and the caller must
    /// not perform the audited operation. If this future is dropped before it completes,
    /// the event may still be written (an audit record of something that did not happen,
    /// never the reverse).
    pub async fn append(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let prepared = prepare_event(&event)?;
        let (tx, rx) = oneshot::channel();
        self.inner
            .shared
            .submit(Request::Event(prepared), Reply::Async(tx))?;
        rx.await.map_err(|_| writer_gone())?
    }

    /// Blocking form of [`AuditLog::append`]. Do not call it on an async runtime thread;
    /// use `append` or `spawn_blocking` there.
    pub fn append_blocking(&self, event: AuditEvent) -> Result<u64, AuditError> {
        let prepared = prepare_event(&event)?;
        let (tx, rx) = mpsc::channel();
        self.inner
            .shared
            .submit(Request::Event(prepared), Reply::Blocking(tx))?;
        rx.recv().map_err(|_| writer_gone())?
    }

    /// Appends a signed checkpoint now and returns its index once it is durable. Blocks
    /// for one fdatasync.
    pub fn checkpoint_now(&self) -> Result<u64, AuditError> {
        let (tx, rx) = mpsc::channel();
        self.inner
            .shared
            .submit(Request::Checkpoint, Reply::Blocking(tx))?;
        rx.recv().map_err(|_| writer_gone())?
    }

    /// Raw 32-byte Ed25519 public key that verifies this log's checkpoints.
    pub fn public_key(&self) -> Vec<u8> {
        self.inner.public_key.clone()
    }

    /// Path of the audit file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// `(next index, hex hash of the last durable entry)`: the head to pass to
    /// [`verify_file`](super::verify_file) as `expected_head` to detect tail truncation.
    pub fn head(&self) -> (u64, String) {
        let (next, hash) = *lock(&self.inner.shared.head);
        (next, hex(&hash))
    }

    /// Number of successful fdatasync calls made by the writer (metrics; shows batching).
    pub fn sync_count(&self) -> u64 {
        self.inner.shared.syncs.load(Ordering::Relaxed)
    }

    /// True after a write failure that could not be rolled back: every append is refused
    /// until the log is reopened.
    pub fn is_failed(&self) -> bool {
        self.inner.shared.failed.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(crate) fn inject_fault(&self, fault: Option<Fault>) {
        *lock(&self.inner.shared.fault) = fault;
    }
}

fn writer_gone() -> AuditError {
    AuditError::Unavailable("audit writer stopped".to_string())
}

/// Verifies the existing file and returns the state to continue from. A trailing fragment
/// without newline is a write that was never acknowledged (a crash mid-write): it is cut off.
/// A file of `full_below` bytes or more is verified from its last valid signed checkpoint
/// on: the signature vouches for the head before it, so only the tail is read.
fn resume(
    file: &mut File,
    path: &Path,
    public_key: &[u8],
    existed: bool,
    full_below: u64,
    segment_start: bool,
) -> Result<ChainState, AuditError> {
    let unavailable = |what: &str, e: std::io::Error| {
        AuditError::Unavailable(format!("{what} audit log {}: {e}", path.display()))
    };
    let len = file
        .metadata()
        .map_err(|e| unavailable("cannot stat", e))?
        .len();
    let anchor = if len >= full_below && len > 0 {
        last_checkpoint(file, len, public_key).map_err(|e| unavailable("cannot read", e))?
    } else {
        None
    };
    let (mut v, from) = match &anchor {
        Some(a) => (ChainVerifier::after(public_key, a), a.end),
        None => {
            let mut v = ChainVerifier::new(public_key, None);
            v.segment_start = segment_start;
            (v, 0)
        }
    };
    file.seek(SeekFrom::Start(from))
        .map_err(|e| unavailable("cannot read", e))?;
    let end = {
        let mut reader = BufReader::new(&*file);
        v.scan(&mut reader)?
    };
    match end {
        ScanEnd::Clean => {}
        ScanEnd::Bad(b) => {
            return Err(AuditError::Tampered {
                index: b.index,
                reason: b.reason,
            })
        }
        ScanEnd::Torn { index } => {
            tracing::warn!(
                path = %path.display(),
                index,
                "audit log ends with an incomplete entry (interrupted write, never acknowledged); truncating it"
            );
            file.set_len(v.good_len)
                .map_err(|e| unavailable("cannot truncate torn tail of", e))?;
            file.sync_all().map_err(|e| unavailable("cannot sync", e))?;
        }
    }
    if !existed {
        // Make the new directory entry durable too.
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| unavailable("cannot sync directory of", e))?;
        }
    }
    Ok(ChainState {
        next_index: v.next_index,
        head: v.head,
        events_since_checkpoint: v.events_since_checkpoint,
        file_len: v.good_len,
    })
}

/// The temporary name of the next live file while a rotation builds it.
fn next_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".next");
    path.with_file_name(name)
}

/// The signed checkpoint that ends a rotated segment (its last line).
fn segment_tail(seg: &Path, public_key: &[u8]) -> Result<super::verify::Anchor, AuditError> {
    let f = File::open(seg).map_err(|e| {
        AuditError::Unavailable(format!("cannot open audit segment {}: {e}", seg.display()))
    })?;
    let len = f
        .metadata()
        .map_err(|e| AuditError::Unavailable(format!("cannot stat {}: {e}", seg.display())))?
        .len();
    match last_checkpoint(&f, len, public_key)
        .map_err(|e| AuditError::Unavailable(format!("cannot read {}: {e}", seg.display())))?
    {
        Some(a) if a.end == len => Ok(a),
        _ => Err(AuditError::Tampered {
            index: 0,
            reason: format!(
                "the audit segment {} does not end with a signed checkpoint (a rotated segment always does): it was cut or appended to",
                seg.display()
            ),
        }),
    }
}

/// Writes a new live file whose first line is a checkpoint at `index`
/// signing `prev` (the previous segment's head), and syncs it and its directory.
fn start_segment(
    path: &Path,
    key: &Ed25519KeyPair,
    index: u64,
    prev: &[u8; 32],
) -> std::io::Result<(File, [u8; 32])> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create(true).truncate(false);
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.set_len(0)?;
    let (buf, hash) = checkpoint_line(key, index, prev);
    f.write_all(&buf)?;
    f.sync_all()?;
    sync_dir(path)?;
    Ok((f, hash))
}

/// One checkpoint line at `index` over `prev`, and its hash.
fn checkpoint_line(key: &Ed25519KeyPair, index: u64, prev: &[u8; 32]) -> (Vec<u8>, [u8; 32]) {
    let sig = key.sign(&checkpoint_message(index, prev));
    let body = checkpoint_body(sig.as_ref(), key.public_key().as_ref());
    let hash = entry_hash(prev, index, &body);
    let mut buf = Vec::with_capacity(400);
    push_checkpoint_line(
        &mut buf,
        index,
        prev,
        &hash,
        &B64.encode(sig.as_ref()),
        &B64.encode(key.public_key().as_ref()),
    );
    (buf, hash)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// The first line of an open file (without its newline), read at offset 0
/// (positioned reads: the file's cursor is shared with the writer).
fn first_line(file: &File) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut pos = 0u64;
    while out.len() <= super::format::MAX_LINE_BYTES {
        let n = file.read_at(&mut buf, pos)?;
        if n == 0 {
            break;
        }
        if let Some(nl) = buf[..n].iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&buf[..nl]);
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        pos += u64::try_from(n).unwrap_or(u64::MAX);
    }
    Ok(out)
}

/// Index of the first entry of an open audit file (0 if empty).
fn first_index(file: &File) -> std::io::Result<u64> {
    let line = first_line(file)?;
    Ok(super::format::EntryIn::parse(&line)
        .map(|e| e.index)
        .unwrap_or(0))
}

/// The live file of a rotated log must start right after the last
/// segment's closing checkpoint, under a checkpoint over its hash.
fn check_link(
    file: &File,
    path: &Path,
    anchor: &super::verify::Anchor,
    public_key: &[u8],
) -> Result<(), AuditError> {
    let line = first_line(file)
        .map_err(|e| AuditError::Unavailable(format!("cannot read {}: {e}", path.display())))?;
    let len = u64::try_from(line.len() + 1).unwrap_or(u64::MAX);
    match checkpoint_anchor(&line, public_key, len) {
        Some(a) if a.index == anchor.index + 1 && a.prev == anchor.hash => Ok(()),
        _ => Err(AuditError::Tampered {
            index: anchor.index + 1,
            reason: format!(
                "{} does not continue the last rotated segment (a signed checkpoint over its head at index {} must come first)",
                path.display(),
                anchor.index + 1
            ),
        }),
    }
}

/// Test access to [`resume`]: `(next index, head hex, resumed file length)`.
#[cfg(test)]
pub(crate) fn resume_state(
    path: &Path,
    public_key: &[u8],
    full_below: u64,
) -> Result<(u64, String, u64), AuditError> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| AuditError::Unavailable(e.to_string()))?;
    let st = resume(&mut file, path, public_key, true, full_below, false)?;
    Ok((st.next_index, hex(&st.head), st.file_len))
}

struct Writer {
    shared: Arc<Shared>,
    file: File,
    state: ChainState,
    key: Ed25519KeyPair,
    public_key_b64: String,
    checkpoint_every: u64,
    max_batch: usize,
    regular: bool,
    /// The path the file was opened at, to notice it being replaced.
    path: PathBuf,
    rotation: Rotation,
    /// Index of the live file's first entry (names it when it rotates).
    segment_first: u64,
    segment_opened: std::time::Instant,
}

impl Writer {
    fn run(mut self) {
        loop {
            let batch = {
                let mut q = lock(&self.shared.queue);
                while q.items.is_empty() && !q.shutdown {
                    q.idle = true;
                    q = self.shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                q.idle = false;
                if q.items.is_empty() {
                    break; // shutdown with nothing queued
                }
                if q.items.len() <= self.max_batch {
                    std::mem::take(&mut q.items)
                } else {
                    let rest = q.items.split_off(self.max_batch);
                    std::mem::replace(&mut q.items, rest)
                }
            };
            self.commit(batch);
            if self.rotation_due() {
                self.rotate();
            }
        }
        // Clean shutdown: sign the tail so that rewriting it is detectable.
        if self.state.events_since_checkpoint > 0 && !self.shared.failed.load(Ordering::Acquire) {
            let (tx, _rx) = mpsc::channel();
            self.commit(vec![Pending {
                request: Request::Checkpoint,
                reply: Reply::Blocking(tx),
            }]);
        }
    }

    fn rotation_due(&self) -> bool {
        if !self.regular || !self.rotation.enabled() || self.shared.failed.load(Ordering::Acquire) {
            return false;
        }
        // Nothing but the opening checkpoint: nothing to rotate.
        if self.state.next_index <= self.segment_first + 1 {
            return false;
        }
        (self.rotation.max_bytes > 0 && self.state.file_len >= self.rotation.max_bytes)
            || (!self.rotation.max_age.is_zero()
                && self.segment_opened.elapsed() >= self.rotation.max_age)
    }

    /// Closes the live file as a segment and starts the next one (see
    /// module `segments`). A failure leaves the live file in place (logged,
    /// retried after the next batch); nothing acknowledged is ever lost.
    fn rotate(&mut self) {
        // 1. The segment ends with a signed checkpoint over its head.
        if self.state.events_since_checkpoint > 0 {
            let (tx, rx) = mpsc::channel();
            self.commit(vec![Pending {
                request: Request::Checkpoint,
                reply: Reply::Blocking(tx),
            }]);
            if !matches!(rx.try_recv(), Ok(Ok(_))) {
                return;
            }
        }
        // 2. The next file, under a temporary name, opened by a checkpoint
        //    over the same head.
        let next = next_path(&self.path);
        let index = self.state.next_index;
        let head = self.state.head;
        let started = start_segment(&next, &self.key, index, &head).and_then(|(f, hash)| {
            f.try_lock()
                .map_err(|e| std::io::Error::other(format!("cannot lock: {e:?}")))?;
            Ok((f, hash))
        });
        let (new_file, hash) = match started {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(&next);
                tracing::error!(error = %e, "audit rotation: cannot start the next segment; still writing the current one");
                return;
            }
        };
        // 3. Two renames: the live file becomes a segment, the new file the live one.
        let seg = segment_path(&self.path, self.segment_first);
        if let Err(e) = std::fs::rename(&self.path, &seg) {
            let _ = std::fs::remove_file(&next);
            tracing::error!(error = %e, "audit rotation: cannot rename the live file; still writing it");
            return;
        }
        if let Err(e) = std::fs::rename(&next, &self.path).and_then(|()| sync_dir(&self.path)) {
            // Put the segment back: it is still the live file.
            let back = std::fs::rename(&seg, &self.path);
            let _ = std::fs::remove_file(&next);
            tracing::error!(error = %e, restored = back.is_ok(), "audit rotation: cannot install the next segment");
            if back.is_err() {
                self.shared.failed.store(true, Ordering::Release);
            }
            return;
        }
        // 4. Switch to the new file.
        let identity = new_file.metadata().ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        });
        self.file = new_file;
        self.state.file_len = self
            .file
            .metadata()
            .map(|m| m.len())
            .unwrap_or(self.state.file_len);
        self.state.head = hash;
        self.state.next_index = index + 1;
        self.state.events_since_checkpoint = 0;
        *lock(&self.shared.head) = (self.state.next_index, self.state.head);
        *lock(&self.shared.identity) = identity;
        tracing::info!(segment = %seg.display(), first = self.segment_first, next = index, "audit log rotated");
        self.segment_first = index;
        self.segment_opened = std::time::Instant::now();
        // 5. Retention.
        if self.rotation.retain > 0 {
            if let Ok(all) = segment_files(&self.path) {
                let excess = all.len().saturating_sub(self.rotation.retain);
                for (_, old) in all.into_iter().take(excess) {
                    match std::fs::remove_file(&old) {
                        Ok(()) => {
                            tracing::info!(segment = %old.display(), "audit segment removed (audit_retain_segments)")
                        }
                        Err(e) => {
                            tracing::warn!(segment = %old.display(), error = %e, "cannot remove an old audit segment")
                        }
                    }
                }
            }
        }
    }

    /// Appends one checkpoint line for the current tentative head.
    fn push_checkpoint(&self, st: &mut ChainState, buf: &mut Vec<u8>) -> u64 {
        let index = st.next_index;
        let sig = self.key.sign(&checkpoint_message(index, &st.head));
        let body = checkpoint_body(sig.as_ref(), self.key.public_key().as_ref());
        let hash = entry_hash(&st.head, index, &body);
        push_checkpoint_line(
            buf,
            index,
            &st.head,
            &hash,
            &B64.encode(sig.as_ref()),
            &self.public_key_b64,
        );
        st.head = hash;
        st.next_index += 1;
        st.events_since_checkpoint = 0;
        index
    }

    fn commit(&mut self, batch: Vec<Pending>) {
        if self.shared.failed.load(Ordering::Acquire) {
            for p in batch {
                p.reply.send(Err(failed_error()));
            }
            return;
        }

        let mut st = self.state.clone();
        let mut buf: Vec<u8> = Vec::with_capacity(batch.len() * 400);
        let mut answers: Vec<(Reply, u64)> = Vec::with_capacity(batch.len());
        for p in batch {
            let index = match &p.request {
                Request::Event(ev) => {
                    let index = st.next_index;
                    let hash = entry_hash(&st.head, index, &ev.body);
                    push_event_line(&mut buf, index, &st.head, &hash, &ev.json);
                    st.head = hash;
                    st.next_index += 1;
                    st.events_since_checkpoint += 1;
                    if self.checkpoint_every > 0
                        && st.events_since_checkpoint >= self.checkpoint_every
                    {
                        self.push_checkpoint(&mut st, &mut buf);
                    }
                    index
                }
                Request::Checkpoint => self.push_checkpoint(&mut st, &mut buf),
            };
            answers.push((p.reply, index));
        }

        match self.write_and_sync(&buf) {
            Ok(()) => {
                self.shared.syncs.fetch_add(1, Ordering::Relaxed);
                st.file_len += u64::try_from(buf.len()).unwrap_or(u64::MAX);
                self.state = st;
                *lock(&self.shared.head) = (self.state.next_index, self.state.head);
                *lock(&self.shared.last_error) = None;
                for (reply, index) in answers {
                    reply.send(Ok(index));
                }
            }
            Err(e) => {
                // Nothing of this batch is acknowledged and the head does not move.
                let rolled_back = self.roll_back();
                if !rolled_back {
                    self.shared.failed.store(true, Ordering::Release);
                }
                tracing::error!(
                    error = %e,
                    rolled_back,
                    entries = answers.len(),
                    "audit write failed; refusing the audited operations"
                );
                let msg = if rolled_back {
                    format!("audit write failed: {e}")
                } else {
                    format!("audit write failed and could not be rolled back ({e}); audit log is now failed")
                };
                *lock(&self.shared.last_error) = Some(msg.clone());
                for (reply, _) in answers {
                    reply.send(Err(AuditError::Unavailable(msg.clone())));
                }
            }
        }
    }

    fn write_and_sync(&mut self, buf: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        {
            let fault = *lock(&self.shared.fault);
            match fault {
                Some(Fault::PartialWrite) | Some(Fault::PartialWriteAndTruncate) => {
                    self.file.write_all(&buf[..buf.len() / 2])?;
                    return Err(std::io::Error::other("injected write failure"));
                }
                Some(Fault::Sync) => {
                    self.file.write_all(buf)?;
                    return Err(std::io::Error::other("injected fdatasync failure"));
                }
                None => {}
            }
        }
        self.check_same_file()?;
        self.file.write_all(buf)?;
        self.file.sync_data()
    }

    /// Fails if the path no longer names the open file (replaced by an
    /// editor's rename, moved or deleted): records would otherwise go to a
    /// file nobody can read, so the log refuses instead.
    fn check_same_file(&self) -> std::io::Result<()> {
        if !self.regular {
            return Ok(());
        }
        use std::os::unix::fs::MetadataExt;
        let open = self.file.metadata()?;
        let on_disk = std::fs::metadata(&self.path).map_err(|e| {
            std::io::Error::other(format!(
                "the audit file {} is gone ({e}); restore it and restart",
                self.path.display()
            ))
        })?;
        if (open.dev(), open.ino()) != (on_disk.dev(), on_disk.ino()) {
            return Err(std::io::Error::other(format!(
                "the audit file {} was replaced on disk; keep both files as evidence and restart",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Cuts the file back to the last durable length. Returns false if that is impossible,
    /// in which case the log must stop accepting entries.
    fn roll_back(&mut self) -> bool {
        if !self.regular {
            return false;
        }
        #[cfg(test)]
        {
            if *lock(&self.shared.fault) == Some(Fault::PartialWriteAndTruncate) {
                return false;
            }
        }
        let ok = self
            .file
            .set_len(self.state.file_len)
            .and_then(|()| self.file.sync_all());
        match ok {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "cannot truncate audit log back to its last good length");
                false
            }
        }
    }
}
