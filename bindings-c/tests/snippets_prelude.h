/*
 * What the documentation's code fragments use without declaring it (tests/snippets.py).
 *
 * Each fragment is compiled as the body of a function after this file, with SNIPPETS_<FILE>
 * defined for the file it comes from. Everything here is declared, never defined: fragments are
 * compiled, not linked or run. A fragment may declare a name again; its own declaration wins.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "stanchion.h"

/* Every file: the time, and what the caller does while it waits. */
extern uint64_t now, later;
extern bool ok;
void sleep_ns(uint64_t ns);

#if defined(SNIPPETS_ADAPTIVE)
extern stanchion_adaptive backend;
extern stanchion_adaptive_config c;
extern stanchion_config_error e;
extern stanchion_adaptive_permit p;
bool send_request(void);

#elif defined(SNIPPETS_BACKOFF)
extern stanchion_backoff reconnect;
extern stanchion_backoff_config c, config;
extern stanchion_config_error e;
extern stanchion_retrying r;
extern uint64_t seed;
extern uint32_t attempt;
int call(void);

#elif defined(SNIPPETS_BREAKER)
extern stanchion_breaker b;
extern stanchion_breaker_config config;
extern stanchion_breaker_permit permit, p;
void do_call(void);
void fail_fast(uint64_t retry_after_ns);
void alert(void);

#elif defined(SNIPPETS_BULKHEAD)
extern stanchion_bulkhead db_pool;
extern stanchion_bulkhead_config c;
extern stanchion_config_error e;
extern stanchion_bulkhead_permit p;
void query(void);

#elif defined(SNIPPETS_DEADLINE)
extern stanchion_deadline d, whole_call, this_attempt;
extern uint64_t end_of_frame;

#elif defined(SNIPPETS_KEYED_LIMITER)
extern stanchion_keyed_limiter per_client;
extern stanchion_keyed_limiter_1024 per_tenant;
extern stanchion_keyed_limiter_config c, config;
extern stanchion_config_error e;
extern uint64_t client_id, id, tenant, ready_at, left;
extern uint32_t active;
extern stanchion_token_bucket_snapshot s;

#elif defined(SNIPPETS_RETRY_BUDGET)
extern stanchion_retry_budget upstream_retries;
extern stanchion_retry_budget_config c;
extern stanchion_config_error e;
void retry(void);

#elif defined(SNIPPETS_RETRY_LOOP)
extern stanchion_backoff reconnect;
extern stanchion_retry_budget upstream_retries;
extern stanchion_retry_policy policy;
extern stanchion_retry_loop call;
extern stanchion_breaker b;
extern uint64_t wait;
extern bool timed_out;
void try_once(uint32_t attempt);
void give_up(void);

#elif defined(SNIPPETS_STATUS)
extern stanchion_token_bucket bucket;
extern stanchion_breaker b;
extern stanchion_breaker_config config;
extern stanchion_breaker_permit permit;
extern stanchion_rejection rejection;
extern stanchion_status s;
void back_off(uint64_t retry_after_ns);

#elif defined(SNIPPETS_TOKEN_BUCKET)
extern stanchion_token_bucket uplink;
extern stanchion_token_bucket_config c;
extern stanchion_config_error e;
void send(void);
void sleep_until(uint64_t at_ns);
#endif
