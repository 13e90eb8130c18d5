//! A server whose script cache was flushed (a restart, a failover, `SCRIPT FLUSH`) gets each
//! script loaded again by the call that finds it missing. In a test binary of its own, since
//! the flush would add calls to the call counts other tests measure.

mod common;

use stanchion::Nanos;
use stanchion_redis::{FleetQuotaConfig, FleetSemaphoreConfig};

async fn flush(conn: &mut redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_quota_and_semaphore_scripts_are_loaded_again_after_a_flush() {
    let mut conn = common::connect().await;
    let quota = common::quota(FleetQuotaConfig::new(), "noscript");
    flush(&mut conn).await;
    assert_eq!(quota.restock(&mut conn, "k", 2).await.unwrap(), 2);
    flush(&mut conn).await;
    assert_eq!(quota.take(&mut conn, "k", 1).await.unwrap().remaining, 1);

    let sem = common::semaphore(
        FleetSemaphoreConfig::new(1).ttl(Nanos::from_secs(5)),
        "noscript",
    );
    let lease = sem.lease("s").unwrap();
    flush(&mut conn).await;
    assert_eq!(sem.try_acquire(&mut conn, &lease).await.unwrap().holders, 1);
    flush(&mut conn).await;
    assert!(sem.release(&mut conn, &lease).await.unwrap());
}
