/*
 * Nanoseconds per call through the C API (release library, one thread): the cost a C caller
 * pays, the core's work included. Each figure is the median of 7 runs of 2^22 calls with a
 * fake clock that advances 1 us per call. Run with scripts/bench-c.sh.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "stanchion.h"

#define CALLS (1u << 22)
#define RUNS 7

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static volatile uint32_t sink;

static stanchion_breaker breaker;
static stanchion_token_bucket bucket;
static stanchion_bulkhead bulkhead;
static stanchion_keyed_limiter keyed;
static stanchion_retry_budget budget;

static void breaker_call(uint64_t now) {
  stanchion_breaker_permit p;
  sink += stanchion_breaker_try_acquire(&breaker, now, &p, NULL, NULL);
  sink += stanchion_breaker_record(&breaker, &p, STANCHION_OUTCOME_SUCCESS, now, NULL);
}
static void bucket_call(uint64_t now) { sink += stanchion_token_bucket_try_acquire(&bucket, 1, now, NULL); }
static void bulkhead_call(uint64_t now) {
  stanchion_bulkhead_permit p;
  (void)now;
  sink += stanchion_bulkhead_try_acquire(&bulkhead, 0, &p, NULL);
  sink += stanchion_bulkhead_release(&bulkhead, &p, NULL);
}
static void keyed_call(uint64_t now) {
  sink += stanchion_keyed_limiter_try_acquire(&keyed, now & 7, 1, now, NULL);
}
static void budget_call(uint64_t now) {
  sink += stanchion_retry_budget_deposit(&budget);
  sink += stanchion_retry_budget_try_retry(&budget, now, NULL);
}

static void bench(const char *name, void (*call)(uint64_t)) {
  double per_call[RUNS];
  uint64_t now = 0;
  for (int run = 0; run < RUNS; run++) {
    double start = seconds();
    for (uint32_t i = 0; i < CALLS; i++) call(now += 1000);
    per_call[run] = (seconds() - start) * 1e9 / CALLS;
  }
  qsort(per_call, RUNS, sizeof per_call[0], compare);
  printf("| %s | %.1f ns |\n", name, per_call[RUNS / 2]);
}

int main(void) {
  stanchion_breaker_config bc;
  stanchion_breaker_config_default(&bc);
  stanchion_token_bucket_config tc;
  stanchion_token_bucket_config_default(&tc);
  tc.capacity = 1000000;
  tc.refill_amount = 1;
  tc.refill_every_ns = 1000;
  stanchion_bulkhead_config hc;
  stanchion_bulkhead_config_default(&hc);
  stanchion_keyed_limiter_config kc;
  stanchion_keyed_limiter_config_default(&kc);
  kc.bucket = tc;
  stanchion_retry_budget_config rc;
  stanchion_retry_budget_config_default(&rc);
  if (stanchion_breaker_init(&breaker, &bc) || stanchion_token_bucket_init(&bucket, &tc) ||
      stanchion_bulkhead_init(&bulkhead, &hc) || stanchion_keyed_limiter_init(&keyed, &kc) ||
      stanchion_retry_budget_init(&budget, &rc)) {
    fputs("bench_api: init failed\n", stderr);
    return 1;
  }
  puts("| C calls (one thread) | time per iteration |");
  puts("| --- | ---: |");
  bench("breaker: try_acquire + record (closed)", breaker_call);
  bench("token bucket: try_acquire (admitted)", bucket_call);
  bench("keyed limiter (16 slots, 8 keys): try_acquire", keyed_call);
  bench("bulkhead: try_acquire + release", bulkhead_call);
  bench("retry budget: deposit + try_retry", budget_call);
  return 0;
}
