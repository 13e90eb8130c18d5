//! A Redis that stops answering costs a call the connection's response timeout, no more, and
//! the timeout comes back as `Error::Redis` with the Redis error as its cause.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use stanchion::TokenBucketConfig;
use stanchion_redis::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to the test server that, once `blackhole` is set, swallows every byte.
async fn proxy(blackhole: Arc<AtomicBool>) -> String {
    let upstream = common::url();
    let address = upstream
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&address).await.unwrap();
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pipe(client_read, server_write, blackhole.clone()));
            tokio::spawn(pipe(server_read, client_write, blackhole.clone()));
        }
    });
    format!("redis://127.0.0.1:{port}/")
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    blackhole: Arc<AtomicBool>,
) {
    let mut buffer = [0u8; 4096];
    while let Ok(read) = from.read(&mut buffer).await {
        if read == 0 {
            return;
        }
        if !blackhole.load(Ordering::Relaxed) && to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_silent_server_costs_the_response_timeout_and_no_more() {
    let blackhole = Arc::new(AtomicBool::new(false));
    let url = proxy(blackhole.clone()).await;
    let config =
        AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_millis(200)));
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    let limiter = common::limiter(TokenBucketConfig::new(5), "timeout");
    limiter.try_acquire(&mut conn, "k", 1).await.unwrap();

    blackhole.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let result = limiter.try_acquire(&mut conn, "k", 1).await;
    let elapsed = started.elapsed();
    let Err(Error::Redis(error)) = result else {
        panic!("expected a Redis error, got {result:?}");
    };
    assert!(error.is_timeout(), "{error:?}");
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    let wrapped = Error::Redis(error);
    let cause = std::error::Error::source(&wrapped).expect("a cause");
    assert!(cause.downcast_ref::<redis::RedisError>().is_some());
}
