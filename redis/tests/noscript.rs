//! A server whose script cache was flushed (a restart, a failover, `SCRIPT FLUSH`) gets each
//! script loaded again by the call that finds it missing. In a test binary of its own, since
//! the flush would add calls to the call counts other tests measure.

mod common;

use stanchion_redis::FleetQuotaConfig;

async fn flush(conn: &mut redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_quota_script_is_loaded_again_after_a_flush() {
    let mut conn = common::connect().await;
    let quota = common::quota(FleetQuotaConfig::new(), "noscript");
    flush(&mut conn).await;
    assert_eq!(quota.restock(&mut conn, "k", 2).await.unwrap(), 2);
    flush(&mut conn).await;
    assert_eq!(quota.take(&mut conn, "k", 1).await.unwrap().remaining, 1);
}
