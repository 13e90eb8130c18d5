//! The lease keeper alone, with fake renewals and sleeps (no server): it renews every third of
//! the lease time, a stop wakes it from its sleep, a stop waits for a renewal in flight and
//! none starts after, and a loss or a failure ends it and reaches the handle.

use std::future::pending;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stanchion_redis::{Error, KeeperStatus, LeaseKeeper, Lost};
use tokio::sync::{oneshot, Notify};

#[tokio::test]
async fn it_sleeps_a_third_of_the_lease_time_between_renewals() {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let renewals = Arc::new(AtomicU32::new(0));
    let (keeper, handle) = LeaseKeeper::new(
        Duration::from_millis(900),
        || {
            let renewals = renewals.clone();
            async move { Ok(renewals.fetch_add(1, Ordering::SeqCst) < 2) }
        },
        |wait| {
            waits.lock().unwrap().push(wait);
            async {}
        },
    );
    assert!(matches!(keeper.run().await, Err(Lost::Gone)));
    assert_eq!(renewals.load(Ordering::SeqCst), 3);
    assert_eq!(*waits.lock().unwrap(), vec![Duration::from_millis(300); 3]);
    assert_eq!(handle.status(), KeeperStatus::Lost);
}

#[tokio::test]
async fn a_stop_wakes_a_sleeping_keeper_and_nothing_is_renewed() {
    let renewals = Arc::new(AtomicU32::new(0));
    let (keeper, handle) = LeaseKeeper::new(
        Duration::from_secs(30),
        || {
            renewals.fetch_add(1, Ordering::SeqCst);
            async { Ok(true) }
        },
        |_| pending::<()>(),
    );
    let (ended, status) = tokio::join!(keeper.run(), async {
        tokio::task::yield_now().await;
        handle.stop().await
    });
    assert!(ended.is_ok());
    assert_eq!(status, KeeperStatus::Stopped);
    assert_eq!(renewals.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_stop_waits_for_the_renewal_in_flight_and_none_starts_after() {
    let started = Arc::new(Notify::new());
    let (finish, finished) = oneshot::channel::<()>();
    let finished = Arc::new(Mutex::new(Some(finished)));
    let renewals = Arc::new(AtomicU32::new(0));
    let (keeper, handle) = LeaseKeeper::new(
        Duration::from_secs(3),
        {
            let (started, finished, renewals) =
                (started.clone(), finished.clone(), renewals.clone());
            move || {
                renewals.fetch_add(1, Ordering::SeqCst);
                let (started, finished) = (started.clone(), finished.lock().unwrap().take());
                async move {
                    started.notify_one();
                    if let Some(finished) = finished {
                        let _ = finished.await;
                    }
                    Ok(true)
                }
            }
        },
        |_| async {},
    );
    let running = tokio::spawn(keeper.run());
    started.notified().await;
    let stopping = tokio::spawn({
        let handle = handle.clone();
        async move { handle.stop().await }
    });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    // The renewal is still in flight: the stop has not returned, and the keeper still keeps.
    assert!(!stopping.is_finished());
    assert_eq!(handle.status(), KeeperStatus::Keeping);
    finish.send(()).unwrap();
    assert_eq!(stopping.await.unwrap(), KeeperStatus::Stopped);
    assert!(running.await.unwrap().is_ok());
    assert_eq!(renewals.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_renewal_ends_the_keeper_and_reaches_every_watcher() {
    let (keeper, handle) = LeaseKeeper::new(
        Duration::from_secs(3),
        || async {
            Err(Error::from(redis::RedisError::from((
                redis::ErrorKind::Io,
                "connection reset",
            ))))
        },
        |_| async {},
    );
    let watchers: Vec<_> = (0..3)
        .map(|_| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.ended().await })
        })
        .collect();
    tokio::task::yield_now().await;
    let lost = keeper.run().await.unwrap_err();
    assert!(matches!(lost, Lost::Failed(Error::Redis(_))));
    assert!(std::error::Error::source(&lost).is_some());
    for watcher in watchers {
        assert_eq!(watcher.await.unwrap(), KeeperStatus::Lost);
    }
    // A stop after the loss changes nothing and says how it ended.
    assert_eq!(handle.stop().await, KeeperStatus::Lost);
}

#[tokio::test]
async fn a_lease_found_gone_while_stopping_is_reported_lost() {
    let (keeper, handle) = LeaseKeeper::new(
        Duration::from_secs(3),
        // The renewal yields, so the stop lands while it is in flight.
        || async {
            tokio::task::yield_now().await;
            Ok(false)
        },
        |_| async {},
    );
    let (ended, status) = tokio::join!(keeper.run(), handle.stop());
    assert!(matches!(ended, Err(Lost::Gone)));
    assert_eq!(status, KeeperStatus::Lost);
}

#[tokio::test]
async fn dropping_the_keeper_future_stops_it() {
    let (keeper, handle) = LeaseKeeper::new(
        Duration::from_secs(3),
        || async { Ok(true) },
        |_| pending::<()>(),
    );
    let running = tokio::spawn(keeper.run());
    tokio::task::yield_now().await;
    running.abort();
    assert!(running.await.unwrap_err().is_cancelled());
    assert_eq!(handle.ended().await, KeeperStatus::Stopped);
    assert_eq!(handle.stop().await, KeeperStatus::Stopped);
}
