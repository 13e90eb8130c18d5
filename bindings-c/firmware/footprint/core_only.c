/*
 * footprint.c's calls on the core from Rust (core-only/), without the C API: what the same
 * firmware costs when written in Rust. Built by scripts/footprint-c.sh with -DBREAKER etc.
 */
#include <stdint.h>

extern uint32_t footprint_breaker(uint64_t now, uint32_t outcome);
extern uint32_t footprint_bucket(uint64_t now, uint32_t n);
extern uint32_t footprint_bulkhead(uint32_t lane);
extern uint32_t footprint_retry_budget(uint64_t now);
extern uint32_t footprint_adaptive(uint64_t now, uint32_t outcome);

static volatile uint64_t input = 1;

int main(void) {
  uint32_t sink = 0;
#ifdef BREAKER
  sink += footprint_breaker(input, (uint32_t)input);
#endif
#ifdef BUCKET
  sink += footprint_bucket(input, (uint32_t)input);
#endif
#ifdef BULKHEAD
  sink += footprint_bulkhead((uint32_t)input);
#endif
#ifdef RETRY_BUDGET
  sink += footprint_retry_budget(input);
#endif
#ifdef ADAPTIVE
  sink += footprint_adaptive(input, (uint32_t)input);
#endif
  return (int)(sink & 1);
}
