//! The `LISTEN` side: one dedicated connection per node that hears every
//! commit's `NOTIFY` and forwards it as a [`Change`]. Whenever the
//! connection is (re)established it first sends [`Change::Resync`], because
//! notifications sent while it was down are lost. The connection is pinged
//! every few seconds, so a half-open TCP connection is noticed, not trusted.

use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

use strongroom_store::Change;

const PING_EVERY: Duration = Duration::from_secs(3);
const PING_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Runs until the receiving side is dropped (or the store's runtime stops).
pub async fn run(
    cfg: tokio_postgres::Config,
    channel: String,
    target: String,
    out: std::sync::mpsc::Sender<Change>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match listen_once(&cfg, &channel, &out).await {
            Ended::ReceiverGone => return,
            Ended::Lost(why) => {
                tracing::warn!(postgres = %target, error = %why, "postgres LISTEN connection lost; reconnecting (caches are fully reloaded when it is back)");
            }
            Ended::WasHealthy => {
                backoff = Duration::from_millis(50);
                tracing::warn!(postgres = %target, "postgres LISTEN connection closed; reconnecting");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum Ended {
    ReceiverGone,
    Lost(String),
    WasHealthy,
}

async fn listen_once(
    cfg: &tokio_postgres::Config,
    channel: &str,
    out: &std::sync::mpsc::Sender<Change>,
) -> Ended {
    let (client, mut conn) = match cfg.connect(NoTls).await {
        Ok(x) => x,
        Err(e) => return Ended::Lost(e.to_string()),
    };
    let (ntx, mut nrx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if ntx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    });
    let quoted = format!("\"{}\"", channel.replace('"', "\"\""));
    if let Err(e) = client.batch_execute(&format!("LISTEN {quoted}")).await {
        driver.abort();
        return Ended::Lost(e.to_string());
    }
    tracing::info!(channel, "postgres: listening for changes from other nodes");
    // Anything committed while we were not listening is picked up by a full reload.
    if out.send(Change::Resync).is_err() {
        driver.abort();
        return Ended::ReceiverGone;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let ended = loop {
        tokio::select! {
            n = nrx.recv() => match n {
                Some(p) => {
                    if let Some(c) = Change::parse(&p) {
                        if out.send(c).is_err() {
                            break Ended::ReceiverGone;
                        }
                    }
                }
                None => break Ended::WasHealthy,
            },
            _ = ping.tick() => {
                match tokio::time::timeout(PING_TIMEOUT, client.simple_query("SELECT 1")).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => break Ended::Lost(e.to_string()),
                    Err(_) => break Ended::Lost("ping timed out".into()),
                }
            }
        }
    };
    driver.abort();
    ended
}
