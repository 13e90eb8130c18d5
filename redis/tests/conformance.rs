//! Runs every scenario under `redis/conformance/` against the fleet tier's scripts on a live
//! Redis.
//!
//! The format is that of `conformance/README.md`; `redis/conformance/README.md` lists each
//! primitive's config and ops. Each step runs through the crate's public API with the time
//! injected (origin 0 of a file is `common::ORIGIN` on the server's clock) and every field its
//! `expect` lists is compared exactly. For the limiter, every `try_acquire` and `peek` is also
//! run through the core `TokenBucket` on the same timeline, which must answer the same in
//! every field: so a limiter file can only pass if the script and the core agree.

mod common;
#[path = "conformance/quota.rs"]
mod quota;
#[path = "conformance/semaphore.rs"]
mod semaphore;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use redis::aio::MultiplexedConnection;
use serde_json::{json, Map, Value};
use stanchion::{Nanos, TokenBucketConfig};
use stanchion_redis::{FleetLimiter, FleetLimiterConfig};

use common::{int_json, Answer, CoreModel, MAX_SAFE_INTEGER, ORIGIN};

enum Failure {
    Format(String),
    Mismatch(String),
}

impl Failure {
    fn at(self, place: &str) -> Failure {
        match self {
            Failure::Format(m) => Failure::Format(format!("{place}: {m}")),
            Failure::Mismatch(m) => Failure::Mismatch(format!("{place}: {m}")),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Format(message)
    }
}

type Res<T> = Result<T, String>;

#[tokio::test]
async fn every_scenario_gives_the_expected_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
    let mut files = Vec::new();
    collect_json(&root, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no scenario files under {}",
        root.display()
    );

    let mut conn = common::connect().await;
    let mut errors = Vec::new();
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let text = fs::read_to_string(path).expect("readable scenario file");
        let scenario: Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(e) => {
                errors.push(format!("{name}: not JSON: {e}"));
                continue;
            }
        };
        let folder = name.split(['/', '\\']).next().unwrap_or("").to_string();
        match run_file(&mut conn, scenario, &folder).await {
            (Ok(steps), None) => println!("ok     {name} ({steps} steps)"),
            (Ok(steps), Some(_)) => errors.push(format!(
                "{name}: passes ({steps} steps) although it has a `known_deviation`: remove the field"
            )),
            (Err(Failure::Mismatch(m)), Some(deviation)) => {
                println!("xfail  {name}: {m}\n       known deviation: {deviation}");
            }
            (Err(Failure::Mismatch(m) | Failure::Format(m)), _) => {
                errors.push(format!("{name}: {m}"));
            }
        }
    }
    println!("{} scenario files", files.len());
    assert!(errors.is_empty(), "\n{}", errors.join("\n"));
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable conformance folder") {
        let path = entry.expect("readable folder entry").path();
        if path.is_dir() {
            collect_json(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

async fn run_file(
    conn: &mut MultiplexedConnection,
    scenario: Value,
    folder: &str,
) -> (Result<usize, Failure>, Option<String>) {
    if let Err(e) = integers_are_portable(&scenario) {
        return (Err(Failure::Format(e)), None);
    }
    let mut file = match Fields::new(scenario, "the file") {
        Ok(file) => file,
        Err(e) => return (Err(Failure::Format(e)), None),
    };
    match file.take("known_deviation") {
        None => (run_steps(conn, file, folder).await, None),
        Some(Value::String(why)) if !why.trim().is_empty() => {
            (run_steps(conn, file, folder).await, Some(why))
        }
        Some(_) => (
            Err(Failure::Format(
                "`known_deviation` must be a non-empty string".into(),
            )),
            None,
        ),
    }
}

async fn run_steps(
    conn: &mut MultiplexedConnection,
    mut file: Fields,
    folder: &str,
) -> Result<usize, Failure> {
    let description = file.string("description")?;
    if description.trim().is_empty() {
        return Err("`description` is empty".to_string().into());
    }
    let covers = file.required("covers")?;
    let covers = covers.as_array().filter(|c| !c.is_empty());
    let cites = |c: &Value| c.as_str().is_some_and(|s| s.starts_with('§'));
    if !covers.is_some_and(|c| c.iter().all(cites)) {
        return Err(
            "`covers` must list the rules covered, each citing a section: \"§9 ...\""
                .to_string()
                .into(),
        );
    }
    let primitive = file.string("primitive")?;
    if primitive != folder {
        return Err(format!("primitive `{primitive}` in folder `{folder}`").into());
    }
    let config = file.required("config")?;
    let mut subject = match primitive.as_str() {
        "limiter" => Subject::Limiter(Limiter::new(config)?),
        "quota" => Subject::Quota(quota::Quota::new(config)?),
        "semaphore" => Subject::Semaphore(semaphore::Semaphore::new(config)?),
        _ => return Err(format!("unknown primitive `{primitive}`").into()),
    };
    let steps = file.required("steps")?;
    file.finish()?;
    let steps = match steps {
        Value::Array(steps) if !steps.is_empty() => steps,
        _ => return Err("`steps` must be a non-empty array".to_string().into()),
    };
    let count = steps.len();
    for (index, step) in steps.into_iter().enumerate() {
        run_step(conn, &mut subject, step)
            .await
            .map_err(|f| f.at(&format!("step {index}")))?;
    }
    Ok(count)
}

async fn run_step(
    conn: &mut MultiplexedConnection,
    subject: &mut Subject,
    step: Value,
) -> Result<(), Failure> {
    let mut step = Fields::new(step, "a step")?;
    let op = step.string("op")?;
    let expect = match step.take("expect") {
        None => Map::new(),
        Some(Value::Object(expect)) => expect,
        Some(other) => return Err(format!("`expect` must be an object, got {other}").into()),
    };
    let repeat = match step.take("repeat") {
        None => 1,
        Some(v) => int(&v).map_err(|e| format!("`repeat`: {e}"))?,
    };
    if repeat == 0 {
        return Err("`repeat` must be at least 1".to_string().into());
    }
    if let Some(note) = step.take("note") {
        if !note.is_string() {
            return Err("`note` must be a string".to_string().into());
        }
    }
    for run in 0..repeat {
        let mut args = step.clone();
        let run_name = if repeat > 1 {
            format!("{op} (run {run} of {repeat})")
        } else {
            op.clone()
        };
        let observed = subject
            .run(conn, &op, &mut args)
            .await
            .map_err(|f| f.at(&run_name))?;
        args.finish().map_err(|e| format!("{op}: {e}"))?;
        check(&expect, &observed).map_err(|f| f.at(&run_name))?;
    }
    Ok(())
}

fn integers_are_portable(v: &Value) -> Res<()> {
    match v {
        Value::Number(n) if n.as_u64().is_some_and(|n| n > MAX_SAFE_INTEGER) => Err(format!(
            "{n} is above 2^53 - 1: write it as the string \"{n}\""
        )),
        Value::Array(items) => items.iter().try_for_each(integers_are_portable),
        Value::Object(fields) => fields.values().try_for_each(integers_are_portable),
        _ => Ok(()),
    }
}

fn check(expect: &Map<String, Value>, observed: &Map<String, Value>) -> Result<(), Failure> {
    for (field, want) in expect {
        let Some(got) = observed.get(field) else {
            let known: Vec<&String> = observed.keys().collect();
            return Err(Failure::Format(format!(
                "`expect` lists `{field}`, which this op does not report (it reports {known:?})"
            )));
        };
        if want.as_str().and_then(|s| s.parse::<u64>().ok()).is_some() {
            int(want).map_err(|e| Failure::Format(format!("`{field}`: {e}")))?;
        }
        if got != want {
            return Err(Failure::Mismatch(format!(
                "`{field}`: expected {want}, got {got}"
            )));
        }
    }
    Ok(())
}

/// The primitive one file exercises. One per file, so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Subject {
    Limiter(Limiter),
    Quota(quota::Quota),
    Semaphore(semaphore::Semaphore),
}

impl Subject {
    async fn run(
        &mut self,
        conn: &mut MultiplexedConnection,
        op: &str,
        args: &mut Fields,
    ) -> Result<Map<String, Value>, Failure> {
        match self {
            Subject::Limiter(limiter) => limiter.run(conn, op, args).await,
            Subject::Quota(quota) => quota.run(conn, op, args).await,
            Subject::Semaphore(semaphore) => semaphore.run(conn, op, args).await,
        }
    }
}

/// `now` of a step, placed on the server's clock.
fn at(args: &mut Fields) -> Res<Nanos> {
    let now = args.get("now", int)?;
    now.checked_add(ORIGIN).map(Nanos::new).ok_or_else(|| {
        format!("`now`: {now} is past u64::MAX - ORIGIN, which the runner cannot place")
    })
}

/// When `key` expires, read with `PEXPIRETIME`, in nanoseconds from the file's origin; `null`
/// when it does not exist. A key without an expiry is a mismatch: it would never leave.
async fn expires_at(conn: &mut MultiplexedConnection, key: &str) -> Result<Value, Failure> {
    let millis: i64 = redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(conn)
        .await
        .map_err(|e| Failure::Mismatch(format!("PEXPIRETIME failed: {e}")))?;
    match millis {
        -2 => Ok(Value::Null),
        millis if millis >= 0 => {
            // In u128: an expiry rounded up past the end of time exceeds u64.
            let nanos = (millis as u128 * 1_000_000)
                .checked_sub(u128::from(ORIGIN))
                .and_then(|n| u64::try_from(n).ok());
            match nanos {
                Some(nanos) => Ok(int_json(nanos)),
                None => Err(Failure::Mismatch(format!(
                    "the key expires at {millis} ms, before the timeline's origin"
                ))),
            }
        }
        _ => Err(Failure::Mismatch(
            "the key has no expiry: it would never leave".to_string(),
        )),
    }
}

/// The fleet limiter of one file, with a prefix of its own, and the core model per key.
struct Limiter {
    bucket: TokenBucketConfig,
    limiter: FleetLimiter,
    models: HashMap<String, CoreModel>,
}

impl Limiter {
    fn new(config: Value) -> Res<Limiter> {
        let bucket = bucket_config(config)?;
        let limiter = FleetLimiter::new(
            FleetLimiterConfig::new(bucket).prefix(common::unique_prefix("conformance")),
        )
        .map_err(|e| format!("`config`: {e}"))?;
        Ok(Limiter {
            bucket,
            limiter,
            models: HashMap::new(),
        })
    }

    async fn run(
        &mut self,
        conn: &mut MultiplexedConnection,
        op: &str,
        args: &mut Fields,
    ) -> Result<Map<String, Value>, Failure> {
        match op {
            "try_acquire" | "peek" => {
                let key = args.or("key", "k".to_string(), string)?;
                let n = args.or("n", 1, u32_of)?;
                let at = at(args)?;
                let bucket = self.bucket;
                let model = self
                    .models
                    .entry(key.clone())
                    .or_insert_with(|| CoreModel::new(bucket));
                let (fleet, core) = if op == "peek" {
                    let fleet = self.limiter.peek_at(conn, &key, n, at).await;
                    (fleet, model.peek(n, at))
                } else {
                    let fleet = self.limiter.try_acquire_at(conn, &key, n, at).await;
                    (fleet, model.try_acquire(n, at))
                };
                let fleet = match fleet {
                    Err(
                        stanchion_redis::Error::Redis(error) | stanchion_redis::Error::Reply(error),
                    ) => return Err(Failure::Mismatch(format!("Redis did not decide: {error}"))),
                    other => Answer::of_fleet(other),
                };
                if fleet != core {
                    return Err(Failure::Mismatch(format!(
                        "the script answered {fleet:?} where the core answers {core:?}"
                    )));
                }
                Ok(fleet.json())
            }
            "expires_at" => {
                let key = args.or("key", "k".to_string(), string)?;
                let redis_key = self
                    .limiter
                    .redis_key(&key)
                    .map_err(|e| format!("`key`: {e}"))?;
                let expires_at = expires_at(conn, &redis_key).await?;
                let mut fields = Map::new();
                fields.insert("expires_at".into(), expires_at);
                Ok(fields)
            }
            "validate" => {
                let config = args.required("config")?;
                let error_field = match bucket_config(config) {
                    Ok(bucket) => match FleetLimiterConfig::new(bucket).validate() {
                        Ok(()) => Value::Null,
                        Err(e) => json!(e.field),
                    },
                    Err(e) => return Err(Failure::Format(format!("`config`: {e}"))),
                };
                let mut fields = Map::new();
                fields.insert("error_field".into(), error_field);
                Ok(fields)
            }
            other => Err(format!("unknown op `{other}`").into()),
        }
    }
}

fn bucket_config(config: Value) -> Res<TokenBucketConfig> {
    let mut config = Fields::new(config, "`config`")?;
    let capacity = config.get("capacity", u32_of)?;
    let amount = config.or("refill_amount", 1, u32_of)?;
    let every = config.or("refill_every", 1_000_000_000, int)?;
    config.finish()?;
    Ok(TokenBucketConfig::new(capacity).refill(amount, Nanos::new(every)))
}

#[derive(Clone)]
struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    fn new(value: Value, what: &str) -> Res<Fields> {
        match value {
            Value::Object(map) => Ok(Fields { map }),
            other => Err(format!("{what} must be an object, got {other}")),
        }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    fn required(&mut self, key: &str) -> Res<Value> {
        self.take(key)
            .ok_or_else(|| format!("missing field `{key}`"))
    }

    fn get<T>(&mut self, key: &str, parse: fn(&Value) -> Res<T>) -> Res<T> {
        parse(&self.required(key)?).map_err(|e| format!("`{key}`: {e}"))
    }

    fn or<T>(&mut self, key: &str, default: T, parse: fn(&Value) -> Res<T>) -> Res<T> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => parse(&v).map_err(|e| format!("`{key}`: {e}")),
        }
    }

    fn string(&mut self, key: &str) -> Res<String> {
        self.get(key, string)
    }

    fn finish(self) -> Res<()> {
        match self.map.keys().next() {
            Some(key) => Err(format!("unknown field `{key}`")),
            None => Ok(()),
        }
    }
}

fn int(v: &Value) -> Res<u64> {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(n) if n <= MAX_SAFE_INTEGER => Ok(n),
            Some(n) => Err(format!(
                "{n} is above 2^53 - 1: write it as the string \"{n}\""
            )),
            None => Err(format!("{n} is not a non-negative integer")),
        },
        Value::String(s) => match s.parse::<u64>() {
            Ok(n) if n > MAX_SAFE_INTEGER => Ok(n),
            Ok(n) => Err(format!(
                "\"{s}\" is at most 2^53 - 1: write it as the number {n}"
            )),
            Err(_) => Err(format!("\"{s}\" is not a u64 in decimal")),
        },
        other => Err(format!("{other} is not an integer")),
    }
}

fn u32_of(v: &Value) -> Res<u32> {
    let n = int(v)?;
    u32::try_from(n).map_err(|_| format!("{n} is above u32::MAX"))
}

fn string(v: &Value) -> Res<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{v} is not a string"))
}
