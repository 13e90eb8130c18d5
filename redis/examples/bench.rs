//! Decisions per second and latency of the fleet limiter against the floor, a bare `EVALSHA` of
//! a script that returns at once with the same key and arguments, on one multiplexed
//! connection: one call at a time, then 16 in flight. A report, not a test.
//!
//! Run it with a server (scripts/bench-redis.sh starts one and stops it):
//!
//! ```sh
//! STANCHION_REDIS_URL=redis://127.0.0.1:6379/ cargo run --release -p stanchion-redis --example bench
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use stanchion::{Nanos, TokenBucketConfig};
use stanchion_redis::{FleetLimiter, FleetLimiterConfig};

const CALLS: usize = 40_000;
const WARMUP: usize = 2_000;
const KEYS: usize = 1_000;
const IN_FLIGHT: usize = 16;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("STANCHION_REDIS_URL")
        .map_err(|_| "STANCHION_REDIS_URL is not set: run scripts/bench-redis.sh")?;
    let conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    // Every call a grant, the write path: a million tokens per second per key, over 1000 keys.
    // One limiter shared by every task, as a service shares it: its breaker guards the one
    // connection they all use.
    let limiter = Arc::new(FleetLimiter::new(
        FleetLimiterConfig::new(
            TokenBucketConfig::new(1_000_000).refill(1_000_000, Nanos::from_secs(1)),
        )
        .prefix("bench:"),
    )?);
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("key-{i}")).collect());
    let floor = redis::Script::new("return 1");

    println!("| calls | in flight | decisions/s | p50 | p99 |");
    println!("| --- | --- | --- | --- | --- |");
    for in_flight in [1, IN_FLIGHT] {
        let (floor, keys_for_floor) = (floor.clone(), keys.clone());
        let floor_call = move |mut conn: MultiplexedConnection, i: usize| {
            let floor = floor.clone();
            let key = format!("bench:{{{}}}:limiter", keys_for_floor[i % KEYS]);
            async move {
                let _: i64 = floor
                    .key(key)
                    .arg("1000000")
                    .arg("1")
                    .arg("1000")
                    .arg("1")
                    .arg("0")
                    .invoke_async(&mut conn)
                    .await
                    .expect("the floor script answers");
            }
        };
        let (limiter, keys) = (limiter.clone(), keys.clone());
        let limiter_call = move |mut conn: MultiplexedConnection, i: usize| {
            let limiter = limiter.clone();
            let key = keys[i % KEYS].clone();
            async move {
                limiter
                    .try_acquire(&mut conn, &key, 1)
                    .await
                    .expect("every call is a grant");
            }
        };
        let row = measure(conn.clone(), in_flight, floor_call).await;
        println!("| bare EVALSHA (floor) | {in_flight} | {row} |");
        let row = measure(conn.clone(), in_flight, limiter_call).await;
        println!("| FleetLimiter::try_acquire | {in_flight} | {row} |");
    }
    Ok(())
}

/// Runs `CALLS` calls (after `WARMUP` unmeasured ones) from `in_flight` tasks sharing the
/// connection, each task one call at a time; formats throughput, p50 and p99.
async fn measure<F, Fut>(conn: MultiplexedConnection, in_flight: usize, call: F) -> String
where
    F: Fn(MultiplexedConnection, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    for i in 0..WARMUP {
        call(conn.clone(), i).await;
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|task| {
            let conn = conn.clone();
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(CALLS / in_flight);
                for i in (task..CALLS).step_by(in_flight) {
                    let sent = Instant::now();
                    call(conn.clone(), i).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(CALLS);
    for task in tasks {
        latencies.extend(task.await.expect("a benchmark task"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |quantile: f64| latencies[((latencies.len() - 1) as f64 * quantile) as usize];
    format!(
        "{:.0} | {} | {}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        micros(at(0.50)),
        micros(at(0.99))
    )
}

fn micros(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}
