/*
 * libFuzzer harness for the C API: each input is a program of calls on one object of every
 * type, with configs bent by the input (any bytes in any field), times that jump back and
 * forth, NULL pointers, unknown enum values and forged permits. It stops (a finding) when a
 * function returns a status outside the documented set, catches a panic, writes an output on
 * an error, reports a config error without a field or range, or breaks a hard guarantee: a
 * bulkhead never has more than max_concurrent permits out, nor counts fewer than the permits
 * really out (permits are also copied and moved: a copy must not give a slot back twice), a
 * breaker never more half-open probes in flight than configured, an adaptive limiter never a
 * limit outside its bounds nor an in-flight count other than the permits really out.
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
        (s >= STANCHION_MAX_ATTEMPTS && s <= STANCHION_REFUSED));
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
/* A model of the bulkhead permits, kept from what the harness did, not from the library's
 * answers: the permits really out (admitted, not yet released through the slot that holds
 * them), which slots hold one (acquired or moved there; a copy holds none), and for which slot
 * a slot's bytes were written. The bulkhead's in-flight count must equal the model's, unless the
 * input forged a permit or wrote a permit's own old bytes back over it (copied it away and
 * back), which no check can tell from the real one. */
static uint32_t bulkhead_out;
static int bulkhead_held[PERMITS];
static int bulkhead_origin[PERMITS];
static int bulkhead_untracked;

/* The adaptive limiter, with the same model of its permits as the bulkhead's (a record and a
 * release both give a held permit back). */
static stanchion_adaptive adaptive;
static stanchion_adaptive_config adaptive_config;
static stanchion_adaptive_permit adaptive_permits[PERMITS];
static uint32_t adaptive_out;
static int adaptive_held[PERMITS];
static int adaptive_origin[PERMITS];
static int adaptive_untracked;

static stanchion_retry_loop retry_call;
static stanchion_retry_policy retry_policy;

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
  memset(&retry_call, 0, sizeof retry_call);
  memset(&adaptive, 0, sizeof adaptive);
  memset(adaptive_permits, 0, sizeof adaptive_permits);
  adaptive_out = 0;
  adaptive_untracked = 0;
  for (int i = 0; i < PERMITS; i++) {
    adaptive_held[i] = 0;
    adaptive_origin[i] = -1;
  }
  bulkhead_out = 0;
  bulkhead_untracked = 0;
  for (int i = 0; i < PERMITS; i++) {
    bulkhead_held[i] = 0;
    bulkhead_origin[i] = -1;
  }

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

  known(stanchion_adaptive_config_default(&adaptive_config));
  /* Small windows, so that the input closes some. */
  adaptive_config.min_samples = 1 + byte(in) % 4;
  adaptive_config.window_ns = bytes(in, 1) * 1000000;
  bend(in, &adaptive_config, sizeof adaptive_config);
  validated(stanchion_adaptive_config_validate(&adaptive_config, &error), &error);
  known(stanchion_adaptive_init(&adaptive, &adaptive_config));

  /* The retry policy: its flags and the deadline from the input, the budget maybe left out. */
  memset(&retry_policy, 0, sizeof retry_policy);
  retry_policy.backoff = &backoff;
  retry_policy.budget = byte(in) & 1 ? &budget : NULL;
  retry_policy.seed = bytes(in, 8);
  retry_policy.has_deadline = byte(in) & 1;
  retry_policy.deadline_ns = bytes(in, 8);
  retry_policy.retry_refusals = byte(in);
}

static void invariants(uint64_t now) {
  stanchion_bulkhead_snapshot b;
  if (stanchion_bulkhead_snapshot_get(&bulkhead, &b) == STANCHION_OK) {
    check(b.in_flight <= b.max_concurrent && b.peak <= b.max_concurrent);
    check(bulkhead_untracked || b.in_flight == bulkhead_out);
  }
  stanchion_breaker_snapshot s;
  if (stanchion_breaker_snapshot_get(&breaker, now, &s) == STANCHION_OK)
    check(s.probes_in_flight <= max_probes);
  stanchion_adaptive_snapshot a;
  uint32_t limit = 0;
  if (stanchion_adaptive_snapshot_get(&adaptive, &a) == STANCHION_OK) {
    check(a.limit >= adaptive_config.min_limit && a.limit <= adaptive_config.max_limit);
    check(a.peak <= adaptive_config.max_limit && a.waiting == 0);
    check(adaptive_untracked || a.in_flight == adaptive_out);
    check(a.has_last_update == (a.windows > 0));
    check(stanchion_adaptive_limit_get(&adaptive, &limit) == STANCHION_OK && limit == a.limit);
  }
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
    int bi = byte(&in) % PERMITS, hi = byte(&in) % PERMITS, other = byte(&in) % PERMITS;
    stanchion_breaker_permit *bp = &breaker_permits[bi];
    stanchion_bulkhead_permit *hp = &bulkhead_permits[hi];
    stanchion_status s;
    int ai = byte(&in) % PERMITS;
    stanchion_adaptive_permit *ap = &adaptive_permits[ai];
    switch (byte(&in) % 36) {
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
      case 14:
        if (known(stanchion_bulkhead_try_acquire(&bulkhead, (uint32_t)bytes(&in, 4), MAYBE(&in, hp), &r)) ==
            STANCHION_OK) {
          bulkhead_out++; /* a permit the slot held before is lost: still out */
          bulkhead_held[hi] = 1;
          bulkhead_origin[hi] = hi;
        }
        break;
      case 15: {
        bool released = false;
        s = known(stanchion_bulkhead_release(&bulkhead, MAYBE(&in, hp), &released));
        /* Only a slot that holds a permit gives one back, and it does. */
        check(bulkhead_untracked || s != STANCHION_OK || released == (bool)bulkhead_held[hi]);
        if (s == STANCHION_OK && bulkhead_held[hi]) {
          bulkhead_out--;
          bulkhead_held[hi] = 0;
        }
        break;
      }
      case 16: /* a forged bulkhead permit */
        for (size_t i = 0; i < sizeof *hp; i++) ((uint8_t *)hp)[i] = byte(&in);
        bulkhead_untracked = 1;
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
      case 24: /* a copy of a permit, as `a = b;` makes: it must not count */
        if (byte(&in) & 1) {
          breaker_permits[other] = *bp;
        } else {
          if (bulkhead_origin[hi] == other && hi != other) bulkhead_untracked = 1; /* its old bytes back */
          bulkhead_permits[other] = *hp;
          bulkhead_origin[other] = bulkhead_origin[hi];
          bulkhead_held[other] = hi == other && bulkhead_held[hi];
        }
        break;
      case 25: /* a permit moved, as it should be */
        if (byte(&in) & 1) {
          known(stanchion_breaker_permit_move(bp, MAYBE(&in, &breaker_permits[other])));
        } else if (known(stanchion_bulkhead_permit_move(hp, MAYBE(&in, &bulkhead_permits[other]))) ==
                       STANCHION_OK &&
                   hi != other) {
          bulkhead_held[other] = bulkhead_held[hi];
          bulkhead_held[hi] = 0;
          bulkhead_origin[other] = other;
          bulkhead_origin[hi] = -1;
        }
        break;
      case 26: {
        uint32_t attempt = 0x5a5a5a5a;
        s = known(stanchion_retry_loop_start(&retry_call, &retry_policy, now, MAYBE(&in, &attempt)));
        check(s == STANCHION_OK ? attempt == 1 || attempt == 0x5a5a5a5a : attempt == 0x5a5a5a5a);
        break;
      }
      case 27: {
        /* Any kind, any hint, any refusal bytes (the flag included). */
        uint64_t hint = bytes(&in, 8);
        stanchion_rejection refusal;
        for (size_t i = 0; i < sizeof refusal; i++) ((uint8_t *)&refusal)[i] = byte(&in);
        if (byte(&in) & 1) refusal.reason = STANCHION_BREAKER_OPEN + byte(&in) % 10;
        s = known(stanchion_retry_loop_after_failure(&retry_call, &retry_policy, now, byte(&in) % 4,
                                                     MAYBE(&in, &hint), MAYBE(&in, &refusal), &out));
        check(s == STANCHION_OK || out == 0x5a5a5a5a5a5a5a5aull);
        check(s == STANCHION_OK || s <= STANCHION_PANIC || s >= STANCHION_MAX_ATTEMPTS);
        break;
      }
      case 28: {
        uint32_t attempt = 0x5a5a5a5a;
        s = known(stanchion_retry_loop_resume(&retry_call, MAYBE(&in, &retry_policy), now, &attempt));
        check(s == STANCHION_OK || attempt == 0x5a5a5a5a);
        check(s == STANCHION_OK || s <= STANCHION_PANIC || s == STANCHION_DEADLINE);
        known(stanchion_retry_loop_attempts_get(&retry_call, &attempt));
        break;
      }
      case 30: {
        uint32_t before = 0, limit = 0, in_flight = 0;
        stanchion_adaptive_snapshot a;
        int tracked = stanchion_adaptive_snapshot_get(&adaptive, &a) == STANCHION_OK;
        if (tracked) before = a.in_flight;
        if (stanchion_adaptive_limit_get(&adaptive, &limit) != STANCHION_OK) limit = 0;
        if (known(stanchion_adaptive_try_acquire(&adaptive, now, MAYBE(&in, ap), MAYBE(&in, &r))) ==
            STANCHION_OK) {
          /* Admitted only below the limit: the hard bound at admission. */
          check(!tracked || before < limit);
          check(stanchion_adaptive_permit_in_flight(ap, &in_flight) == STANCHION_OK);
          check(!tracked || in_flight == before + 1);
          adaptive_out++; /* a permit the slot held before is lost: still out */
          adaptive_held[ai] = 1;
          adaptive_origin[ai] = ai;
        }
        break;
      }
      case 31: {
        stanchion_adaptive_change c;
        memset(&c, 0x5a, sizeof c);
        stanchion_outcome outcome = byte(&in) % 6;
        stanchion_adaptive_change *out_c = MAYBE(&in, &c);
        s = known(stanchion_adaptive_record(&adaptive, MAYBE(&in, ap), outcome, now, out_c));
        check(s == STANCHION_OK || ((uint8_t *)&c)[0] == 0x5a);
        check(s != STANCHION_OK || !out_c || (c.occurred ? c.from != c.to : c.from == 0 && c.to == 0));
        check(s != STANCHION_OK || outcome <= STANCHION_OUTCOME_DROPPED);
        if (s == STANCHION_OK && adaptive_held[ai]) {
          adaptive_out--;
          adaptive_held[ai] = 0;
        }
        break;
      }
      case 32: {
        bool released = false;
        s = known(stanchion_adaptive_release(&adaptive, MAYBE(&in, ap), &released));
        check(adaptive_untracked || s != STANCHION_OK || released == (bool)adaptive_held[ai]);
        if (s == STANCHION_OK && adaptive_held[ai]) {
          adaptive_out--;
          adaptive_held[ai] = 0;
        }
        break;
      }
      case 33: /* a forged adaptive permit */
        for (size_t i = 0; i < sizeof *ap; i++) ((uint8_t *)ap)[i] = byte(&in);
        adaptive_untracked = 1;
        break;
      case 34: /* an adaptive permit copied, or moved as it should be */
        if (byte(&in) & 1) {
          if (adaptive_origin[ai] == other && ai != other) adaptive_untracked = 1; /* its old bytes back */
          adaptive_permits[other] = *ap;
          adaptive_origin[other] = adaptive_origin[ai];
          adaptive_held[other] = ai == other && adaptive_held[ai];
        } else if (known(stanchion_adaptive_permit_move(ap, MAYBE(&in, &adaptive_permits[other]))) ==
                       STANCHION_OK &&
                   ai != other) {
          adaptive_held[other] = adaptive_held[ai];
          adaptive_held[ai] = 0;
          adaptive_origin[other] = other;
          adaptive_origin[ai] = -1;
        }
        break;
      case 35: { /* a config bent at random: validate and init agree, and a new init resets */
        stanchion_adaptive_config c = adaptive_config;
        stanchion_config_error error;
        bend(&in, &c, sizeof c);
        s = known(stanchion_adaptive_config_validate(&c, &error));
        validated(s, &error);
        stanchion_status init = known(stanchion_adaptive_init(&adaptive, &c));
        check(init == s);
        if (init == STANCHION_OK) {
          adaptive_config = c;
          /* The permits out belong to the old object: reporting them now is a caller's error
           * the library cannot see (a permit names no object). */
          adaptive_untracked = 1;
        }
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
