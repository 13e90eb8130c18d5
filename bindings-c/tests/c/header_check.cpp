// The header compiles as C++ too, and its types keep their sizes there.
#include "stanchion.h"

static_assert(sizeof(stanchion_breaker) == STANCHION_BREAKER_SIZE, "breaker size");
static_assert(alignof(stanchion_breaker) == STANCHION_BREAKER_ALIGN, "breaker align");
static_assert(sizeof(stanchion_keyed_limiter_1024) == STANCHION_KEYED_LIMITER_1024_SIZE,
              "keyed limiter size");
static_assert(alignof(stanchion_retrying) == STANCHION_RETRYING_ALIGN, "retrying align");

int main() {
  stanchion_token_bucket_config config;
  stanchion_token_bucket bucket;
  if (stanchion_token_bucket_config_default(&config) != STANCHION_OK) return 1;
  if (stanchion_token_bucket_init(&bucket, &config) != STANCHION_OK) return 1;
  return stanchion_token_bucket_try_acquire(&bucket, 1, 0, nullptr) == STANCHION_OK ? 0 : 1;
}
