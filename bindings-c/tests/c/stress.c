/*
 * Threads hammer one bulkhead, one breaker, one adaptive limiter and one retry budget through
 * the C API, on the real clock, at random: permits taken and released, kept a while, released
 * twice, copied (the copy must be refused), moved, abandoned; breaker permits recorded or
 * released; adaptive permits recorded with any outcome (every report closes a window, so the
 * limit moves all the time) or released; whole retried calls through stanchion_retry_loop_*,
 * some aborted half way. While they run:
 *
 * - every thread counts the bulkhead permits it really holds in one shared counter, raised
 *   after an admission and lowered before a release, and checks after each admission that it
 *   never exceeds the cap; a sampler thread checks the counter and the bulkhead's own in-flight
 *   count and peak against the cap, and the breaker's probes in flight against its limit;
 * - the same for the adaptive limiter's permits, against its max_limit, and its limit stays
 *   within its bounds;
 * - at the end, with every thread joined: nothing is in flight anywhere, the shared counters
 *   are 0, the adaptive limiter closed no more windows than it had samples, and the budget
 *   counted exactly the retries the loops were told to make and refused exactly those they
 *   were told it refused.
 *
 * usage: stress [SECONDS [THREADS]]   (defaults 3 s, 8 threads; exits 1 on any failed check)
 */
#define _POSIX_C_SOURCE 199309L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stanchion.h"

#define CAP 4
#define PROBES 2
#define SLOTS 4
#define US 1000ull
#define MS 1000000ull

static stanchion_bulkhead bulkhead;
static stanchion_breaker breaker;
static stanchion_backoff backoff;
static stanchion_retry_budget budget;
static stanchion_adaptive adaptive;

#define ADAPTIVE_MIN 1
#define ADAPTIVE_MAX 6
static atomic_int adaptive_out;     /* adaptive permits held by the threads right now */
static atomic_ullong adaptive_taken, adaptive_samples, limit_changes;

static atomic_int really_out;       /* bulkhead permits held by the threads right now */
static atomic_int failures;
static atomic_bool stop;
static atomic_ullong retries_told, refusals_told, calls, samples, permits_taken, copies_refused;

#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) {                                                                \
      if (atomic_fetch_add(&failures, 1) < 20)                                    \
        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                             \
  } while (0)

#define CHECK_STATUS(call, expected)                                                  \
  do {                                                                                \
    stanchion_status got_ = (call);                                                   \
    if (got_ != (expected) && atomic_fetch_add(&failures, 1) < 20)                    \
      fprintf(stderr, "%s:%d: %s: expected %s, got %s\n", __FILE__, __LINE__, #call,  \
              stanchion_status_str(expected), stanchion_status_str(got_));            \
  } while (0)

static uint64_t now_ns(void) {
  uint64_t now = 0;
  CHECK_STATUS(stanchion_now_ns(&now), STANCHION_OK);
  return now;
}

static void sleep_ns(uint64_t ns) {
  struct timespec t = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  nanosleep(&t, NULL);
}

/* xorshift64*: each thread its own. */
static uint32_t next(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (uint32_t)((*s * 2685821657736338717ull) >> 32);
}

/* Some work while holding permits: a few hundred ns, or a yield. */
static void work(uint64_t *rng) {
  uint32_t spin = next(rng) % 512;
  for (volatile uint32_t i = 0; i < spin; i++) {
  }
  if (next(rng) % 8 == 0) sched_yield();
}

struct held {
  stanchion_bulkhead_permit permit[SLOTS];
  bool bulkhead[SLOTS];
  stanchion_breaker_permit probe[SLOTS];
  bool breaker[SLOTS];
  stanchion_adaptive_permit call[SLOTS];
  bool adaptive[SLOTS];
};

static int free_slot(const bool *used) {
  for (int i = 0; i < SLOTS; i++)
    if (!used[i]) return i;
  return -1;
}

static int used_slot(const bool *used, uint64_t *rng) {
  int start = (int)(next(rng) % SLOTS);
  for (int k = 0; k < SLOTS; k++)
    if (used[(start + k) % SLOTS]) return (start + k) % SLOTS;
  return -1;
}

/* A bulkhead permit into `p`: on admission, count it and check the cap. */
static stanchion_status take(stanchion_bulkhead_permit *p, uint64_t *rng, stanchion_rejection *r) {
  stanchion_status s = stanchion_bulkhead_try_acquire(&bulkhead, next(rng) % 3, p, r);
  if (s == STANCHION_OK) {
    int out = atomic_fetch_add(&really_out, 1) + 1;
    CHECK(out <= CAP);
    atomic_fetch_add(&permits_taken, 1);
  } else {
    CHECK(s == STANCHION_BULKHEAD_FULL);
  }
  return s;
}

static void give_back(stanchion_bulkhead_permit *p) {
  atomic_fetch_sub(&really_out, 1);
  bool released = false;
  CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, p, &released), STANCHION_OK);
  CHECK(released);
}

static void report(stanchion_breaker_permit *p, uint64_t *rng) {
  uint32_t what = next(rng) % 4;
  if (what == 0) {
    CHECK_STATUS(stanchion_breaker_release(&breaker, p, now_ns(), NULL), STANCHION_OK);
  } else {
    stanchion_outcome outcome = what == 1 ? STANCHION_OUTCOME_FAILURE : STANCHION_OUTCOME_SUCCESS;
    CHECK_STATUS(stanchion_breaker_record(&breaker, p, outcome, now_ns(), NULL), STANCHION_OK);
  }
  /* Reported: a second report, and any copy, is refused. */
  CHECK_STATUS(stanchion_breaker_release(&breaker, p, now_ns(), NULL), STANCHION_INVALID_ARGUMENT);
}

/* An adaptive permit into `p`: on admission, count it and check it against max_limit. */
static bool take_adaptive(stanchion_adaptive_permit *p) {
  stanchion_status s = stanchion_adaptive_try_acquire(&adaptive, now_ns(), p, NULL);
  if (s != STANCHION_OK) {
    CHECK(s == STANCHION_BULKHEAD_FULL);
    return false;
  }
  int out = atomic_fetch_add(&adaptive_out, 1) + 1;
  CHECK(out <= ADAPTIVE_MAX);
  uint32_t in_flight = 0;
  CHECK_STATUS(stanchion_adaptive_permit_in_flight(p, &in_flight), STANCHION_OK);
  CHECK(in_flight >= 1 && in_flight <= ADAPTIVE_MAX);
  atomic_fetch_add(&adaptive_taken, 1);
  return true;
}

/* Reports an adaptive permit with any outcome, or releases it; a second report does nothing. */
static void report_adaptive(stanchion_adaptive_permit *p, uint64_t *rng) {
  atomic_fetch_sub(&adaptive_out, 1);
  uint32_t what = next(rng) % 5;
  stanchion_adaptive_change change;
  if (what == 4) {
    bool released = false;
    CHECK_STATUS(stanchion_adaptive_release(&adaptive, p, &released), STANCHION_OK);
    CHECK(released);
  } else {
    CHECK_STATUS(stanchion_adaptive_record(&adaptive, p, what, now_ns(), &change), STANCHION_OK);
    if (what != STANCHION_OUTCOME_IGNORED) atomic_fetch_add(&adaptive_samples, 1);
    if (change.occurred) {
      CHECK(change.from != change.to);
      CHECK(change.to >= ADAPTIVE_MIN && change.to <= ADAPTIVE_MAX);
      atomic_fetch_add(&limit_changes, 1);
    }
  }
  CHECK_STATUS(stanchion_adaptive_record(&adaptive, p, STANCHION_OUTCOME_DROPPED, now_ns(), &change),
               STANCHION_OK);
  CHECK(!change.occurred);
}

/* One retried call: each attempt takes a bulkhead permit and a breaker permit, works, and
 * fails at random; refusals go to the loop as refusals. Some calls are abandoned half way. */
static void retried_call(uint64_t *rng) {
  stanchion_retry_policy policy = {
      .backoff = &backoff,
      .budget = &budget,
      .seed = next(rng),
      .has_deadline = next(rng) % 2,
      .deadline_ns = now_ns() + (next(rng) % 3000) * US,
      .retry_refusals = next(rng) % 2,
  };
  stanchion_retry_loop call;
  uint32_t attempt = 0;
  stanchion_status s = stanchion_retry_loop_start(&call, &policy, now_ns(), &attempt);
  if (s != STANCHION_OK) {
    CHECK(s == STANCHION_DEADLINE);
    return;
  }
  atomic_fetch_add(&calls, 1);
  for (;;) {
    stanchion_bulkhead_permit slot;
    stanchion_breaker_permit permit;
    stanchion_rejection r;
    stanchion_failure failure;
    const stanchion_rejection *refusal = NULL;
    uint64_t hint = 0;
    const uint64_t *hint_ns = NULL;
    if (take(&slot, rng, &r) != STANCHION_OK) {
      failure = STANCHION_FAILURE_REFUSED;
      refusal = &r;
    } else if ((s = stanchion_breaker_try_acquire(&breaker, now_ns(), &permit, &r, NULL)) !=
               STANCHION_OK) {
      CHECK(stanchion_status_is_refusal(s));
      give_back(&slot);
      failure = STANCHION_FAILURE_REFUSED;
      refusal = &r;
    } else {
      work(rng);
      uint32_t result = next(rng) % 16;
      if (result == 0) { /* abandoned: the permits go back, the loop is dropped */
        CHECK_STATUS(stanchion_breaker_release(&breaker, &permit, now_ns(), NULL), STANCHION_OK);
        give_back(&slot);
        return;
      }
      bool ok = result >= 9;
      CHECK_STATUS(stanchion_breaker_record(&breaker, &permit,
                                            ok ? STANCHION_OUTCOME_SUCCESS : STANCHION_OUTCOME_FAILURE,
                                            now_ns(), NULL),
                   STANCHION_OK);
      give_back(&slot);
      if (ok) return;
      failure = result == 1 ? STANCHION_FAILURE_FINAL : STANCHION_FAILURE_RETRYABLE;
      if (result == 2) {
        hint = (next(rng) % 50) * US;
        hint_ns = &hint;
      }
    }
    uint64_t wait = 0;
    s = stanchion_retry_loop_after_failure(&call, &policy, now_ns(), failure, hint_ns, refusal, &wait);
    if (s == STANCHION_OK) atomic_fetch_add(&retries_told, 1);
    if (s == STANCHION_BUDGET_EXHAUSTED) atomic_fetch_add(&refusals_told, 1);
    if (s != STANCHION_OK) {
      CHECK(s >= STANCHION_MAX_ATTEMPTS && s <= STANCHION_REFUSED);
      return;
    }
    CHECK(wait <= 100 * US);
    sleep_ns(wait);
    uint32_t before = attempt;
    s = stanchion_retry_loop_resume(&call, &policy, now_ns(), &attempt);
    if (s != STANCHION_OK) {
      CHECK(s == STANCHION_DEADLINE);
      return;
    }
    CHECK(attempt == before + 1);
  }
}

static void *worker(void *arg) {
  uint64_t rng = 0x9E3779B97F4A7C15ull * (uintptr_t)arg + 1;
  struct held h;
  memset(&h, 0, sizeof h);
  while (!atomic_load(&stop)) {
    int i;
    switch (next(&rng) % 15) {
      case 0: /* take a bulkhead permit and keep it */
        if ((i = free_slot(h.bulkhead)) >= 0) h.bulkhead[i] = take(&h.permit[i], &rng, NULL) == STANCHION_OK;
        break;
      case 1: /* give one back */
      case 2:
        if ((i = used_slot(h.bulkhead, &rng)) >= 0) {
          give_back(&h.permit[i]);
          h.bulkhead[i] = false;
          /* Released again: a no-op. */
          bool released = true;
          CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &h.permit[i], &released), STANCHION_OK);
          CHECK(!released);
        }
        break;
      case 3: /* a copy of a held permit is refused and gives nothing back */
        if ((i = used_slot(h.bulkhead, &rng)) >= 0) {
          stanchion_bulkhead_permit copy = h.permit[i];
          CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &copy, NULL), STANCHION_INVALID_ARGUMENT);
          atomic_fetch_add(&copies_refused, 1);
        }
        break;
      case 4: { /* a held permit moves to another slot */
        int from = used_slot(h.bulkhead, &rng), to = free_slot(h.bulkhead);
        if (from >= 0 && to >= 0) {
          CHECK_STATUS(stanchion_bulkhead_permit_move(&h.permit[from], &h.permit[to]), STANCHION_OK);
          h.bulkhead[to] = true;
          h.bulkhead[from] = false;
          CHECK_STATUS(stanchion_bulkhead_release(&bulkhead, &h.permit[from], NULL),
                       STANCHION_INVALID_ARGUMENT);
        }
        break;
      }
      case 5: /* a breaker permit, kept */
        if ((i = free_slot(h.breaker)) >= 0)
          h.breaker[i] = stanchion_breaker_try_acquire(&breaker, now_ns(), &h.probe[i], NULL, NULL) ==
                         STANCHION_OK;
        break;
      case 6: /* reported, or first a copy refused */
        if ((i = used_slot(h.breaker, &rng)) >= 0) {
          if (next(&rng) % 2) {
            stanchion_breaker_permit copy = h.probe[i];
            CHECK_STATUS(stanchion_breaker_record(&breaker, &copy, STANCHION_OUTCOME_SUCCESS, now_ns(), NULL),
                         STANCHION_INVALID_ARGUMENT);
            atomic_fetch_add(&copies_refused, 1);
          }
          report(&h.probe[i], &rng);
          h.breaker[i] = false;
        }
        break;
      case 7: /* an adaptive permit, kept */
        if ((i = free_slot(h.adaptive)) >= 0) h.adaptive[i] = take_adaptive(&h.call[i]);
        break;
      case 8: /* reported, after some work, or first a copy refused */
      case 9:
        if ((i = used_slot(h.adaptive, &rng)) >= 0) {
          if (next(&rng) % 4 == 0) {
            stanchion_adaptive_permit copy = h.call[i];
            CHECK_STATUS(stanchion_adaptive_record(&adaptive, &copy, STANCHION_OUTCOME_DROPPED, now_ns(), NULL),
                         STANCHION_INVALID_ARGUMENT);
            atomic_fetch_add(&copies_refused, 1);
          }
          work(&rng);
          report_adaptive(&h.call[i], &rng);
          h.adaptive[i] = false;
        }
        break;
      default:
        retried_call(&rng);
        break;
    }
  }
  /* Everything goes back. */
  for (int i = 0; i < SLOTS; i++) {
    if (h.bulkhead[i]) give_back(&h.permit[i]);
    if (h.breaker[i]) report(&h.probe[i], &rng);
    if (h.adaptive[i]) report_adaptive(&h.call[i], &rng);
  }
  return NULL;
}

static void *sampler(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    int out = atomic_load(&really_out);
    CHECK(out >= 0 && out <= CAP);
    stanchion_bulkhead_snapshot b;
    CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &b), STANCHION_OK);
    CHECK(b.in_flight <= CAP && b.peak <= CAP);
    stanchion_breaker_snapshot s;
    CHECK_STATUS(stanchion_breaker_snapshot_get(&breaker, now_ns(), &s), STANCHION_OK);
    CHECK(s.probes_in_flight <= PROBES);
    int held = atomic_load(&adaptive_out);
    CHECK(held >= 0 && held <= ADAPTIVE_MAX);
    stanchion_adaptive_snapshot a;
    CHECK_STATUS(stanchion_adaptive_snapshot_get(&adaptive, &a), STANCHION_OK);
    CHECK(a.limit >= ADAPTIVE_MIN && a.limit <= ADAPTIVE_MAX);
    CHECK(a.in_flight <= ADAPTIVE_MAX && a.peak <= ADAPTIVE_MAX);
    atomic_fetch_add(&samples, 1);
    sleep_ns(20 * US);
  }
  return NULL;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 3.0;
  int threads = argc > 2 ? atoi(argv[2]) : 8;
  if (threads < 1 || threads > 64 || !(seconds > 0)) {
    fprintf(stderr, "usage: %s [SECONDS [THREADS (1..64)]]\n", argv[0]);
    return 2;
  }

  stanchion_bulkhead_config hc;
  stanchion_bulkhead_config_default(&hc);
  hc.max_concurrent = CAP;
  hc.lanes = 3;
  hc.lane_ceilings[1] = 3;
  hc.lane_ceilings[2] = 2;
  stanchion_breaker_config bc;
  stanchion_breaker_config_default(&bc);
  bc.failure_count = 3; /* within the default 10 s window: the breaker trips often */
  bc.open_for_ns = 200 * US;
  bc.open_for_max_ns = 200 * US;
  bc.half_open_probes = PROBES;
  bc.has_probe_timeout = 1;
  bc.probe_timeout_ns = 50 * MS;
  stanchion_backoff_config oc;
  stanchion_backoff_config_default(&oc);
  oc.initial_ns = 5 * US; /* 5, 10, 20 us */
  oc.max_attempts = 4;
  oc.jitter = STANCHION_JITTER_FULL;
  oc.has_max_delay = 1;
  oc.max_delay_ns = 100 * US;
  stanchion_retry_budget_config rc;
  stanchion_retry_budget_config_default(&rc);
  rc.ratio = 0.2;
  rc.min_retries_per_sec = 1000;
  stanchion_adaptive_config ac;
  stanchion_adaptive_config_default(&ac);
  ac.min_limit = ADAPTIVE_MIN;
  ac.initial_limit = 3;
  ac.max_limit = ADAPTIVE_MAX;
  ac.min_samples = 1; /* every report may close a window */
  ac.window_ns = 0;
  if (stanchion_adaptive_init(&adaptive, &ac) != STANCHION_OK ||
      stanchion_bulkhead_init(&bulkhead, &hc) != STANCHION_OK ||
      stanchion_breaker_init(&breaker, &bc) != STANCHION_OK ||
      stanchion_backoff_init(&backoff, &oc) != STANCHION_OK ||
      stanchion_retry_budget_init(&budget, &rc) != STANCHION_OK) {
    fprintf(stderr, "stress: a config was refused\n");
    return 1;
  }

  pthread_t workers[64], watch;
  pthread_create(&watch, NULL, sampler, NULL);
  for (int t = 0; t < threads; t++) pthread_create(&workers[t], NULL, worker, (void *)(uintptr_t)(t + 1));
  sleep_ns((uint64_t)(seconds * 1e9));
  atomic_store(&stop, true);
  for (int t = 0; t < threads; t++) pthread_join(workers[t], NULL);
  pthread_join(watch, NULL);

  /* Everything was given back. */
  CHECK(atomic_load(&really_out) == 0);
  stanchion_bulkhead_snapshot b;
  CHECK_STATUS(stanchion_bulkhead_snapshot_get(&bulkhead, &b), STANCHION_OK);
  CHECK(b.in_flight == 0 && b.peak <= CAP);
  stanchion_breaker_snapshot s;
  CHECK_STATUS(stanchion_breaker_snapshot_get(&breaker, now_ns(), &s), STANCHION_OK);
  CHECK(s.probes_in_flight == 0);
  CHECK(atomic_load(&adaptive_out) == 0);
  stanchion_adaptive_snapshot a;
  CHECK_STATUS(stanchion_adaptive_snapshot_get(&adaptive, &a), STANCHION_OK);
  CHECK(a.in_flight == 0 && a.peak <= ADAPTIVE_MAX);
  /* A window closes on a sample, and a change of limit closes one. */
  CHECK(a.windows <= atomic_load(&adaptive_samples) && atomic_load(&limit_changes) <= a.windows);
  /* The budget paid for exactly the retries the loops were told to make. */
  stanchion_retry_budget_snapshot r;
  CHECK_STATUS(stanchion_retry_budget_snapshot_get(&budget, now_ns(), &r), STANCHION_OK);
  CHECK(r.retries_allowed == atomic_load(&retries_told));
  CHECK(r.retries_refused == atomic_load(&refusals_told));

  printf("stress: %d threads, %.1f s: %llu bulkhead permits (peak %u of %u, %llu refused), %llu copies "
         "refused, %llu breaker calls (%llu transitions), %llu retried calls, %llu retries, %llu "
         "budget stops, %llu adaptive permits (%llu windows, %llu changes of limit), %llu samples: %s\n",
         threads, seconds, (unsigned long long)atomic_load(&permits_taken), b.peak, CAP,
         (unsigned long long)b.rejected, (unsigned long long)atomic_load(&copies_refused),
         (unsigned long long)s.calls, (unsigned long long)s.transitions,
         (unsigned long long)atomic_load(&calls), (unsigned long long)atomic_load(&retries_told),
         (unsigned long long)atomic_load(&refusals_told), (unsigned long long)atomic_load(&adaptive_taken),
         (unsigned long long)a.windows, (unsigned long long)atomic_load(&limit_changes),
         (unsigned long long)atomic_load(&samples),
         atomic_load(&failures) ? "FAILED" : "ok");
  return atomic_load(&failures) ? 1 : 0;
}
