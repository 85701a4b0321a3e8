//! The ceiling: a bare axum handler on an ephemeral port doing AES-256-GCM
//! over the request body with a fixed key, and nothing else (no auth, JSON,
//! audit or storage). It runs in its own runtime with as many worker threads
//! as the server would use, and is served by the same hyper HTTP/1.1
//! connection code as the server.

use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;

/// A running ceiling server; stops when dropped.
pub struct Ceiling {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn seal(State(key): State<Arc<LessSafeKey>>, body: Bytes) -> Result<Vec<u8>, StatusCode> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let mut out = Vec::with_capacity(NONCE_LEN + body.len() + 16);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    let (head, data) = out.split_at_mut(NONCE_LEN);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::try_assume_unique_for_key(head)
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?,
            Aad::empty(),
            data,
        )
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

/// Starts the ceiling server with `threads` runtime workers.
pub fn start(threads: usize) -> Result<Ceiling, String> {
    let mut key_bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key_bytes).map_err(|_| "random key".to_string())?;
    let key = UnboundKey::new(&AES_256_GCM, &key_bytes).map_err(|_| "AES key".to_string())?;
    let key = Arc::new(LessSafeKey::new(key));
    let app = Router::new().route("/", post(seal)).with_state(key);
    let (tx_addr, rx_addr) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("bench-ceiling".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .thread_name("bench-ceiling-worker")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx_addr.send(Err(format!("ceiling runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx_addr.send(Err(format!("ceiling bind: {e}")));
                        return;
                    }
                };
                let _ = tx_addr.send(listener.local_addr().map_err(|e| e.to_string()));
                let accept = async {
                    while let Ok((stream, _)) = listener.accept().await {
                        let _ = stream.set_nodelay(true);
                        let svc = TowerToHyperService::new(app.clone());
                        tokio::spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {},
                    _ = stop_rx => {},
                }
            });
        })
        .map_err(|e| format!("ceiling thread: {e}"))?;
    let addr = rx_addr
        .recv()
        .map_err(|_| "ceiling server did not start".to_string())??;
    Ok(Ceiling {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}
