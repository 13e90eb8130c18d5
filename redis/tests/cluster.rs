//! The fleet tier through a cluster connection on a 3-primary Redis Cluster: limiter keys of
//! different names, and the buckets of one quota, land on different slots and nodes, and every
//! call of every script runs (no CROSSSLOT, no MOVED left to the caller), each script loaded
//! on each node the first time it is needed there.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::Value;
use stanchion::{Nanos, Reason, TokenBucketConfig};
use stanchion_redis::{Error, FleetQuotaConfig, FleetSemaphoreConfig};

/// The primary serving each slot range, from `CLUSTER SLOTS`: (first, last, "host:port").
fn slot_owners(reply: Value) -> Vec<(i64, i64, String)> {
    let Value::Array(ranges) = reply else {
        panic!("CLUSTER SLOTS answered {reply:?}");
    };
    ranges
        .into_iter()
        .map(|range| {
            let Value::Array(fields) = range else {
                panic!("a slot range {range:?}");
            };
            let (Value::Int(first), Value::Int(last), Value::Array(primary)) =
                (&fields[0], &fields[1], &fields[2])
            else {
                panic!("a slot range {fields:?}");
            };
            let (Value::BulkString(host), Value::Int(port)) = (&primary[0], &primary[1]) else {
                panic!("a primary {primary:?}");
            };
            let host = String::from_utf8_lossy(host);
            (*first, *last, format!("{host}:{port}"))
        })
        .collect()
}

#[tokio::test]
async fn the_limiter_runs_on_a_cluster_with_keys_on_every_primary() {
    let urls = common::cluster_urls();
    // A cluster connection has no response timeout unless one is set (see the crate docs).
    let client = ClusterClient::builder(urls.clone())
        .response_timeout(Duration::from_secs(2))
        .build()
        .expect("a cluster client");
    let mut conn = client
        .get_async_connection()
        .await
        .expect("a connection to the test cluster");
    let limiter = common::limiter(
        TokenBucketConfig::new(3).refill(1, Nanos::from_secs(1)),
        "cluster",
    );

    let owners = slot_owners(
        redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .expect("CLUSTER SLOTS answers"),
    );
    let mut slots = BTreeSet::new();
    let mut nodes: HashMap<String, usize> = HashMap::new();
    for i in 0..16 {
        let name = format!("tenant-{i}");
        for left in (0..3).rev() {
            let admitted = limiter.try_acquire(&mut conn, &name, 1).await.unwrap();
            assert_eq!(admitted.remaining, left, "{name}");
        }
        match limiter.try_acquire(&mut conn, &name, 1).await {
            Err(Error::Refused(refused)) => {
                assert_eq!(refused.rejected.reason, Reason::RateLimited);
                let after = refused.rejected.retry_after.unwrap();
                assert!(
                    after > Nanos::ZERO && after <= Nanos::from_secs(1),
                    "{after}"
                );
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
        assert!(limiter.peek(&mut conn, &name, 1).await.is_err());

        let key = limiter.redis_key(&name).unwrap();
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let (_, _, node) = owners
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .expect("every slot is served");
        // The key is on the node that owns its slot: ask that node alone, no redirection.
        let mut direct = redis::Client::open(format!("redis://{node}/"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let exists: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut direct)
            .await
            .unwrap();
        assert!(exists, "{key} is not on {node}, the owner of slot {slot}");
        slots.insert(slot);
        *nodes.entry(node.clone()).or_default() += 1;
    }
    assert!(slots.len() >= 12, "16 names on only {} slots", slots.len());
    assert_eq!(
        nodes.len(),
        3,
        "the names did not reach every primary: {nodes:?}"
    );
    assert_eq!(urls.len(), 3);
}

async fn cluster() -> ClusterConnection {
    // A cluster connection has no response timeout unless one is set (see the crate docs).
    ClusterClient::builder(common::cluster_urls())
        .response_timeout(Duration::from_secs(2))
        .build()
        .expect("a cluster client")
        .get_async_connection()
        .await
        .expect("a connection to the test cluster")
}

/// The slot of `key` and the primary serving it.
async fn placement(conn: &mut ClusterConnection, key: &str) -> (i64, String) {
    let owners = slot_owners(
        redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(conn)
            .await
            .expect("CLUSTER SLOTS answers"),
    );
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap();
    let (_, _, node) = owners
        .into_iter()
        .find(|(first, last, _)| (*first..=*last).contains(&slot))
        .expect("every slot is served");
    (slot, node)
}

#[tokio::test]
async fn a_bucketed_quota_spreads_over_slots_and_nodes_and_sells_its_stock_exactly() {
    const BUCKETS: u32 = 32;
    let mut conn = cluster().await;
    let quota = common::quota(FleetQuotaConfig::new().buckets(BUCKETS), "cluster");
    assert_eq!(quota.restock(&mut conn, "hot", 800).await.unwrap(), 800);

    let mut slots = BTreeSet::new();
    let mut nodes: HashMap<String, usize> = HashMap::new();
    for bucket in 0..BUCKETS {
        let key = quota.redis_key("hot", bucket).unwrap();
        let (slot, node) = placement(&mut conn, &key).await;
        // The bucket lives on the node that owns its slot: ask that node alone.
        let mut direct = redis::Client::open(format!("redis://{node}/"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let count: u64 = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut direct)
            .await
            .unwrap();
        assert_eq!(count, 25, "{key} on {node}");
        slots.insert(slot);
        *nodes.entry(node).or_default() += 1;
    }
    assert!(
        slots.len() >= 28,
        "32 buckets on only {} slots",
        slots.len()
    );
    assert_eq!(
        nodes.len(),
        3,
        "the buckets did not reach every primary: {nodes:?}"
    );

    // Takes with ids (two keys of one slot per call) and without, until sold out.
    let mut served = 0u64;
    for i in 0u64.. {
        let result = if i.is_multiple_of(2) {
            quota
                .take_with_id(&mut conn, "hot", 1, &format!("order-{i}"))
                .await
        } else {
            quota.take(&mut conn, "hot", 1).await
        };
        match result {
            Ok(taken) => {
                assert!(!taken.replayed);
                served += 1;
            }
            Err(Error::SoldOut(sold_out)) => {
                assert_eq!(sold_out.remaining, 0);
                break;
            }
            Err(error) => panic!("Redis did not decide: {error}"),
        }
    }
    assert_eq!(served, 800);
    let replay = quota
        .take_with_id(&mut conn, "hot", 1, "order-0")
        .await
        .unwrap();
    assert!(replay.replayed);

    let pool = quota.pool(conn.clone(), "hot").unwrap();
    quota.restock(&mut conn, "hot", 64).await.unwrap();
    pool.take(1).await.unwrap();
    assert!(pool.close().await.unwrap() > 0);
    assert_eq!(quota.remaining(&mut conn, "hot").await.unwrap(), 63);
}

#[tokio::test]
async fn the_semaphore_runs_on_a_cluster() {
    let mut conn = cluster().await;
    let sem = common::semaphore(
        FleetSemaphoreConfig::new(2).ttl(Nanos::from_secs(10)),
        "cluster",
    );
    let mut nodes = BTreeSet::new();
    for i in 0..12 {
        let name = format!("pool-{i}");
        let (a, b, c) = (
            sem.lease(&name).unwrap(),
            sem.lease(&name).unwrap(),
            sem.lease(&name).unwrap(),
        );
        sem.try_acquire(&mut conn, &a).await.unwrap();
        sem.try_acquire(&mut conn, &b).await.unwrap();
        assert!(matches!(
            sem.try_acquire(&mut conn, &c).await,
            Err(Error::Full(_))
        ));
        assert!(sem.renew(&mut conn, &a).await.unwrap());
        assert!(sem.release(&mut conn, &a).await.unwrap());
        assert_eq!(sem.try_acquire(&mut conn, &c).await.unwrap().holders, 2);
        assert_eq!(sem.state(&mut conn, &name).await.unwrap().holders, 2);
        let (_, node) = placement(&mut conn, &sem.redis_key(&name).unwrap()).await;
        nodes.insert(node);
    }
    assert!(nodes.len() >= 2, "12 names on one node: {nodes:?}");
}
