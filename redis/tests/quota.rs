//! The fleet quota on a live server, through the public API as users call it: takes racing
//! with retries of the same request id, local batches and the calls they save, arguments
//! refused before any round trip, the script's own checks, and a Redis that cannot answer.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Counting;
use redis::aio::MultiplexedConnection;
use stanchion::rng::{draw, uniform};
use stanchion::Nanos;
use stanchion_redis::{Error, FleetQuotaConfig, MAX_UNITS};

const STOCK: u64 = 10_000;

/// Takes one unit with `id`, the first attempt cut off after a random few microseconds (its
/// outcome unknown, as after a timeout) and retried with the same id until it answers, then
/// retried once more when `check_replay`. Returns whether the id was served.
async fn take_retrying(
    quota: &stanchion_redis::FleetQuota,
    conn: &mut MultiplexedConnection,
    id: &str,
    cut_after: Option<Duration>,
    check_replay: bool,
    replays: &AtomicU64,
) -> bool {
    let mut first = None;
    if let Some(cut_after) = cut_after {
        if let Ok(result) =
            tokio::time::timeout(cut_after, quota.take_with_id(conn, "hot", 1, id)).await
        {
            first = Some(result);
        }
    }
    let result = match first {
        Some(result) => result,
        None => quota.take_with_id(conn, "hot", 1, id).await,
    };
    let served = match result {
        Ok(taken) => {
            if taken.replayed {
                replays.fetch_add(1, Ordering::Relaxed);
            }
            if check_replay {
                let again = quota.take_with_id(conn, "hot", 1, id).await.unwrap();
                assert!(again.replayed, "{id}: a retry after a grant was charged");
                assert_eq!(again.bucket, taken.bucket, "{id}");
                replays.fetch_add(1, Ordering::Relaxed);
            }
            true
        }
        Err(Error::SoldOut(_)) => false,
        Err(error) => panic!("{id}: Redis did not decide: {error}"),
    };
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_takes_retried_with_their_ids_grant_the_stock_exactly_once() {
    let conn = common::connect().await;
    let quota = common::quota(FleetQuotaConfig::new().buckets(4), "race");
    quota
        .restock(&mut conn.clone(), "hot", STOCK)
        .await
        .unwrap();

    // Watches the raw counts while the takes run: a count below zero would read "-1".
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (mut conn, done) = (conn.clone(), done.clone());
        let keys: Vec<String> = (0..4).map(|b| quota.redis_key("hot", b).unwrap()).collect();
        tokio::spawn(async move {
            let mut reads = 0u64;
            while !done.load(Ordering::Relaxed) {
                for key in &keys {
                    let raw: Option<String> = redis::cmd("GET")
                        .arg(key)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    let raw = raw.unwrap_or_default();
                    assert!(
                        raw.is_empty() || raw.parse::<u64>().is_ok(),
                        "{key} holds {raw:?}"
                    );
                    reads += 1;
                }
            }
            reads
        })
    };

    let served_ids = Arc::new(Mutex::new(HashSet::new()));
    let replays = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..32u64)
        .map(|task| {
            let (quota, mut conn) = (quota.clone(), conn.clone());
            let (served_ids, replays) = (served_ids.clone(), replays.clone());
            tokio::spawn(async move {
                for i in 0u64.. {
                    let id = format!("task-{task}-take-{i}");
                    let bits = draw(task, i);
                    let cut_after = bits
                        .is_multiple_of(3)
                        .then(|| Duration::from_micros(uniform(bits >> 8, 0, 400)));
                    let check_replay = bits.is_multiple_of(5);
                    let served =
                        take_retrying(&quota, &mut conn, &id, cut_after, check_replay, &replays)
                            .await;
                    if !served {
                        return;
                    }
                    assert!(served_ids.lock().unwrap().insert(id));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let reads = watcher.await.unwrap();

    let served = served_ids.lock().unwrap().len() as u64;
    assert_eq!(served, STOCK, "every unit granted to exactly one id");
    assert_eq!(quota.remaining(&mut conn.clone(), "hot").await.unwrap(), 0);
    assert!(replays.load(Ordering::Relaxed) > 0);
    println!(
        "{served} ids served, {} replays, {reads} reads of the counts on the side",
        replays.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn local_batches_of_100_cost_100_calls_per_10000_takes() {
    let conn = common::connect().await;
    let quota = common::quota(FleetQuotaConfig::new().batch(100), "pool");
    quota
        .restock(&mut conn.clone(), "credits", 3 * STOCK)
        .await
        .unwrap();

    // One after another: exactly one call per batch (the script is loaded already).
    let counting = Counting::new(conn.clone());
    let pool = quota.pool(counting.clone(), "credits").unwrap();
    for _ in 0..STOCK {
        pool.take(1).await.unwrap();
    }
    let sequential = counting.calls();
    assert_eq!(pool.local(), 0);
    assert_eq!(pool.close().await.unwrap(), 0, "nothing left to give back");
    assert_eq!(sequential, STOCK / 100);

    // 16 tasks at once: several may find the pool dry together and each take a batch; what
    // they do not use goes back in one call.
    let counting = Counting::new(conn.clone());
    let pool = Arc::new(quota.pool(counting.clone(), "credits").unwrap());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..STOCK / 16 {
                    pool.take(1).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let pool = Arc::try_unwrap(pool).unwrap();
    let returned = pool.close().await.unwrap();
    let concurrent = counting.calls();
    // Units are conserved: 30 000 stocked, 20 000 taken, the rest back in Redis.
    assert_eq!(
        quota.remaining(&mut conn.clone(), "credits").await.unwrap(),
        STOCK
    );
    println!(
        "Redis calls per 10 000 takes with local batches of 100: {sequential} one at a time, \
         {concurrent} from 16 tasks at once (including the give-back of {returned} units)"
    );
}

#[tokio::test]
async fn a_pool_takes_what_a_bucket_has_and_keeps_it_for_smaller_takes() {
    let mut conn = common::connect().await;
    let quota = common::quota(FleetQuotaConfig::new().batch(100), "pool-short");
    quota.restock(&mut conn, "rare", 5).await.unwrap();
    let pool = quota.pool(conn.clone(), "rare").unwrap();
    pool.take(1).await.unwrap();
    assert_eq!(
        pool.local(),
        4,
        "a batch is what the bucket held, at least the take"
    );
    assert_eq!(quota.remaining(&mut conn, "rare").await.unwrap(), 0);
    match pool.take(5).await {
        Err(Error::SoldOut(sold_out)) => assert_eq!(sold_out.requested, 5),
        other => panic!("expected sold out, got {other:?}"),
    }
    assert_eq!(pool.local(), 4);
    pool.take(4).await.unwrap();
    assert_eq!(pool.local(), 0);
    assert!(pool.take(1).await.is_err());
}

#[tokio::test]
async fn a_dropped_pool_gives_its_units_back() {
    let mut conn = common::connect().await;
    let quota = common::quota(FleetQuotaConfig::new().batch(50), "pool-drop");
    quota.restock(&mut conn, "seats", 80).await.unwrap();
    let pool = quota.pool(conn.clone(), "seats").unwrap();
    pool.take(1).await.unwrap();
    assert_eq!(quota.remaining(&mut conn, "seats").await.unwrap(), 30);
    drop(pool);
    // The give-back runs in a task of this runtime: wait for it, not for a time.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let remaining = quota.remaining(&mut conn, "seats").await.unwrap();
        if remaining == 79 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the units never came back: {remaining}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn take_with_id_on_the_server_clock_remembers_the_id_for_its_memory() {
    let mut conn = common::connect().await;
    let quota = common::quota(
        FleetQuotaConfig::new().id_memory(Nanos::from_secs(30)),
        "id-memory",
    );
    quota.restock(&mut conn, "sku", 3).await.unwrap();
    let first = quota
        .take_with_id(&mut conn, "sku", 2, "order-1")
        .await
        .unwrap();
    let again = quota
        .take_with_id(&mut conn, "sku", 2, "order-1")
        .await
        .unwrap();
    assert_eq!((first.replayed, again.replayed), (false, true));
    assert_eq!((first.remaining, again.remaining), (1, 1));
    let id_key = format!("{}:id:order-1", quota.redis_key("sku", 0).unwrap());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&id_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 30_000, "{pttl}");
    // The count itself never expires.
    let pttl: i64 = redis::cmd("PTTL")
        .arg(quota.redis_key("sku", 0).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pttl, -1);
}

#[tokio::test]
async fn bad_arguments_are_refused_before_any_round_trip() {
    let counting = Counting::new(common::connect().await);
    let mut conn = counting.clone();
    let quota = common::quota(FleetQuotaConfig::new().buckets(2), "bad-input");
    fn field<T: std::fmt::Debug>(result: Result<T, Error>) -> &'static str {
        match result {
            Err(Error::InvalidArgument(e)) => e.field,
            Err(Error::InvalidKey { .. }) => "name",
            other => panic!("expected an argument error, got {other:?}"),
        }
    }
    assert_eq!(field(quota.take(&mut conn, "k", 0).await), "n");
    assert_eq!(field(quota.take(&mut conn, "k", MAX_UNITS + 1).await), "n");
    assert_eq!(field(quota.take(&mut conn, "", 1).await), "name");
    assert_eq!(field(quota.take(&mut conn, "a{b", 1).await), "name");
    assert_eq!(
        field(quota.take(&mut conn, &"k".repeat(1025), 1).await),
        "name"
    );
    assert_eq!(
        field(quota.take_with_id(&mut conn, "k", 1, "").await),
        "request_id"
    );
    let long_id = "i".repeat(257);
    assert_eq!(
        field(quota.take_with_id(&mut conn, "k", 1, &long_id).await),
        "request_id"
    );
    assert_eq!(
        field(quota.take_with_id(&mut conn, "k", 0, "id").await),
        "n"
    );
    assert_eq!(field(quota.restock(&mut conn, "k", 0).await), "n");
    assert_eq!(field(quota.remaining(&mut conn, "}").await), "name");
    assert_eq!(
        field(quota.bucket_remaining(&mut conn, "k", 2).await),
        "bucket"
    );
    assert_eq!(field(quota.pool(conn.clone(), "").map(|_| ())), "name");
    let pool = quota.pool(conn.clone(), "k").unwrap();
    assert_eq!(field(pool.take(0).await), "n");
    assert_eq!(counting.calls(), 0);

    let message = quota.take(&mut conn, "k", 0).await.unwrap_err().to_string();
    assert_eq!(
        message,
        "invalid argument `n`: must be 1..=9007199254740991 (2^53 - 1)"
    );
    assert_eq!(
        quota
            .take(&mut conn, "a}", 1)
            .await
            .unwrap_err()
            .to_string(),
        "invalid key: contains `{` or `}`"
    );
    // The longest id and name pass.
    let id = "i".repeat(256);
    let name = "k".repeat(1024);
    assert!(matches!(
        quota.take_with_id(&mut conn, &name, 1, &id).await,
        Err(Error::SoldOut(_))
    ));
}

#[tokio::test]
async fn the_script_checks_its_arguments_and_state_and_writes_nothing_when_it_refuses() {
    let mut conn = common::connect().await;
    let prefix = common::unique_prefix("quota-script");
    let key = format!("{prefix}{{q:0}}:quota");
    let script = redis::Script::new(include_str!("../scripts/quota.lua"));
    let run = |args: &[&str]| {
        let mut invocation = script.key(&key);
        for arg in args {
            invocation.arg(*arg);
        }
        invocation
    };
    let mut c = conn.clone();
    let restocked: (u64,) = run(&["restock", "5"]).invoke_async(&mut c).await.unwrap();
    assert_eq!(restocked, (5,));

    for (args, message) in [
        (&["take", "0", "1", "1000"][..], "least out of range"),
        (&["take", "2", "1", "1000"], "most out of range"),
        (&["take", "1", "1", "0"], "id memory out of range"),
        (
            &["take", " 1", "1", "1000"],
            "least must be a decimal integer",
        ),
        (
            &["take", "1", "1e3", "1000"],
            "most must be a decimal integer",
        ),
        (
            &["take", "1", "9007199254740992", "1000"],
            "most out of range",
        ),
        (
            &["take", "1", "1", "1000", "18446744073709551616"],
            "now must be a decimal integer below 2^64",
        ),
        (&["restock", "0"], "n out of range"),
        (&["steal", "1"], "the operation must be"),
    ] {
        let error = run(args)
            .invoke_async::<redis::Value>(&mut c)
            .await
            .unwrap_err();
        assert!(error.to_string().contains(message), "{args:?}: {error}");
    }
    let left: (u64,) = run(&["remaining"]).invoke_async(&mut c).await.unwrap();
    assert_eq!(left, (5,), "no refused call wrote");

    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("-1")
        .query_async(&mut conn)
        .await
        .unwrap();
    let error = run(&["take", "1", "1", "1000"])
        .invoke_async::<redis::Value>(&mut c)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("does not hold a quota count"),
        "{error}"
    );

    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("3")
        .query_async(&mut conn)
        .await
        .unwrap();
    let id_key = format!("{key}:id:x");
    let _: () = redis::cmd("SET")
        .arg(&id_key)
        .arg("garbage")
        .query_async(&mut conn)
        .await
        .unwrap();
    let error = script
        .key(&key)
        .key(&id_key)
        .arg("take")
        .arg("1")
        .arg("1")
        .arg("1000")
        .invoke_async::<redis::Value>(&mut c)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("request id record"), "{error}");
}

/// A connection whose every command fails, as when Redis is down.
#[derive(Clone)]
struct Down;

impl redis::aio::ConnectionLike for Down {
    fn req_packed_command<'a>(
        &'a mut self,
        _: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "connection refused",
            )))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        _: &'a redis::Pipeline,
        _: usize,
        _: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "connection refused",
            )))
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[tokio::test]
async fn a_quota_raises_when_redis_cannot_answer() {
    let quota = stanchion_redis::FleetQuota::new(FleetQuotaConfig::new().buckets(3)).unwrap();
    fn is_redis<T>(result: Result<T, Error>) -> bool {
        match result {
            Err(error @ Error::Redis(_)) => {
                let cause = std::error::Error::source(&error).expect("a cause");
                assert!(cause.downcast_ref::<redis::RedisError>().is_some());
                assert!(!error.is_refusal());
                true
            }
            _ => false,
        }
    }
    // Three failures in a row open the breaker guarding the connection; from then on the
    // quota answers from memory, still an error and never a guess.
    fn is_open<T>(result: Result<T, Error>) -> bool {
        matches!(result, Err(error @ Error::BreakerOpen(_)) if error.is_unavailable() && !error.is_refusal())
    }
    assert!(is_redis(quota.take(&mut Down, "k", 1).await));
    assert!(is_redis(quota.take_with_id(&mut Down, "k", 1, "id").await));
    assert!(is_redis(quota.restock(&mut Down, "k", 1).await));
    assert!(is_open(quota.remaining(&mut Down, "k").await));
    let pool = quota.pool(Down, "k").unwrap();
    assert!(is_open(pool.take(1).await));
}
