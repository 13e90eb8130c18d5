//! The fleet lock on a live server: leases, fencing, waiting, the keeper, and replicas.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::proxy::Proxy;
use redis::AsyncCommands;
use stanchion::Nanos;
use stanchion_redis::{FleetLock, FleetLockConfig, LockError, Lost};

fn lock(tag: &str, ttl: Nanos) -> FleetLock {
    FleetLock::new(
        FleetLockConfig::new()
            .prefix(common::unique_prefix(tag))
            .ttl(ttl),
    )
    .unwrap()
}

#[tokio::test]
async fn one_holder_at_a_time_and_release_frees_at_once() {
    let mut conn = common::connect().await;
    let lock = lock("basic", Nanos::from_secs(10));
    let first = lock.try_acquire(&mut conn, "job").await.unwrap();
    assert_eq!(first.token().len(), 32);
    let Err(LockError::Held { retry_after }) = lock.try_acquire(&mut conn, "job").await else {
        panic!("a second holder got the lock");
    };
    assert!(
        retry_after > Nanos::ZERO && retry_after <= Nanos::from_secs(10),
        "{retry_after:?}"
    );
    assert!(lock.release(&mut conn, &first).await.unwrap());
    let second = lock.try_acquire(&mut conn, "job").await.unwrap();
    assert_ne!(second.token(), first.token());
    assert!(second.fence() > first.fence());
    // The first holder's late release leaves the second's lease alone.
    assert!(!lock.release(&mut conn, &first).await.unwrap());
    assert!(matches!(
        lock.try_acquire(&mut conn, "job").await,
        Err(LockError::Held { .. })
    ));
}

#[tokio::test]
async fn extend_sets_the_remaining_time_it_never_adds() {
    let mut conn = common::connect().await;
    let lock = lock("extend", Nanos::from_secs(100));
    let lease = lock.try_acquire(&mut conn, "job").await.unwrap();
    let (key, _) = lock.redis_keys("job").unwrap();
    assert!(lock
        .extend(&mut conn, &lease, Nanos::from_secs(2))
        .await
        .unwrap());
    let pttl: i64 = conn.pttl(&key).await.unwrap();
    assert!(pttl > 0 && pttl <= 2_000, "{pttl}");
    lock.release(&mut conn, &lease).await.unwrap();
    assert!(!lock
        .extend(&mut conn, &lease, Nanos::from_secs(2))
        .await
        .unwrap());
    let exists: bool = conn.exists(&key).await.unwrap();
    assert!(
        !exists,
        "an extend after release must not bring the lease back"
    );
}

#[tokio::test]
async fn an_expired_holder_is_fenced_off_by_the_next() {
    let mut conn = common::connect().await;
    let lock = lock("expiry", Nanos::from_millis(50));
    let stale = lock.try_acquire(&mut conn, "job").await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let next = lock.try_acquire(&mut conn, "job").await.unwrap();
    assert!(next.fence() > stale.fence());

    // A resource that keeps the largest fence it has seen refuses the stale holder's write.
    let mut newest = 0;
    let mut write = |fence: u64| {
        if fence < newest {
            return false;
        }
        newest = fence;
        true
    };
    assert!(write(next.fence()));
    assert!(!write(stale.fence()));
    assert!(!lock.release(&mut conn, &stale).await.unwrap());
}

#[tokio::test]
async fn fences_keep_growing_when_the_counter_is_lost() {
    let mut conn = common::connect().await;
    let lock = lock("fence", Nanos::from_secs(10));
    let origin = 1_000_000_000_000_000; // microseconds, about 2001
    let first = lock.try_acquire_at(&mut conn, "job", origin).await.unwrap();
    assert_eq!(first.fence(), origin);
    lock.release(&mut conn, &first).await.unwrap();
    // Within one microsecond the counter, not the clock, keeps fences apart.
    let second = lock.try_acquire_at(&mut conn, "job", origin).await.unwrap();
    assert_eq!(second.fence(), origin + 1);
    lock.release(&mut conn, &second).await.unwrap();
    let (_, fence_key) = lock.redis_keys("job").unwrap();
    let () = conn.del(&fence_key).await.unwrap();
    let third = lock
        .try_acquire_at(&mut conn, "job", origin + 500)
        .await
        .unwrap();
    assert_eq!(third.fence(), origin + 500);
    let ttl: i64 = conn.ttl(&fence_key).await.unwrap();
    assert_eq!(ttl, -1, "the fence key never expires");
}

#[tokio::test]
async fn acquire_waits_for_a_release_and_gives_up_after_its_wait() {
    let mut conn = common::connect().await;
    let lock = Arc::new(lock("wait", Nanos::from_secs(10)));
    let holder = lock.try_acquire(&mut conn, "job").await.unwrap();
    let Err(LockError::WaitedTooLong { waited }) = lock
        .acquire(&mut conn, "job", Nanos::from_millis(100))
        .await
    else {
        panic!("the waiter got a held lock");
    };
    assert!(waited <= Nanos::from_millis(100), "{waited:?}");

    let (waiter_lock, mut waiter_conn) = (lock.clone(), conn.clone());
    let waiter = tokio::spawn(async move {
        waiter_lock
            .acquire(&mut waiter_conn, "job", Nanos::from_secs(5))
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    lock.release(&mut conn, &holder).await.unwrap();
    let lease = waiter
        .await
        .unwrap()
        .expect("the waiter takes the released lock");
    assert!(lease.fence() > holder.fence());
}

#[tokio::test]
async fn holders_never_overlap_and_every_increment_counts() {
    const TASKS: u64 = 8;
    const ROUNDS: u64 = 50;
    let lock = Arc::new(lock("mutex", Nanos::from_secs(5)));
    let inside = Arc::new(AtomicBool::new(false));
    let newest_fence = Arc::new(AtomicU64::new(0));
    let counter_key = format!("{}counter", common::unique_prefix("mutex-counter"));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (lock, inside, newest_fence) = (lock.clone(), inside.clone(), newest_fence.clone());
        let counter_key = counter_key.clone();
        let conn = common::connect().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let finished = lock
                    .with(conn.clone(), "counter", Nanos::from_secs(30), |lease| {
                        let (inside, newest_fence) = (inside.clone(), newest_fence.clone());
                        let (counter_key, mut conn) = (counter_key.clone(), conn.clone());
                        async move {
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                            let before = newest_fence.fetch_max(lease.fence(), Ordering::SeqCst);
                            assert!(lease.fence() > before, "fences must grow");
                            // Read, yield, write: lost updates would show without the lock.
                            let n: u64 = conn.get(&counter_key).await.unwrap_or(0);
                            tokio::task::yield_now().await;
                            let () = conn.set(&counter_key, n + 1).await.unwrap();
                            inside.store(false, Ordering::SeqCst);
                        }
                    })
                    .await
                    .unwrap();
                assert!(finished.lost.is_none());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut conn = common::connect().await;
    let total: u64 = conn.get(&counter_key).await.unwrap();
    assert_eq!(total, TASKS * ROUNDS);
}

#[tokio::test]
async fn the_keeper_holds_the_lock_through_long_work_and_stops_at_release() {
    let (proxy, url) = Proxy::start().await;
    let conn = common::connect_to(&url).await;
    let mut other = common::connect().await;
    let lock = lock("keeper", Nanos::from_millis(300));
    let finished = lock
        .with(conn.clone(), "job", Nanos::ZERO, |lease| {
            let lock = &lock;
            let other = &mut other;
            async move {
                // Five lease times of work; another holder is refused all along.
                for _ in 0..10 {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    assert!(matches!(
                        lock.try_acquire(other, "job").await,
                        Err(LockError::Held { .. })
                    ));
                }
                lease.fence()
            }
        })
        .await
        .unwrap();
    assert!(finished.lost.is_none(), "{:?}", finished.lost);
    let sent = proxy.sent();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(proxy.sent(), sent, "no renewal after the release");
    assert!(lock.try_acquire(&mut other, "job").await.is_ok());
}

#[tokio::test]
async fn a_lease_taken_away_is_reported_lost_at_once() {
    let conn = common::connect().await;
    let mut admin = common::connect().await;
    let lock = lock("lost", Nanos::from_millis(300));
    let (key, _) = lock.redis_keys("job").unwrap();
    let finished = lock
        .with(conn, "job", Nanos::ZERO, |lease| {
            let admin = &mut admin;
            async move {
                // Another process "takes over" the lock, as after an expiry.
                let () = admin.set(&key, "someone-else").await.unwrap();
                tokio::time::timeout(Duration::from_secs(5), lease.lost())
                    .await
                    .expect("the keeper reports the loss within a renewal period");
                assert!(lease.lost().is_lost());
            }
        })
        .await
        .unwrap();
    assert!(
        matches!(finished.lost, Some(Lost::Gone)),
        "{:?}",
        finished.lost
    );
    let holder: String = admin.get(lock.redis_keys("job").unwrap().0).await.unwrap();
    assert_eq!(
        holder, "someone-else",
        "the lost holder's release deletes nothing"
    );
}

#[tokio::test]
async fn a_silent_redis_fails_the_renewal_and_the_holder_is_told() {
    let (proxy, url) = Proxy::start().await;
    let conn = common::connect_to(&url).await;
    let lock = FleetLock::new(
        FleetLockConfig::new()
            .prefix(common::unique_prefix("silent"))
            .ttl(Nanos::from_millis(300))
            .timeout(Nanos::from_millis(50)),
    )
    .unwrap();
    let finished = lock
        .with(conn, "job", Nanos::ZERO, |lease| {
            let proxy = &proxy;
            async move {
                proxy.set_blackhole(true);
                tokio::time::timeout(Duration::from_secs(5), lease.lost())
                    .await
                    .expect("a failed renewal is reported");
            }
        })
        .await
        .unwrap();
    assert!(
        matches!(finished.lost, Some(Lost::Failed(_))),
        "{:?}",
        finished.lost
    );
}

#[tokio::test]
async fn wait_replicas_needs_the_acknowledgements_it_asks_for() {
    let mut conn = common::connect().await;
    let replica_url = common::replica_url();
    let mut replica = common::connect_to(&replica_url).await;
    let prefix = common::unique_prefix("replicas");
    let lock = FleetLock::new(
        FleetLockConfig::new()
            .prefix(prefix.clone())
            .wait_replicas(1, Nanos::from_millis(200)),
    )
    .unwrap();
    let lease = lock.try_acquire(&mut conn, "job").await.unwrap();
    lock.release(&mut conn, &lease).await.unwrap();

    // Detach the replica: WAIT counts no acknowledgement, and the lease is given back.
    let (host, port) = common::host_port(&common::url());
    let () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query_async(&mut replica)
        .await
        .unwrap();
    let answer = lock.try_acquire(&mut conn, "job").await;
    let () = redis::cmd("REPLICAOF")
        .arg(&host)
        .arg(port)
        .query_async(&mut replica)
        .await
        .unwrap();
    let Err(LockError::Replicas {
        acknowledged: 0,
        wanted: 1,
    }) = answer
    else {
        panic!("expected a replica shortfall, got {answer:?}");
    };
    let (key, _) = lock.redis_keys("job").unwrap();
    let exists: bool = conn.exists(&key).await.unwrap();
    assert!(!exists, "a lease without its replicas is released");
}

#[test]
fn bad_configs_and_names_name_the_field() {
    for (config, field) in [
        (FleetLockConfig::new().ttl(Nanos::new(1_500_000)), "ttl"),
        (FleetLockConfig::new().ttl(Nanos::ZERO), "ttl"),
        (FleetLockConfig::new().prefix("{x}"), "prefix"),
        (
            FleetLockConfig::new().wait_replicas(0, Nanos::from_secs(1)),
            "wait_replicas.replicas",
        ),
        (FleetLockConfig::new().timeout(Nanos::ZERO), "timeout"),
    ] {
        assert_eq!(FleetLock::new(config).unwrap_err().field, field);
    }
    let lock = FleetLock::new(FleetLockConfig::new()).unwrap();
    for name in ["", "a{b", "}"] {
        assert!(matches!(lock.redis_keys(name), Err(LockError::Invalid(e)) if e.field == "name"));
    }
}
