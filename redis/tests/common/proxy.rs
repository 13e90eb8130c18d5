//! A TCP proxy in front of the test server that the tests can turn silent, for faults Redis
//! itself never shows on loopback: a server that stops answering, a network that drops.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// The proxy's switches and counters, shared with its tasks.
#[derive(Default)]
pub struct Proxy {
    /// While set, every byte in either direction is swallowed.
    pub blackhole: AtomicBool,
    /// Bytes the clients sent toward the server, swallowed or not: a call made shows here.
    pub sent: AtomicU64,
}

impl Proxy {
    /// Starts a proxy to the standalone test server; returns it and its URL.
    pub async fn start() -> (Arc<Proxy>, String) {
        Proxy::start_to(&super::url()).await
    }

    /// Starts a proxy to the server at `upstream`; returns it and its URL.
    pub async fn start_to(upstream: &str) -> (Arc<Proxy>, String) {
        let address = upstream
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Arc::new(Proxy::default());
        let shared = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&address).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, shared.clone(), true));
                tokio::spawn(pipe(server_read, client_write, shared.clone(), false));
            }
        });
        (proxy, format!("redis://127.0.0.1:{port}/"))
    }

    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, Ordering::SeqCst);
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, proxy: Arc<Proxy>, upstream: bool) {
    let mut buffer = [0u8; 4096];
    while let Ok(read) = from.read(&mut buffer).await {
        if read == 0 {
            return;
        }
        if upstream {
            proxy.sent.fetch_add(read as u64, Ordering::SeqCst);
        }
        if !proxy.blackhole.load(Ordering::SeqCst) && to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
