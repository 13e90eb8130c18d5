//! The fleet bulkhead on a live server: never more holders than the limit under racing
//! tasks, a release that frees at once, a lease that lapses when its holder stops renewing,
//! and the lease keeper renewing, stopping before the release, and reporting a loss.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stanchion::rng::{draw, uniform};
use stanchion::{Nanos, Reason};
use stanchion_redis::{Error, FleetSemaphoreConfig, KeeperStatus, LeaseKeeper, Lost};

const LIMIT: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_tasks_never_hold_more_than_the_limit() {
    let conn = common::connect().await;
    let sem = common::semaphore(
        FleetSemaphoreConfig::new(LIMIT).ttl(Nanos::from_secs(30)),
        "race",
    );
    // Counted from inside each holder's interval: raised after the acquire answered, lowered
    // before the release is sent, so it never exceeds what the server holds.
    let holding = Arc::new(AtomicU32::new(0));
    let most_holding = Arc::new(AtomicU32::new(0));
    let most_on_server = Arc::new(AtomicU32::new(0));
    let (acquired, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let tasks: Vec<_> = (0..12u64)
        .map(|task| {
            let (sem, mut conn) = (sem.clone(), conn.clone());
            let (holding, most_holding, most_on_server) = (
                holding.clone(),
                most_holding.clone(),
                most_on_server.clone(),
            );
            let (acquired, refused) = (acquired.clone(), refused.clone());
            tokio::spawn(async move {
                for i in 0..40 {
                    let lease = sem.lease("jobs").unwrap();
                    match sem.try_acquire(&mut conn, &lease).await {
                        Ok(state) => {
                            assert!(state.holders <= LIMIT, "{state:?}");
                            let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                            most_holding.fetch_max(now, Ordering::SeqCst);
                            let on_server = sem.state(&mut conn, "jobs").await.unwrap().holders;
                            assert!(on_server <= LIMIT, "{on_server} holders on the server");
                            most_on_server.fetch_max(on_server, Ordering::SeqCst);
                            let work = uniform(draw(task, i), 0, 3);
                            tokio::time::sleep(Duration::from_millis(work)).await;
                            holding.fetch_sub(1, Ordering::SeqCst);
                            assert!(sem.release(&mut conn, &lease).await.unwrap());
                            acquired.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::Full(full)) => {
                            assert_eq!(full.holders, LIMIT);
                            assert!(full.next_expiry_in <= Nanos::from_secs(30));
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::task::yield_now().await;
                        }
                        Err(error) => panic!("Redis did not decide: {error}"),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(most_holding.load(Ordering::SeqCst) <= LIMIT);
    assert!(acquired.load(Ordering::Relaxed) > 0);
    assert_eq!(
        sem.state(&mut conn.clone(), "jobs").await.unwrap().holders,
        0
    );
    println!(
        "{} acquired, {} refused; at most {} held at once by the tasks' count, {} by the server's",
        acquired.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
        most_holding.load(Ordering::SeqCst),
        most_on_server.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn a_release_frees_the_slot_at_once() {
    let mut conn = common::connect().await;
    let sem = common::semaphore(FleetSemaphoreConfig::new(1), "release");
    let (a, b) = (sem.lease("one").unwrap(), sem.lease("one").unwrap());
    sem.try_acquire(&mut conn, &a).await.unwrap();
    let refused = sem.try_acquire(&mut conn, &b).await.unwrap_err();
    assert_eq!(
        refused.rejected().map(|r| r.reason),
        Some(Reason::BulkheadFull)
    );
    assert_eq!(refused.retry_after(), None);
    assert!(sem.release(&mut conn, &a).await.unwrap());
    assert_eq!(sem.try_acquire(&mut conn, &b).await.unwrap().holders, 1);
    assert!(
        !sem.release(&mut conn, &a).await.unwrap(),
        "a's lease is gone"
    );
    assert!(!sem.renew(&mut conn, &a).await.unwrap());
    assert!(sem.renew(&mut conn, &b).await.unwrap());
}

#[tokio::test]
async fn a_holder_that_stops_renewing_loses_its_lease_after_its_ttl() {
    let mut conn = common::connect().await;
    let sem = common::semaphore(
        FleetSemaphoreConfig::new(1).ttl(Nanos::from_millis(200)),
        "lapse",
    );
    let (a, b) = (sem.lease("one").unwrap(), sem.lease("one").unwrap());
    sem.try_acquire(&mut conn, &a).await.unwrap();
    let full = match sem.try_acquire(&mut conn, &b).await {
        Err(Error::Full(full)) => full,
        other => panic!("expected a full semaphore, got {other:?}"),
    };
    assert!(full.next_expiry_in <= Nanos::from_millis(200));
    // Wait out a's lease on the server's clock (the same host's), a little past its expiry.
    tokio::time::sleep(full.next_expiry_in.as_duration() + Duration::from_millis(5)).await;
    sem.try_acquire(&mut conn, &b)
        .await
        .expect("the lapsed lease's slot is free");
    assert!(!sem.renew(&mut conn, &a).await.unwrap());
    assert!(!sem.release(&mut conn, &a).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_holds_a_lease_past_its_ttl_and_never_renews_after_the_release() {
    let conn = common::connect().await;
    let sem = common::semaphore(
        FleetSemaphoreConfig::new(1).ttl(Nanos::from_millis(1500)),
        "keeper",
    );
    let lease = sem.lease("long-job").unwrap();
    sem.try_acquire(&mut conn.clone(), &lease).await.unwrap();

    let released = Arc::new(AtomicBool::new(false));
    let renewals = Arc::new(AtomicU64::new(0));
    let after_release = Arc::new(AtomicU64::new(0));
    let renew = {
        let (sem, lease, conn) = (sem.clone(), lease.clone(), conn.clone());
        let (released, renewals, after_release) =
            (released.clone(), renewals.clone(), after_release.clone());
        move || {
            let (sem, lease, mut conn) = (sem.clone(), lease.clone(), conn.clone());
            let (released, renewals, after_release) =
                (released.clone(), renewals.clone(), after_release.clone());
            async move {
                if released.load(Ordering::SeqCst) {
                    after_release.fetch_add(1, Ordering::SeqCst);
                }
                renewals.fetch_add(1, Ordering::SeqCst);
                sem.renew(&mut conn, &lease).await
            }
        }
    };
    let (keeper, handle) = LeaseKeeper::with_tokio(lease.ttl().as_duration(), renew);
    let running = tokio::spawn(keeper.run());

    // Well past the lease time: only the renewals keep the lease.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(handle.status(), KeeperStatus::Keeping);
    let other = sem.lease("long-job").unwrap();
    assert!(sem.try_acquire(&mut conn.clone(), &other).await.is_err());
    assert!(renewals.load(Ordering::SeqCst) >= 2);

    assert_eq!(handle.stop().await, KeeperStatus::Stopped);
    released.store(true, Ordering::SeqCst);
    assert!(sem.release(&mut conn.clone(), &lease).await.unwrap());
    assert!(running.await.unwrap().is_ok());
    // Two more renewal periods: nothing may start now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(after_release.load(Ordering::SeqCst), 0);
    assert!(sem.try_acquire(&mut conn.clone(), &other).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keeper_renewing_back_to_back_stops_before_the_release() {
    let conn = common::connect().await;
    let sem = common::semaphore(FleetSemaphoreConfig::new(1), "keeper-spin");
    for round in 0..20 {
        let lease = sem.lease("spin").unwrap();
        sem.try_acquire(&mut conn.clone(), &lease).await.unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicU64::new(0));
        let renew = {
            let (sem, lease, conn) = (sem.clone(), lease.clone(), conn.clone());
            let (released, late) = (released.clone(), late.clone());
            move || {
                let (sem, lease, mut conn) = (sem.clone(), lease.clone(), conn.clone());
                let (released, late) = (released.clone(), late.clone());
                async move {
                    if released.load(Ordering::SeqCst) {
                        late.fetch_add(1, Ordering::SeqCst);
                    }
                    sem.renew(&mut conn, &lease).await
                }
            }
        };
        // A sleep that returns at once: the keeper renews as fast as Redis answers.
        let (keeper, handle) =
            LeaseKeeper::new(lease.ttl().as_duration(), renew, |_: Duration| async {});
        let running = tokio::spawn(keeper.run());
        tokio::time::sleep(Duration::from_millis(uniform(draw(7, round), 0, 5))).await;
        assert_eq!(handle.stop().await, KeeperStatus::Stopped, "round {round}");
        released.store(true, Ordering::SeqCst);
        assert!(sem.release(&mut conn.clone(), &lease).await.unwrap());
        assert!(running.await.unwrap().is_ok());
        assert_eq!(late.load(Ordering::SeqCst), 0, "round {round}");
    }
}

#[tokio::test]
async fn a_keeper_reports_a_lease_gone_at_once() {
    let mut conn = common::connect().await;
    let sem = common::semaphore(
        FleetSemaphoreConfig::new(2).ttl(Nanos::from_millis(300)),
        "keeper-lost",
    );
    let lease = sem.lease("job").unwrap();
    sem.try_acquire(&mut conn, &lease).await.unwrap();
    let (keeper, handle) = sem.tokio_keeper(conn.clone(), &lease);
    let running = tokio::spawn(keeper.run());
    // Someone else's cleanup removes the lease behind the holder's back.
    let _: () = redis::cmd("DEL")
        .arg(sem.redis_key("job").unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), handle.ended())
        .await
        .expect("the keeper ends");
    assert_eq!(ended, KeeperStatus::Lost);
    assert!(handle.is_lost());
    assert!(matches!(running.await.unwrap(), Err(Lost::Gone)));
}

#[tokio::test]
async fn a_keeper_paused_past_the_lease_time_finds_the_lease_gone() {
    let mut conn = common::connect().await;
    let sem = common::semaphore(
        FleetSemaphoreConfig::new(1).ttl(Nanos::from_millis(100)),
        "keeper-paused",
    );
    let lease = sem.lease("job").unwrap();
    sem.try_acquire(&mut conn, &lease).await.unwrap();
    // A holder paused (a GC pause, a stopped VM) for twice the lease time between renewals.
    let (keeper, handle) = sem.keeper(conn.clone(), &lease, |_: Duration| {
        tokio::time::sleep(Duration::from_millis(200))
    });
    assert!(matches!(keeper.run().await, Err(Lost::Gone)));
    assert_eq!(handle.status(), KeeperStatus::Lost);
    assert_eq!(sem.state(&mut conn, "job").await.unwrap().holders, 0);
}
