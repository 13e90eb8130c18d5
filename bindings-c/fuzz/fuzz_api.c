/*
 * libFuzzer harness for the C API: each input is a program of calls on one object of every
 * type, with configs bent by the input (any bytes in any field), times that jump back and
 * forth, NULL pointers, unknown enum values and forged permits. It stops (a finding) when a
 * function returns a status outside the documented set, catches a panic, writes an output on
 * an error, reports a config error without a field or range, or breaks a hard guarantee: a bulkhead never has more than max_concurrent permits
 * out, a breaker never more half-open probes in flight than configured.
 *
 * Build and run: see bindings-c/README.md ("Fuzzing").
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stanchion.h"

struct input {
  const uint8_t *data;
  size_t left;
};

static uint8_t byte(struct input *in) {
  if (!in->left) return 0;
  in->left--;
  return *in->data++;
}

static uint64_t bytes(struct input *in, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | byte(in);
  return v;
}

static void check(int ok) {
  if (!ok) abort();
}

/* Every status is documented, and a panic is a bug the boundary caught. */
static stanchion_status known(stanchion_status s) {
  check(s <= STANCHION_NOT_INITIALIZED || (s >= STANCHION_BREAKER_OPEN && s <= STANCHION_TABLE_FULL) ||
        s == STANCHION_MAX_ATTEMPTS || s == STANCHION_MAX_ELAPSED);
  return s;
}

/* A validate's answer: OK, or INVALID_CONFIG with a field name and its range as NUL-terminated
 * text. (Debug assertions, on in the fuzz build, make a core error missing from the library's
 * table of C names a panic.) */
static void validated(stanchion_status s, const stanchion_config_error *e) {
  check(known(s) == STANCHION_OK || s == STANCHION_INVALID_CONFIG);
  if (s != STANCHION_INVALID_CONFIG) return;
  check(e->field[0] != '\0' && memchr(e->field, '\0', sizeof e->field) != NULL);
  check(e->allowed[0] != '\0' && memchr(e->allowed, '\0', sizeof e->allowed) != NULL);
}

/* Starts from the defaults and overwrites a few spans of the config with input bytes. */
static void bend(struct input *in, void *config, size_t size) {
  uint8_t edits = byte(in) % 5;
  for (uint8_t e = 0; e < edits; e++) {
    size_t at = byte(in) % size;
    size_t len = 1 + byte(in) % 8;
    for (size_t i = 0; i < len && at + i < size; i++) ((uint8_t *)config)[at + i] = byte(in);
  }
}

/* The next instant: mostly forward, sometimes back, sometimes the ends of time. */
static uint64_t next_now(struct input *in, uint64_t now) {
  switch (byte(in) % 8) {
    case 0: return now - (now >= 1000 ? bytes(in, 1) : 0);
    case 1: return bytes(in, 8);
    case 2: return UINT64_MAX - bytes(in, 1);
    default: {
      uint64_t step = bytes(in, 4) * 1000;
      return now + step < now ? UINT64_MAX : now + step;
    }
  }
}

static stanchion_breaker breaker;
static stanchion_breaker_config breaker_config;
/* The most probes any config in force allowed: a reconfigure does not recall probes out. */
static uint32_t max_probes;
static stanchion_token_bucket bucket;
static stanchion_keyed_limiter keyed;
static stanchion_bulkhead bulkhead;
static stanchion_bulkhead_config bulkhead_config;
static stanchion_backoff backoff;
static stanchion_retrying retrying;
static stanchion_retry_budget budget;

#define PERMITS 8
static stanchion_breaker_permit breaker_permits[PERMITS];
static stanchion_bulkhead_permit bulkhead_permits[PERMITS];

/* Maybe NULL: the input decides. */
#define MAYBE(in, p) (byte(in) == 0xFF ? NULL : (p))

static void setup(struct input *in) {
  memset(&breaker, 0, sizeof breaker);
  memset(&bucket, 0, sizeof bucket);
  memset(&keyed, 0, sizeof keyed);
  memset(&bulkhead, 0, sizeof bulkhead);
  memset(&backoff, 0, sizeof backoff);
  memset(&retrying, 0, sizeof retrying);
  memset(&budget, 0, sizeof budget);
  memset(breaker_permits, 0, sizeof breaker_permits);
  memset(bulkhead_permits, 0, sizeof bulkhead_permits);

  stanchion_config_error error;
  known(stanchion_breaker_config_default(&breaker_config));
  bend(in, &breaker_config, sizeof breaker_config);
  validated(stanchion_breaker_config_validate(&breaker_config, &error), &error);
  known(stanchion_breaker_init(&breaker, &breaker_config));
  max_probes = breaker_config.half_open_probes;

  stanchion_token_bucket_config bucket_config;
  known(stanchion_token_bucket_config_default(&bucket_config));
  bend(in, &bucket_config, sizeof bucket_config);
  validated(stanchion_token_bucket_config_validate(&bucket_config, &error), &error);
  known(stanchion_token_bucket_init(&bucket, &bucket_config));

  stanchion_keyed_limiter_config keyed_config;
  known(stanchion_keyed_limiter_config_default(&keyed_config));
  bend(in, &keyed_config, sizeof keyed_config);
  validated(stanchion_keyed_limiter_config_validate(&keyed_config, &error), &error);
  known(stanchion_keyed_limiter_init(&keyed, &keyed_config));

  known(stanchion_bulkhead_config_default(&bulkhead_config));
  bend(in, &bulkhead_config, sizeof bulkhead_config);
  validated(stanchion_bulkhead_config_validate(&bulkhead_config, &error), &error);
  known(stanchion_bulkhead_init(&bulkhead, &bulkhead_config));

  stanchion_backoff_config backoff_config;
  known(stanchion_backoff_config_default(&backoff_config));
  bend(in, &backoff_config, sizeof backoff_config);
  validated(stanchion_backoff_config_validate(&backoff_config, &error), &error);
  known(stanchion_backoff_init(&backoff, &backoff_config));

  stanchion_retry_budget_config budget_config;
  known(stanchion_retry_budget_config_default(&budget_config));
  bend(in, &budget_config, sizeof budget_config);
  validated(stanchion_retry_budget_config_validate(&budget_config, &error), &error);
  known(stanchion_retry_budget_init(&budget, &budget_config));
}

static void invariants(uint64_t now) {
  stanchion_bulkhead_snapshot b;
  if (stanchion_bulkhead_snapshot_get(&bulkhead, &b) == STANCHION_OK)
    check(b.in_flight <= b.max_concurrent && b.peak <= b.max_concurrent);
  stanchion_breaker_snapshot s;
  if (stanchion_breaker_snapshot_get(&breaker, now, &s) == STANCHION_OK)
    check(s.probes_in_flight <= max_probes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct input in = {data, size};
  setup(&in);
  uint64_t now = 0;
  while (in.left) {
    now = next_now(&in, now);
    stanchion_rejection r;
    stanchion_breaker_transition t;
    uint64_t out = 0x5a5a5a5a5a5a5a5aull;
    stanchion_breaker_permit *bp = &breaker_permits[byte(&in) % PERMITS];
    stanchion_bulkhead_permit *hp = &bulkhead_permits[byte(&in) % PERMITS];
    stanchion_status s;
    switch (byte(&in) % 24) {
      case 0: known(stanchion_breaker_try_acquire(&breaker, now, MAYBE(&in, bp), MAYBE(&in, &r), MAYBE(&in, &t))); break;
      case 1: known(stanchion_breaker_record(&breaker, MAYBE(&in, bp), byte(&in) % 4, now, MAYBE(&in, &t))); break;
      case 2: known(stanchion_breaker_release(&breaker, bp, now, &t)); break;
      case 3: known(stanchion_breaker_force_open(&breaker, now, &t)); break;
      case 4: known(stanchion_breaker_disable(&breaker, now, &t)); break;
      case 5: known(stanchion_breaker_reset(&breaker, now, &t)); break;
      case 6: {
        stanchion_breaker_config c = breaker_config;
        bend(&in, &c, sizeof c);
        if (known(stanchion_breaker_reconfigure(&breaker, &c, now)) == STANCHION_OK &&
            c.half_open_probes > max_probes)
          max_probes = c.half_open_probes;
        break;
      }
      case 7: /* a forged permit: garbage bytes */
        for (size_t i = 0; i < sizeof *bp; i++) ((uint8_t *)bp)[i] = byte(&in);
        break;
      case 8: known(stanchion_token_bucket_try_acquire(&bucket, (uint32_t)bytes(&in, 4), now, &r)); break;
      case 9:
        s = known(stanchion_token_bucket_reserve(&bucket, (uint32_t)bytes(&in, 2), now, bytes(&in, 8), &out, &r));
        check(s == STANCHION_OK || out == 0x5a5a5a5a5a5a5a5aull);
        break;
      case 10:
        s = known(stanchion_token_bucket_available(&bucket, now, MAYBE(&in, &out)));
        break;
      case 11: known(stanchion_keyed_limiter_try_acquire(&keyed, bytes(&in, 2), (uint32_t)bytes(&in, 2), now, &r)); break;
      case 12:
        s = known(stanchion_keyed_limiter_reserve(&keyed, bytes(&in, 2), 1, now, bytes(&in, 8), &out, &r));
        check(s == STANCHION_OK || out == 0x5a5a5a5a5a5a5a5aull);
        break;
      case 13: {
        uint32_t active;
        known(stanchion_keyed_limiter_active_keys(&keyed, now, &active));
        break;
      }
      case 14: known(stanchion_bulkhead_try_acquire(&bulkhead, (uint32_t)bytes(&in, 4), MAYBE(&in, hp), &r)); break;
      case 15: {
        bool released;
        known(stanchion_bulkhead_release(&bulkhead, MAYBE(&in, hp), &released));
        break;
      }
      case 16: /* a forged bulkhead permit */
        for (size_t i = 0; i < sizeof *hp; i++) ((uint8_t *)hp)[i] = byte(&in);
        break;
      case 17:
        /* Up to 65535: `delay` walks the schedule attempt by attempt (decorrelated, exponential). */
        s = known(stanchion_backoff_delay(&backoff, (uint32_t)bytes(&in, 2), bytes(&in, 8), &out));
        check(s == STANCHION_OK || out == 0x5a5a5a5a5a5a5a5aull);
        break;
      case 18: known(stanchion_backoff_start(&backoff, bytes(&in, 8), now, &retrying)); break;
      case 19: {
        uint64_t hint = bytes(&in, 8);
        s = known(stanchion_retrying_next_delay(&retrying, &backoff, now, MAYBE(&in, &hint), &out));
        check(s == STANCHION_OK || out == 0x5a5a5a5a5a5a5a5aull);
        break;
      }
      case 20: known(stanchion_retry_budget_deposit(&budget)); break;
      case 21: known(stanchion_retry_budget_try_retry(&budget, now, MAYBE(&in, &r))); break;
      case 22: {
        stanchion_deadline d, e;
        known(stanchion_deadline_after(now, bytes(&in, 8), &d));
        known(stanchion_deadline_at(bytes(&in, 8), &e));
        known(stanchion_deadline_min(&d, &e, &d));
        known(stanchion_deadline_remaining(&d, now, &out));
        break;
      }
      default: {
        stanchion_retry_budget_snapshot b;
        stanchion_token_bucket_snapshot k;
        known(stanchion_retry_budget_snapshot_get(&budget, now, &b));
        known(stanchion_keyed_limiter_snapshot_get(&keyed, bytes(&in, 2), now, &k));
        known(stanchion_token_bucket_snapshot_get(&bucket, now, &k));
        break;
      }
    }
    invariants(now);
  }
  return 0;
}
