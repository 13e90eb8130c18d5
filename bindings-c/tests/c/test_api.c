/*
 * The C API's behaviour, through the header and the library as C users get them: every
 * primitive's main paths on a fake clock, the status codes, and the conventions (NULL
 * pointers, invalid values, uninitialised or misaligned storage, outputs untouched on error).
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "stanchion.h"

_Static_assert(sizeof(stanchion_breaker) == STANCHION_BREAKER_SIZE, "breaker size");
_Static_assert(alignof(stanchion_breaker) == STANCHION_BREAKER_ALIGN, "breaker align");
_Static_assert(sizeof(stanchion_token_bucket) == STANCHION_TOKEN_BUCKET_SIZE, "bucket size");
_Static_assert(alignof(stanchion_token_bucket) == STANCHION_TOKEN_BUCKET_ALIGN, "bucket align");
_Static_assert(sizeof(stanchion_keyed_limiter) == STANCHION_KEYED_LIMITER_SIZE, "keyed size");
_Static_assert(sizeof(stanchion_keyed_limiter_1024) == STANCHION_KEYED_LIMITER_1024_SIZE,
               "keyed 1024 size");
_Static_assert(sizeof(stanchion_bulkhead) == STANCHION_BULKHEAD_SIZE, "bulkhead size");
_Static_assert(sizeof(stanchion_adaptive) == STANCHION_ADAPTIVE_SIZE, "adaptive size");
_Static_assert(alignof(stanchion_adaptive) == STANCHION_ADAPTIVE_ALIGN, "adaptive align");
_Static_assert(sizeof(stanchion_backoff) == STANCHION_BACKOFF_SIZE, "backoff size");
_Static_assert(sizeof(stanchion_retrying) == STANCHION_RETRYING_SIZE, "retrying size");
_Static_assert(sizeof(stanchion_retry_budget) == STANCHION_RETRY_BUDGET_SIZE, "budget size");
_Static_assert(sizeof(stanchion_retry_loop) == STANCHION_RETRY_LOOP_SIZE, "retry loop size");
_Static_assert(alignof(stanchion_retry_loop) == STANCHION_RETRY_LOOP_ALIGN, "retry loop align");

#define SEC 1000000000ull
#define MS 1000000ull

static int failures;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                               \
    }                                                                           \
  } while (0)

#define CHECK_STATUS(call, expected)                                                         \
  do {                                                                                       \
    stanchion_status got_ = (call);                                                          \
    if (got_ != (expected)) {                                                                \
      fprintf(stderr, "%s:%d: %s: expected %s, got %s\n", __FILE__, __LINE__, #call,         \
              stanchion_status_str(expected), stanchion_status_str(got_));                   \
      failures++;                                                                            \
    }                                                                                        \
  } while (0)

#define CHECK_TEXT(got, expected)                                                         \
  do {                                                                                    \
    if (strcmp((got), (expected)) != 0) {                                                 \
      fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, (expected), \
              (got));                                                                     \
      failures++;                                                                         \
    }                                                                                     \
  } while (0)

/* `stanchion_<object>_config_validate(config)` refuses the config, names `member`, which is a
 * field of `stanchion_<object>_config` (the offsetof does not compile otherwise), and states
 * `range` whole: nothing cut short. src/config_errors.rs checks that every row of its table
 * appears here as `object, member, "range")`. */
#define EXPECT_CONFIG_ERROR(config, object, member, range)                                    \
  do {                                                                                        \
    stanchion_config_error e_;                                                                \
    memset(&e_, 0, sizeof e_);                                                                \
    (void)offsetof(stanchion_##object##_config, member);                                      \
    CHECK_STATUS(stanchion_##object##_config_validate((config), &e_), STANCHION_INVALID_CONFIG); \
    CHECK_TEXT(e_.field, #member);                                                            \
    CHECK_TEXT(e_.allowed, (range));                                                          \
  } while (0)

/* Zeroed static storage: what firmware has before init. */
static stanchion_breaker static_breaker;

static void test_status_names(void) {
  CHECK(strcmp(stanchion_status_str(STANCHION_OK), "ok") == 0);
  CHECK(strcmp(stanchion_status_str(STANCHION_BREAKER_OPEN), "breaker_open") == 0);
  CHECK(strcmp(stanchion_status_str(STANCHION_TABLE_FULL), "table_full") == 0);
  CHECK(strcmp(stanchion_status_str(STANCHION_MAX_ELAPSED), "max_elapsed") == 0);
  CHECK(strcmp(stanchion_status_str(STANCHION_NOT_RETRYABLE), "not_retryable") == 0);
  CHECK(strcmp(stanchion_status_str(STANCHION_DEADLINE), "deadline") == 0);
  CHECK(strcmp(stanchion_status_str(STANCHION_BUDGET_EXHAUSTED), "budget_exhausted") == 0);
  CHECK(strcmp(stanchion_status_str(STANCHION_REFUSED), "refused") == 0);
  CHECK(strcmp(stanchion_status_str(STANCHION_RETRY_BUDGET_EXHAUSTED), "retry_budget_exhausted") == 0);
  CHECK(strcmp(stanchion_status_str(12345), "unknown") == 0);
  /* The values are part of the ABI. */
  CHECK(STANCHION_OK == 0 && STANCHION_NULL_POINTER == 1 && STANCHION_PANIC == 5);
  CHECK(STANCHION_BREAKER_OPEN == 101 && STANCHION_TABLE_FULL == 109);
  CHECK(STANCHION_MAX_ATTEMPTS == 201 && STANCHION_MAX_ELAPSED == 202);
  CHECK(STANCHION_NOT_RETRYABLE == 203 && STANCHION_DEADLINE == 204);
  CHECK(STANCHION_BUDGET_EXHAUSTED == 205 && STANCHION_REFUSED == 206);
  CHECK(strcmp(stanchion_status_str(207), "unknown") == 0);
  CHECK(stanchion_status_is_refusal(STANCHION_RATE_LIMITED));
  CHECK(!stanchion_status_is_refusal(STANCHION_OK));
  CHECK(!stanchion_status_is_refusal(STANCHION_INVALID_CONFIG));
  CHECK(!stanchion_status_is_refusal(STANCHION_MAX_ATTEMPTS));
  CHECK(!stanchion_status_is_refusal(STANCHION_REFUSED));
}

static void test_breaker_lifecycle(void) {
  stanchion_breaker_config config;
  CHECK_STATUS(stanchion_breaker_config_default(&config), STANCHION_OK);
  CHECK(config.has_failure_count && config.failure_count == 5);
  CHECK(config.open_for_ns == 30 * SEC);
  config.failure_count = 2;
  config.open_for_ns = 10 * SEC;
  config.open_for_max_ns = 10 * SEC;

  CHECK_STATUS(stanchion_breaker_try_acquire(&static_breaker, 0, &(stanchion_breaker_permit){{0}},
                                             NULL, NULL),
               STANCHION_NOT_INITIALIZED);
  CHECK_STATUS(stanchion_breaker_init(&static_breaker, &config), STANCHION_OK);
  stanchion_breaker *b = &static_breaker;

  stanchion_breaker_permit p;
  stanchion_breaker_transition t;
  stanchion_rejection r;
  CHECK_STATUS(stanchion_breaker_try_acquire(b, 1 * SEC, &p, &r, &t), STANCHION_OK);
  CHECK(!t.occurred);
  CHECK_STATUS(stanchion_breaker_record(b, &p, STANCHION_OUTCOME_FAILURE, 1 * SEC, &t),
               STANCHION_OK);
  CHECK(!t.occurred);
  /* A permit reports once. */
  CHECK_STATUS(stanchion_breaker_record(b, &p, STANCHION_OUTCOME_FAILURE, 1 * SEC, &t),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_breaker_try_acquire(b, 2 * SEC, &p, &r, &t), STANCHION_OK);
  /* An unknown outcome is refused and leaves the permit usable. */
  CHECK_STATUS(stanchion_breaker_record(b, &p, 7, 2 * SEC, &t), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_breaker_record(b, &p, STANCHION_OUTCOME_FAILURE, 2 * SEC, &t),
               STANCHION_OK);
  CHECK(t.occurred && t.from == STANCHION_STATE_CLOSED && t.to == STANCHION_STATE_OPEN);

  stanchion_breaker_state state = 99;
  CHECK_STATUS(stanchion_breaker_state_get(b, &state), STANCHION_OK);
  CHECK(state == STANCHION_STATE_OPEN);

  /* Open: refused with retry_after = open_until - now; the permit output is untouched. */
  memset(&p, 0xAB, sizeof p);
  CHECK_STATUS(stanchion_breaker_try_acquire(b, 5 * SEC, &p, &r, &t), STANCHION_BREAKER_OPEN);
  CHECK(r.reason == STANCHION_BREAKER_OPEN && r.has_retry_after && r.retry_after_ns == 7 * SEC);
  CHECK(((unsigned char *)&p)[0] == 0xAB);

  /* At open_until: half-open, one probe. */
  stanchion_breaker_permit probe;
  CHECK_STATUS(stanchion_breaker_try_acquire(b, 12 * SEC, &probe, &r, &t), STANCHION_OK);
  CHECK(t.occurred && t.from == STANCHION_STATE_OPEN && t.to == STANCHION_STATE_HALF_OPEN);
  CHECK_STATUS(stanchion_breaker_try_acquire(b, 12 * SEC, &p, &r, &t), STANCHION_HALF_OPEN_FULL);
  CHECK_STATUS(stanchion_breaker_record(b, &probe, STANCHION_OUTCOME_SUCCESS, 12 * SEC + MS, &t),
               STANCHION_OK);
  CHECK(t.occurred && t.to == STANCHION_STATE_CLOSED);

  stanchion_breaker_snapshot s;
  CHECK_STATUS(stanchion_breaker_snapshot_get(b, 13 * SEC, &s), STANCHION_OK);
  CHECK(s.state == STANCHION_STATE_CLOSED && s.failures == 2 && s.successes == 1);
  CHECK(s.rejected_open == 1 && s.rejected_half_open_full == 1 && s.rejected == 2);
  CHECK(s.transitions == 3 && !s.has_open_until);

  /* Operator overrides. */
  CHECK_STATUS(stanchion_breaker_force_open(b, 14 * SEC, &t), STANCHION_OK);
  CHECK(t.occurred && t.to == STANCHION_STATE_FORCED_OPEN);
  CHECK_STATUS(stanchion_breaker_try_acquire(b, 14 * SEC, &p, &r, NULL), STANCHION_FORCED_OPEN);
  CHECK(!r.has_retry_after);
  CHECK_STATUS(stanchion_breaker_reset(b, 15 * SEC, &t), STANCHION_OK);
  CHECK(t.occurred && t.to == STANCHION_STATE_CLOSED);
  CHECK_STATUS(stanchion_breaker_reset(b, 15 * SEC, &t), STANCHION_OK);
  CHECK(!t.occurred);
  CHECK_STATUS(stanchion_breaker_disable(b, 16 * SEC, &t), STANCHION_OK);
  CHECK(t.occurred && t.to == STANCHION_STATE_DISABLED);
  CHECK_STATUS(stanchion_breaker_try_acquire(b, 16 * SEC, &p, NULL, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_release(b, &p, 16 * SEC, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_release(b, &p, 16 * SEC, NULL), STANCHION_INVALID_ARGUMENT);

  /* Reconfigure: a bad config changes nothing. */
  stanchion_breaker_config bad = config;
  bad.minimum_calls = 0;
  CHECK_STATUS(stanchion_breaker_reconfigure(b, &bad, 17 * SEC), STANCHION_INVALID_CONFIG);
  CHECK_STATUS(stanchion_breaker_reconfigure(b, &config, 17 * SEC), STANCHION_OK);
}

static void test_breaker_config_errors(void) {
  stanchion_breaker_config config;
  stanchion_config_error e;
  stanchion_breaker_config_default(&config);
  CHECK_STATUS(stanchion_breaker_config_validate(&config, &e), STANCHION_OK);

  config.has_failure_rate = 1;
  config.failure_rate = 1.5f;
  CHECK_STATUS(stanchion_breaker_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "failure_rate") == 0 && strcmp(e.allowed, "(0, 1]") == 0);
  CHECK_STATUS(stanchion_breaker_config_validate(&config, NULL), STANCHION_INVALID_CONFIG);

  stanchion_breaker_config_default(&config);
  config.window_kind = STANCHION_WINDOW_COUNT;
  config.window_count = STANCHION_BREAKER_MAX_WINDOW_COUNT + 1;
  CHECK_STATUS(stanchion_breaker_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "window_count") == 0);
  config.window_count = STANCHION_BREAKER_MAX_WINDOW_COUNT;
  CHECK_STATUS(stanchion_breaker_config_validate(&config, &e), STANCHION_OK);

  config.window_kind = 42;
  CHECK_STATUS(stanchion_breaker_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "window_kind") == 0);

  stanchion_breaker b;
  CHECK_STATUS(stanchion_breaker_init(&b, &config), STANCHION_INVALID_CONFIG);
  /* The failed init left no object behind. */
  memset(&b, 0, sizeof b);
  CHECK_STATUS(stanchion_breaker_state_get(&b, &(stanchion_breaker_state){0}),
               STANCHION_NOT_INITIALIZED);
}

/* Every error each *_config_validate can report names the C struct's field and its whole range
 * in C, one case per way of provoking it. */
static void test_config_error_names(void) {
  stanchion_breaker_config b;
  stanchion_breaker_config_default(&b);
  b.has_failure_count = 1;
  b.failure_count = 0;
  EXPECT_CONFIG_ERROR(&b, breaker, failure_count,
                      "1..=4294967295, or has_failure_count = 0 with another trigger set");
  /* No trigger at all: a breaker that could never open. */
  stanchion_breaker_config_default(&b);
  b.has_failure_count = 0;
  EXPECT_CONFIG_ERROR(&b, breaker, failure_count,
                      "1..=4294967295, or has_failure_count = 0 with another trigger set");
  stanchion_breaker_config_default(&b);
  b.has_consecutive_failures = 1;
  b.consecutive_failures = 0;
  EXPECT_CONFIG_ERROR(&b, breaker, consecutive_failures,
                      "1..=4294967295, or has_consecutive_failures = 0");
  stanchion_breaker_config_default(&b);
  b.has_failure_rate = 1;
  b.failure_rate = 1.5f;
  EXPECT_CONFIG_ERROR(&b, breaker, failure_rate, "(0, 1]");
  stanchion_breaker_config_default(&b);
  b.minimum_calls = 0;
  EXPECT_CONFIG_ERROR(&b, breaker, minimum_calls, "1..=4294967295");
  stanchion_breaker_config_default(&b);
  b.has_slow_call = 1;
  b.slow_call_rate = 0.5f;
  b.slow_call_duration_ns = 0;
  EXPECT_CONFIG_ERROR(&b, breaker, slow_call_duration_ns, "at least 1");
  b.slow_call_duration_ns = SEC;
  b.slow_call_rate = 0.0f;
  EXPECT_CONFIG_ERROR(&b, breaker, slow_call_rate, "(0, 1]");
  stanchion_breaker_config_default(&b);
  b.window_kind = 2;
  EXPECT_CONFIG_ERROR(&b, breaker, window_kind,
                      "STANCHION_WINDOW_COUNT (0) or STANCHION_WINDOW_TIME (1)");
  /* The count window: too short, longer than the breaker holds, longer than the core's own
   * limit: one field, one range. */
  b.window_kind = STANCHION_WINDOW_COUNT;
  const uint32_t counts[] = {0, STANCHION_BREAKER_MAX_WINDOW_COUNT + 1, 65535, 70000};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    b.window_count = counts[i];
    EXPECT_CONFIG_ERROR(&b, breaker, window_count, "1..=320 (STANCHION_BREAKER_MAX_WINDOW_COUNT)");
  }
  b.window_count = STANCHION_BREAKER_MAX_WINDOW_COUNT;
  CHECK_STATUS(stanchion_breaker_config_validate(&b, NULL), STANCHION_OK);
  b.window_kind = STANCHION_WINDOW_TIME;
  b.window_span_ns = 100 * SEC;
  const uint32_t buckets[] = {0, STANCHION_BREAKER_MAX_WINDOW_BUCKETS + 1, 65535, 70000};
  for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++) {
    b.window_buckets = buckets[i];
    EXPECT_CONFIG_ERROR(&b, breaker, window_buckets,
                        "1..=10 (STANCHION_BREAKER_MAX_WINDOW_BUCKETS)");
  }
  b.window_buckets = STANCHION_BREAKER_MAX_WINDOW_BUCKETS;
  CHECK_STATUS(stanchion_breaker_config_validate(&b, NULL), STANCHION_OK);
  b.window_span_ns = STANCHION_BREAKER_MAX_WINDOW_BUCKETS - 1;
  EXPECT_CONFIG_ERROR(&b, breaker, window_span_ns, "at least window_buckets (1 ns per bucket)");
  stanchion_breaker_config_default(&b);
  b.open_for_ns = 10 * SEC;
  b.open_for_max_ns = 5 * SEC;
  EXPECT_CONFIG_ERROR(&b, breaker, open_for_max_ns, "at least open_for_ns");
  stanchion_breaker_config_default(&b);
  b.open_for_factor = 0.5f;
  EXPECT_CONFIG_ERROR(&b, breaker, open_for_factor, "[1, 65535]");
  stanchion_breaker_config_default(&b);
  b.open_for_jitter = 1.5f;
  EXPECT_CONFIG_ERROR(&b, breaker, open_for_jitter, "[0, 1]");
  stanchion_breaker_config_default(&b);
  b.half_open_probes = 0;
  EXPECT_CONFIG_ERROR(&b, breaker, half_open_probes, "1..=65535");
  b.half_open_probes = 65536;
  EXPECT_CONFIG_ERROR(&b, breaker, half_open_probes, "1..=65535");
  stanchion_breaker_config_default(&b);
  b.has_half_open_successes = 1;
  b.half_open_successes = 0;
  EXPECT_CONFIG_ERROR(&b, breaker, half_open_successes,
                      "1..=65535, or has_half_open_successes = 0");
  stanchion_breaker_config_default(&b);
  b.has_probe_timeout = 1;
  b.probe_timeout_ns = 0;
  EXPECT_CONFIG_ERROR(&b, breaker, probe_timeout_ns, "at least 1, or has_probe_timeout = 0");

  stanchion_token_bucket_config t;
  stanchion_token_bucket_config_default(&t);
  t.capacity = 0;
  EXPECT_CONFIG_ERROR(&t, token_bucket, capacity, "1..=4294967295");
  stanchion_token_bucket_config_default(&t);
  t.refill_amount = 0;
  EXPECT_CONFIG_ERROR(&t, token_bucket, refill_amount,
                      "1..=refill_every_ns (at most 10^9 tokens per second)");
  t.refill_amount = 2;
  t.refill_every_ns = 1;
  EXPECT_CONFIG_ERROR(&t, token_bucket, refill_amount,
                      "1..=refill_every_ns (at most 10^9 tokens per second)");
  stanchion_token_bucket_config_default(&t);
  t.refill_every_ns = 0;
  EXPECT_CONFIG_ERROR(&t, token_bucket, refill_every_ns, "at least 1");

  stanchion_keyed_limiter_config k;
  stanchion_keyed_limiter_config_default(&k);
  k.bucket.capacity = 0;
  EXPECT_CONFIG_ERROR(&k, keyed_limiter, bucket.capacity, "1..=4294967295");
  stanchion_keyed_limiter_config_default(&k);
  k.bucket.refill_amount = 0;
  EXPECT_CONFIG_ERROR(&k, keyed_limiter, bucket.refill_amount,
                      "1..=bucket.refill_every_ns (at most 10^9 tokens per second)");
  k.bucket.refill_amount = 2;
  k.bucket.refill_every_ns = 1;
  EXPECT_CONFIG_ERROR(&k, keyed_limiter, bucket.refill_amount,
                      "1..=bucket.refill_every_ns (at most 10^9 tokens per second)");
  stanchion_keyed_limiter_config_default(&k);
  k.bucket.refill_every_ns = 0;
  EXPECT_CONFIG_ERROR(&k, keyed_limiter, bucket.refill_every_ns, "at least 1");
  stanchion_keyed_limiter_config_default(&k);
  k.slots = 3;
  EXPECT_CONFIG_ERROR(&k, keyed_limiter, slots, "1, 2, 4, 8, 16 (stanchion_keyed_limiter) or 1024");
  stanchion_keyed_limiter_config_default(&k);
  k.policy = 2;
  EXPECT_CONFIG_ERROR(&k, keyed_limiter, policy,
                      "STANCHION_TABLE_FULL_REJECT (0) or STANCHION_TABLE_FULL_ADMIT (1)");

  stanchion_bulkhead_config h;
  stanchion_bulkhead_config_default(&h);
  h.max_concurrent = 0;
  EXPECT_CONFIG_ERROR(&h, bulkhead, max_concurrent, "1..=16777215");
  h.max_concurrent = 16777216;
  EXPECT_CONFIG_ERROR(&h, bulkhead, max_concurrent, "1..=16777215");
  stanchion_bulkhead_config_default(&h);
  h.lanes = 0;
  EXPECT_CONFIG_ERROR(&h, bulkhead, lanes, "1..=8 (STANCHION_BULKHEAD_MAX_LANES)");
  h.lanes = STANCHION_BULKHEAD_MAX_LANES + 1;
  EXPECT_CONFIG_ERROR(&h, bulkhead, lanes, "1..=8 (STANCHION_BULKHEAD_MAX_LANES)");
  /* Lane 0 neither 0 nor max_concurrent; a later lane at 0; a later lane rising. */
  stanchion_bulkhead_config_default(&h);
  h.lanes = 3;
  h.lane_ceilings[0] = 5;
  h.lane_ceilings[1] = 4;
  h.lane_ceilings[2] = 2;
  EXPECT_CONFIG_ERROR(&h, bulkhead, lane_ceilings,
                      "[0]: 0 or max_concurrent; [1] to [lanes - 1]: at least 1, non-increasing");
  h.lane_ceilings[0] = 0;
  CHECK_STATUS(stanchion_bulkhead_config_validate(&h, NULL), STANCHION_OK);
  h.lane_ceilings[2] = 0;
  EXPECT_CONFIG_ERROR(&h, bulkhead, lane_ceilings,
                      "[0]: 0 or max_concurrent; [1] to [lanes - 1]: at least 1, non-increasing");
  h.lane_ceilings[2] = 5;
  EXPECT_CONFIG_ERROR(&h, bulkhead, lane_ceilings,
                      "[0]: 0 or max_concurrent; [1] to [lanes - 1]: at least 1, non-increasing");

  stanchion_adaptive_config a;
  stanchion_adaptive_config_default(&a);
  a.max_limit = STANCHION_ADAPTIVE_MAX_LIMIT + 1;
  EXPECT_CONFIG_ERROR(&a, adaptive, max_limit, "min_limit..=65535");
  stanchion_adaptive_config_default(&a);
  a.min_limit = 0;
  EXPECT_CONFIG_ERROR(&a, adaptive, min_limit, "1..=max_limit");
  a.min_limit = 11;
  a.initial_limit = 11;
  a.max_limit = 10;
  EXPECT_CONFIG_ERROR(&a, adaptive, min_limit, "1..=max_limit");
  stanchion_adaptive_config_default(&a);
  a.initial_limit = a.max_limit + 1;
  EXPECT_CONFIG_ERROR(&a, adaptive, initial_limit, "min_limit..=max_limit");
  stanchion_adaptive_config_default(&a);
  a.min_samples = 0;
  EXPECT_CONFIG_ERROR(&a, adaptive, min_samples, "1..=4294967295");
  stanchion_adaptive_config_default(&a);
  a.algorithm = 3;
  EXPECT_CONFIG_ERROR(&a, adaptive, algorithm, "STANCHION_ADAPTIVE_AIMD (0) to _GRADIENT2 (2)");
  stanchion_adaptive_config_default(&a);
  a.aimd.backoff_ratio = 1.0;
  EXPECT_CONFIG_ERROR(&a, adaptive, aimd.backoff_ratio, "[0.5, 1)");
  a.aimd.backoff_ratio = 0.5;
  a.aimd.timeout_ns = 0;
  EXPECT_CONFIG_ERROR(&a, adaptive, aimd.timeout_ns, "at least 1");
  /* Only the chosen algorithm's parameters are read. */
  a.algorithm = STANCHION_ADAPTIVE_VEGAS;
  CHECK_STATUS(stanchion_adaptive_config_validate(&a, NULL), STANCHION_OK);
  a.vegas.alpha = 65536;
  EXPECT_CONFIG_ERROR(&a, adaptive, vegas.alpha, "0..=65535");
  stanchion_adaptive_config_default(&a);
  a.algorithm = STANCHION_ADAPTIVE_VEGAS;
  a.vegas.beta = 65536;
  EXPECT_CONFIG_ERROR(&a, adaptive, vegas.beta, "0..=65535");
  a.vegas.beta = 6;
  a.vegas.probe_multiplier = 0;
  EXPECT_CONFIG_ERROR(&a, adaptive, vegas.probe_multiplier, "1..=65535");
  a.vegas.probe_multiplier = 30;
  a.vegas.smoothing = 0.0;
  EXPECT_CONFIG_ERROR(&a, adaptive, vegas.smoothing, "(0, 1]");
  stanchion_adaptive_config_default(&a);
  a.algorithm = STANCHION_ADAPTIVE_GRADIENT2;
  a.gradient2.smoothing = 1.5;
  EXPECT_CONFIG_ERROR(&a, adaptive, gradient2.smoothing, "(0, 1]");
  a.gradient2.smoothing = 1.0;
  a.gradient2.queue_size = 65536;
  EXPECT_CONFIG_ERROR(&a, adaptive, gradient2.queue_size, "0..=65535");
  a.gradient2.queue_size = 0;
  a.gradient2.long_window = 0;
  EXPECT_CONFIG_ERROR(&a, adaptive, gradient2.long_window, "1..=65535");
  a.gradient2.long_window = 65535;
  a.gradient2.rtt_tolerance = 0.99;
  EXPECT_CONFIG_ERROR(&a, adaptive, gradient2.rtt_tolerance, "[1, 1000]");
  a.gradient2.rtt_tolerance = 1000.0;
  CHECK_STATUS(stanchion_adaptive_config_validate(&a, NULL), STANCHION_OK);

  stanchion_backoff_config f;
  stanchion_backoff_config_default(&f);
  f.schedule = 4;
  EXPECT_CONFIG_ERROR(&f, backoff, schedule, "STANCHION_SCHEDULE_CONSTANT (0) to _DECORRELATED (3)");
  stanchion_backoff_config_default(&f);
  f.jitter = 4;
  EXPECT_CONFIG_ERROR(&f, backoff, jitter,
                      "STANCHION_JITTER_NONE (0) to _PROPORTIONAL (3); _NONE when decorrelated");
  f.schedule = STANCHION_SCHEDULE_DECORRELATED;
  f.jitter = STANCHION_JITTER_EQUAL;
  EXPECT_CONFIG_ERROR(&f, backoff, jitter,
                      "STANCHION_JITTER_NONE (0) to _PROPORTIONAL (3); _NONE when decorrelated");
  stanchion_backoff_config_default(&f);
  f.factor = 0.5;
  EXPECT_CONFIG_ERROR(&f, backoff, factor, "[1, 1024]");
  stanchion_backoff_config_default(&f);
  f.jitter = STANCHION_JITTER_PROPORTIONAL;
  f.jitter_proportion = 1.5;
  EXPECT_CONFIG_ERROR(&f, backoff, jitter_proportion, "[0, 1]");
  stanchion_backoff_config_default(&f);
  f.has_max_attempts = 1;
  f.max_attempts = 0;
  EXPECT_CONFIG_ERROR(&f, backoff, max_attempts, "1..=4294967295, or has_max_attempts = 0");

  stanchion_retry_budget_config r;
  stanchion_retry_budget_config_default(&r);
  r.ratio = -1.0;
  EXPECT_CONFIG_ERROR(&r, retry_budget, ratio, "[0, 1000]");
  r.ratio = 1000.5;
  EXPECT_CONFIG_ERROR(&r, retry_budget, ratio, "[0, 1000]");
  stanchion_retry_budget_config_default(&r);
  r.min_retries_per_sec = 1000000001;
  EXPECT_CONFIG_ERROR(&r, retry_budget, min_retries_per_sec, "0..=1000000000");
}

static void test_token_bucket(void) {
  stanchion_token_bucket_config config;
  CHECK_STATUS(stanchion_token_bucket_config_default(&config), STANCHION_OK);
  CHECK(config.capacity == 1 && config.refill_amount == 1 && config.refill_every_ns == SEC);
  config.capacity = 2;
  stanchion_token_bucket bucket;
  CHECK_STATUS(stanchion_token_bucket_init(&bucket, &config), STANCHION_OK);

  stanchion_rejection r;
  CHECK_STATUS(stanchion_token_bucket_try_acquire(&bucket, 1, 0, &r), STANCHION_OK);
  CHECK_STATUS(stanchion_token_bucket_try_acquire(&bucket, 1, 0, &r), STANCHION_OK);
  CHECK_STATUS(stanchion_token_bucket_try_acquire(&bucket, 1, 0, &r), STANCHION_RATE_LIMITED);
  CHECK(r.has_retry_after && r.retry_after_ns == SEC);
  CHECK_STATUS(stanchion_token_bucket_try_acquire(&bucket, 1, SEC, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_token_bucket_try_acquire(&bucket, 3, SEC, &r),
               STANCHION_INSUFFICIENT_CAPACITY);
  CHECK(!r.has_retry_after);

  uint64_t available = 99;
  CHECK_STATUS(stanchion_token_bucket_available(&bucket, 3 * SEC, &available), STANCHION_OK);
  CHECK(available == 2);

  uint64_t ready_at = 0;
  CHECK_STATUS(stanchion_token_bucket_reserve(&bucket, 2, 3 * SEC, 0, &ready_at, &r),
               STANCHION_OK);
  CHECK(ready_at == 3 * SEC);
  CHECK_STATUS(stanchion_token_bucket_reserve(&bucket, 1, 3 * SEC, 2 * SEC, &ready_at, &r),
               STANCHION_OK);
  CHECK(ready_at == 4 * SEC);
  ready_at = 7;
  CHECK_STATUS(stanchion_token_bucket_reserve(&bucket, 1, 3 * SEC, 0, &ready_at, &r),
               STANCHION_RATE_LIMITED);
  CHECK(ready_at == 7);

  stanchion_token_bucket_snapshot s;
  CHECK_STATUS(stanchion_token_bucket_snapshot_get(&bucket, 10 * SEC, &s), STANCHION_OK);
  CHECK(s.available == 2 && s.capacity == 2 && !s.has_next_token_at);

  stanchion_config_error e;
  config.refill_every_ns = 0;
  CHECK_STATUS(stanchion_token_bucket_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "refill_every_ns") == 0);
  CHECK_STATUS(stanchion_token_bucket_init(&bucket, &config), STANCHION_INVALID_CONFIG);
}

static void test_keyed_limiter(void) {
  uint64_t key = 0;
  CHECK_STATUS(stanchion_key_of_bytes(NULL, 0, &key), STANCHION_OK);
  CHECK(key == 0xcbf29ce484222325ull);
  CHECK_STATUS(stanchion_key_of_bytes((const uint8_t *)"a", 1, &key), STANCHION_OK);
  CHECK(key == 0xaf63dc4c8601ec8cull);
  CHECK_STATUS(stanchion_key_of_bytes(NULL, 1, &key), STANCHION_NULL_POINTER);

  stanchion_keyed_limiter_config config;
  CHECK_STATUS(stanchion_keyed_limiter_config_default(&config), STANCHION_OK);
  CHECK(config.slots == 16 && config.policy == STANCHION_TABLE_FULL_REJECT);
  config.slots = 2;
  stanchion_keyed_limiter limiter;
  CHECK_STATUS(stanchion_keyed_limiter_init(&limiter, &config), STANCHION_OK);

  stanchion_rejection r;
  CHECK_STATUS(stanchion_keyed_limiter_try_acquire(&limiter, 1, 1, 0, &r), STANCHION_OK);
  CHECK_STATUS(stanchion_keyed_limiter_try_acquire(&limiter, 1, 1, 0, &r), STANCHION_RATE_LIMITED);
  CHECK(r.retry_after_ns == SEC);
  CHECK_STATUS(stanchion_keyed_limiter_try_acquire(&limiter, 2, 1, 0, &r), STANCHION_OK);
  /* Both slots hold an active key. */
  CHECK_STATUS(stanchion_keyed_limiter_try_acquire(&limiter, 3, 1, 0, &r), STANCHION_TABLE_FULL);
  CHECK(r.has_retry_after && r.retry_after_ns == SEC);
  uint32_t active = 0;
  CHECK_STATUS(stanchion_keyed_limiter_active_keys(&limiter, 0, &active), STANCHION_OK);
  CHECK(active == 2);
  CHECK_STATUS(stanchion_keyed_limiter_try_acquire(&limiter, 3, 1, SEC, &r), STANCHION_OK);

  uint64_t available = 9;
  CHECK_STATUS(stanchion_keyed_limiter_available(&limiter, 42, SEC, &available), STANCHION_OK);
  CHECK(available == 1);
  stanchion_token_bucket_snapshot s;
  CHECK_STATUS(stanchion_keyed_limiter_snapshot_get(&limiter, 3, SEC, &s), STANCHION_OK);
  CHECK(s.available == 0 && s.has_next_token_at && s.next_token_at_ns == 2 * SEC);

  stanchion_config_error e;
  config.slots = 3;
  CHECK_STATUS(stanchion_keyed_limiter_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "slots") == 0);
  config.slots = 1024;
  CHECK_STATUS(stanchion_keyed_limiter_config_validate(&config, &e), STANCHION_OK);
  /* The small table takes at most 16 slots, the large one exactly 1024. */
  CHECK_STATUS(stanchion_keyed_limiter_init(&limiter, &config), STANCHION_INVALID_CONFIG);
  static stanchion_keyed_limiter_1024 large;
  CHECK_STATUS(stanchion_keyed_limiter_1024_init(&large, &config), STANCHION_OK);
  /* A key lives in one of 8 slots from its hash: a full table refuses some keys early. */
  uint32_t admitted = 0, table_full = 0;
  for (uint64_t k = 0; k < 1024; k++) {
    stanchion_status s = stanchion_keyed_limiter_1024_try_acquire(&large, k, 1, 0, NULL);
    admitted += s == STANCHION_OK;
    table_full += s == STANCHION_TABLE_FULL;
  }
  CHECK(admitted + table_full == 1024 && admitted > 768);
  CHECK_STATUS(stanchion_keyed_limiter_1024_active_keys(&large, 0, &active), STANCHION_OK);
  CHECK(active == admitted);
  CHECK_STATUS(stanchion_keyed_limiter_1024_reserve(&large, 5, 1, SEC, 2 * SEC, &available, NULL),
               STANCHION_OK);
  CHECK(available == SEC);
  CHECK_STATUS(stanchion_keyed_limiter_1024_available(&large, 5, SEC, &available), STANCHION_OK);
  CHECK(available == 0);
  CHECK_STATUS(stanchion_keyed_limiter_1024_snapshot_get(&large, 5, 0, &s), STANCHION_OK);
  config.slots = 16;
  CHECK_STATUS(stanchion_keyed_limiter_1024_init(&large, &config), STANCHION_INVALID_CONFIG);
  config.policy = 9;
  CHECK_STATUS(stanchion_keyed_limiter_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "policy") == 0);
}

static void test_bulkhead(void) {
  stanchion_bulkhead_config config;
  CHECK_STATUS(stanchion_bulkhead_config_default(&config), STANCHION_OK);
  CHECK(config.max_concurrent == 10 && config.lanes == 1);
  config.max_concurrent = 2;
  config.lanes = 2;
  config.lane_ceilings[1] = 1;
  stanchion_bulkhead bulkhead;
  CHECK_STATUS(stanchion_bulkhead_init(&bulkhead, &config), STANCHION_OK);

  stanchion_bulkhead_permit low, high, extra;
  stanchion_rejection r;
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 1, &low, &r), STANCHION_OK);
  /* Lane 1's ceiling is 1; a lane past the configured ones counts as the lowest. */
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 1, &extra, &r), STANCHION_BULKHEAD_FULL);
  CHECK(!r.has_retry_after);
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 7, &extra, &r), STANCHION_BULKHEAD_FULL);
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 0, &high, &r), STANCHION_OK);
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 0, &extra, &r), STANCHION_BULKHEAD_FULL);

  stanchion_bulkhead_snapshot s;
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &s), STANCHION_OK);
  CHECK(s.in_flight == 2 && s.peak == 2 && s.rejected == 3 && s.max_concurrent == 2);

  bool released = false;
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &low, &released), STANCHION_OK);
  CHECK(released);
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &low, &released), STANCHION_OK);
  CHECK(!released);
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &s), STANCHION_OK);
  CHECK(s.in_flight == 1);

  /* Garbage is not a permit. */
  stanchion_bulkhead_permit garbage;
  memset(&garbage, 0x5A, sizeof garbage);
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &garbage, &released),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &s), STANCHION_OK);
  CHECK(s.in_flight == 1);

  stanchion_config_error e;
  config.lane_ceilings[1] = 5;
  CHECK_STATUS(stanchion_bulkhead_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "lane_ceilings") == 0);
  config.lanes = 9;
  CHECK_STATUS(stanchion_bulkhead_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "lanes") == 0);
}

/* A copied bulkhead permit gives back one slot, not two: the copy is refused (issue 11). Before,
 * both releases counted, in-flight fell below the permits really out, and a third permit passed
 * a cap of 2. */
static void test_bulkhead_copied_permit(void) {
  stanchion_bulkhead_config config;
  stanchion_bulkhead_config_default(&config);
  config.max_concurrent = 2;
  stanchion_bulkhead bulkhead;
  CHECK_STATUS(stanchion_bulkhead_init(&bulkhead, &config), STANCHION_OK);
  stanchion_bulkhead_permit a, b, copy, third, fourth;
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 0, &a, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 0, &b, NULL), STANCHION_OK);
  copy = a; /* the mistake: a second permit value for one slot */
  bool released = false;
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &a, &released), STANCHION_OK);
  CHECK(released);
  released = false;
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &copy, &released), STANCHION_INVALID_ARGUMENT);
  stanchion_bulkhead_snapshot s;
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &s), STANCHION_OK);
  CHECK(s.in_flight == 1); /* b is out */
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 0, &third, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 0, &fourth, NULL), STANCHION_BULKHEAD_FULL);

  /* The copy released first: refused, and the permit itself still gives its slot back. */
  copy = b;
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &copy, &released), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &s), STANCHION_OK);
  CHECK(s.in_flight == 2);
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &b, &released), STANCHION_OK);
  CHECK(released);
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &third, &released), STANCHION_OK);
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &s), STANCHION_OK);
  CHECK(s.in_flight == 0 && s.peak == 2);

  /* A permit changes place with permit_move: the new place releases, the old one is refused. */
  struct job {
    int id;
    stanchion_bulkhead_permit permit;
  } job = {7, {{0}}};
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bulkhead, 0, &a, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_bulkhead_permit_move(&a, &a), STANCHION_OK);
  CHECK_STATUS(stanchion_bulkhead_permit_move(&a, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_bulkhead_permit_move(NULL, &a), STANCHION_NULL_POINTER);
  copy = a;
  CHECK_STATUS(stanchion_bulkhead_permit_move(&copy, &job.permit), STANCHION_INVALID_ARGUMENT);
  unsigned char overlapping[sizeof(stanchion_bulkhead_permit) + 8];
  stanchion_bulkhead_permit *left = (stanchion_bulkhead_permit *)(void *)overlapping;
  CHECK_STATUS(stanchion_bulkhead_permit_move(&a, left), STANCHION_OK);
  CHECK_STATUS(stanchion_bulkhead_permit_move(left, (stanchion_bulkhead_permit *)(void *)(overlapping + 3)),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_bulkhead_permit_move(left, &job.permit), STANCHION_OK);
  uint32_t lane = 9;
  CHECK_STATUS(stanchion_bulkhead_permit_lane(&job.permit, &lane), STANCHION_OK);
  CHECK(lane == 0);
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &a, &released), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, left, &released), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &s), STANCHION_OK);
  CHECK(s.in_flight == 1);
  released = false;
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &job.permit, &released), STANCHION_OK);
  CHECK(released && job.id == 7);
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &s), STANCHION_OK);
  CHECK(s.in_flight == 0);
}

/* A copied breaker permit reports once: the copy is refused. Before, a half-open breaker freed
 * two probe slots for one probe and let more probes in than half_open_probes; a closed one
 * counted one failure twice. */
static void test_breaker_copied_permit(void) {
  stanchion_breaker_config config;
  stanchion_breaker_config_default(&config);
  config.failure_count = 2;
  config.open_for_ns = SEC;
  config.open_for_max_ns = SEC;
  config.half_open_probes = 2;
  stanchion_breaker b;
  CHECK_STATUS(stanchion_breaker_init(&b, &config), STANCHION_OK);
  stanchion_breaker_permit p, copy, p2, p3, p4;
  stanchion_breaker_transition t;
  stanchion_breaker_snapshot s;

  /* Closed: one failed call, reported through two copies, is one failure. */
  CHECK_STATUS(stanchion_breaker_try_acquire(&b, 0, &p, NULL, NULL), STANCHION_OK);
  copy = p;
  CHECK_STATUS(stanchion_breaker_record(&b, &p, STANCHION_OUTCOME_FAILURE, 0, &t), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_record(&b, &copy, STANCHION_OUTCOME_FAILURE, 0, &t),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_breaker_snapshot_get(&b, 0, &s), STANCHION_OK);
  CHECK(s.state == STANCHION_STATE_CLOSED && s.failures == 1);

  /* Half-open with two probe slots: a copy of a probe's permit frees no second slot. */
  CHECK_STATUS(stanchion_breaker_try_acquire(&b, 0, &p, NULL, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_record(&b, &p, STANCHION_OUTCOME_FAILURE, 0, &t), STANCHION_OK);
  CHECK(t.occurred && t.to == STANCHION_STATE_OPEN);
  CHECK_STATUS(stanchion_breaker_try_acquire(&b, SEC, &p, NULL, &t), STANCHION_OK);
  CHECK(t.occurred && t.to == STANCHION_STATE_HALF_OPEN);
  CHECK_STATUS(stanchion_breaker_try_acquire(&b, SEC, &p2, NULL, NULL), STANCHION_OK);
  copy = p;
  CHECK_STATUS(stanchion_breaker_release(&b, &p, SEC, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_release(&b, &copy, SEC, NULL), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_breaker_snapshot_get(&b, SEC, &s), STANCHION_OK);
  CHECK(s.state == STANCHION_STATE_HALF_OPEN && s.probes_in_flight == 1); /* p2 */
  CHECK_STATUS(stanchion_breaker_try_acquire(&b, SEC, &p3, NULL, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_try_acquire(&b, SEC, &p4, NULL, NULL), STANCHION_HALF_OPEN_FULL);
  CHECK_STATUS(stanchion_breaker_release(&b, &p2, SEC, NULL), STANCHION_OK);

  /* permit_move: the new place reports, the old one is refused; a reported permit stays put. */
  stanchion_breaker_permit moved[2];
  CHECK_STATUS(stanchion_breaker_permit_move(&p3, &p3), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_permit_move(&p3, NULL), STANCHION_NULL_POINTER);
  copy = p3;
  CHECK_STATUS(stanchion_breaker_permit_move(&copy, &moved[0]), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_breaker_permit_move(&p3, &moved[1]), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_permit_move(&moved[1], (stanchion_breaker_permit *)(void *)((char *)&moved[1] - 8)),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_breaker_release(&b, &p3, SEC, NULL), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_breaker_snapshot_get(&b, SEC, &s), STANCHION_OK);
  CHECK(s.probes_in_flight == 1);
  CHECK_STATUS(stanchion_breaker_record(&b, &moved[1], STANCHION_OUTCOME_SUCCESS, SEC, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_permit_move(&moved[1], &moved[0]), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_breaker_snapshot_get(&b, SEC, &s), STANCHION_OK);
  CHECK(s.probes_in_flight == 0 && s.half_open_successes == 1);
}

/* Zeroed static storage for the adaptive limiter: what firmware has before init. */
static stanchion_adaptive static_adaptive;

static void test_adaptive(void) {
  stanchion_adaptive_config config;
  CHECK_STATUS(stanchion_adaptive_config_default(&config), STANCHION_OK);
  CHECK(config.algorithm == STANCHION_ADAPTIVE_AIMD && config.initial_limit == 20);
  CHECK(config.min_limit == 1 && config.max_limit == 1000 && config.min_samples == 10);
  CHECK(config.window_ns == SEC && config.seed == 0);
  CHECK(config.aimd.backoff_ratio == 0.9 && config.aimd.timeout_ns == 5 * SEC);
  CHECK(config.vegas.alpha == 3 && config.vegas.beta == 6 && config.vegas.probe_multiplier == 30);
  CHECK(config.vegas.smoothing == 1.0);
  CHECK(config.gradient2.smoothing == 0.2 && config.gradient2.queue_size == 4);
  CHECK(config.gradient2.long_window == 600 && config.gradient2.rtt_tolerance == 1.5);
  CHECK(config.gradient2.creep_guard == 0);

  stanchion_adaptive *l = &static_adaptive;
  stanchion_adaptive_permit a, b, c;
  CHECK_STATUS(stanchion_adaptive_try_acquire(l, 0, &a, NULL), STANCHION_NOT_INITIALIZED);
  /* Every sample is a window of its own; start at 2. */
  config.initial_limit = 2;
  config.max_limit = 10;
  config.min_samples = 1;
  config.window_ns = 0;
  CHECK_STATUS(stanchion_adaptive_init(l, &config), STANCHION_OK);

  stanchion_rejection r;
  uint32_t in_flight = 0;
  CHECK_STATUS(stanchion_adaptive_try_acquire(l, 0, &a, &r), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_permit_in_flight(&a, &in_flight), STANCHION_OK);
  CHECK(in_flight == 1);
  CHECK_STATUS(stanchion_adaptive_try_acquire(l, 0, &b, &r), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_permit_in_flight(&b, &in_flight), STANCHION_OK);
  CHECK(in_flight == 2);
  /* Full: refused, no retry_after, the permit output untouched. */
  memset(&c, 0xAB, sizeof c);
  CHECK_STATUS(stanchion_adaptive_try_acquire(l, 0, &c, &r), STANCHION_BULKHEAD_FULL);
  CHECK(r.reason == STANCHION_BULKHEAD_FULL && !r.has_retry_after);
  CHECK(((unsigned char *)&c)[0] == 0xAB && ((unsigned char *)&c)[sizeof c - 1] == 0xAB);

  /* a's window had 1 in flight of 2: not application-limited, no drop: +1. */
  stanchion_adaptive_change change;
  memset(&change, 0xAB, sizeof change);
  CHECK_STATUS(stanchion_adaptive_record(l, &a, STANCHION_OUTCOME_SUCCESS, 5 * MS, &change), STANCHION_OK);
  CHECK(change.occurred && change.from == 2 && change.to == 3);
  /* A permit recorded twice does nothing: no sample, no window, no permit given back. */
  memset(&change, 0xAB, sizeof change);
  CHECK_STATUS(stanchion_adaptive_record(l, &a, STANCHION_OUTCOME_DROPPED, 6 * MS, &change), STANCHION_OK);
  CHECK(!change.occurred && change.from == 0 && change.to == 0);
  bool released = true;
  CHECK_STATUS(stanchion_adaptive_release(l, &a, &released), STANCHION_OK);
  CHECK(!released);
  stanchion_adaptive_snapshot s;
  CHECK_STATUS(stanchion_adaptive_snapshot_get(l, &s), STANCHION_OK);
  CHECK(s.limit == 3 && s.in_flight == 1 && s.windows == 1 && s.last_update_ns == 5 * MS);

  /* An unknown outcome is refused: the permit stays held, the output untouched. */
  memset(&change, 0xAB, sizeof change);
  CHECK_STATUS(stanchion_adaptive_record(l, &b, 4, 7 * MS, &change), STANCHION_INVALID_ARGUMENT);
  CHECK(((unsigned char *)&change)[0] == 0xAB);
  CHECK_STATUS(stanchion_adaptive_record(l, &b, UINT32_MAX, 7 * MS, NULL), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(l, &s), STANCHION_OK);
  CHECK(s.in_flight == 1 && s.windows == 1);
  /* A drop: floor(3 x 0.9) = 2. */
  CHECK_STATUS(stanchion_adaptive_record(l, &b, STANCHION_OUTCOME_DROPPED, 10 * MS, &change), STANCHION_OK);
  CHECK(change.occurred && change.from == 3 && change.to == 2);
  uint32_t limit = 0;
  CHECK_STATUS(stanchion_adaptive_limit_get(l, &limit), STANCHION_OK);
  CHECK(limit == 2);
  memset(&s, 0xAB, sizeof s);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(l, &s), STANCHION_OK);
  CHECK(s.limit == 2 && s.in_flight == 0 && s.waiting == 0 && s.peak == 2 && s.rejected == 1);
  CHECK(!s.has_baseline && s.baseline_ns == 0); /* AIMD keeps none */
  CHECK(s.has_last_update && s.last_update_ns == 10 * MS && s.windows == 2);

  /* Ignored samples nothing; a release gives the permit back once. */
  CHECK_STATUS(stanchion_adaptive_try_acquire(l, 20 * MS, &a, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_record(l, &a, STANCHION_OUTCOME_IGNORED, 30 * MS, &change), STANCHION_OK);
  CHECK(!change.occurred);
  CHECK_STATUS(stanchion_adaptive_try_acquire(l, 20 * MS, &b, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_release(l, &b, &released), STANCHION_OK);
  CHECK(released);
  CHECK_STATUS(stanchion_adaptive_record(l, &b, STANCHION_OUTCOME_DROPPED, 30 * MS, &change), STANCHION_OK);
  CHECK(!change.occurred);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(l, &s), STANCHION_OK);
  CHECK(s.limit == 2 && s.in_flight == 0 && s.windows == 2);

  /* The drop outcome is the limiter's own: a breaker refuses it. */
  stanchion_breaker_config bc;
  stanchion_breaker_config_default(&bc);
  stanchion_breaker breaker;
  stanchion_breaker_init(&breaker, &bc);
  stanchion_breaker_permit bp;
  CHECK_STATUS(stanchion_breaker_try_acquire(&breaker, 0, &bp, NULL, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_breaker_record(&breaker, &bp, STANCHION_OUTCOME_DROPPED, 0, NULL),
               STANCHION_INVALID_ARGUMENT);

  /* A config refused at init leaves the object as it was. */
  stanchion_adaptive_config bad = config;
  bad.initial_limit = 11;
  CHECK_STATUS(stanchion_adaptive_init(l, &bad), STANCHION_INVALID_CONFIG);
  CHECK_STATUS(stanchion_adaptive_limit_get(l, &limit), STANCHION_OK);
  CHECK(limit == 2);

  /* Vegas keeps a baseline: the first window's latency. */
  config.algorithm = STANCHION_ADAPTIVE_VEGAS;
  stanchion_adaptive vegas;
  CHECK_STATUS(stanchion_adaptive_init(&vegas, &config), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&vegas, &s), STANCHION_OK);
  CHECK(!s.has_baseline && !s.has_last_update && s.limit == 2);
  CHECK_STATUS(stanchion_adaptive_try_acquire(&vegas, SEC, &a, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_record(&vegas, &a, STANCHION_OUTCOME_FAILURE, SEC + 10 * MS, NULL),
               STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&vegas, &s), STANCHION_OK);
  CHECK(s.has_baseline && s.baseline_ns == 10 * MS && s.windows == 1);
}

/* A copied adaptive permit reports once: the copy is refused, whatever the order. */
static void test_adaptive_copied_permit(void) {
  stanchion_adaptive_config config;
  stanchion_adaptive_config_default(&config);
  config.initial_limit = 2;
  stanchion_adaptive l;
  CHECK_STATUS(stanchion_adaptive_init(&l, &config), STANCHION_OK);
  stanchion_adaptive_permit a, copy;
  stanchion_adaptive_snapshot s;
  bool released = false;
  CHECK_STATUS(stanchion_adaptive_try_acquire(&l, 0, &a, NULL), STANCHION_OK);
  copy = a;
  CHECK_STATUS(stanchion_adaptive_record(&l, &copy, STANCHION_OUTCOME_SUCCESS, MS, NULL),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_adaptive_release(&l, &copy, &released), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&l, &s), STANCHION_OK);
  CHECK(s.in_flight == 1);
  CHECK_STATUS(stanchion_adaptive_record(&l, &a, STANCHION_OUTCOME_SUCCESS, MS, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_release(&l, &copy, &released), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&l, &s), STANCHION_OK);
  CHECK(s.in_flight == 0);

  /* Garbage is not a permit. */
  stanchion_adaptive_permit garbage;
  uint32_t in_flight = 7;
  memset(&garbage, 0x5A, sizeof garbage);
  CHECK_STATUS(stanchion_adaptive_release(&l, &garbage, &released), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_adaptive_permit_in_flight(&garbage, &in_flight), STANCHION_INVALID_ARGUMENT);
  CHECK(in_flight == 7);

  /* A permit changes place with permit_move: the new place reports, the old one is refused. */
  struct job {
    int id;
    stanchion_adaptive_permit permit;
  } job = {7, {{0}}};
  CHECK_STATUS(stanchion_adaptive_try_acquire(&l, 0, &a, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_permit_move(&a, &a), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_permit_move(&a, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_permit_move(NULL, &a), STANCHION_NULL_POINTER);
  copy = a;
  CHECK_STATUS(stanchion_adaptive_permit_move(&copy, &job.permit), STANCHION_INVALID_ARGUMENT);
  unsigned char overlapping[sizeof(stanchion_adaptive_permit) + 8];
  stanchion_adaptive_permit *left = (stanchion_adaptive_permit *)(void *)overlapping;
  CHECK_STATUS(stanchion_adaptive_permit_move(&a, left), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_permit_move(left, (stanchion_adaptive_permit *)(void *)(overlapping + 5)),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_adaptive_permit_move(left, &job.permit), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_permit_in_flight(&job.permit, &in_flight), STANCHION_OK);
  CHECK(in_flight == 1);
  CHECK_STATUS(stanchion_adaptive_record(&l, &a, STANCHION_OUTCOME_SUCCESS, MS, NULL),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_adaptive_release(&l, left, &released), STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&l, &s), STANCHION_OK);
  CHECK(s.in_flight == 1);
  released = false;
  CHECK_STATUS(stanchion_adaptive_release(&l, &job.permit, &released), STANCHION_OK);
  CHECK(released && job.id == 7);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&l, &s), STANCHION_OK);
  CHECK(s.in_flight == 0);
}

static void test_backoff(void) {
  stanchion_backoff_config config;
  CHECK_STATUS(stanchion_backoff_config_default(&config), STANCHION_OK);
  CHECK(config.schedule == STANCHION_SCHEDULE_EXPONENTIAL && config.max_attempts == 3);
  stanchion_backoff backoff;
  CHECK_STATUS(stanchion_backoff_init(&backoff, &config), STANCHION_OK);

  uint64_t delay = 0;
  CHECK_STATUS(stanchion_backoff_delay(&backoff, 0, 1, &delay), STANCHION_OK);
  CHECK(delay == 100 * MS);
  CHECK_STATUS(stanchion_backoff_delay(&backoff, 1, 1, &delay), STANCHION_OK);
  CHECK(delay == 200 * MS);
  delay = 5;
  CHECK_STATUS(stanchion_backoff_delay(&backoff, 2, 1, &delay), STANCHION_MAX_ATTEMPTS);
  CHECK(delay == 5);

  stanchion_retrying retrying;
  memset(&retrying, 0, sizeof retrying);
  CHECK_STATUS(stanchion_retrying_next_delay(&retrying, &backoff, 0, NULL, &delay),
               STANCHION_NOT_INITIALIZED);
  CHECK_STATUS(stanchion_backoff_start(&backoff, 7, 0, &retrying), STANCHION_OK);
  uint64_t hint = 150 * MS;
  CHECK_STATUS(stanchion_retrying_next_delay(&retrying, &backoff, 0, &hint, &delay), STANCHION_OK);
  CHECK(delay == 150 * MS);
  CHECK_STATUS(stanchion_retrying_next_delay(&retrying, &backoff, SEC, NULL, &delay),
               STANCHION_OK);
  CHECK(delay == 200 * MS);
  CHECK_STATUS(stanchion_retrying_next_delay(&retrying, &backoff, 2 * SEC, NULL, &delay),
               STANCHION_MAX_ATTEMPTS);
  uint32_t retries = 0;
  CHECK_STATUS(stanchion_retrying_retries_get(&retrying, &retries), STANCHION_OK);
  CHECK(retries == 2);

  /* max_elapsed stops a retry whose wait would end past it. */
  config.schedule = STANCHION_SCHEDULE_CONSTANT;
  config.initial_ns = SEC;
  config.has_max_attempts = 0;
  config.has_max_elapsed = 1;
  config.max_elapsed_ns = 2 * SEC;
  CHECK_STATUS(stanchion_backoff_init(&backoff, &config), STANCHION_OK);
  CHECK_STATUS(stanchion_backoff_start(&backoff, 0, 0, &retrying), STANCHION_OK);
  CHECK_STATUS(stanchion_retrying_next_delay(&retrying, &backoff, 0, NULL, &delay), STANCHION_OK);
  CHECK_STATUS(stanchion_retrying_next_delay(&retrying, &backoff, 1500 * MS, NULL, &delay),
               STANCHION_MAX_ELAPSED);

  stanchion_config_error e;
  config.schedule = STANCHION_SCHEDULE_DECORRELATED;
  config.jitter = STANCHION_JITTER_FULL;
  CHECK_STATUS(stanchion_backoff_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "jitter") == 0);
  config.schedule = 17;
  CHECK_STATUS(stanchion_backoff_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "schedule") == 0);
}

static void test_retry_budget(void) {
  stanchion_retry_budget_config config;
  CHECK_STATUS(stanchion_retry_budget_config_default(&config), STANCHION_OK);
  CHECK(config.min_retries_per_sec == 10 && config.max_balance == 100);
  config.ratio = 0.5;
  config.min_retries_per_sec = 0;
  stanchion_retry_budget budget;
  CHECK_STATUS(stanchion_retry_budget_init(&budget, &config), STANCHION_OK);
  stanchion_rejection r;
  CHECK_STATUS(stanchion_retry_budget_try_retry(&budget, 0, &r), STANCHION_RETRY_BUDGET_EXHAUSTED);
  CHECK(!r.has_retry_after);
  CHECK_STATUS(stanchion_retry_budget_deposit(&budget), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_budget_deposit(&budget), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_budget_try_retry(&budget, 0, &r), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_budget_try_retry(&budget, 0, &r), STANCHION_RETRY_BUDGET_EXHAUSTED);
  stanchion_retry_budget_snapshot s;
  CHECK_STATUS(stanchion_retry_budget_snapshot_get(&budget, 0, &s), STANCHION_OK);
  CHECK(s.balance == 0 && s.retries_allowed == 1 && s.retries_refused == 2);

  stanchion_config_error e;
  config.ratio = -1.0;
  CHECK_STATUS(stanchion_retry_budget_config_validate(&config, &e), STANCHION_INVALID_CONFIG);
  CHECK(strcmp(e.field, "ratio") == 0);
}

/* A retry loop on a fake clock: each decision, each stop status, and the conventions. */
static void test_retry_loop(void) {
  stanchion_backoff_config bc;
  stanchion_backoff_config_default(&bc);
  bc.schedule = STANCHION_SCHEDULE_CONSTANT;
  bc.initial_ns = 100 * MS;
  bc.max_attempts = 3;
  stanchion_backoff backoff;
  CHECK_STATUS(stanchion_backoff_init(&backoff, &bc), STANCHION_OK);
  stanchion_retry_policy policy = {.backoff = &backoff, .seed = 7};
  stanchion_retry_loop call;
  uint32_t attempt = 0, attempts = 0;
  uint64_t wait = 0;

  /* Retryable failures: the backoff's waits, then max_attempts. */
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, &attempt), STANCHION_OK);
  CHECK(attempt == 1);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 10 * MS, STANCHION_FAILURE_RETRYABLE,
                                                  NULL, NULL, &wait),
               STANCHION_OK);
  CHECK(wait == 100 * MS);
  CHECK_STATUS(stanchion_retry_loop_resume(&call, &policy, 110 * MS, &attempt), STANCHION_OK);
  CHECK(attempt == 2);
  /* A server's hint raises the wait. */
  uint64_t hint = 250 * MS;
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 120 * MS, STANCHION_FAILURE_RETRYABLE,
                                                  &hint, NULL, &wait),
               STANCHION_OK);
  CHECK(wait == 250 * MS);
  CHECK_STATUS(stanchion_retry_loop_resume(&call, &policy, 370 * MS, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_attempts_get(&call, &attempts), STANCHION_OK);
  CHECK(attempts == 3);
  wait = 42;
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 380 * MS, STANCHION_FAILURE_RETRYABLE,
                                                  NULL, NULL, &wait),
               STANCHION_MAX_ATTEMPTS);
  CHECK(wait == 42); /* outputs are written only on OK */

  /* A final error stops at once. */
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_FINAL, NULL,
                                                  NULL, &wait),
               STANCHION_NOT_RETRYABLE);

  /* Refusals end the call unless the policy retries them; then the wait is at least their
   * retry_after, and insufficient capacity still ends it. */
  stanchion_rejection open = {STANCHION_BREAKER_OPEN, true, 500 * MS};
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_REFUSED, NULL,
                                                  &open, &wait),
               STANCHION_REFUSED);
  policy.retry_refusals = 1;
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_REFUSED, NULL,
                                                  &open, &wait),
               STANCHION_OK);
  CHECK(wait == 500 * MS);
  stanchion_rejection full = {STANCHION_BULKHEAD_FULL, false, 0};
  CHECK_STATUS(stanchion_retry_loop_resume(&call, &policy, 500 * MS, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 500 * MS, STANCHION_FAILURE_REFUSED,
                                                  NULL, &full, &wait),
               STANCHION_OK);
  CHECK(wait == 100 * MS);
  stanchion_rejection never = {STANCHION_INSUFFICIENT_CAPACITY, false, 0};
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_REFUSED, NULL,
                                                  &never, &wait),
               STANCHION_REFUSED);
  /* A flag holding any byte reads as yes, without undefined behaviour. */
  stanchion_rejection odd = open;
  memset((unsigned char *)&odd + offsetof(stanchion_rejection, has_retry_after), 0x7F, 1);
  odd.retry_after_ns = 700 * MS;
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_REFUSED, NULL,
                                                  &odd, &wait),
               STANCHION_OK);
  CHECK(wait == 700 * MS);
  policy.retry_refusals = 0;

  /* The deadline: no wait that ends at or past it, no attempt at or past it. */
  policy.has_deadline = 1;
  policy.deadline_ns = SEC;
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 900 * MS, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 900 * MS, STANCHION_FAILURE_RETRYABLE,
                                                  NULL, NULL, &wait),
               STANCHION_DEADLINE);
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_RETRYABLE, NULL,
                                                  NULL, &wait),
               STANCHION_OK);
  attempt = 99;
  CHECK_STATUS(stanchion_retry_loop_resume(&call, &policy, SEC, &attempt), STANCHION_DEADLINE);
  CHECK(attempt == 99);
  stanchion_retry_loop late;
  memset(&late, 0, sizeof late);
  CHECK_STATUS(stanchion_retry_loop_start(&late, &policy, SEC, &attempt), STANCHION_DEADLINE);
  CHECK(attempt == 99);
  CHECK_STATUS(stanchion_retry_loop_attempts_get(&late, &attempts), STANCHION_NOT_INITIALIZED);
  policy.has_deadline = 0;

  /* The budget: a deposit per start, a token per retry, and nothing spent on a stop. */
  stanchion_retry_budget_config rc;
  stanchion_retry_budget_config_default(&rc);
  rc.ratio = 1.0;
  rc.min_retries_per_sec = 0;
  stanchion_retry_budget budget;
  CHECK_STATUS(stanchion_retry_budget_init(&budget, &rc), STANCHION_OK);
  policy.budget = &budget;
  stanchion_retry_budget_snapshot bs;
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_budget_snapshot_get(&budget, 0, &bs), STANCHION_OK);
  CHECK(bs.balance == 1000000);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_FINAL, NULL,
                                                  NULL, &wait),
               STANCHION_NOT_RETRYABLE);
  CHECK_STATUS(stanchion_retry_budget_snapshot_get(&budget, 0, &bs), STANCHION_OK);
  CHECK(bs.balance == 1000000 && bs.retries_allowed == 0);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_RETRYABLE, NULL,
                                                  NULL, &wait),
               STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_resume(&call, &policy, 100 * MS, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 100 * MS, STANCHION_FAILURE_RETRYABLE,
                                                  NULL, NULL, &wait),
               STANCHION_BUDGET_EXHAUSTED);
  CHECK_STATUS(stanchion_retry_budget_snapshot_get(&budget, 0, &bs), STANCHION_OK);
  CHECK(bs.retries_allowed == 1 && bs.retries_refused == 1);

  /* max_elapsed. */
  bc.has_max_attempts = 0;
  bc.has_max_elapsed = 1;
  bc.max_elapsed_ns = 150 * MS;
  stanchion_backoff short_backoff;
  CHECK_STATUS(stanchion_backoff_init(&short_backoff, &bc), STANCHION_OK);
  stanchion_retry_policy brief = {.backoff = &short_backoff};
  CHECK_STATUS(stanchion_retry_loop_start(&call, &brief, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &brief, 0, STANCHION_FAILURE_RETRYABLE, NULL,
                                                  NULL, &wait),
               STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_resume(&call, &brief, 100 * MS, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &brief, 100 * MS, STANCHION_FAILURE_RETRYABLE,
                                                  NULL, NULL, &wait),
               STANCHION_MAX_ELAPSED);

  /* Errors change nothing: not the loop, not the budget, not the outputs. */
  CHECK_STATUS(stanchion_retry_loop_start(&call, &policy, 0, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_retry_budget_snapshot_get(&budget, 0, &bs), STANCHION_OK);
  uint64_t balance = bs.balance, allowed = bs.retries_allowed;
  wait = 42;
  stanchion_rejection not_a_refusal = {STANCHION_MAX_ATTEMPTS, false, 0};
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, 3, NULL, NULL, &wait),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_REFUSED, NULL,
                                                  NULL, &wait),
               STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_REFUSED, NULL,
                                                  &not_a_refusal, &wait),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, &policy, 0, STANCHION_FAILURE_RETRYABLE, NULL,
                                                  NULL, NULL),
               STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_retry_loop_after_failure(&call, NULL, 0, STANCHION_FAILURE_RETRYABLE, NULL,
                                                  NULL, &wait),
               STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_retry_loop_after_failure(NULL, &policy, 0, STANCHION_FAILURE_RETRYABLE, NULL,
                                                  NULL, &wait),
               STANCHION_NULL_POINTER);
  stanchion_retry_policy no_backoff = {.budget = &budget};
  CHECK_STATUS(stanchion_retry_loop_start(&late, &no_backoff, 0, NULL), STANCHION_NULL_POINTER);
  stanchion_retry_policy wrong_budget = {.backoff = &backoff,
                                         .budget = (stanchion_retry_budget *)(void *)&backoff};
  CHECK_STATUS(stanchion_retry_loop_start(&late, &wrong_budget, 0, NULL), STANCHION_NOT_INITIALIZED);
  stanchion_retry_policy wrong_backoff = {.backoff = (const stanchion_backoff *)(const void *)&budget};
  CHECK_STATUS(stanchion_retry_loop_resume(&call, &wrong_backoff, 0, NULL), STANCHION_NOT_INITIALIZED);
  CHECK(wait == 42);
  CHECK_STATUS(stanchion_retry_budget_snapshot_get(&budget, 0, &bs), STANCHION_OK);
  CHECK(bs.balance == balance && bs.retries_allowed == allowed);
  CHECK_STATUS(stanchion_retry_loop_attempts_get(&call, &attempts), STANCHION_OK);
  CHECK(attempts == 1);
  CHECK_STATUS(stanchion_retry_loop_attempts_get(&call, NULL), STANCHION_NULL_POINTER);
  static union {
    stanchion_retry_loop loop;
    unsigned char bytes[sizeof(stanchion_retry_loop) + 8];
  } raw;
  CHECK_STATUS(stanchion_retry_loop_start((stanchion_retry_loop *)(void *)(raw.bytes + 4), &policy, 0, NULL),
               STANCHION_INVALID_ARGUMENT);
  CHECK_STATUS(stanchion_retry_budget_snapshot_get(&budget, 0, &bs), STANCHION_OK);
  CHECK(bs.balance == balance);
}

static void test_deadline(void) {
  stanchion_deadline d, other;
  CHECK_STATUS(stanchion_deadline_after(SEC, 2 * SEC, &d), STANCHION_OK);
  CHECK(d.expires_at_ns == 3 * SEC);
  CHECK_STATUS(stanchion_deadline_after(UINT64_MAX - 1, 5, &d), STANCHION_OK);
  CHECK(d.expires_at_ns == UINT64_MAX);
  CHECK_STATUS(stanchion_deadline_at(3 * SEC, &d), STANCHION_OK);
  uint64_t left = 0;
  bool expired = true;
  CHECK_STATUS(stanchion_deadline_remaining(&d, 2 * SEC, &left), STANCHION_OK);
  CHECK(left == SEC);
  CHECK_STATUS(stanchion_deadline_is_expired(&d, 2 * SEC, &expired), STANCHION_OK);
  CHECK(!expired);
  CHECK_STATUS(stanchion_deadline_is_expired(&d, 3 * SEC, &expired), STANCHION_OK);
  CHECK(expired);
  CHECK_STATUS(stanchion_deadline_at(SEC, &other), STANCHION_OK);
  CHECK_STATUS(stanchion_deadline_min(&d, &other, &d), STANCHION_OK);
  CHECK(d.expires_at_ns == SEC);
}

/* Every pointer argument is checked: a NULL gives STANCHION_NULL_POINTER, never a crash. */
static void test_null_pointers(void) {
  stanchion_breaker_config bc;
  stanchion_breaker_config_default(&bc);
  stanchion_breaker b;
  stanchion_breaker_init(&b, &bc);
  stanchion_breaker_permit p;
  stanchion_token_bucket tb;
  stanchion_token_bucket_config tc;
  stanchion_token_bucket_config_default(&tc);
  stanchion_token_bucket_init(&tb, &tc);
  stanchion_bulkhead bh;
  stanchion_bulkhead_config hc;
  stanchion_bulkhead_config_default(&hc);
  stanchion_bulkhead_init(&bh, &hc);
  stanchion_adaptive ad;
  stanchion_adaptive_config ac;
  stanchion_adaptive_config_default(&ac);
  stanchion_adaptive_init(&ad, &ac);
  stanchion_adaptive_permit ap;
  stanchion_adaptive_snapshot as;
  uint32_t u32;
  stanchion_backoff bo;
  stanchion_backoff_config oc;
  stanchion_backoff_config_default(&oc);
  stanchion_backoff_init(&bo, &oc);
  stanchion_deadline d = {0};
  uint64_t u64;

  CHECK_STATUS(stanchion_breaker_config_default(NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_config_validate(NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_init(NULL, &bc), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_init(&b, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_try_acquire(NULL, 0, &p, NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_try_acquire(&b, 0, NULL, NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_record(&b, NULL, 0, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_release(NULL, &p, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_force_open(NULL, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_reconfigure(&b, NULL, 0), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_state_get(&b, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_breaker_snapshot_get(&b, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_token_bucket_config_default(NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_token_bucket_try_acquire(NULL, 1, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_token_bucket_reserve(&tb, 1, 0, 0, NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_token_bucket_available(&tb, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_keyed_limiter_config_default(NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_keyed_limiter_try_acquire(NULL, 1, 1, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_key_of_bytes(NULL, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_bulkhead_try_acquire(&bh, 0, NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_bulkhead_release(&bh, NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_config_default(NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_config_validate(NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_init(NULL, &ac), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_init(&ad, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_try_acquire(NULL, 0, &ap, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_try_acquire(&ad, 0, NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_try_acquire(&ad, 0, &ap, NULL), STANCHION_OK);
  CHECK_STATUS(stanchion_adaptive_record(NULL, &ap, 0, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_record(&ad, NULL, 0, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_release(NULL, &ap, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_release(&ad, NULL, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_permit_in_flight(NULL, &u32), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_permit_in_flight(&ap, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_limit_get(NULL, &u32), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_limit_get(&ad, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(NULL, &as), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&ad, NULL), STANCHION_NULL_POINTER);
  /* None of the refused calls changed anything: the one permit is still out. */
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&ad, &as), STANCHION_OK);
  CHECK(as.in_flight == 1);
  CHECK_STATUS(stanchion_backoff_delay(&bo, 0, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_backoff_start(&bo, 0, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_retry_budget_deposit(NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_retry_budget_try_retry(NULL, 0, NULL), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_deadline_remaining(NULL, 0, &u64), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_deadline_min(&d, NULL, &d), STANCHION_NULL_POINTER);
  CHECK_STATUS(stanchion_now_ns(NULL), STANCHION_NULL_POINTER);
}

/* Storage that is misaligned, zeroed or of another object type is refused. */
static void test_storage_checks(void) {
  static union {
    stanchion_token_bucket bucket;
    unsigned char bytes[sizeof(stanchion_token_bucket) + 8];
  } raw;
  stanchion_token_bucket_config tc;
  stanchion_token_bucket_config_default(&tc);
  stanchion_token_bucket *misaligned = (stanchion_token_bucket *)(void *)(raw.bytes + 1);
  CHECK_STATUS(stanchion_token_bucket_init(misaligned, &tc), STANCHION_INVALID_ARGUMENT);

  stanchion_token_bucket zeroed;
  memset(&zeroed, 0, sizeof zeroed);
  CHECK_STATUS(stanchion_token_bucket_try_acquire(&zeroed, 1, 0, NULL), STANCHION_NOT_INITIALIZED);

  /* A bulkhead's storage is not a token bucket. */
  stanchion_bulkhead_config hc;
  stanchion_bulkhead_config_default(&hc);
  static stanchion_bulkhead bh;
  stanchion_bulkhead_init(&bh, &hc);
  CHECK_STATUS(stanchion_token_bucket_try_acquire((stanchion_token_bucket *)(void *)&bh, 1, 0, NULL),
               STANCHION_NOT_INITIALIZED);

  /* A bulkhead is not an adaptive limiter either, and a misaligned limiter is refused. */
  stanchion_adaptive_permit ap;
  CHECK_STATUS(stanchion_adaptive_try_acquire((stanchion_adaptive *)(void *)&bh, 0, &ap, NULL),
               STANCHION_NOT_INITIALIZED);
  static union {
    stanchion_adaptive limiter;
    unsigned char bytes[sizeof(stanchion_adaptive) + 8];
  } adaptive_raw;
  stanchion_adaptive_config ac;
  stanchion_adaptive_config_default(&ac);
  CHECK_STATUS(stanchion_adaptive_init((stanchion_adaptive *)(void *)(adaptive_raw.bytes + 4), &ac),
               STANCHION_INVALID_ARGUMENT);

  /* Configs and outputs may be unaligned. */
  unsigned char buffer[sizeof(stanchion_token_bucket_config) + 1];
  memcpy(buffer + 1, &tc, sizeof tc);
  stanchion_token_bucket bucket;
  CHECK_STATUS(stanchion_token_bucket_init(&bucket, (const stanchion_token_bucket_config *)(void *)(buffer + 1)),
               STANCHION_OK);
}

static void test_now(void) {
  uint64_t a = 0, b = 0;
  CHECK_STATUS(stanchion_now_ns(&a), STANCHION_OK);
  CHECK_STATUS(stanchion_now_ns(&b), STANCHION_OK);
  CHECK(b >= a);
}

int main(void) {
  test_status_names();
  test_breaker_lifecycle();
  test_breaker_config_errors();
  test_config_error_names();
  test_token_bucket();
  test_keyed_limiter();
  test_bulkhead();
  test_bulkhead_copied_permit();
  test_adaptive();
  test_adaptive_copied_permit();
  test_breaker_copied_permit();
  test_backoff();
  test_retry_budget();
  test_retry_loop();
  test_deadline();
  test_null_pointers();
  test_storage_checks();
  test_now();
  if (failures) {
    fprintf(stderr, "test_api: %d checks failed\n", failures);
    return 1;
  }
  puts("test_api: all checks passed");
  return 0;
}
