//! RedLock on five independent servers, each behind a proxy the test can silence: the lease
//! holds with two servers gone, is refused with three, and is released everywhere.

mod common;

use std::sync::Arc;

use common::proxy::Proxy;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use stanchion::Nanos;
use stanchion_redis::{FleetLockConfig, LockError, Redlock};

struct Servers {
    proxies: Vec<Arc<Proxy>>,
    conns: Vec<MultiplexedConnection>,
    direct: Vec<MultiplexedConnection>,
}

async fn servers() -> Servers {
    let mut servers = Servers {
        proxies: Vec::new(),
        conns: Vec::new(),
        direct: Vec::new(),
    };
    for url in common::redlock_urls() {
        let (proxy, proxied) = Proxy::start_to(&url).await;
        servers.proxies.push(proxy);
        servers.conns.push(common::connect_to(&proxied).await);
        servers.direct.push(common::connect_to(&url).await);
    }
    assert_eq!(servers.conns.len(), 5);
    servers
}

fn redlock(tag: &str) -> Redlock {
    let config = FleetLockConfig::new()
        .prefix(common::unique_prefix(tag))
        .ttl(Nanos::from_secs(10))
        .timeout(Nanos::from_millis(100));
    Redlock::new(config, 5).unwrap()
}

/// How many servers hold `key`, asked directly (not through the proxies).
async fn holders(servers: &mut Servers, key: &str) -> usize {
    let mut count = 0;
    for conn in &mut servers.direct {
        let exists: bool = conn.exists(key).await.unwrap();
        count += usize::from(exists);
    }
    count
}

#[tokio::test]
async fn a_quorum_holds_the_lease_and_release_clears_every_server() {
    let mut servers = servers().await;
    let redlock = redlock("redlock-all");
    let lease = redlock
        .try_acquire(&mut servers.conns, "job")
        .await
        .unwrap();
    assert!(lease.validity() > Nanos::from_secs(9) && lease.validity() < Nanos::from_secs(10));
    let key = lock_key(&redlock);
    assert_eq!(holders(&mut servers, &key).await, 5);
    let second = redlock.try_acquire(&mut servers.conns, "job").await;
    assert!(matches!(second, Err(LockError::Held { .. })), "{second:?}");
    assert_eq!(
        redlock.release(&mut servers.conns, &lease).await.unwrap(),
        5
    );
    assert_eq!(holders(&mut servers, &key).await, 0);
}

#[tokio::test]
async fn two_servers_down_still_leave_a_quorum() {
    let mut servers = servers().await;
    let redlock = redlock("redlock-two");
    servers.proxies[0].set_blackhole(true);
    servers.proxies[3].set_blackhole(true);
    let lease = redlock
        .try_acquire(&mut servers.conns, "job")
        .await
        .unwrap();
    let key = lock_key(&redlock);
    assert!(redlock
        .extend(&mut servers.conns, &lease, Nanos::from_secs(10))
        .await
        .unwrap());
    let released = redlock.release(&mut servers.conns, &lease).await.unwrap();
    assert_eq!(released, 3);
    // The silenced servers never saw the lease (their proxies swallowed the calls).
    assert_eq!(holders(&mut servers, &key).await, 0);
}

#[tokio::test]
async fn three_servers_down_refuse_and_leave_nothing_behind() {
    let mut servers = servers().await;
    let redlock = redlock("redlock-three");
    for i in [1, 2, 4] {
        servers.proxies[i].set_blackhole(true);
    }
    let answer = redlock.try_acquire(&mut servers.conns, "job").await;
    assert!(
        matches!(answer, Err(LockError::Unavailable(_))),
        "{answer:?}"
    );
    let key = lock_key(&redlock);
    assert_eq!(
        holders(&mut servers, &key).await,
        0,
        "the partial grants were released"
    );
}

#[tokio::test]
async fn a_minority_holding_another_lease_blocks_a_quorum() {
    let mut servers = servers().await;
    let redlock = redlock("redlock-split");
    let key = lock_key(&redlock);
    // Three servers already hold someone else's lease.
    for conn in servers.direct.iter_mut().take(3) {
        let () = conn.set_ex(&key, "another-holder", 10).await.unwrap();
    }
    let answer = redlock.try_acquire(&mut servers.conns, "job").await;
    let Err(LockError::Held { retry_after }) = answer else {
        panic!("expected the other holder, got {answer:?}");
    };
    assert!(retry_after <= Nanos::from_secs(10));
    // Only the other holder's three keys remain: this attempt's two grants were released.
    assert_eq!(holders(&mut servers, &key).await, 3);
}

fn lock_key(redlock: &Redlock) -> String {
    format!("{}{{job}}:lock", redlock.config().prefix)
}
