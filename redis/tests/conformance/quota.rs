//! The `quota` scenarios: one fleet quota per file, driven through the crate's public API
//! (and its test-only entry points for injected time and starting buckets).

use redis::aio::MultiplexedConnection;
use serde_json::{json, Map, Value};
use stanchion::Nanos;
use stanchion_redis::{Error, FleetQuota, FleetQuotaConfig};

use super::{at, int, int_json, string, u32_of, Failure, Fields, Res};

pub struct Quota {
    quota: FleetQuota,
}

impl Quota {
    pub fn new(config: Value) -> Res<Quota> {
        let config = quota_config(config)?.prefix(crate::common::unique_prefix("conformance"));
        let quota = FleetQuota::new(config).map_err(|e| format!("`config`: {e}"))?;
        Ok(Quota { quota })
    }

    pub async fn run(
        &mut self,
        conn: &mut MultiplexedConnection,
        op: &str,
        args: &mut Fields,
    ) -> Result<Map<String, Value>, Failure> {
        let buckets = self.quota.config().buckets;
        match op {
            "take" => {
                let name = args.or("name", "q".to_string(), string)?;
                let n = args.get("n", int)?;
                let id = args.take("id").map(|v| string(&v)).transpose()?;
                let start = args.take("start").map(|v| u32_of(&v)).transpose()?;
                let now = if args.map.contains_key("now") {
                    at(args)?
                } else {
                    Nanos::new(super::ORIGIN)
                };
                if id.is_some() && start.is_some() {
                    return Err("`start`: a take with an `id` starts where the id says"
                        .to_string()
                        .into());
                }
                if id.is_none() && start.is_none() && buckets > 1 {
                    return Err("a take without an `id` on a quota of several buckets starts at a random one: give `start`".to_string().into());
                }
                let result = self
                    .quota
                    .take_at(conn, &name, n, id.as_deref(), start, now)
                    .await;
                let mut fields = Map::new();
                let (granted, bucket, remaining, replayed, error_field) = match result {
                    Ok(taken) => (
                        true,
                        json!(taken.bucket),
                        int_json(taken.remaining),
                        taken.replayed,
                        Value::Null,
                    ),
                    Err(Error::SoldOut(sold_out)) => (
                        false,
                        Value::Null,
                        int_json(sold_out.remaining),
                        false,
                        Value::Null,
                    ),
                    Err(Error::InvalidArgument(e)) => {
                        (false, Value::Null, Value::Null, false, json!(e.field))
                    }
                    Err(Error::InvalidKey { .. }) => {
                        (false, Value::Null, Value::Null, false, json!("name"))
                    }
                    Err(error) => {
                        return Err(Failure::Mismatch(format!("the take failed: {error}")))
                    }
                };
                fields.insert("granted".into(), json!(granted));
                fields.insert("bucket".into(), bucket);
                fields.insert("remaining".into(), remaining);
                fields.insert("replayed".into(), json!(replayed));
                fields.insert("error_field".into(), error_field);
                Ok(fields)
            }
            "restock" => {
                let name = args.or("name", "q".to_string(), string)?;
                let n = args.get("n", int)?;
                let start = args.take("start").map(|v| u32_of(&v)).transpose()?;
                let start = match start {
                    Some(start) => start,
                    None if buckets == 1 => 0,
                    None => return Err("a restock of a quota of several buckets starts at a random one: give `start`".to_string().into()),
                };
                let mut fields = Map::new();
                match self.quota.restock_from(conn, &name, n, start).await {
                    Ok(total) => {
                        fields.insert("remaining".into(), int_json(total));
                        fields.insert("error_field".into(), Value::Null);
                    }
                    Err(Error::InvalidArgument(e)) => {
                        fields.insert("remaining".into(), Value::Null);
                        fields.insert("error_field".into(), json!(e.field));
                    }
                    Err(Error::InvalidKey { .. }) => {
                        fields.insert("remaining".into(), Value::Null);
                        fields.insert("error_field".into(), json!("name"));
                    }
                    Err(error) => {
                        return Err(Failure::Mismatch(format!("the restock failed: {error}")))
                    }
                }
                Ok(fields)
            }
            "remaining" => {
                let name = args.or("name", "q".to_string(), string)?;
                let bucket = args.take("bucket").map(|v| u32_of(&v)).transpose()?;
                let result = match bucket {
                    Some(bucket) => self.quota.bucket_remaining(conn, &name, bucket).await,
                    None => self.quota.remaining(conn, &name).await,
                };
                let remaining =
                    result.map_err(|e| Failure::Mismatch(format!("`remaining` failed: {e}")))?;
                let mut fields = Map::new();
                fields.insert("remaining".into(), int_json(remaining));
                Ok(fields)
            }
            "id_expires_at" => {
                let name = args.or("name", "q".to_string(), string)?;
                let id = args.string("id")?;
                let bucket = args.or("bucket", 0, u32_of)?;
                let key = self
                    .quota
                    .redis_key(&name, bucket)
                    .map_err(|e| format!("`name` or `bucket`: {e}"))?;
                let expires_at = super::expires_at(conn, &format!("{key}:id:{id}")).await?;
                let mut fields = Map::new();
                fields.insert("expires_at".into(), expires_at);
                Ok(fields)
            }
            "validate" => {
                let config = args.required("config")?;
                let error_field = match quota_config(config)?.validate() {
                    Ok(()) => Value::Null,
                    Err(e) => json!(e.field),
                };
                let mut fields = Map::new();
                fields.insert("error_field".into(), error_field);
                Ok(fields)
            }
            other => Err(format!("unknown op `{other}`").into()),
        }
    }
}

fn quota_config(config: Value) -> Res<FleetQuotaConfig> {
    let mut config = Fields::new(config, "`config`")?;
    let buckets = config.or("buckets", 1, u32_of)?;
    let memory = config.or("id_memory", 600_000_000_000, int)?;
    config.finish()?;
    Ok(FleetQuotaConfig::new()
        .buckets(buckets)
        .id_memory(Nanos::new(memory)))
}
