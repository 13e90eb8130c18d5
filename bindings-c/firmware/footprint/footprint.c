/*
 * What one primitive costs in flash and RAM: built once per primitive (-DBREAKER, -DBUCKET,
 * ...) and once with none of them (the baseline), and compared with arm-none-eabi-size by
 * scripts/footprint-c.sh. Each program keeps its objects in static storage and calls the
 * operations a firmware would: init, acquire, report. Inputs come from a volatile so the
 * compiler cannot fold the calls away.
 */
#include "stanchion.h"

static volatile uint64_t input = 1;
static volatile uint32_t sink;

#ifdef BREAKER
static stanchion_breaker breaker;
static void use_breaker(void) {
  stanchion_breaker_config c;
  stanchion_breaker_permit p;
  stanchion_rejection r;
  stanchion_breaker_transition t;
  stanchion_breaker_config_default(&c);
  sink += stanchion_breaker_init(&breaker, &c);
  sink += stanchion_breaker_try_acquire(&breaker, input, &p, &r, &t);
  sink += stanchion_breaker_record(&breaker, &p, (stanchion_outcome)input, input, &t);
  sink += stanchion_breaker_release(&breaker, &p, input, &t);
}
#endif

#ifdef BUCKET
static stanchion_token_bucket bucket;
static void use_bucket(void) {
  stanchion_token_bucket_config c;
  stanchion_rejection r;
  uint64_t ready;
  stanchion_token_bucket_config_default(&c);
  sink += stanchion_token_bucket_init(&bucket, &c);
  sink += stanchion_token_bucket_try_acquire(&bucket, (uint32_t)input, input, &r);
  sink += stanchion_token_bucket_reserve(&bucket, (uint32_t)input, input, input, &ready, &r);
}
#endif

#ifdef BULKHEAD
static stanchion_bulkhead bulkhead;
static void use_bulkhead(void) {
  stanchion_bulkhead_config c;
  stanchion_bulkhead_permit p;
  bool released;
  stanchion_bulkhead_config_default(&c);
  sink += stanchion_bulkhead_init(&bulkhead, &c);
  sink += stanchion_bulkhead_try_acquire(&bulkhead, (uint32_t)input, &p, NULL);
  sink += stanchion_bulkhead_release(&bulkhead, &p, &released);
}
#endif

#ifdef ADAPTIVE
static stanchion_adaptive adaptive;
static void use_adaptive(void) {
  stanchion_adaptive_config c;
  stanchion_adaptive_permit p;
  stanchion_adaptive_change change;
  bool released;
  stanchion_adaptive_config_default(&c);
  sink += stanchion_adaptive_init(&adaptive, &c);
  sink += stanchion_adaptive_try_acquire(&adaptive, input, &p, NULL);
  sink += stanchion_adaptive_record(&adaptive, &p, (stanchion_outcome)input, input, &change);
  sink += stanchion_adaptive_release(&adaptive, &p, &released);
}
#endif

#ifdef RETRY_BUDGET
static stanchion_retry_budget budget;
static void use_retry_budget(void) {
  stanchion_retry_budget_config c;
  stanchion_rejection r;
  stanchion_retry_budget_config_default(&c);
  sink += stanchion_retry_budget_init(&budget, &c);
  sink += stanchion_retry_budget_deposit(&budget);
  sink += stanchion_retry_budget_try_retry(&budget, input, &r);
}
#endif

#ifdef KEYED_LIMITER
static stanchion_keyed_limiter keyed;
static void use_keyed_limiter(void) {
  stanchion_keyed_limiter_config c;
  stanchion_rejection r;
  stanchion_keyed_limiter_config_default(&c);
  sink += stanchion_keyed_limiter_init(&keyed, &c);
  sink += stanchion_keyed_limiter_try_acquire(&keyed, input, 1, input, &r);
}
#endif

#ifdef BACKOFF
static stanchion_backoff backoff;
static stanchion_retrying retrying;
static void use_backoff(void) {
  stanchion_backoff_config c;
  uint64_t delay;
  stanchion_backoff_config_default(&c);
  sink += stanchion_backoff_init(&backoff, &c);
  sink += stanchion_backoff_start(&backoff, input, input, &retrying);
  sink += stanchion_retrying_next_delay(&retrying, &backoff, input, NULL, &delay);
}
#endif

int main(void) {
#ifdef BREAKER
  use_breaker();
#endif
#ifdef BUCKET
  use_bucket();
#endif
#ifdef BULKHEAD
  use_bulkhead();
#endif
#ifdef ADAPTIVE
  use_adaptive();
#endif
#ifdef RETRY_BUDGET
  use_retry_budget();
#endif
#ifdef KEYED_LIMITER
  use_keyed_limiter();
#endif
#ifdef BACKOFF
  use_backoff();
#endif
  return (int)(sink & 1);
}
