//! Runs every conformance scenario under `conformance/` (at the repository root) against the core.
//!
//! The format is specified in `conformance/README.md`; this runner is the model for the runners
//! of the bindings. For each file: build the primitive from `config`, run the steps in order,
//! and compare every field a step's `expect` lists with what the step observed. A file with a
//! `known_deviation` must fail on a mismatch (it states docs/semantics.md where the core
//! disagrees); when it passes, the deviation is gone and the field must be removed.
//!
//! Two kinds of error: a *format* error (unknown op or field, bad value, unknown permit) is
//! always fatal; a *mismatch* (the core answered differently) fails the file unless it is a
//! known deviation.

use std::collections::HashMap;
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use serde_json::{json, Map, Value};
use stanchion::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, AdaptiveSnapshot, Aimd, Algorithm, Gradient2, LimitChange,
    Outcome as AdaptiveOutcome, RawPermit as AdaptivePermit, Vegas,
};
use stanchion::backoff::{Backoff, BackoffConfig, Exhausted, Jitter, Retrying, Schedule};
use stanchion::breaker::{
    BreakerConfig, BreakerSnapshot, CircuitBreaker, Outcome, RawPermit, SlowCall, Transition,
    Window,
};
use stanchion::bulkhead::{Acquire, RawPermit as BulkheadPermit};
use stanchion::retry::{
    Failure as RetryFailure, Next, RetryLoop, RetryPolicy, Retryable, StopReason,
};
use stanchion::{
    Bulkhead, BulkheadConfig, ConfigError, Deadline, KeyedLimiter, Nanos, Reason, Rejected,
    RetryBudget, RetryBudgetConfig, TableFullPolicy, TokenBucket, TokenBucketConfig,
    TokenBucketSnapshot,
};

/// The largest integer every JSON reader holds exactly (JavaScript's `Number.MAX_SAFE_INTEGER`).
/// Larger integers are written as decimal strings.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

enum Failure {
    Format(String),
    Mismatch(String),
}

impl Failure {
    /// The same failure, its message prefixed with where it happened.
    fn at(self, place: &str) -> Failure {
        match self {
            Failure::Format(m) => Failure::Format(format!("{place}: {m}")),
            Failure::Mismatch(m) => Failure::Mismatch(format!("{place}: {m}")),
        }
    }
}

/// Format errors are the default: `?` on a `Result<_, String>` makes one.
impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Format(message)
    }
}

type Res<T> = Result<T, String>;

// ---------------------------------------------------------------------------------------------
// The driver: files, steps, expectations.

#[test]
fn every_scenario_gives_the_expected_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance");
    let mut files = Vec::new();
    collect_json(&root, &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no scenario files under {}",
        root.display()
    );

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
        match run_file(scenario, &folder) {
            (Ok(steps), None) => println!("ok     {name} ({steps} steps)"),
            (Ok(steps), Some(_)) => errors.push(format!(
                "{name}: passes ({steps} steps) although it has a `known_deviation`: \
                 the core now follows docs/semantics.md, remove the field"
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

/// Runs one scenario: the steps that passed, and its `known_deviation` if it has one.
fn run_file(scenario: Value, folder: &str) -> (Result<usize, Failure>, Option<String>) {
    if let Err(e) = integers_are_portable(&scenario) {
        return (Err(Failure::Format(e)), None);
    }
    let mut file = match Fields::new(scenario, "the file") {
        Ok(file) => file,
        Err(e) => return (Err(Failure::Format(e)), None),
    };
    match file.take("known_deviation") {
        None => (run_steps(file, folder), None),
        Some(Value::String(why)) if !why.trim().is_empty() => (run_steps(file, folder), Some(why)),
        Some(_) => (
            Err(Failure::Format(
                "`known_deviation` must be a non-empty string".into(),
            )),
            None,
        ),
    }
}

fn run_steps(mut file: Fields, folder: &str) -> Result<usize, Failure> {
    let description = file.string("description")?;
    if description.trim().is_empty() {
        return Err("`description` is empty".to_string().into());
    }
    let covers = file.required("covers")?;
    let covers = covers.as_array().filter(|c| !c.is_empty());
    let cites = |c: &Value| c.as_str().is_some_and(|s| s.starts_with('§'));
    if !covers.is_some_and(|c| c.iter().all(cites)) {
        return Err(
            "`covers` must list the rules covered, each citing a section: \"§7 ...\""
                .to_string()
                .into(),
        );
    }
    let primitive = file.string("primitive")?;
    if primitive != folder {
        return Err(format!("primitive `{primitive}` in folder `{folder}`").into());
    }
    let mut subject = new_subject(&primitive, file.required("config")?)?;
    let steps = file.required("steps")?;
    file.finish()?;
    let steps = match steps {
        Value::Array(steps) if !steps.is_empty() => steps,
        _ => return Err("`steps` must be a non-empty array".to_string().into()),
    };
    let count = steps.len();
    for (index, step) in steps.into_iter().enumerate() {
        run_step(subject.as_mut(), step).map_err(|f| f.at(&format!("step {index}")))?;
    }
    Ok(count)
}

/// Runs a step `repeat` times (default 1), checking its `expect` after each run.
fn run_step(subject: &mut dyn Subject, step: Value) -> Result<(), Failure> {
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
        let observed = subject
            .run(&op, &mut args)
            .map_err(|e| format!("{op}: {e}"))?;
        args.finish().map_err(|e| format!("{op}: {e}"))?;
        let run_name = if repeat > 1 {
            format!("{op} (run {run} of {repeat})")
        } else {
            op.clone()
        };
        check(&expect, &observed).map_err(|f| f.at(&run_name))?;
    }
    Ok(())
}

/// No integer in the file is a JSON number above 2^53 - 1, which JavaScript cannot hold.
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

/// Every field `expect` lists must be one the op reports, with exactly that value.
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

/// A primitive under test: runs one op, taking its arguments from `args`, and reports what
/// it observed as a flat JSON object.
trait Subject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>>;
}

fn new_subject(primitive: &str, config: Value) -> Res<Box<dyn Subject>> {
    let subject: Box<dyn Subject> = match primitive {
        "breaker" => Box::new(BreakerSubject::new(config)?),
        "backoff" => Box::new(BackoffSubject::new(config)?),
        "retry_budget" => Box::new(RetryBudgetSubject::new(config)?),
        "deadline" => Box::new(DeadlineSubject::new(config)?),
        "token_bucket" => Box::new(TokenBucketSubject::new(config)?),
        "keyed_limiter" => keyed_limiter_subject(config)?,
        "bulkhead" => Box::new(BulkheadSubject::new(config)?),
        "retry" => Box::new(RetrySubject::new(config)?),
        "adaptive" => Box::new(AdaptiveSubject::new(config)?),
        other => return Err(format!("unknown primitive `{other}`")),
    };
    Ok(subject)
}

// ---------------------------------------------------------------------------------------------
// Values: integers (numbers up to 2^53 - 1, decimal strings above), floats, enums.

/// A JSON object whose fields are taken one by one; what is left at the end is unknown.
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

    /// A required field, parsed.
    fn get<T>(&mut self, key: &str, parse: fn(&Value) -> Res<T>) -> Res<T> {
        parse(&self.required(key)?).map_err(|e| format!("`{key}`: {e}"))
    }

    /// An optional field: `default` when absent.
    fn or<T>(&mut self, key: &str, default: T, parse: fn(&Value) -> Res<T>) -> Res<T> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => parse(&v).map_err(|e| format!("`{key}`: {e}")),
        }
    }

    /// An optional field whose value may be `null` (none): `default` when absent.
    fn nullable<T>(
        &mut self,
        key: &str,
        default: Option<T>,
        parse: fn(&Value) -> Res<T>,
    ) -> Res<Option<T>> {
        match self.take(key) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(v) => parse(&v).map(Some).map_err(|e| format!("`{key}`: {e}")),
        }
    }

    fn string(&mut self, key: &str) -> Res<String> {
        self.get(key, string)
    }

    fn nanos(&mut self, key: &str) -> Res<Nanos> {
        self.get(key, nanos)
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

/// A u64 as a runner reports it: the same rule as the files use.
fn int_json(n: u64) -> Value {
    if n <= MAX_SAFE_INTEGER {
        json!(n)
    } else {
        json!(n.to_string())
    }
}

fn u32_of(v: &Value) -> Res<u32> {
    let n = int(v)?;
    u32::try_from(n).map_err(|_| format!("{n} is above u32::MAX"))
}

fn nanos(v: &Value) -> Res<Nanos> {
    int(v).map(Nanos::new)
}

fn float(v: &Value) -> Res<f64> {
    v.as_f64().ok_or_else(|| format!("{v} is not a number"))
}

/// f32 fields take the JSON number rounded to the nearest f32.
fn float32(v: &Value) -> Res<f32> {
    float(v).map(|f| f as f32)
}

fn string(v: &Value) -> Res<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{v} is not a string"))
}

/// An enum value: a unit variant is its name (`"full"`), a variant with data a one-field
/// object (`{"count": 20}`).
fn variant(v: &Value) -> Res<(&str, Option<&Value>)> {
    match v {
        Value::String(name) => Ok((name, None)),
        Value::Object(map) if map.len() == 1 => {
            let (name, data) = map.iter().next().expect("one field");
            Ok((name, Some(data)))
        }
        other => Err(format!(
            "{other} is not a variant name or a one-field object"
        )),
    }
}

fn nanos_json(n: Option<Nanos>) -> Value {
    n.map_or(Value::Null, |n| int_json(n.as_nanos()))
}

/// `admitted`, `reason` and `retry_after` of an answer that may be a refusal.
fn admission<T>(answer: &Result<T, Rejected>) -> Map<String, Value> {
    let (reason, retry_after) = match answer {
        Ok(_) => (Value::Null, Value::Null),
        Err(r) => (json!(r.reason.as_str()), nanos_json(r.retry_after)),
    };
    object(json!({ "admitted": answer.is_ok(), "reason": reason, "retry_after": retry_after }))
}

fn config_error(result: Result<(), ConfigError>) -> Map<String, Value> {
    object(json!({ "error_field": result.err().map(|e| e.field) }))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker (docs/semantics.md §2, §7).

struct BreakerSubject {
    breaker: CircuitBreaker,
    /// Permits by the name a step gave them (`"as"`), until they are recorded or released.
    permits: HashMap<String, RawPermit>,
}

impl BreakerSubject {
    fn new(config: Value) -> Res<BreakerSubject> {
        let breaker = CircuitBreaker::new(breaker_config(config)?)
            .map_err(|e| format!("invalid config: {e}"))?;
        Ok(BreakerSubject {
            breaker,
            permits: HashMap::new(),
        })
    }

    fn permit(&mut self, args: &mut Fields) -> Res<RawPermit> {
        let name = args.string("permit")?;
        self.permits
            .remove(&name)
            .ok_or_else(|| format!("no permit named `{name}` (never admitted, or already used)"))
    }
}

impl Subject for BreakerSubject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        let b = &self.breaker;
        let transition =
            |t: Option<Transition>| object(json!({ "transition": transition_json(t) }));
        Ok(match op {
            "acquire" => {
                let now = args.nanos("now")?;
                let name = args.nullable("as", None, string)?;
                let (admitted, t) = b.try_acquire_raw(now);
                if let (Ok(permit), Some(name)) = (admitted, name) {
                    if self.permits.insert(name.clone(), permit).is_some() {
                        return Err(format!("permit name `{name}` is still in use"));
                    }
                }
                let mut observed = admission(&admitted);
                observed.insert("transition".into(), transition_json(t));
                observed
            }
            "call" => {
                let now = args.nanos("now")?;
                let outcome = args.get("outcome", outcome)?;
                let duration = args.or("duration", Nanos::ZERO, nanos)?;
                let (admitted, t) = b.try_acquire_raw(now);
                let mut transitions: Vec<Value> =
                    t.into_iter().map(Some).map(transition_json).collect();
                if let Ok(permit) = admitted {
                    let t = b.record_raw(permit, outcome, now + duration);
                    transitions.extend(t.into_iter().map(Some).map(transition_json));
                }
                let mut observed = admission(&admitted);
                observed.insert("transitions".into(), Value::Array(transitions));
                observed
            }
            "record" => {
                let permit = self.permit(args)?;
                let outcome = args.get("outcome", outcome)?;
                let now = args.nanos("now")?;
                transition(self.breaker.record_raw(permit, outcome, now))
            }
            "release" => {
                let permit = self.permit(args)?;
                let now = args.nanos("now")?;
                transition(self.breaker.release_raw(permit, now))
            }
            "force_open" => transition(b.force_open(args.nanos("now")?)),
            "disable" => transition(b.disable(args.nanos("now")?)),
            "reset" => transition(b.reset(args.nanos("now")?)),
            "state" => object(json!({ "state": b.state().as_str() })),
            "snapshot" => snapshot_json(&b.snapshot(args.nanos("now")?)),
            "reconfigure" => {
                let config = breaker_config(args.required("config")?)?;
                config_error(b.reconfigure(config, args.nanos("now")?))
            }
            "validate" => {
                let config = breaker_config(args.required("config")?)?;
                config_error(CircuitBreaker::<10>::new(config).map(drop))
            }
            _ => return Err(format!("unknown op `{op}` for a breaker")),
        })
    }
}

/// A breaker config: every field optional, defaults as `BreakerConfig::new()`, except that
/// `open_for_max` defaults to `open_for` (no growth unless asked).
fn breaker_config(value: Value) -> Res<BreakerConfig> {
    let mut f = Fields::new(value, "a breaker config")?;
    let d = BreakerConfig::new();
    let open_for = f.or("open_for", d.open_for, nanos)?;
    let config = BreakerConfig {
        failure_count: f.nullable("failure_count", d.failure_count, u32_of)?,
        consecutive_failures: f.nullable("consecutive_failures", d.consecutive_failures, u32_of)?,
        failure_rate: f.nullable("failure_rate", d.failure_rate, float32)?,
        minimum_calls: f.or("minimum_calls", d.minimum_calls, u32_of)?,
        slow_call: f.nullable("slow_call", d.slow_call, slow_call)?,
        window: f.or("window", d.window, window)?,
        open_for,
        open_for_max: f.or("open_for_max", open_for, nanos)?,
        open_for_factor: f.or("open_for_factor", d.open_for_factor, float32)?,
        open_for_jitter: f.or("open_for_jitter", d.open_for_jitter, float32)?,
        half_open_probes: f.or("half_open_probes", d.half_open_probes, u32_of)?,
        half_open_successes: f.nullable("half_open_successes", d.half_open_successes, u32_of)?,
        probe_timeout: f.nullable("probe_timeout", d.probe_timeout, nanos)?,
        seed: f.or("seed", d.seed, int)?,
    };
    f.finish()?;
    Ok(config)
}

fn slow_call(v: &Value) -> Res<SlowCall> {
    let mut f = Fields::new(v.clone(), "`slow_call`")?;
    let slow = SlowCall {
        duration: f.nanos("duration")?,
        rate: f.get("rate", float32)?,
    };
    f.finish()?;
    Ok(slow)
}

fn window(v: &Value) -> Res<Window> {
    match variant(v)? {
        ("count", Some(n)) => Ok(Window::Count(u32_of(n)?)),
        ("time", Some(time)) => {
            let mut f = Fields::new(time.clone(), "`time`")?;
            let window = Window::Time {
                span: f.nanos("span")?,
                buckets: f.get("buckets", u32_of)?,
            };
            f.finish()?;
            Ok(window)
        }
        _ => Err(format!(
            "{v} is not {{\"count\": n}} or {{\"time\": {{...}}}}"
        )),
    }
}

fn outcome(v: &Value) -> Res<Outcome> {
    match v.as_str() {
        Some("success") => Ok(Outcome::Success),
        Some("failure") => Ok(Outcome::Failure),
        Some("ignored") => Ok(Outcome::Ignored),
        _ => Err(format!(
            "{v} is not \"success\", \"failure\" or \"ignored\""
        )),
    }
}

fn transition_json(t: Option<Transition>) -> Value {
    t.map_or(
        Value::Null,
        |t| json!({ "from": t.from.as_str(), "to": t.to.as_str() }),
    )
}

fn snapshot_json(s: &BreakerSnapshot) -> Map<String, Value> {
    object(json!({
        "state": s.state.as_str(),
        "generation": s.generation,
        "open_until": nanos_json(s.open_until),
        "probes_in_flight": s.probes_in_flight,
        "half_open_successes": s.half_open_successes,
        "window_calls": int_json(s.window_calls),
        "window_failures": int_json(s.window_failures),
        "window_slow_calls": int_json(s.window_slow_calls),
        "consecutive_failures": s.consecutive_failures,
        "consecutive_trips": s.consecutive_trips,
        "calls": int_json(s.calls),
        "successes": int_json(s.successes),
        "failures": int_json(s.failures),
        "slow_calls": int_json(s.slow_calls),
        "rejected_open": int_json(s.rejected_open),
        "rejected_half_open_full": int_json(s.rejected_half_open_full),
        "rejected_forced_open": int_json(s.rejected_forced_open),
        "rejected": int_json(s.rejected()),
        "transitions": int_json(s.transitions),
    }))
}

// ---------------------------------------------------------------------------------------------
// Backoff (docs/semantics.md §5, §7).

struct BackoffSubject {
    backoff: Backoff,
    /// The retried call that `start` began.
    retrying: Option<Retrying>,
}

impl BackoffSubject {
    fn new(config: Value) -> Res<BackoffSubject> {
        let backoff =
            Backoff::new(backoff_config(config)?).map_err(|e| format!("invalid config: {e}"))?;
        Ok(BackoffSubject {
            backoff,
            retrying: None,
        })
    }
}

impl Subject for BackoffSubject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        let b = &self.backoff;
        Ok(match op {
            "delay" => {
                let attempt = args.get("attempt", u32_of)?;
                let seed = args.get("seed", int)?;
                object(json!({ "delay": nanos_json(b.delay(attempt, seed)) }))
            }
            "delays" => {
                let seed = args.get("seed", int)?;
                let limit = args.get("limit", int)?;
                let waits = b
                    .iter(seed)
                    .take(usize::try_from(limit).unwrap_or(usize::MAX));
                let waits: Vec<Value> = waits.map(|w| int_json(w.as_nanos())).collect();
                object(json!({ "delays": waits }))
            }
            "start" => {
                let seed = args.get("seed", int)?;
                self.retrying = Some(b.start(seed, args.nanos("now")?));
                Map::new()
            }
            "next_delay" => {
                let now = args.nanos("now")?;
                let hint = args.nullable("hint", None, nanos)?;
                let retrying = self
                    .retrying
                    .as_mut()
                    .ok_or("no `start` before `next_delay`")?;
                let answer = retrying.next_delay(b, now, hint);
                let exhausted = answer.err().map(|e| match e {
                    Exhausted::MaxAttempts => "max_attempts",
                    Exhausted::MaxElapsed => "max_elapsed",
                });
                object(json!({
                    "delay": nanos_json(answer.ok()),
                    "exhausted": exhausted,
                    "retries": retrying.retries(),
                }))
            }
            "validate" => {
                let config = backoff_config(args.required("config")?)?;
                config_error(Backoff::new(config).map(drop))
            }
            _ => return Err(format!("unknown op `{op}` for a backoff")),
        })
    }
}

/// A backoff config: `schedule` is required; the rest default as `BackoffConfig::new`.
fn backoff_config(value: Value) -> Res<BackoffConfig> {
    let mut f = Fields::new(value, "a backoff config")?;
    let d = BackoffConfig::new(Schedule::Constant { delay: Nanos::ZERO });
    let config = BackoffConfig {
        schedule: f.get("schedule", schedule)?,
        jitter: f.or("jitter", d.jitter, jitter)?,
        max_delay: f.nullable("max_delay", d.max_delay, nanos)?,
        max_attempts: f.nullable("max_attempts", d.max_attempts, u32_of)?,
        max_elapsed: f.nullable("max_elapsed", d.max_elapsed, nanos)?,
    };
    f.finish()?;
    Ok(config)
}

fn schedule(v: &Value) -> Res<Schedule> {
    let (name, data) = variant(v)?;
    let mut f = Fields::new(data.cloned().unwrap_or(Value::Null), name)?;
    let schedule = match name {
        "constant" => Schedule::Constant {
            delay: f.nanos("delay")?,
        },
        "linear" => Schedule::Linear {
            initial: f.nanos("initial")?,
            step: f.nanos("step")?,
        },
        "exponential" => Schedule::Exponential {
            initial: f.nanos("initial")?,
            factor: f.get("factor", float)?,
        },
        "decorrelated" => Schedule::Decorrelated {
            base: f.nanos("base")?,
        },
        other => return Err(format!("unknown schedule `{other}`")),
    };
    f.finish()?;
    Ok(schedule)
}

fn jitter(v: &Value) -> Res<Jitter> {
    match variant(v)? {
        ("none", None) => Ok(Jitter::None),
        ("full", None) => Ok(Jitter::Full),
        ("equal", None) => Ok(Jitter::Equal),
        ("proportional", Some(p)) => Ok(Jitter::Proportional(float(p)?)),
        _ => Err(format!(
            "{v} is not \"none\", \"full\", \"equal\" or {{\"proportional\": p}}"
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Retry budget (docs/semantics.md §5, §7).

struct RetryBudgetSubject {
    budget: RetryBudget,
}

impl RetryBudgetSubject {
    fn new(config: Value) -> Res<RetryBudgetSubject> {
        let budget = RetryBudget::new(retry_budget_config(config)?)
            .map_err(|e| format!("invalid config: {e}"))?;
        Ok(RetryBudgetSubject { budget })
    }
}

impl Subject for RetryBudgetSubject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        let b = &self.budget;
        Ok(match op {
            "deposit" => {
                b.deposit();
                Map::new()
            }
            "try_retry" => admission(&b.try_retry(args.nanos("now")?)),
            "snapshot" => {
                let s = b.snapshot(args.nanos("now")?);
                object(json!({
                    "balance": int_json(s.balance),
                    "floor_tokens": int_json(s.floor_tokens),
                    "retries_available": int_json(s.retries_available()),
                    "retries_allowed": int_json(s.retries_allowed),
                    "retries_refused": int_json(s.retries_refused),
                }))
            }
            "validate" => {
                let config = retry_budget_config(args.required("config")?)?;
                config_error(RetryBudget::new(config).map(drop))
            }
            _ => return Err(format!("unknown op `{op}` for a retry budget")),
        })
    }
}

/// A retry budget config: `ratio` is required; the rest default as `RetryBudgetConfig::new`.
fn retry_budget_config(value: Value) -> Res<RetryBudgetConfig> {
    let mut f = Fields::new(value, "a retry budget config")?;
    let d = RetryBudgetConfig::new(f.get("ratio", float)?);
    let config = RetryBudgetConfig {
        min_retries_per_sec: f.or("min_retries_per_sec", d.min_retries_per_sec, u32_of)?,
        max_balance: f.or("max_balance", d.max_balance, u32_of)?,
        ..d
    };
    f.finish()?;
    Ok(config)
}

// ---------------------------------------------------------------------------------------------
// The retry loop's decisions (docs/semantics.md §5, §6).

struct RetrySubject {
    backoff: Backoff,
    budget: Option<RetryBudget>,
    deadline: Option<Deadline>,
    retry_refusals: bool,
    seed: u64,
    /// The call that `start` began; a later `start` begins another (sharing the budget).
    call: Option<RetryLoop>,
}

impl RetrySubject {
    fn new(config: Value) -> Res<RetrySubject> {
        let mut f = Fields::new(config, "a retry config")?;
        let backoff = Backoff::new(backoff_config(f.required("backoff")?)?)
            .map_err(|e| format!("invalid backoff: {e}"))?;
        let budget = match f.take("budget") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                RetryBudget::new(retry_budget_config(v)?)
                    .map_err(|e| format!("invalid budget: {e}"))?,
            ),
        };
        let subject = RetrySubject {
            backoff,
            budget,
            deadline: f.nullable("deadline", None, nanos)?.map(Deadline::at),
            retry_refusals: f.or("retry_refusals", false, boolean)?,
            seed: f.or("seed", 0, int)?,
            call: None,
        };
        f.finish()?;
        Ok(subject)
    }
}

impl Subject for RetrySubject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        let mut policy =
            RetryPolicy::new(&self.backoff, self.seed).retry_refusals(self.retry_refusals);
        if let Some(budget) = &self.budget {
            policy = policy.budget(budget);
        }
        if let Some(deadline) = self.deadline {
            policy = policy.deadline(deadline);
        }
        let now = args.nanos("now")?;
        let proceed = |answer: Result<u32, StopReason>| {
            object(json!({
                "proceed": answer.is_ok(),
                "attempt": answer.ok(),
                "stop": answer.err().map(|stop| stop.as_str()),
            }))
        };
        Ok(match op {
            "start" => {
                let started = RetryLoop::start(&policy, now);
                self.call = started.ok();
                proceed(started.map(|call| call.attempts()))
            }
            "fail" => {
                let failure = match args.string("error")?.as_str() {
                    "retryable" => match args.nullable("hint", None, nanos)? {
                        Some(hint) => RetryFailure::Error(Retryable::After(hint)),
                        None => RetryFailure::Error(Retryable::Yes),
                    },
                    "final" => RetryFailure::Error(Retryable::No),
                    "refused" => RetryFailure::Refused(Rejected::new(
                        args.get("reason", reason)?,
                        args.nullable("retry_after", None, nanos)?,
                    )),
                    other => return Err(format!("unknown error `{other}`")),
                };
                let call = self.call.as_mut().ok_or("no `start` before `fail`")?;
                let (next, wait, stop) = match call.after_failure(&policy, now, failure) {
                    Next::Retry(wait) => ("retry", Some(wait), None),
                    Next::Stop(stop) => ("stop", None, Some(stop.as_str())),
                };
                object(json!({
                    "next": next,
                    "wait": nanos_json(wait),
                    "stop": stop,
                    "attempts": call.attempts(),
                }))
            }
            "resume" => {
                let call = self.call.as_mut().ok_or("no `start` before `resume`")?;
                proceed(call.resume(&policy, now))
            }
            _ => return Err(format!("unknown op `{op}` for a retry loop")),
        })
    }
}

fn boolean(v: &Value) -> Res<bool> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, got {v}"))
}

fn reason(v: &Value) -> Res<Reason> {
    let name = string(v)?;
    Reason::ALL
        .into_iter()
        .find(|r| r.as_str() == name)
        .ok_or_else(|| format!("unknown reason `{name}`"))
}

// ---------------------------------------------------------------------------------------------
// Deadline (docs/semantics.md §6).

struct DeadlineSubject {
    deadline: Deadline,
}

impl DeadlineSubject {
    /// `{"at": t}`, or `{"now": t, "timeout": d}` for the deadline `d` after `t`.
    fn new(config: Value) -> Res<DeadlineSubject> {
        let mut f = Fields::new(config, "a deadline config")?;
        let deadline = match f.nullable("at", None, nanos)? {
            Some(at) => Deadline::at(at),
            None => Deadline::after(f.nanos("now")?, f.nanos("timeout")?),
        };
        f.finish()?;
        Ok(DeadlineSubject { deadline })
    }
}

impl Subject for DeadlineSubject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        match op {
            "check" => {
                let now = args.nanos("now")?;
                let d = self.deadline;
                Ok(object(json!({
                    "expires_at": int_json(d.expires_at().as_nanos()),
                    "remaining": int_json(d.remaining(now).as_nanos()),
                    "expired": d.is_expired(now),
                })))
            }
            "min" => {
                let other = Deadline::at(args.nanos("at")?);
                self.deadline = self.deadline.min(other);
                let at = self.deadline.expires_at().as_nanos();
                Ok(object(json!({ "expires_at": int_json(at) })))
            }
            _ => Err(format!("unknown op `{op}` for a deadline")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Token bucket (docs/semantics.md §3, §7).

struct TokenBucketSubject {
    bucket: TokenBucket,
}

impl TokenBucketSubject {
    fn new(config: Value) -> Res<TokenBucketSubject> {
        let bucket = TokenBucket::new(token_bucket_config(config)?)
            .map_err(|e| format!("invalid config: {e}"))?;
        Ok(TokenBucketSubject { bucket })
    }
}

impl Subject for TokenBucketSubject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        let b = &self.bucket;
        Ok(match op {
            "try_acquire" => {
                let n = args.or("n", 1, u32_of)?;
                admission(&b.try_acquire(n, args.nanos("now")?))
            }
            "reserve" => {
                let n = args.or("n", 1, u32_of)?;
                let now = args.nanos("now")?;
                reservation(b.reserve(n, now, args.nanos("max_wait")?))
            }
            "available" => {
                object(json!({ "available": int_json(b.available(args.nanos("now")?)) }))
            }
            "snapshot" => bucket_snapshot_json(&b.snapshot(args.nanos("now")?)),
            "validate" => {
                let config = token_bucket_config(args.required("config")?)?;
                config_error(TokenBucket::new(config).map(drop))
            }
            _ => return Err(format!("unknown op `{op}` for a token bucket")),
        })
    }
}

/// A token bucket config: `capacity` is required; the rate defaults as `TokenBucketConfig::new`.
fn token_bucket_config(value: Value) -> Res<TokenBucketConfig> {
    let mut f = Fields::new(value, "a token bucket config")?;
    let config = bucket_fields(&mut f)?;
    f.finish()?;
    Ok(config)
}

/// The bucket fields shared by the token bucket and the keyed limiter.
fn bucket_fields(f: &mut Fields) -> Res<TokenBucketConfig> {
    let d = TokenBucketConfig::new(f.get("capacity", u32_of)?);
    Ok(TokenBucketConfig {
        refill_amount: f.or("refill_amount", d.refill_amount, u32_of)?,
        refill_every: f.or("refill_every", d.refill_every, nanos)?,
        ..d
    })
}

/// `admitted`, `reason`, `retry_after` and `ready_at` (`null` when refused) of a reservation.
fn reservation(answer: Result<Nanos, Rejected>) -> Map<String, Value> {
    let mut observed = admission(&answer);
    observed.insert("ready_at".into(), nanos_json(answer.ok()));
    observed
}

fn bucket_snapshot_json(s: &TokenBucketSnapshot) -> Map<String, Value> {
    object(json!({
        "available": int_json(s.available),
        "capacity": s.capacity,
        "next_token_at": nanos_json(s.next_token_at),
        "full_at": int_json(s.full_at.as_nanos()),
    }))
}

// ---------------------------------------------------------------------------------------------
// Keyed limiter (docs/semantics.md §3).

/// The table sizes a file may ask for: at most `MAX_PROBE`, so every key may use every slot and
/// no answer depends on how keys hash.
const MAX_SLOTS: u64 = stanchion::keyed_limiter::MAX_PROBE as u64;

struct KeyedLimiterSubject<const N: usize> {
    limiter: KeyedLimiter<N>,
}

/// A keyed limiter of the `slots` the config asks for (default 4).
fn keyed_limiter_subject(config: Value) -> Res<Box<dyn Subject>> {
    let (slots, bucket, policy) = keyed_limiter_config(config)?;
    fn build<const N: usize>(
        bucket: TokenBucketConfig,
        policy: TableFullPolicy,
    ) -> Res<Box<dyn Subject>> {
        let limiter =
            KeyedLimiter::<N>::new(bucket, policy).map_err(|e| format!("invalid config: {e}"))?;
        Ok(Box::new(KeyedLimiterSubject { limiter }))
    }
    match slots {
        1 => build::<1>(bucket, policy),
        2 => build::<2>(bucket, policy),
        3 => build::<3>(bucket, policy),
        4 => build::<4>(bucket, policy),
        5 => build::<5>(bucket, policy),
        6 => build::<6>(bucket, policy),
        7 => build::<7>(bucket, policy),
        8 => build::<8>(bucket, policy),
        other => Err(format!("`slots`: {other} is not in 1..={MAX_SLOTS}")),
    }
}

/// A keyed limiter config: the bucket fields, `slots` [4] and `policy` [`"reject"`].
fn keyed_limiter_config(value: Value) -> Res<(u64, TokenBucketConfig, TableFullPolicy)> {
    let mut f = Fields::new(value, "a keyed limiter config")?;
    let bucket = bucket_fields(&mut f)?;
    let slots = f.or("slots", 4, int)?;
    if !(1..=MAX_SLOTS).contains(&slots) {
        return Err(format!("`slots`: {slots} is not in 1..={MAX_SLOTS}"));
    }
    let policy = f.or("policy", TableFullPolicy::Reject, |v| match v.as_str() {
        Some("reject") => Ok(TableFullPolicy::Reject),
        Some("admit") => Ok(TableFullPolicy::Admit),
        _ => Err(format!("{v} is not \"reject\" or \"admit\"")),
    })?;
    f.finish()?;
    Ok((slots, bucket, policy))
}

impl<const N: usize> Subject for KeyedLimiterSubject<N> {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        let l = &self.limiter;
        Ok(match op {
            "try_acquire" => {
                let key = args.get("key", int)?;
                let n = args.or("n", 1, u32_of)?;
                admission(&l.try_acquire(key, n, args.nanos("now")?))
            }
            "reserve" => {
                let key = args.get("key", int)?;
                let n = args.or("n", 1, u32_of)?;
                let now = args.nanos("now")?;
                reservation(l.reserve(key, n, now, args.nanos("max_wait")?))
            }
            "available" => {
                let key = args.get("key", int)?;
                let available = l.available(key, args.nanos("now")?);
                object(json!({ "available": int_json(available) }))
            }
            "snapshot" => {
                let key = args.get("key", int)?;
                bucket_snapshot_json(&l.snapshot(key, args.nanos("now")?))
            }
            "active_keys" => object(json!({ "active_keys": l.active_keys(args.nanos("now")?) })),
            "validate" => {
                let (_, bucket, policy) = keyed_limiter_config(args.required("config")?)?;
                config_error(KeyedLimiter::<1>::new(bucket, policy).map(drop))
            }
            _ => return Err(format!("unknown op `{op}` for a keyed limiter")),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Bulkhead (docs/semantics.md §4, §7).

/// The waiter table of the bulkhead under test. Files never queue more than this many at once;
/// where the queue limit matters they set `max_waiting`, so that a binding with another table
/// size gives the same answers.
const BULKHEAD_WAITERS: usize = 16;

/// Counts the wake-ups of one waiter.
#[derive(Default)]
struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a name stands for: an `acquire` future still waiting, or a permit (held or released).
enum Handle {
    Waiting {
        future: Acquire<'static, BULKHEAD_WAITERS>,
        wakes: Arc<WakeCount>,
        /// Wake-ups already reported.
        seen: usize,
    },
    Permit(BulkheadPermit),
}

/// What one poll of an `acquire` future gave.
enum Polled {
    Granted(BulkheadPermit),
    Pending,
    Refused(Rejected),
}

struct BulkheadSubject {
    /// Leaked for the length of the test so that futures and permits can borrow it from the
    /// same struct; a few hundred bytes per file.
    bulkhead: &'static Bulkhead<BULKHEAD_WAITERS>,
    /// Every bound name with what it stands for, in the order the names were bound.
    handles: Vec<(String, Handle)>,
}

impl BulkheadSubject {
    fn new(config: Value) -> Res<BulkheadSubject> {
        let bulkhead =
            Bulkhead::new(bulkhead_config(config)?).map_err(|e| format!("invalid config: {e}"))?;
        Ok(BulkheadSubject {
            bulkhead: Box::leak(Box::new(bulkhead)),
            handles: Vec::new(),
        })
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.handles.iter().position(|(bound, _)| bound == name)
    }

    fn bind(&mut self, name: String, handle: Handle) -> Res<()> {
        if self.position(&name).is_some() {
            return Err(format!("name `{name}` is already bound"));
        }
        self.handles.push((name, handle));
        Ok(())
    }

    /// The waiters woken since the last call, in the order their names were bound.
    fn woken(&mut self) -> Value {
        let mut woken = Vec::new();
        for (name, handle) in &mut self.handles {
            if let Handle::Waiting { wakes, seen, .. } = handle {
                let count = wakes.0.load(Ordering::SeqCst);
                if count > *seen {
                    *seen = count;
                    woken.push(json!(name));
                }
            }
        }
        Value::Array(woken)
    }

    fn waiter_index(&self, args: &mut Fields) -> Res<usize> {
        let name = args.string("waiter")?;
        match self.position(&name).map(|i| (i, &self.handles[i].1)) {
            Some((i, Handle::Waiting { .. })) => Ok(i),
            Some(_) => Err(format!("`{name}` holds a permit, not a waiting future")),
            None => Err(format!("no waiter named `{name}`")),
        }
    }
}

/// Polls a future once with its waiter's counting waker.
fn poll_acquire(future: &mut Acquire<'static, BULKHEAD_WAITERS>, wakes: &Arc<WakeCount>) -> Polled {
    let waker = Waker::from(wakes.clone());
    match Pin::new(future).poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(Ok(permit)) => Polled::Granted(permit.into_raw()),
        Poll::Ready(Err(rejected)) => Polled::Refused(rejected),
        Poll::Pending => Polled::Pending,
    }
}

/// `admitted`, `pending`, `reason`, `retry_after` and `lane` of one poll.
fn polled_json(polled: &Polled) -> Map<String, Value> {
    let (reason, retry_after, lane) = match polled {
        Polled::Granted(permit) => (Value::Null, Value::Null, json!(permit.lane())),
        Polled::Pending => (Value::Null, Value::Null, Value::Null),
        Polled::Refused(r) => (
            json!(r.reason.as_str()),
            nanos_json(r.retry_after),
            Value::Null,
        ),
    };
    object(json!({
        "admitted": matches!(polled, Polled::Granted(_)),
        "pending": matches!(polled, Polled::Pending),
        "reason": reason,
        "retry_after": retry_after,
        "lane": lane,
    }))
}

impl Subject for BulkheadSubject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        let b = self.bulkhead;
        Ok(match op {
            "try_acquire" => {
                let lane = args.or("lane", 0, int)?;
                let name = args.nullable("as", None, string)?;
                let answer = b.try_acquire(usize::try_from(lane).unwrap_or(usize::MAX));
                let answer = answer.map(|permit| permit.into_raw());
                let mut observed = admission(&answer);
                observed.insert("lane".into(), json!(answer.ok().map(|p| p.lane())));
                // Without a name the permit is held for good: a raw permit releases nothing
                // when dropped.
                if let (Ok(permit), Some(name)) = (answer, name) {
                    self.bind(name, Handle::Permit(permit))?;
                }
                observed
            }
            "acquire_async" => {
                let lane = args.or("lane", 0, int)?;
                let name = args.string("as")?;
                if self.position(&name).is_some() {
                    return Err(format!("name `{name}` is already bound"));
                }
                let mut future = b.acquire(usize::try_from(lane).unwrap_or(usize::MAX));
                let wakes = Arc::new(WakeCount::default());
                let polled = poll_acquire(&mut future, &wakes);
                let mut observed = polled_json(&polled);
                match polled {
                    Polled::Granted(permit) => self.bind(name, Handle::Permit(permit))?,
                    Polled::Pending => {
                        let seen = wakes.0.load(Ordering::SeqCst);
                        let waiting = Handle::Waiting {
                            future,
                            wakes,
                            seen,
                        };
                        self.bind(name, waiting)?;
                    }
                    Polled::Refused(_) => {}
                }
                observed.insert("woken".into(), self.woken());
                observed
            }
            "poll" => {
                let index = self.waiter_index(args)?;
                let (name, handle) = &mut self.handles[index];
                let Handle::Waiting { future, wakes, .. } = handle else {
                    return Err(format!("`{name}` is not waiting"));
                };
                let polled = poll_acquire(future, wakes);
                let mut observed = polled_json(&polled);
                observed.remove("reason");
                observed.remove("retry_after");
                match polled {
                    Polled::Granted(permit) => *handle = Handle::Permit(permit),
                    Polled::Pending => {}
                    Polled::Refused(r) => return Err(format!("a queued future resolved to {r}")),
                }
                observed
            }
            "cancel" => {
                let index = self.waiter_index(args)?;
                drop(self.handles.remove(index));
                object(json!({ "woken": self.woken() }))
            }
            "release" => {
                let name = args.string("permit")?;
                let released = match self.position(&name).map(|i| &mut self.handles[i].1) {
                    Some(Handle::Permit(permit)) => b.release(permit),
                    Some(Handle::Waiting { .. }) => {
                        return Err(format!("`{name}` is a waiting future, not a permit"))
                    }
                    None => return Err(format!("no permit named `{name}`")),
                };
                object(json!({ "released": released, "woken": self.woken() }))
            }
            "snapshot" => {
                let s = b.snapshot();
                object(json!({
                    "in_flight": s.in_flight,
                    "peak": s.peak,
                    "waiting": s.waiting,
                    "rejected": int_json(s.rejected),
                    "max_concurrent": s.max_concurrent,
                }))
            }
            "validate" => {
                let config = bulkhead_config(args.required("config")?)?;
                config_error(Bulkhead::<0>::new(config).map(drop))
            }
            _ => return Err(format!("unknown op `{op}` for a bulkhead")),
        })
    }
}

/// A bulkhead config: `max_concurrent` is required; `lanes` (the ceilings, highest priority
/// first) defaults to one lane, `max_waiting` to no limit but the waiter table.
fn bulkhead_config(value: Value) -> Res<BulkheadConfig> {
    let mut f = Fields::new(value, "a bulkhead config")?;
    let mut config = BulkheadConfig::new(f.get("max_concurrent", u32_of)?);
    if let Some(lanes) = f.take("lanes") {
        let ceilings = lanes
            .as_array()
            .ok_or_else(|| format!("`lanes`: {lanes} is not an array of ceilings"))?
            .iter()
            .map(u32_of)
            .collect::<Res<Vec<u32>>>()
            .map_err(|e| format!("`lanes`: {e}"))?;
        config = config.lanes(&ceilings);
    }
    config = config.max_waiting(f.or("max_waiting", config.max_waiting, u32_of)?);
    f.finish()?;
    Ok(config)
}

// ---------------------------------------------------------------------------------------------
// Adaptive concurrency limit (docs/semantics.md §10).

struct AdaptiveSubject {
    limiter: AdaptiveLimiter,
    /// Permits by the name a step gave them (`"as"`), until they are recorded or released.
    permits: HashMap<String, AdaptivePermit>,
}

impl AdaptiveSubject {
    fn new(config: Value) -> Res<AdaptiveSubject> {
        let limiter = AdaptiveLimiter::new(adaptive_config(config)?)
            .map_err(|e| format!("invalid config: {e}"))?;
        Ok(AdaptiveSubject {
            limiter,
            permits: HashMap::new(),
        })
    }

    fn permit(&mut self, args: &mut Fields) -> Res<AdaptivePermit> {
        let name = args.string("permit")?;
        self.permits
            .remove(&name)
            .ok_or_else(|| format!("no permit named `{name}` (never admitted, or already used)"))
    }

    /// `admitted`, `reason`, `retry_after` and `in_flight` of a `try_acquire` at `now`.
    fn admit(&self, now: Nanos) -> (Result<AdaptivePermit, Rejected>, Map<String, Value>) {
        let answer = self.limiter.try_acquire(now).map(|p| p.into_raw());
        let mut observed = admission(&answer);
        let in_flight = answer.as_ref().ok().map(|p| p.in_flight());
        observed.insert("in_flight".into(), json!(in_flight));
        (answer, observed)
    }
}

impl Subject for AdaptiveSubject {
    fn run(&mut self, op: &str, args: &mut Fields) -> Res<Map<String, Value>> {
        let change = |c: Option<LimitChange>| {
            c.map_or(Value::Null, |c| json!({ "from": c.from, "to": c.to }))
        };
        Ok(match op {
            "acquire" => {
                let now = args.nanos("now")?;
                let name = args.nullable("as", None, string)?;
                let (answer, observed) = self.admit(now);
                // Without a name the permit is held for good: a raw permit gives nothing
                // back when dropped.
                if let (Ok(permit), Some(name)) = (answer, name) {
                    if self.permits.insert(name.clone(), permit).is_some() {
                        return Err(format!("name `{name}` is already bound"));
                    }
                }
                observed
            }
            "record" => {
                let mut permit = self.permit(args)?;
                let outcome = args.get("outcome", adaptive_outcome)?;
                let now = args.nanos("now")?;
                let c = self.limiter.record_raw(&mut permit, outcome, now);
                object(json!({ "change": change(c) }))
            }
            "release" => {
                let mut permit = self.permit(args)?;
                object(json!({ "released": self.limiter.release(&mut permit) }))
            }
            "call" => {
                let now = args.nanos("now")?;
                let latency = args.or("latency", Nanos::ZERO, nanos)?;
                let outcome = args.get("outcome", adaptive_outcome)?;
                let (answer, mut observed) = self.admit(now);
                let c = answer.ok().and_then(|mut permit| {
                    self.limiter.record_raw(&mut permit, outcome, now + latency)
                });
                observed.insert("change".into(), change(c));
                observed
            }
            "snapshot" => adaptive_snapshot_json(&self.limiter.snapshot()),
            "validate" => {
                let config = adaptive_config(args.required("config")?)?;
                config_error(config.validate())
            }
            other => return Err(format!("unknown op `{other}`")),
        })
    }
}

/// An adaptive limiter config: every field optional, defaults as `AdaptiveConfig::new()`.
fn adaptive_config(value: Value) -> Res<AdaptiveConfig> {
    let mut f = Fields::new(value, "an adaptive limiter config")?;
    let d = AdaptiveConfig::new();
    let config = AdaptiveConfig {
        algorithm: f.or("algorithm", d.algorithm, algorithm)?,
        initial_limit: f.or("initial_limit", d.initial_limit, u32_of)?,
        min_limit: f.or("min_limit", d.min_limit, u32_of)?,
        max_limit: f.or("max_limit", d.max_limit, u32_of)?,
        min_samples: f.or("min_samples", d.min_samples, u32_of)?,
        window: f.or("window", d.window, nanos)?,
        max_waiting: d.max_waiting,
        seed: f.or("seed", d.seed, int)?,
    };
    f.finish()?;
    Ok(config)
}

/// `"aimd"`, `"vegas"`, `"gradient2"` with their defaults, or a one-field object with any of
/// the algorithm's parameters.
fn algorithm(v: &Value) -> Res<Algorithm> {
    let (name, data) = variant(v)?;
    let mut f = Fields::new(
        data.cloned().unwrap_or(json!({})),
        "the algorithm's parameters",
    )?;
    let algorithm = match name {
        "aimd" => {
            let d = Aimd::new();
            Algorithm::Aimd(Aimd {
                backoff_ratio: f.or("backoff_ratio", d.backoff_ratio, float)?,
                timeout: f.or("timeout", d.timeout, nanos)?,
            })
        }
        "vegas" => {
            let d = Vegas::new();
            Algorithm::Vegas(Vegas {
                alpha: f.or("alpha", d.alpha, u32_of)?,
                beta: f.or("beta", d.beta, u32_of)?,
                probe_multiplier: f.or("probe_multiplier", d.probe_multiplier, u32_of)?,
                smoothing: f.or("smoothing", d.smoothing, float)?,
            })
        }
        "gradient2" => {
            let d = Gradient2::new();
            Algorithm::Gradient2(Gradient2 {
                smoothing: f.or("smoothing", d.smoothing, float)?,
                queue_size: f.or("queue_size", d.queue_size, u32_of)?,
                long_window: f.or("long_window", d.long_window, u32_of)?,
                rtt_tolerance: f.or("rtt_tolerance", d.rtt_tolerance, float)?,
                creep_guard: f.or("creep_guard", d.creep_guard, boolean)?,
            })
        }
        other => return Err(format!("unknown algorithm `{other}`")),
    };
    f.finish()?;
    Ok(algorithm)
}

fn adaptive_outcome(v: &Value) -> Res<AdaptiveOutcome> {
    match v.as_str() {
        Some("success") => Ok(AdaptiveOutcome::Success),
        Some("failure") => Ok(AdaptiveOutcome::Failure),
        Some("ignored") => Ok(AdaptiveOutcome::Ignored),
        Some("dropped") => Ok(AdaptiveOutcome::Dropped),
        _ => Err(format!(
            "{v} is not \"success\", \"failure\", \"ignored\" or \"dropped\""
        )),
    }
}

fn adaptive_snapshot_json(s: &AdaptiveSnapshot) -> Map<String, Value> {
    object(json!({
        "limit": s.limit,
        "in_flight": s.in_flight,
        "waiting": s.waiting,
        "peak": s.peak,
        "rejected": s.rejected,
        "baseline": nanos_json(s.baseline),
        "last_update": nanos_json(s.last_update),
        "windows": s.windows,
    }))
}
