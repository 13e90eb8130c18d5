/*
 * Firmware example: a circuit breaker, a token bucket, a bulkhead and an adaptive limiter in
 * static storage, driven by a fake millisecond clock through a short scenario, then one token
 * bucket shared by the main loop and the SysTick interrupt handler. Prints through semihosting and exits with 0
 * when every check holds, 1 otherwise (QEMU passes the status on).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "stanchion.h"

#define MS 1000000ull

extern void initialise_monitor_handles(void);

/* Zeroed until init: the objects live in .bss, nothing is allocated. */
static stanchion_breaker uplink;
static stanchion_token_bucket telemetry;
static stanchion_bulkhead radio;
static stanchion_adaptive backend;

static int checks, failures;

static void check(int ok, const char *what) {
  checks++;
  if (!ok) {
    failures++;
    printf("FAILED: %s\n", what);
  }
}

static void breaker_scenario(void) {
  stanchion_breaker_config config;
  stanchion_breaker_config_default(&config);
  config.failure_count = 3;
  config.open_for_ns = config.open_for_max_ns = 1000 * MS;
  check(stanchion_breaker_init(&uplink, &config) == STANCHION_OK, "breaker init");

  stanchion_breaker_permit permit;
  stanchion_breaker_transition t;
  stanchion_rejection r;
  uint64_t now = 0;
  for (int i = 0; i < 3; i++, now += 10 * MS) {
    check(stanchion_breaker_try_acquire(&uplink, now, &permit, &r, &t) == STANCHION_OK, "admitted while closed");
    stanchion_breaker_record(&uplink, &permit, STANCHION_OUTCOME_FAILURE, now + MS, &t);
  }
  check(t.occurred && t.to == STANCHION_STATE_OPEN, "three failures trip it");
  check(stanchion_breaker_try_acquire(&uplink, now, &permit, &r, &t) == STANCHION_BREAKER_OPEN, "open refuses");
  check(r.has_retry_after && r.retry_after_ns == 1000 * MS - 9 * MS, "refusal says when");
  now += r.retry_after_ns;
  check(stanchion_breaker_try_acquire(&uplink, now, &permit, &r, &t) == STANCHION_OK, "probe admitted");
  check(t.occurred && t.to == STANCHION_STATE_HALF_OPEN, "half-open");
  stanchion_breaker_record(&uplink, &permit, STANCHION_OUTCOME_SUCCESS, now + 2 * MS, &t);
  check(t.occurred && t.to == STANCHION_STATE_CLOSED, "a good probe closes it");

  stanchion_config_error error;
  config.half_open_probes = 0;
  check(stanchion_breaker_config_validate(&config, &error) == STANCHION_INVALID_CONFIG &&
            strcmp(error.field, "half_open_probes") == 0,
        "a bad config names its field");
}

static void bucket_scenario(void) {
  stanchion_token_bucket_config config;
  stanchion_token_bucket_config_default(&config);
  config.capacity = 5;
  config.refill_amount = 5;
  config.refill_every_ns = 1000 * MS;
  check(stanchion_token_bucket_init(&telemetry, &config) == STANCHION_OK, "bucket init");
  stanchion_rejection r;
  int sent = 0;
  for (int i = 0; i < 8; i++) sent += stanchion_token_bucket_try_acquire(&telemetry, 1, 0, &r) == STANCHION_OK;
  check(sent == 5, "a burst of 5 passes, then the bucket is empty");
  check(r.reason == STANCHION_RATE_LIMITED && r.retry_after_ns == 200 * MS, "next token in 200 ms");
  check(stanchion_token_bucket_try_acquire(&telemetry, 1, 200 * MS, &r) == STANCHION_OK, "it came");
  check(stanchion_token_bucket_try_acquire(&telemetry, 6, 200 * MS, &r) == STANCHION_INSUFFICIENT_CAPACITY,
        "more than the capacity never fits");
}

static void bulkhead_scenario(void) {
  stanchion_bulkhead_config config;
  stanchion_bulkhead_config_default(&config);
  config.max_concurrent = 2;
  check(stanchion_bulkhead_init(&radio, &config) == STANCHION_OK, "bulkhead init");
  stanchion_bulkhead_permit a, b, c;
  check(stanchion_bulkhead_try_acquire(&radio, 0, &a, NULL) == STANCHION_OK, "first permit");
  check(stanchion_bulkhead_try_acquire(&radio, 0, &b, NULL) == STANCHION_OK, "second permit");
  check(stanchion_bulkhead_try_acquire(&radio, 0, &c, NULL) == STANCHION_BULKHEAD_FULL, "third refused");
  bool released = false;
  stanchion_bulkhead_release(&radio, &a, &released);
  check(released, "released");
  stanchion_bulkhead_release(&radio, &a, &released);
  check(!released, "a second release is a no-op");
  check(stanchion_bulkhead_try_acquire(&radio, 0, &c, NULL) == STANCHION_OK, "room again");
  stanchion_bulkhead_snapshot s;
  stanchion_bulkhead_snapshot_get(&radio, &s);
  check(s.in_flight == 2 && s.peak == 2 && s.rejected == 1, "counters");
}

static void adaptive_scenario(void) {
  stanchion_adaptive_config config;
  stanchion_adaptive_config_default(&config);
  config.initial_limit = 2;
  config.max_limit = 8;
  config.min_samples = 2;
  config.window_ns = 100 * MS;
  check(stanchion_adaptive_init(&backend, &config) == STANCHION_OK, "adaptive init");
  stanchion_adaptive_permit a, b, c;
  stanchion_adaptive_change change;
  stanchion_rejection r;
  check(stanchion_adaptive_try_acquire(&backend, 0, &a, NULL) == STANCHION_OK, "first permit");
  check(stanchion_adaptive_try_acquire(&backend, 0, &b, NULL) == STANCHION_OK, "second permit");
  check(stanchion_adaptive_try_acquire(&backend, 0, &c, &r) == STANCHION_BULKHEAD_FULL && !r.has_retry_after,
        "the limit of 2 refuses a third");
  /* The first report opens a window; the one that finds 2 samples and 100 ms closes it: 2 in
   * flight of 2 and no drop, so the limit grows by one. */
  stanchion_adaptive_record(&backend, &a, STANCHION_OUTCOME_SUCCESS, 10 * MS, &change);
  check(!change.occurred, "a window opens");
  stanchion_adaptive_record(&backend, &b, STANCHION_OUTCOME_SUCCESS, 110 * MS, &change);
  check(change.occurred && change.from == 2 && change.to == 3, "a window closes: 2 -> 3");
  check(stanchion_adaptive_record(&backend, &b, STANCHION_OUTCOME_DROPPED, 110 * MS, &change) == STANCHION_OK &&
            !change.occurred,
        "a permit reports once");

  stanchion_adaptive_permit held[3];
  for (int i = 0; i < 3; i++)
    check(stanchion_adaptive_try_acquire(&backend, 200 * MS, &held[i], NULL) == STANCHION_OK, "3 of 3");
  check(stanchion_adaptive_try_acquire(&backend, 200 * MS, &c, NULL) == STANCHION_BULKHEAD_FULL, "full at 3");
  check(stanchion_adaptive_record(&backend, &held[0], 9, 210 * MS, &change) == STANCHION_INVALID_ARGUMENT,
        "an unknown outcome is refused");
  /* Two timeouts close a dropped window: floor(3 x 0.9) = 2. */
  stanchion_adaptive_record(&backend, &held[0], STANCHION_OUTCOME_DROPPED, 210 * MS, &change);
  stanchion_adaptive_record(&backend, &held[1], STANCHION_OUTCOME_DROPPED, 310 * MS, &change);
  check(change.occurred && change.from == 3 && change.to == 2, "a drop backs off: 3 -> 2");
  stanchion_adaptive_snapshot s;
  stanchion_adaptive_snapshot_get(&backend, &s);
  check(s.limit == 2 && s.in_flight == 1 && s.peak == 3 && s.rejected == 2, "counters");
  check(s.windows == 2 && s.has_last_update && s.last_update_ns == 310 * MS && !s.has_baseline,
        "windows");

  stanchion_config_error error;
  config.algorithm = STANCHION_ADAPTIVE_VEGAS;
  config.vegas.smoothing = 0.0;
  check(stanchion_adaptive_config_validate(&config, &error) == STANCHION_INVALID_CONFIG &&
            strcmp(error.field, "vegas.smoothing") == 0,
        "a bad parameter names its algorithm's field");
}

/* The system timer (present on every Cortex-M core QEMU models). */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static stanchion_token_bucket shared;
/* Each tick is one fake millisecond; 32-bit, so the main loop reads it in one access. */
static volatile uint32_t ticks, isr_admitted;

void SysTick_Handler(void) {
  uint32_t now = ticks + 1;
  if (stanchion_token_bucket_try_acquire(&shared, 1, now * MS, NULL) == STANCHION_OK) isr_admitted++;
  ticks = now;
}

/* The handler interrupts the main loop inside its calls on the same bucket: no call may
 * deadlock (the handler keeps running) and the bucket's hard bound holds. */
static void interrupt_scenario(void) {
  stanchion_token_bucket_config config;
  stanchion_token_bucket_config_default(&config);
  config.capacity = 10;
  config.refill_amount = 1;
  config.refill_every_ns = MS;
  check(stanchion_token_bucket_init(&shared, &config) == STANCHION_OK, "shared bucket init");
  uint32_t main_admitted = 0, calls = 0;
  SYST_RVR = 5000;
  SYST_CVR = 0;
  SYST_CSR = 7; /* processor clock, interrupt, enable */
  while (ticks < 200) {
    calls++;
    if (stanchion_token_bucket_try_acquire(&shared, 1, (uint64_t)ticks * MS, NULL) == STANCHION_OK)
      main_admitted++;
  }
  SYST_CSR = 0;
  printf("interrupts: %lu ticks, %lu main-loop calls, %lu + %lu tokens granted\n",
         (unsigned long)ticks, (unsigned long)calls, (unsigned long)main_admitted,
         (unsigned long)isr_admitted);
  check(main_admitted > 0 && isr_admitted > 0, "both contexts were served");
  check(main_admitted + isr_admitted <= 10 + ticks, "granted <= capacity + rate * elapsed");
}

int main(void) {
  initialise_monitor_handles();
  check(stanchion_token_bucket_try_acquire(&telemetry, 1, 0, NULL) == STANCHION_NOT_INITIALIZED,
        "zeroed storage is not an object yet");
  breaker_scenario();
  bucket_scenario();
  bulkhead_scenario();
  adaptive_scenario();
  interrupt_scenario();
  printf("firmware scenario: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
