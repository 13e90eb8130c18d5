//! The `semaphore` scenarios: one fleet bulkhead per file, its holders named in the steps,
//! each holding one lease (a fresh random token) for the whole file.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;
use serde_json::{json, Map, Value};
use stanchion::Nanos;
use stanchion_redis::{Error, FleetSemaphore, FleetSemaphoreConfig, Lease, SemaphoreState};

use super::{at, int, int_json, string, u32_of, Failure, Fields, Res};

pub struct Semaphore {
    semaphore: FleetSemaphore,
    leases: HashMap<String, Lease>,
}

impl Semaphore {
    pub fn new(config: Value) -> Res<Semaphore> {
        let config = semaphore_config(config)?.prefix(crate::common::unique_prefix("conformance"));
        let semaphore = FleetSemaphore::new(config).map_err(|e| format!("`config`: {e}"))?;
        Ok(Semaphore {
            semaphore,
            leases: HashMap::new(),
        })
    }

    /// The lease of `holder`, made the first time the holder is named, on semaphore `name`.
    fn lease(&mut self, holder: String, name: &str) -> Res<Lease> {
        if let Some(lease) = self.leases.get(&holder) {
            if lease.name() != name {
                return Err(format!(
                    "holder `{holder}` holds a lease on `{}`, not `{name}`",
                    lease.name()
                ));
            }
            return Ok(lease.clone());
        }
        let lease = self
            .semaphore
            .lease(name)
            .map_err(|e| format!("`name`: {e}"))?;
        self.leases.insert(holder, lease.clone());
        Ok(lease)
    }

    pub async fn run(
        &mut self,
        conn: &mut MultiplexedConnection,
        op: &str,
        args: &mut Fields,
    ) -> Result<Map<String, Value>, Failure> {
        let mut fields = Map::new();
        let state = match op {
            "acquire" | "renew" | "release" => {
                let holder = args.or("holder", "a".to_string(), string)?;
                let name = args.or("name", "s".to_string(), string)?;
                let lease = self.lease(holder, &name)?;
                let now = at(args)?;
                let sem = &self.semaphore;
                let (ok, state) = match op {
                    "acquire" => match sem.try_acquire_at(conn, &lease, now).await {
                        Ok(state) => (true, state),
                        Err(Error::Full(full)) => (
                            false,
                            SemaphoreState {
                                holders: full.holders,
                                next_expiry_in: Some(full.next_expiry_in),
                            },
                        ),
                        Err(error) => return Err(mismatch(op, error)),
                    },
                    "renew" => sem
                        .renew_at(conn, &lease, now)
                        .await
                        .map_err(|e| mismatch(op, e))?,
                    _ => sem
                        .release_at(conn, &lease, now)
                        .await
                        .map_err(|e| mismatch(op, e))?,
                };
                let word = match op {
                    "acquire" => "acquired",
                    "renew" => "renewed",
                    _ => "released",
                };
                fields.insert(word.into(), json!(ok));
                state
            }
            "holders" => {
                let name = args.or("name", "s".to_string(), string)?;
                let now = at(args)?;
                self.semaphore
                    .state_at(conn, &name, now)
                    .await
                    .map_err(|e| mismatch(op, e))?
            }
            "expires_at" => {
                let name = args.or("name", "s".to_string(), string)?;
                let key = self
                    .semaphore
                    .redis_key(&name)
                    .map_err(|e| format!("`name`: {e}"))?;
                fields.insert("expires_at".into(), super::expires_at(conn, &key).await?);
                return Ok(fields);
            }
            "validate" => {
                let config = args.required("config")?;
                let error_field = match semaphore_config(config)?.validate() {
                    Ok(()) => Value::Null,
                    Err(e) => json!(e.field),
                };
                fields.insert("error_field".into(), error_field);
                return Ok(fields);
            }
            other => return Err(format!("unknown op `{other}`").into()),
        };
        fields.insert("holders".into(), json!(state.holders));
        fields.insert(
            "next_expiry_in".into(),
            state
                .next_expiry_in
                .map_or(Value::Null, |n| int_json(n.as_nanos())),
        );
        Ok(fields)
    }
}

fn mismatch(op: &str, error: Error) -> Failure {
    Failure::Mismatch(format!("{op} failed: {error}"))
}

fn semaphore_config(config: Value) -> Res<FleetSemaphoreConfig> {
    let mut config = Fields::new(config, "`config`")?;
    let limit = config.get("limit", u32_of)?;
    let ttl = config.or("ttl", 30_000_000_000, int)?;
    config.finish()?;
    Ok(FleetSemaphoreConfig::new(limit).ttl(Nanos::new(ttl)))
}
