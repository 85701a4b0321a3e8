//! Test setup for the engine's own tests: a stand-in for the running
//! node's seal that keeps the root key in the store itself (test builds
//! only), so engine tests can init, unseal, restart and reopen an engine
//! without the service layer above this crate. Key custody itself (Shamir,
//! the HSM) is tested in strongroom-service's node tests.

use std::sync::{Arc, Mutex};

use crate::clock::SharedClock;
use crate::crypto::material::AES_KEY_LEN;
use crate::crypto::rng::SharedRng;
use crate::crypto::SecretBytes;
use crate::error::{Error, Result};
use crate::keys::engine::{Engine, EngineConfig};
use crate::seal::barrier::Barrier;
use crate::storage::{Op, Store, Transaction};

/// Test-only: the root key, in the clear, in the store's metadata.
const TEST_ROOT: &str = "test_root_key_in_clear";
/// The one "share" of a test seal.
const TEST_SHARE: &str = "test-share";

pub(crate) struct TestSeal {
    store: Arc<dyn Store>,
    clock: SharedClock,
    rng: SharedRng,
    cfg: EngineConfig,
    engine: Mutex<Option<Arc<Engine>>>,
}

pub(crate) struct TestInit {
    pub shares: Vec<SecretBytes>,
}

pub(crate) struct TestStatus {
    pub sealed: bool,
}

impl TestSeal {
    pub fn open(
        store: Arc<dyn Store>,
        clock: SharedClock,
        rng: SharedRng,
        cfg: EngineConfig,
    ) -> Result<Self> {
        Ok(TestSeal {
            store,
            clock,
            rng,
            cfg,
            engine: Mutex::new(None),
        })
    }

    pub fn init(&self, _shares: u8, _threshold: u8) -> Result<TestInit> {
        if self.store.get_meta(TEST_ROOT)?.is_some() {
            return Err(Error::AlreadyInitialized);
        }
        let mut root = SecretBytes::zeroed(AES_KEY_LEN);
        self.rng.fill(root.expose_mut())?;
        // Placeholders for the custody records a backup carries (the
        // node writes the real ones); the engine only copies them.
        let placeholder = |name: &str| Op::PutMeta {
            name: name.into(),
            value: format!("{{\"type\":\"test\",\"record\":\"{name}\"}}").into_bytes(),
        };
        self.store.commit(
            Transaction::new()
                .push(Op::PutMeta {
                    name: TEST_ROOT.into(),
                    value: root.expose().to_vec(),
                })
                .push(placeholder(crate::seal::META_SEAL_CONFIG))
                .push(placeholder(crate::seal::META_ROOT_KEY))
                .push(placeholder(crate::seal::META_ROOT_TOKEN))
                .push(placeholder(crate::seal::META_AUDIT_KEY)),
        )?;
        Ok(TestInit {
            shares: vec![SecretBytes::new(TEST_SHARE.as_bytes().to_vec())],
        })
    }

    pub fn unseal(&self, share: &str) -> Result<TestStatus> {
        if share != TEST_SHARE {
            return Err(Error::InvalidShare("not the test share".into()));
        }
        let root = self
            .store
            .get_meta(TEST_ROOT)?
            .ok_or(Error::NotInitialized)?;
        let barrier = Arc::new(Barrier::new(&SecretBytes::new(root))?);
        let engine = Engine::load(
            self.store.clone(),
            barrier,
            self.clock.clone(),
            self.rng.clone(),
            self.cfg.clone(),
        )?;
        *self
            .engine
            .lock()
            .map_err(|_| Error::Internal("test seal lock".into()))? = Some(Arc::new(engine));
        Ok(TestStatus { sealed: false })
    }

    pub fn init_dev(&self, _root_token: Option<SecretBytes>) -> Result<()> {
        self.init(1, 1)?;
        self.unseal(TEST_SHARE).map(|_| ())
    }

    pub fn engine(&self) -> Result<Arc<Engine>> {
        self.engine
            .lock()
            .map_err(|_| Error::Internal("test seal lock".into()))?
            .clone()
            .ok_or(Error::Sealed)
    }
}

/// An unsealed engine over an in-memory SQLite store, on a manual clock
/// starting at `t0`.
pub(crate) fn dev_seal_on_manual_clock(
    t0: crate::clock::Timestamp,
) -> (TestSeal, Arc<crate::clock::ManualClock>) {
    let store: Arc<dyn Store> =
        Arc::new(strongroom_store_sql::sqlite::SqliteStore::open(":memory:").expect("open sqlite"));
    let clock = Arc::new(crate::clock::ManualClock::new(t0));
    let shared: SharedClock = clock.clone();
    let seal = TestSeal::open(
        store,
        shared,
        Arc::new(crate::crypto::rng::SystemRng),
        EngineConfig::default(),
    )
    .expect("open test seal");
    seal.init_dev(None).expect("init_dev");
    (seal, clock)
}

/// Every file of a SQLite database: main, `-wal`, `-shm`, `-journal`.
pub(crate) fn db_files(db: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let p = format!("{}{suffix}", db.display());
        if let Ok(b) = std::fs::read(&p) {
            out.push((p, b));
        }
    }
    out
}

/// The files (of [`db_files`]) that hold `needle` anywhere, free pages included.
pub(crate) fn found_in(files: &[(String, Vec<u8>)], needle: &[u8]) -> Vec<String> {
    files
        .iter()
        .filter(|(_, b)| b.windows(needle.len()).any(|w| w == needle))
        .map(|(p, _)| p.clone())
        .collect()
}
