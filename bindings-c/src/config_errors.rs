//! How a config error reads in C. The core names a field as its Rust config does
//! (`open_for_max`, `window.count`, `refill_every`) and states the range of its own types; a C
//! user sees the C struct's field (`open_for_max_ns`, `window_count`, `refill_every_ns`) and the
//! range that field takes in C (a count window of at most 320 calls, not 65535). [`FIELDS`] is
//! the one table between the two.

use core::ffi::c_char;

use stanchion_core::ConfigError;

use crate::status::stanchion_config_error;

/// The config struct an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Config {
    Breaker,
    TokenBucket,
    KeyedLimiter,
    Bulkhead,
    Adaptive,
    Backoff,
    RetryBudget,
}

impl Config {
    /// The object's name in C: `stanchion_<name>_config`, `stanchion_<name>_config_validate`.
    #[cfg(test)]
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Config::Breaker => "breaker",
            Config::TokenBucket => "token_bucket",
            Config::KeyedLimiter => "keyed_limiter",
            Config::Bulkhead => "bulkhead",
            Config::Adaptive => "adaptive",
            Config::Backoff => "backoff",
            Config::RetryBudget => "retry_budget",
        }
    }
}

/// One field of a C config that `*_config_validate` can name.
pub(crate) struct Field {
    pub(crate) config: Config,
    /// The field as the core's `ConfigError` names it (or this crate, for checks of its own:
    /// the enum-like fields, the keyed limiter's `slots`).
    pub(crate) core: &'static str,
    /// The field in the C struct, as C code writes it (`bucket.capacity` for a nested one).
    pub(crate) c: &'static str,
    /// Every value the C field takes, whichever check refused it.
    pub(crate) allowed: &'static str,
}

const fn field(
    config: Config,
    core: &'static str,
    c: &'static str,
    allowed: &'static str,
) -> Field {
    Field {
        config,
        core,
        c,
        allowed,
    }
}

use Config::*;

/// Every field a C user can see in an error. The breaker's window-fit error (`window` in the
/// core) is renamed `window.count` or `window.buckets` by the breaker, from the window kind,
/// before it gets here; so is an adaptive limiter's `algorithm.<parameter>`, to the parameter
/// of the algorithm's struct (`vegas.smoothing`), by the limiter.
pub(crate) const FIELDS: &[Field] = &[
    field(
        Breaker,
        "failure_count",
        "failure_count",
        "1..=4294967295, or has_failure_count = 0 with another trigger set",
    ),
    field(
        Breaker,
        "consecutive_failures",
        "consecutive_failures",
        "1..=4294967295, or has_consecutive_failures = 0",
    ),
    field(Breaker, "failure_rate", "failure_rate", "(0, 1]"),
    field(Breaker, "minimum_calls", "minimum_calls", "1..=4294967295"),
    field(
        Breaker,
        "slow_call.duration",
        "slow_call_duration_ns",
        "at least 1",
    ),
    field(Breaker, "slow_call.rate", "slow_call_rate", "(0, 1]"),
    field(
        Breaker,
        "window_kind",
        "window_kind",
        "STANCHION_WINDOW_COUNT (0) or STANCHION_WINDOW_TIME (1)",
    ),
    field(
        Breaker,
        "window.count",
        "window_count",
        "1..=320 (STANCHION_BREAKER_MAX_WINDOW_COUNT)",
    ),
    field(
        Breaker,
        "window.buckets",
        "window_buckets",
        "1..=10 (STANCHION_BREAKER_MAX_WINDOW_BUCKETS)",
    ),
    field(
        Breaker,
        "window.span",
        "window_span_ns",
        "at least window_buckets (1 ns per bucket)",
    ),
    field(
        Breaker,
        "open_for_max",
        "open_for_max_ns",
        "at least open_for_ns",
    ),
    field(Breaker, "open_for_factor", "open_for_factor", "[1, 65535]"),
    field(Breaker, "open_for_jitter", "open_for_jitter", "[0, 1]"),
    field(Breaker, "half_open_probes", "half_open_probes", "1..=65535"),
    field(
        Breaker,
        "half_open_successes",
        "half_open_successes",
        "1..=65535, or has_half_open_successes = 0",
    ),
    field(
        Breaker,
        "probe_timeout",
        "probe_timeout_ns",
        "at least 1, or has_probe_timeout = 0",
    ),
    field(TokenBucket, "capacity", "capacity", "1..=4294967295"),
    field(
        TokenBucket,
        "refill_amount",
        "refill_amount",
        "1..=refill_every_ns (at most 10^9 tokens per second)",
    ),
    field(TokenBucket, "refill_every", "refill_every_ns", "at least 1"),
    field(
        KeyedLimiter,
        "capacity",
        "bucket.capacity",
        "1..=4294967295",
    ),
    field(
        KeyedLimiter,
        "refill_amount",
        "bucket.refill_amount",
        "1..=bucket.refill_every_ns (at most 10^9 tokens per second)",
    ),
    field(
        KeyedLimiter,
        "refill_every",
        "bucket.refill_every_ns",
        "at least 1",
    ),
    field(
        KeyedLimiter,
        "slots",
        "slots",
        "1, 2, 4, 8, 16 (stanchion_keyed_limiter) or 1024",
    ),
    field(
        KeyedLimiter,
        "policy",
        "policy",
        "STANCHION_TABLE_FULL_REJECT (0) or STANCHION_TABLE_FULL_ADMIT (1)",
    ),
    field(Bulkhead, "max_concurrent", "max_concurrent", "1..=16777215"),
    field(
        Bulkhead,
        "lanes",
        "lanes",
        "1..=8 (STANCHION_BULKHEAD_MAX_LANES)",
    ),
    field(
        Bulkhead,
        "lane_ceilings",
        "lane_ceilings",
        "[0]: 0 or max_concurrent; [1] to [lanes - 1]: at least 1, non-increasing",
    ),
    field(Adaptive, "max_limit", "max_limit", "min_limit..=65535"),
    field(Adaptive, "min_limit", "min_limit", "1..=max_limit"),
    field(
        Adaptive,
        "initial_limit",
        "initial_limit",
        "min_limit..=max_limit",
    ),
    field(Adaptive, "min_samples", "min_samples", "1..=4294967295"),
    field(
        Adaptive,
        "algorithm",
        "algorithm",
        "STANCHION_ADAPTIVE_AIMD (0) to _GRADIENT2 (2)",
    ),
    field(
        Adaptive,
        "aimd.backoff_ratio",
        "aimd.backoff_ratio",
        "[0.5, 1)",
    ),
    field(Adaptive, "aimd.timeout", "aimd.timeout_ns", "at least 1"),
    field(Adaptive, "vegas.alpha", "vegas.alpha", "0..=65535"),
    field(Adaptive, "vegas.beta", "vegas.beta", "0..=65535"),
    field(
        Adaptive,
        "vegas.probe_multiplier",
        "vegas.probe_multiplier",
        "1..=65535",
    ),
    field(Adaptive, "vegas.smoothing", "vegas.smoothing", "(0, 1]"),
    field(
        Adaptive,
        "gradient2.smoothing",
        "gradient2.smoothing",
        "(0, 1]",
    ),
    field(
        Adaptive,
        "gradient2.queue_size",
        "gradient2.queue_size",
        "0..=65535",
    ),
    field(
        Adaptive,
        "gradient2.long_window",
        "gradient2.long_window",
        "1..=65535",
    ),
    field(
        Adaptive,
        "gradient2.rtt_tolerance",
        "gradient2.rtt_tolerance",
        "[1, 1000]",
    ),
    field(
        Backoff,
        "schedule",
        "schedule",
        "STANCHION_SCHEDULE_CONSTANT (0) to _DECORRELATED (3)",
    ),
    field(
        Backoff,
        "jitter",
        "jitter",
        "STANCHION_JITTER_NONE (0) to _PROPORTIONAL (3); _NONE when decorrelated",
    ),
    field(Backoff, "schedule.factor", "factor", "[1, 1024]"),
    field(
        Backoff,
        "jitter.proportional",
        "jitter_proportion",
        "[0, 1]",
    ),
    field(
        Backoff,
        "max_attempts",
        "max_attempts",
        "1..=4294967295, or has_max_attempts = 0",
    ),
    field(RetryBudget, "ratio", "ratio", "[0, 1000]"),
    field(
        RetryBudget,
        "min_retries_per_sec",
        "min_retries_per_sec",
        "0..=1000000000",
    ),
];

/// The room `stanchion_config_error` has for each text, its NUL included.
const FIELD_ROOM: usize = 48;
const ALLOWED_ROOM: usize = 80;
const _: () = assert!(
    core::mem::size_of::<stanchion_config_error>() == FIELD_ROOM + ALLOWED_ROOM,
    "FIELD_ROOM and ALLOWED_ROOM are the sizes of stanchion_config_error's arrays"
);

// Every text fits with its NUL: none is ever cut short.
const _: () = {
    let mut i = 0;
    while i < FIELDS.len() {
        assert!(
            FIELDS[i].c.len() < FIELD_ROOM,
            "a C field name does not fit"
        );
        assert!(
            FIELDS[i].allowed.len() < ALLOWED_ROOM,
            "an allowed text does not fit"
        );
        i += 1;
    }
};

/// Copies `text` into `out` as a NUL-terminated string, cut short if it does not fit (only a
/// core error missing from [`FIELDS`] can be that long).
fn copy_text(out: &mut [c_char], text: &str) {
    let len = text.len().min(out.len().saturating_sub(1));
    for (slot, byte) in out.iter_mut().zip(text.bytes().take(len)) {
        *slot = byte as c_char;
    }
    if let Some(end) = out.get_mut(len) {
        *end = 0;
    }
}

/// `error` as a C user reads it: the C field and its range for C.
pub(crate) fn c_error(config: Config, error: ConfigError) -> stanchion_config_error {
    let row = FIELDS
        .iter()
        .find(|row| row.config == config && row.core == error.field);
    // A core error missing from the table is a bug of this crate: the C tests and the fuzzer
    // (debug assertions on) see it as STANCHION_PANIC. Release builds pass the core's text on.
    debug_assert!(row.is_some(), "a config error missing from FIELDS");
    let (field, allowed) = row.map_or((error.field, error.allowed), |row| (row.c, row.allowed));
    let mut out = stanchion_config_error {
        field: [0; FIELD_ROOM],
        allowed: [0; ALLOWED_ROOM],
    };
    copy_text(&mut out.field, field);
    copy_text(&mut out.allowed, allowed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = include_str!("../include/stanchion.h");
    const C_TESTS: &str = include_str!("../tests/c/test_api.c");

    /// The fields of `typedef struct { ... } name;` in the header, with their types.
    fn struct_fields(name: &str) -> Vec<(String, String)> {
        let end = HEADER
            .find(&format!("}} {name};"))
            .unwrap_or_else(|| panic!("{name} is not in the header"));
        let start = HEADER[..end]
            .rfind("typedef struct")
            .expect("a typedef struct");
        HEADER[start..end]
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("//"))
            .map(|line| {
                let decl = line.trim_end_matches(';');
                let (ty, name) = decl.rsplit_once(' ').expect("`type name;`");
                let name = name.split('[').next().unwrap_or(name);
                (ty.trim().to_owned(), name.to_owned())
            })
            .collect()
    }

    /// Every C name in the table is a field of its config struct, as the header declares it
    /// (through nested structs for `bucket.capacity`).
    #[test]
    fn every_c_name_is_a_field_of_its_struct() {
        for row in FIELDS {
            let mut ty = format!("stanchion_{}_config", row.config.name());
            for part in row.c.split('.') {
                let fields = struct_fields(&ty);
                let (field_ty, _) = fields
                    .iter()
                    .find(|(_, name)| name == part)
                    .unwrap_or_else(|| panic!("{ty} has no field `{part}` (for `{}`)", row.c));
                ty = field_ty.clone();
            }
        }
    }

    #[test]
    fn each_core_name_appears_once_per_config() {
        for (i, row) in FIELDS.iter().enumerate() {
            assert!(
                !FIELDS[..i]
                    .iter()
                    .any(|other| other.config == row.config && other.core == row.core),
                "{:?} `{}` appears twice",
                row.config,
                row.core
            );
        }
    }

    /// tests/c/test_api.c provokes the error of every row and compares the whole text.
    #[test]
    fn the_c_tests_provoke_every_row() {
        let tests = C_TESTS.split_whitespace().collect::<Vec<_>>().join(" ");
        for row in FIELDS {
            let expected = format!("{}, {}, \"{}\")", row.config.name(), row.c, row.allowed);
            assert!(
                tests.contains(&expected),
                "tests/c/test_api.c has no EXPECT_CONFIG_ERROR(.., {expected}"
            );
        }
    }
}
