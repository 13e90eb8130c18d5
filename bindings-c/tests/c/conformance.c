/*
 * Runs the conformance scenarios (conformance/<primitive>/<topic>.json, format in
 * conformance/README.md) through the C API: every answer comes from a stanchion_* call, so the
 * files test what C users get. A file with `known_deviation` is an expected failure that must
 * fail; a format error fails the run in every case.
 *
 * The bulkhead's async-queue steps (acquire_async, poll, cancel) are skipped, since the C API has
 * no queue, and so is the rest of a file from the first later step that reads the state a
 * skipped step changed (any op but `validate`): every other step runs, and the counts of skipped
 * steps are reported per file and in all. The retry loop runs through stanchion_retry_loop_*. An
 * expected `error_field` is rewritten into the C struct's name for the field (c_field_names).
 * Keyed limiters take 1, 2, 4 or 8 slots (the small table's sizes).
 *
 * usage: conformance DIR
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stanchion.h"

#define MAX_SAFE_INTEGER 9007199254740991.0
#define MAX_NAMES 64

/* ---- failures ------------------------------------------------------------------------- */

enum failure { FORMAT = 1, MISMATCH = 2 };
static jmp_buf on_failure;
static char message[1024];
static cJSON *observed_now; /* the observed object being built, freed on failure */

static void fail(enum failure kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  longjmp(on_failure, kind);
}

/* ---- JSON values ---------------------------------------------------------------------- */

/* An integer: a number up to 2^53 - 1, or a decimal string above it. */
static uint64_t int_of(const cJSON *v, const char *what) {
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (d < 0 || d != (double)(uint64_t)d) fail(FORMAT, "`%s`: %g is not a non-negative integer", what, d);
    if (d > MAX_SAFE_INTEGER) fail(FORMAT, "`%s`: %.0f is above 2^53 - 1", what, d);
    return (uint64_t)d;
  }
  if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    char *end = NULL;
    if (*s < '0' || *s > '9') fail(FORMAT, "`%s`: \"%s\" is not a u64 in decimal", what, s);
    unsigned long long n = strtoull(s, &end, 10);
    if (*end != '\0') fail(FORMAT, "`%s`: \"%s\" is not a u64 in decimal", what, s);
    if ((double)n <= MAX_SAFE_INTEGER && n <= 9007199254740991ull)
      fail(FORMAT, "`%s`: \"%s\" is at most 2^53 - 1: write it as a number", what, s);
    return (uint64_t)n;
  }
  fail(FORMAT, "`%s` is not an integer", what);
  return 0;
}

static uint32_t u32_of(const cJSON *v, const char *what) {
  uint64_t n = int_of(v, what);
  if (n > UINT32_MAX) fail(FORMAT, "`%s`: %llu is above u32::MAX", what, (unsigned long long)n);
  return (uint32_t)n;
}

static double float_of(const cJSON *v, const char *what) {
  if (!cJSON_IsNumber(v)) fail(FORMAT, "`%s` is not a number", what);
  return v->valuedouble;
}

static cJSON *get(const cJSON *obj, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static cJSON *required(const cJSON *obj, const char *key) {
  cJSON *v = get(obj, key);
  if (!v) fail(FORMAT, "missing field `%s`", key);
  return v;
}

static uint64_t req_int(const cJSON *obj, const char *key) { return int_of(required(obj, key), key); }
static uint32_t req_u32(const cJSON *obj, const char *key) { return u32_of(required(obj, key), key); }

static uint64_t opt_int(const cJSON *obj, const char *key, uint64_t dflt) {
  cJSON *v = get(obj, key);
  return v ? int_of(v, key) : dflt;
}

static uint32_t opt_u32(const cJSON *obj, const char *key, uint32_t dflt) {
  cJSON *v = get(obj, key);
  return v ? u32_of(v, key) : dflt;
}

static const char *req_string(const cJSON *obj, const char *key) {
  cJSON *v = required(obj, key);
  if (!cJSON_IsString(v)) fail(FORMAT, "`%s` is not a string", key);
  return v->valuestring;
}

/* Optional and nullable: absent keeps `*has`/`*value`, null clears `*has`. */
static void nullable_u32(const cJSON *obj, const char *key, uint32_t *has, uint32_t *value) {
  cJSON *v = get(obj, key);
  if (!v) return;
  if (cJSON_IsNull(v)) {
    *has = 0;
    return;
  }
  *has = 1;
  *value = u32_of(v, key);
}

static void nullable_int(const cJSON *obj, const char *key, uint32_t *has, uint64_t *value) {
  cJSON *v = get(obj, key);
  if (!v) return;
  if (cJSON_IsNull(v)) {
    *has = 0;
    return;
  }
  *has = 1;
  *value = int_of(v, key);
}

/* Every key of `obj` is one of the NULL-terminated `allowed`. */
static void allow(const cJSON *obj, const char *what, const char *const *allowed) {
  if (!cJSON_IsObject(obj)) fail(FORMAT, "%s must be an object", what);
  for (const cJSON *item = obj->child; item; item = item->next) {
    const char *const *a = allowed;
    while (*a && strcmp(*a, item->string) != 0) a++;
    if (!*a) fail(FORMAT, "%s: unknown field `%s`", what, item->string);
  }
}
#define ALLOW(obj, what, ...) allow((obj), (what), (const char *const[]){__VA_ARGS__, NULL})

/* A unit variant is its name; a variant with data a one-field object. */
static const char *variant(const cJSON *v, const cJSON **data, const char *what) {
  *data = NULL;
  if (cJSON_IsString(v)) return v->valuestring;
  if (cJSON_IsObject(v) && v->child && !v->child->next) {
    *data = v->child;
    return v->child->string;
  }
  fail(FORMAT, "`%s` is not a variant name or a one-field object", what);
  return NULL;
}

static cJSON *int_json(uint64_t n) {
  if (n <= 9007199254740991ull) return cJSON_CreateNumber((double)n);
  char text[32];
  snprintf(text, sizeof text, "%llu", (unsigned long long)n);
  return cJSON_CreateString(text);
}

static void put(cJSON *observed, const char *key, cJSON *value) {
  cJSON_AddItemToObject(observed, key, value);
}

static void put_int(cJSON *o, const char *key, uint64_t n) { put(o, key, int_json(n)); }

static void put_optional(cJSON *o, const char *key, bool has, uint64_t n) {
  put(o, key, has ? int_json(n) : cJSON_CreateNull());
}

/* Exact equality: numbers compare as doubles, exactly. */
static bool json_equal(const cJSON *a, const cJSON *b) {
  if ((a->type & 0xFF) != (b->type & 0xFF)) return false;
  if (cJSON_IsNumber(a)) return a->valuedouble == b->valuedouble;
  if (cJSON_IsString(a)) return strcmp(a->valuestring, b->valuestring) == 0;
  if (cJSON_IsArray(a)) {
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
      if (!json_equal(x, y)) return false;
    return !x && !y;
  }
  if (cJSON_IsObject(a)) {
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return false;
    for (const cJSON *x = a->child; x; x = x->next) {
      const cJSON *y = get(b, x->string);
      if (!y || !json_equal(x, y)) return false;
    }
    return true;
  }
  return true; /* null, true, false: the type says it all */
}

/* Every field `expect` lists is one the op reports, with exactly that value. */
static void check(const cJSON *expect, const cJSON *observed) {
  for (const cJSON *want = expect ? expect->child : NULL; want; want = want->next) {
    const cJSON *got = get(observed, want->string);
    if (!got) fail(FORMAT, "`expect` lists `%s`, which this op does not report", want->string);
    if (cJSON_IsString(want) && want->valuestring[0] >= '0' && want->valuestring[0] <= '9')
      int_of(want, want->string);
    if (!json_equal(want, got)) {
      char *w = cJSON_PrintUnformatted(want), *g = cJSON_PrintUnformatted(got);
      char text[512];
      snprintf(text, sizeof text, "`%s`: expected %s, got %s", want->string, w, g);
      free(w);
      free(g);
      fail(MISMATCH, "%s", text);
    }
  }
}

/* ---- answers -------------------------------------------------------------------------- */

static void admission(cJSON *o, stanchion_status s, const stanchion_rejection *r) {
  if (s != STANCHION_OK && !stanchion_status_is_refusal(s))
    fail(FORMAT, "unexpected status %s", stanchion_status_str(s));
  put(o, "admitted", cJSON_CreateBool(s == STANCHION_OK));
  if (s == STANCHION_OK) {
    put(o, "reason", cJSON_CreateNull());
    put(o, "retry_after", cJSON_CreateNull());
  } else {
    put(o, "reason", cJSON_CreateString(stanchion_status_str(s)));
    put_optional(o, "retry_after", r->has_retry_after, r->retry_after_ns);
  }
}

static void expect_ok(stanchion_status s, const char *call) {
  if (s != STANCHION_OK) fail(FORMAT, "%s: %s", call, stanchion_status_str(s));
}

/* The vectors name a config field as the core does (`window.count`, `refill_every`); a C user
 * sees the C struct's field (`window_count`, `refill_every_ns`). The runner rewrites an expected
 * `error_field` into C's name before comparing; names not listed are the same in both. */
static const struct {
  const char *primitive, *core, *c;
} c_field_names[] = {
    {"breaker", "slow_call.duration", "slow_call_duration_ns"},
    {"breaker", "slow_call.rate", "slow_call_rate"},
    {"breaker", "window.count", "window_count"},
    {"breaker", "window.buckets", "window_buckets"},
    {"breaker", "window.span", "window_span_ns"},
    {"breaker", "open_for_max", "open_for_max_ns"},
    {"breaker", "probe_timeout", "probe_timeout_ns"},
    {"token_bucket", "refill_every", "refill_every_ns"},
    {"keyed_limiter", "capacity", "bucket.capacity"},
    {"keyed_limiter", "refill_amount", "bucket.refill_amount"},
    {"keyed_limiter", "refill_every", "bucket.refill_every_ns"},
    {"backoff", "schedule.factor", "factor"},
    {"backoff", "jitter.proportional", "jitter_proportion"},
    {"adaptive", "aimd.timeout", "aimd.timeout_ns"},
};

static void expect_c_field_name(const char *primitive, const cJSON *step) {
  cJSON *want = get(get(step, "expect"), "error_field");
  if (!cJSON_IsString(want)) return;
  const char *c = NULL;
  if (strcmp(primitive, "breaker") == 0 && strcmp(want->valuestring, "window") == 0) {
    /* The core's error for a window longer than the breaker holds: in C, the window's length. */
    c = get(get(get(step, "config"), "window"), "count") ? "window_count" : "window_buckets";
  }
  char parameter[128];
  if (strcmp(primitive, "adaptive") == 0 && strncmp(want->valuestring, "algorithm.", 10) == 0) {
    /* The core names a parameter `algorithm.<name>`; in C it is a field of the chosen
     * algorithm's struct: `vegas.smoothing`, `gradient2.smoothing`. */
    const cJSON *algorithm = get(get(step, "config"), "algorithm"), *data;
    snprintf(parameter, sizeof parameter, "%s.%s", algorithm ? variant(algorithm, &data, "algorithm") : "aimd",
             want->valuestring + 10);
    c = parameter;
  }
  for (size_t i = 0; i < sizeof c_field_names / sizeof c_field_names[0]; i++)
    if (strcmp(c_field_names[i].primitive, primitive) == 0 &&
        strcmp(c_field_names[i].core, c ? c : want->valuestring) == 0)
      c = c_field_names[i].c;
  if (c && !cJSON_SetValuestring(want, c)) fail(FORMAT, "out of memory");
}

static void config_error(cJSON *o, stanchion_status s, const stanchion_config_error *e) {
  if (s == STANCHION_OK)
    put(o, "error_field", cJSON_CreateNull());
  else if (s == STANCHION_INVALID_CONFIG)
    put(o, "error_field", cJSON_CreateString(e->field));
  else
    fail(FORMAT, "validate: %s", stanchion_status_str(s));
}

static const char *state_name(stanchion_breaker_state s) {
  static const char *const names[] = {"closed", "open", "half_open", "forced_open", "disabled"};
  return s < 5 ? names[s] : "unknown";
}

static cJSON *transition_json(const stanchion_breaker_transition *t) {
  if (!t->occurred) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  put(o, "from", cJSON_CreateString(state_name(t->from)));
  put(o, "to", cJSON_CreateString(state_name(t->to)));
  return o;
}

/* ---- named permits -------------------------------------------------------------------- */

/* A permit stays where the library wrote it (a copy is refused on release), so each name has a
 * fixed slot: an op acquires into a free slot, binds it if admitted, and unbinding frees it. A
 * bulkhead permit taken without a name keeps its slot, unnamed, for the rest of the file. */
struct names {
  char name[MAX_NAMES][64];
  bool used[MAX_NAMES];
  union {
    stanchion_breaker_permit breaker;
    stanchion_bulkhead_permit bulkhead;
    stanchion_adaptive_permit adaptive;
  } permit[MAX_NAMES];
};

static int find_name(struct names *n, const char *name) {
  for (int i = 0; i < MAX_NAMES; i++)
    if (n->used[i] && n->name[i][0] && strcmp(n->name[i], name) == 0) return i;
  return -1;
}

/* A free slot to acquire into. */
static int free_slot(struct names *n) {
  for (int i = 0; i < MAX_NAMES; i++)
    if (!n->used[i]) return i;
  fail(FORMAT, "too many names");
  return -1;
}

/* Binds `as` (optional: absent or null binds nothing) to the permit in slot `i`. */
static void bind_name(struct names *n, int i, const cJSON *as) {
  if (!as || cJSON_IsNull(as)) return;
  if (!cJSON_IsString(as)) fail(FORMAT, "`as` is not a string");
  if (find_name(n, as->valuestring) >= 0) fail(FORMAT, "name `%s` is still in use", as->valuestring);
  if (strlen(as->valuestring) >= sizeof n->name[0]) fail(FORMAT, "name `%s` is too long", as->valuestring);
  snprintf(n->name[i], sizeof n->name[0], "%s", as->valuestring);
  n->used[i] = true;
}

static void unbind(struct names *n, int i) { n->used[i] = false; }

/* ---- circuit breaker ------------------------------------------------------------------ */

static stanchion_breaker_config breaker_config(const cJSON *j) {
  ALLOW(j, "a breaker config", "failure_count", "consecutive_failures", "failure_rate",
        "minimum_calls", "slow_call", "window", "open_for", "open_for_max", "open_for_factor",
        "open_for_jitter", "half_open_probes", "half_open_successes", "probe_timeout", "seed");
  stanchion_breaker_config c;
  stanchion_breaker_config_default(&c);
  nullable_u32(j, "failure_count", &c.has_failure_count, &c.failure_count);
  nullable_u32(j, "consecutive_failures", &c.has_consecutive_failures, &c.consecutive_failures);
  const cJSON *v = get(j, "failure_rate");
  if (v) {
    c.has_failure_rate = !cJSON_IsNull(v);
    if (c.has_failure_rate) c.failure_rate = (float)float_of(v, "failure_rate");
  }
  c.minimum_calls = opt_u32(j, "minimum_calls", c.minimum_calls);
  if ((v = get(j, "slow_call"))) {
    c.has_slow_call = !cJSON_IsNull(v);
    if (c.has_slow_call) {
      ALLOW(v, "`slow_call`", "duration", "rate");
      c.slow_call_duration_ns = req_int(v, "duration");
      c.slow_call_rate = (float)float_of(required(v, "rate"), "rate");
    }
  }
  if ((v = get(j, "window"))) {
    const cJSON *data;
    const char *kind = variant(v, &data, "window");
    if (strcmp(kind, "count") == 0 && data) {
      c.window_kind = STANCHION_WINDOW_COUNT;
      c.window_count = u32_of(data, "count");
    } else if (strcmp(kind, "time") == 0 && data) {
      ALLOW(data, "`time`", "span", "buckets");
      c.window_kind = STANCHION_WINDOW_TIME;
      c.window_span_ns = req_int(data, "span");
      c.window_buckets = req_u32(data, "buckets");
    } else {
      fail(FORMAT, "`window` is not {\"count\": n} or {\"time\": {...}}");
    }
  }
  c.open_for_ns = opt_int(j, "open_for", c.open_for_ns);
  c.open_for_max_ns = opt_int(j, "open_for_max", c.open_for_ns);
  if ((v = get(j, "open_for_factor"))) c.open_for_factor = (float)float_of(v, "open_for_factor");
  if ((v = get(j, "open_for_jitter"))) c.open_for_jitter = (float)float_of(v, "open_for_jitter");
  c.half_open_probes = opt_u32(j, "half_open_probes", c.half_open_probes);
  nullable_u32(j, "half_open_successes", &c.has_half_open_successes, &c.half_open_successes);
  nullable_int(j, "probe_timeout", &c.has_probe_timeout, &c.probe_timeout_ns);
  c.seed = opt_int(j, "seed", c.seed);
  return c;
}

static stanchion_outcome outcome_of(const cJSON *step) {
  const char *o = req_string(step, "outcome");
  if (strcmp(o, "success") == 0) return STANCHION_OUTCOME_SUCCESS;
  if (strcmp(o, "failure") == 0) return STANCHION_OUTCOME_FAILURE;
  if (strcmp(o, "ignored") == 0) return STANCHION_OUTCOME_IGNORED;
  fail(FORMAT, "`outcome`: \"%s\" is not success, failure or ignored", o);
  return 0;
}

static stanchion_breaker breaker;
static struct names names;

static void breaker_new(const cJSON *config) {
  stanchion_breaker_config c = breaker_config(config);
  expect_ok(stanchion_breaker_init(&breaker, &c), "invalid config");
  memset(names.used, 0, sizeof names.used);
}

static int take_permit(const cJSON *step) {
  const char *name = req_string(step, "permit");
  int i = find_name(&names, name);
  if (i < 0) fail(FORMAT, "no permit named `%s` (never admitted, or already used)", name);
  return i;
}

static void breaker_run(const char *op, const cJSON *step, cJSON *o) {
  stanchion_breaker *b = &breaker;
  stanchion_breaker_transition t = {0};
  stanchion_rejection r;
  stanchion_breaker_permit p;
  if (strcmp(op, "acquire") == 0) {
    ALLOW(step, "acquire", "op", "expect", "repeat", "note", "now", "as");
    uint64_t now = req_int(step, "now");
    int slot = free_slot(&names);
    stanchion_status s = stanchion_breaker_try_acquire(b, now, &names.permit[slot].breaker, &r, &t);
    if (s == STANCHION_OK) bind_name(&names, slot, get(step, "as"));
    admission(o, s, &r);
    put(o, "transition", transition_json(&t));
  } else if (strcmp(op, "call") == 0) {
    ALLOW(step, "call", "op", "expect", "repeat", "note", "now", "outcome", "duration");
    uint64_t now = req_int(step, "now");
    stanchion_outcome outcome = outcome_of(step);
    uint64_t duration = opt_int(step, "duration", 0);
    cJSON *transitions = cJSON_CreateArray();
    stanchion_status s = stanchion_breaker_try_acquire(b, now, &p, &r, &t);
    if (t.occurred) cJSON_AddItemToArray(transitions, transition_json(&t));
    if (s == STANCHION_OK) {
      uint64_t end = now + duration < now ? UINT64_MAX : now + duration;
      expect_ok(stanchion_breaker_record(b, &p, outcome, end, &t), "record");
      if (t.occurred) cJSON_AddItemToArray(transitions, transition_json(&t));
    }
    admission(o, s, &r);
    put(o, "transitions", transitions);
  } else if (strcmp(op, "record") == 0 || strcmp(op, "release") == 0) {
    bool record = op[2] == 'c';
    if (record)
      ALLOW(step, "record", "op", "expect", "repeat", "note", "permit", "outcome", "now");
    else
      ALLOW(step, "release", "op", "expect", "repeat", "note", "permit", "now");
    int i = take_permit(step);
    uint64_t now = req_int(step, "now");
    stanchion_status s = record ? stanchion_breaker_record(b, &names.permit[i].breaker,
                                                           outcome_of(step), now, &t)
                                : stanchion_breaker_release(b, &names.permit[i].breaker, now, &t);
    expect_ok(s, op);
    unbind(&names, i);
    put(o, "transition", transition_json(&t));
  } else if (strcmp(op, "force_open") == 0 || strcmp(op, "disable") == 0 ||
             strcmp(op, "reset") == 0) {
    ALLOW(step, op, "op", "expect", "repeat", "note", "now");
    uint64_t now = req_int(step, "now");
    stanchion_status s = op[0] == 'f'   ? stanchion_breaker_force_open(b, now, &t)
                         : op[0] == 'd' ? stanchion_breaker_disable(b, now, &t)
                                        : stanchion_breaker_reset(b, now, &t);
    expect_ok(s, op);
    put(o, "transition", transition_json(&t));
  } else if (strcmp(op, "state") == 0) {
    ALLOW(step, "state", "op", "expect", "repeat", "note");
    stanchion_breaker_state state;
    expect_ok(stanchion_breaker_state_get(b, &state), "state");
    put(o, "state", cJSON_CreateString(state_name(state)));
  } else if (strcmp(op, "snapshot") == 0) {
    ALLOW(step, "snapshot", "op", "expect", "repeat", "note", "now");
    stanchion_breaker_snapshot s;
    expect_ok(stanchion_breaker_snapshot_get(b, req_int(step, "now"), &s), "snapshot");
    put(o, "state", cJSON_CreateString(state_name(s.state)));
    put_int(o, "generation", s.generation);
    put_optional(o, "open_until", s.has_open_until, s.open_until_ns);
    put_int(o, "probes_in_flight", s.probes_in_flight);
    put_int(o, "half_open_successes", s.half_open_successes);
    put_int(o, "window_calls", s.window_calls);
    put_int(o, "window_failures", s.window_failures);
    put_int(o, "window_slow_calls", s.window_slow_calls);
    put_int(o, "consecutive_failures", s.consecutive_failures);
    put_int(o, "consecutive_trips", s.consecutive_trips);
    put_int(o, "calls", s.calls);
    put_int(o, "successes", s.successes);
    put_int(o, "failures", s.failures);
    put_int(o, "slow_calls", s.slow_calls);
    put_int(o, "rejected_open", s.rejected_open);
    put_int(o, "rejected_half_open_full", s.rejected_half_open_full);
    put_int(o, "rejected_forced_open", s.rejected_forced_open);
    put_int(o, "rejected", s.rejected);
    put_int(o, "transitions", s.transitions);
  } else if (strcmp(op, "reconfigure") == 0) {
    ALLOW(step, "reconfigure", "op", "expect", "repeat", "note", "config", "now");
    stanchion_breaker_config c = breaker_config(required(step, "config"));
    stanchion_config_error e;
    stanchion_status s = stanchion_breaker_reconfigure(b, &c, req_int(step, "now"));
    /* The field comes from validate, which checks as reconfigure does. */
    if (s == STANCHION_INVALID_CONFIG) stanchion_breaker_config_validate(&c, &e);
    config_error(o, s, &e);
  } else if (strcmp(op, "validate") == 0) {
    ALLOW(step, "validate", "op", "expect", "repeat", "note", "config");
    stanchion_breaker_config c = breaker_config(required(step, "config"));
    stanchion_config_error e;
    config_error(o, stanchion_breaker_config_validate(&c, &e), &e);
  } else {
    fail(FORMAT, "unknown op `%s` for a breaker", op);
  }
}

/* ---- backoff -------------------------------------------------------------------------- */

static stanchion_backoff backoff;
static stanchion_retrying retrying;
static bool started;

static stanchion_backoff_config backoff_config(const cJSON *j) {
  ALLOW(j, "a backoff config", "schedule", "jitter", "max_delay", "max_attempts", "max_elapsed");
  stanchion_backoff_config c;
  stanchion_backoff_config_default(&c);
  const cJSON *data;
  const char *name = variant(required(j, "schedule"), &data, "schedule");
  if (!data) fail(FORMAT, "`schedule` needs its fields");
  if (strcmp(name, "constant") == 0) {
    ALLOW(data, "constant", "delay");
    c.schedule = STANCHION_SCHEDULE_CONSTANT;
    c.initial_ns = req_int(data, "delay");
  } else if (strcmp(name, "linear") == 0) {
    ALLOW(data, "linear", "initial", "step");
    c.schedule = STANCHION_SCHEDULE_LINEAR;
    c.initial_ns = req_int(data, "initial");
    c.step_ns = req_int(data, "step");
  } else if (strcmp(name, "exponential") == 0) {
    ALLOW(data, "exponential", "initial", "factor");
    c.schedule = STANCHION_SCHEDULE_EXPONENTIAL;
    c.initial_ns = req_int(data, "initial");
    c.factor = float_of(required(data, "factor"), "factor");
  } else if (strcmp(name, "decorrelated") == 0) {
    ALLOW(data, "decorrelated", "base");
    c.schedule = STANCHION_SCHEDULE_DECORRELATED;
    c.initial_ns = req_int(data, "base");
  } else {
    fail(FORMAT, "unknown schedule `%s`", name);
  }
  const cJSON *v = get(j, "jitter");
  if (v) {
    const char *jitter = variant(v, &data, "jitter");
    if (strcmp(jitter, "none") == 0 && !data) c.jitter = STANCHION_JITTER_NONE;
    else if (strcmp(jitter, "full") == 0 && !data) c.jitter = STANCHION_JITTER_FULL;
    else if (strcmp(jitter, "equal") == 0 && !data) c.jitter = STANCHION_JITTER_EQUAL;
    else if (strcmp(jitter, "proportional") == 0 && data) {
      c.jitter = STANCHION_JITTER_PROPORTIONAL;
      c.jitter_proportion = float_of(data, "proportional");
    } else {
      fail(FORMAT, "`jitter` is not none, full, equal or {\"proportional\": p}");
    }
  }
  nullable_int(j, "max_delay", &c.has_max_delay, &c.max_delay_ns);
  nullable_u32(j, "max_attempts", &c.has_max_attempts, &c.max_attempts);
  nullable_int(j, "max_elapsed", &c.has_max_elapsed, &c.max_elapsed_ns);
  return c;
}

static void backoff_new(const cJSON *config) {
  stanchion_backoff_config c = backoff_config(config);
  expect_ok(stanchion_backoff_init(&backoff, &c), "invalid config");
  started = false;
}

static const char *exhausted_name(stanchion_status s) {
  if (s == STANCHION_MAX_ATTEMPTS) return "max_attempts";
  if (s == STANCHION_MAX_ELAPSED) return "max_elapsed";
  fail(FORMAT, "next_delay: %s", stanchion_status_str(s));
  return NULL;
}

static void backoff_run(const char *op, const cJSON *step, cJSON *o) {
  uint64_t delay = 0;
  if (strcmp(op, "delay") == 0) {
    ALLOW(step, "delay", "op", "expect", "repeat", "note", "attempt", "seed");
    stanchion_status s =
        stanchion_backoff_delay(&backoff, req_u32(step, "attempt"), req_int(step, "seed"), &delay);
    if (s != STANCHION_OK) exhausted_name(s);
    put_optional(o, "delay", s == STANCHION_OK, delay);
  } else if (strcmp(op, "delays") == 0) {
    /* Backoff::iter: the attempts take no time, so `now` is the sum of the waits so far. */
    ALLOW(step, "delays", "op", "expect", "repeat", "note", "seed", "limit");
    uint64_t limit = req_int(step, "limit"), elapsed = 0;
    stanchion_retrying each;
    expect_ok(stanchion_backoff_start(&backoff, req_int(step, "seed"), 0, &each), "start");
    cJSON *waits = cJSON_CreateArray();
    for (uint64_t i = 0; i < limit; i++) {
      if (stanchion_retrying_next_delay(&each, &backoff, elapsed, NULL, &delay) != STANCHION_OK) break;
      cJSON_AddItemToArray(waits, int_json(delay));
      elapsed = elapsed + delay < elapsed ? UINT64_MAX : elapsed + delay;
    }
    put(o, "delays", waits);
  } else if (strcmp(op, "start") == 0) {
    ALLOW(step, "start", "op", "expect", "repeat", "note", "seed", "now");
    expect_ok(stanchion_backoff_start(&backoff, req_int(step, "seed"), req_int(step, "now"), &retrying),
              "start");
    started = true;
  } else if (strcmp(op, "next_delay") == 0) {
    ALLOW(step, "next_delay", "op", "expect", "repeat", "note", "now", "hint");
    if (!started) fail(FORMAT, "no `start` before `next_delay`");
    uint64_t now = req_int(step, "now"), hint = 0;
    const cJSON *h = get(step, "hint");
    bool has_hint = h && !cJSON_IsNull(h);
    if (has_hint) hint = int_of(h, "hint");
    stanchion_status s =
        stanchion_retrying_next_delay(&retrying, &backoff, now, has_hint ? &hint : NULL, &delay);
    uint32_t retries = 0;
    expect_ok(stanchion_retrying_retries_get(&retrying, &retries), "retries");
    put_optional(o, "delay", s == STANCHION_OK, delay);
    put(o, "exhausted", s == STANCHION_OK ? cJSON_CreateNull() : cJSON_CreateString(exhausted_name(s)));
    put_int(o, "retries", retries);
  } else if (strcmp(op, "validate") == 0) {
    ALLOW(step, "validate", "op", "expect", "repeat", "note", "config");
    stanchion_backoff_config c = backoff_config(required(step, "config"));
    stanchion_config_error e;
    config_error(o, stanchion_backoff_config_validate(&c, &e), &e);
  } else {
    fail(FORMAT, "unknown op `%s` for a backoff", op);
  }
}

/* ---- retry budget --------------------------------------------------------------------- */

static stanchion_retry_budget budget;

static stanchion_retry_budget_config budget_config(const cJSON *j) {
  ALLOW(j, "a retry budget config", "ratio", "min_retries_per_sec", "max_balance");
  stanchion_retry_budget_config c;
  stanchion_retry_budget_config_default(&c);
  c.ratio = float_of(required(j, "ratio"), "ratio");
  c.min_retries_per_sec = opt_u32(j, "min_retries_per_sec", c.min_retries_per_sec);
  c.max_balance = opt_u32(j, "max_balance", c.max_balance);
  return c;
}

static void budget_new(const cJSON *config) {
  stanchion_retry_budget_config c = budget_config(config);
  expect_ok(stanchion_retry_budget_init(&budget, &c), "invalid config");
}

static void budget_run(const char *op, const cJSON *step, cJSON *o) {
  if (strcmp(op, "deposit") == 0) {
    ALLOW(step, "deposit", "op", "expect", "repeat", "note");
    expect_ok(stanchion_retry_budget_deposit(&budget), "deposit");
  } else if (strcmp(op, "try_retry") == 0) {
    ALLOW(step, "try_retry", "op", "expect", "repeat", "note", "now");
    stanchion_rejection r;
    admission(o, stanchion_retry_budget_try_retry(&budget, req_int(step, "now"), &r), &r);
  } else if (strcmp(op, "snapshot") == 0) {
    ALLOW(step, "snapshot", "op", "expect", "repeat", "note", "now");
    stanchion_retry_budget_snapshot s;
    expect_ok(stanchion_retry_budget_snapshot_get(&budget, req_int(step, "now"), &s), "snapshot");
    put_int(o, "balance", s.balance);
    put_int(o, "floor_tokens", s.floor_tokens);
    put_int(o, "retries_available", s.retries_available);
    put_int(o, "retries_allowed", s.retries_allowed);
    put_int(o, "retries_refused", s.retries_refused);
  } else if (strcmp(op, "validate") == 0) {
    ALLOW(step, "validate", "op", "expect", "repeat", "note", "config");
    stanchion_retry_budget_config c = budget_config(required(step, "config"));
    stanchion_config_error e;
    config_error(o, stanchion_retry_budget_config_validate(&c, &e), &e);
  } else {
    fail(FORMAT, "unknown op `%s` for a retry budget", op);
  }
}

/* ---- retry loop ----------------------------------------------------------------------- */

/* The file's policy (its backoff and budget in the statics above) and the call `start` began;
 * a later `start` begins another, sharing the budget. */
static stanchion_retry_policy retry_policy;
static stanchion_retry_loop retry_call;
static bool retry_started;

static void retry_new(const cJSON *config) {
  ALLOW(config, "a retry config", "backoff", "budget", "deadline", "retry_refusals", "seed");
  stanchion_backoff_config bc = backoff_config(required(config, "backoff"));
  expect_ok(stanchion_backoff_init(&backoff, &bc), "invalid backoff");
  memset(&retry_policy, 0, sizeof retry_policy);
  retry_policy.backoff = &backoff;
  const cJSON *b = get(config, "budget");
  if (b && !cJSON_IsNull(b)) {
    stanchion_retry_budget_config rc = budget_config(b);
    expect_ok(stanchion_retry_budget_init(&budget, &rc), "invalid budget");
    retry_policy.budget = &budget;
  }
  nullable_int(config, "deadline", &retry_policy.has_deadline, &retry_policy.deadline_ns);
  const cJSON *refusals = get(config, "retry_refusals");
  if (refusals) {
    if (!cJSON_IsBool(refusals)) fail(FORMAT, "`retry_refusals` is not true or false");
    retry_policy.retry_refusals = cJSON_IsTrue(refusals);
  }
  retry_policy.seed = opt_int(config, "seed", 0);
  retry_started = false;
}

/* A stop's name: the status's, which for 201..=206 is the core's StopReason::as_str. */
static cJSON *stop_json(stanchion_status s) {
  if (s == STANCHION_OK) return cJSON_CreateNull();
  if (s < STANCHION_MAX_ATTEMPTS || s > STANCHION_REFUSED)
    fail(FORMAT, "unexpected status %s", stanchion_status_str(s));
  return cJSON_CreateString(stanchion_status_str(s));
}

/* `start` and `resume`: whether the attempt may go ahead, which it is, or why not. */
static void proceed(cJSON *o, stanchion_status s, uint32_t attempt) {
  put(o, "proceed", cJSON_CreateBool(s == STANCHION_OK));
  put(o, "attempt", s == STANCHION_OK ? int_json(attempt) : cJSON_CreateNull());
  put(o, "stop", stop_json(s));
}

static stanchion_status reason_named(const char *name) {
  for (stanchion_status s = STANCHION_BREAKER_OPEN; s <= STANCHION_TABLE_FULL; s++)
    if (strcmp(stanchion_status_str(s), name) == 0) return s;
  fail(FORMAT, "unknown reason `%s`", name);
  return 0;
}

static void retry_run(const char *op, const cJSON *step, cJSON *o) {
  uint32_t attempt = 0;
  if (strcmp(op, "start") == 0) {
    ALLOW(step, "start", "op", "expect", "repeat", "note", "now");
    stanchion_status s = stanchion_retry_loop_start(&retry_call, &retry_policy, req_int(step, "now"), &attempt);
    retry_started = s == STANCHION_OK;
    proceed(o, s, attempt);
  } else if (strcmp(op, "fail") == 0) {
    const char *error = req_string(step, "error");
    stanchion_failure failure;
    uint64_t hint = 0;
    const uint64_t *hint_ns = NULL;
    stanchion_rejection refusal = {0, false, 0};
    if (strcmp(error, "retryable") == 0) {
      ALLOW(step, "fail", "op", "expect", "repeat", "note", "now", "error", "hint");
      failure = STANCHION_FAILURE_RETRYABLE;
      uint32_t has_hint = 0;
      nullable_int(step, "hint", &has_hint, &hint);
      if (has_hint) hint_ns = &hint;
    } else if (strcmp(error, "final") == 0) {
      ALLOW(step, "fail", "op", "expect", "repeat", "note", "now", "error");
      failure = STANCHION_FAILURE_FINAL;
    } else if (strcmp(error, "refused") == 0) {
      ALLOW(step, "fail", "op", "expect", "repeat", "note", "now", "error", "reason", "retry_after");
      failure = STANCHION_FAILURE_REFUSED;
      refusal.reason = reason_named(req_string(step, "reason"));
      uint32_t has_retry_after = 0;
      nullable_int(step, "retry_after", &has_retry_after, &refusal.retry_after_ns);
      refusal.has_retry_after = has_retry_after != 0;
    } else {
      fail(FORMAT, "unknown error `%s`", error);
      return;
    }
    uint64_t now = req_int(step, "now"), wait = 0;
    if (!retry_started) fail(FORMAT, "no `start` before `fail`");
    stanchion_status s = stanchion_retry_loop_after_failure(&retry_call, &retry_policy, now, failure,
                                                            hint_ns, &refusal, &wait);
    uint32_t attempts = 0;
    expect_ok(stanchion_retry_loop_attempts_get(&retry_call, &attempts), "attempts_get");
    put(o, "next", cJSON_CreateString(s == STANCHION_OK ? "retry" : "stop"));
    put_optional(o, "wait", s == STANCHION_OK, wait);
    put(o, "stop", stop_json(s));
    put_int(o, "attempts", attempts);
  } else if (strcmp(op, "resume") == 0) {
    ALLOW(step, "resume", "op", "expect", "repeat", "note", "now");
    uint64_t now = req_int(step, "now");
    if (!retry_started) fail(FORMAT, "no `start` before `resume`");
    stanchion_status s = stanchion_retry_loop_resume(&retry_call, &retry_policy, now, &attempt);
    proceed(o, s, attempt);
  } else {
    fail(FORMAT, "unknown op `%s` for a retry loop", op);
  }
}

/* ---- deadline ------------------------------------------------------------------------- */

static stanchion_deadline deadline;

static void deadline_new(const cJSON *config) {
  ALLOW(config, "a deadline config", "at", "now", "timeout");
  const cJSON *at = get(config, "at");
  if (at && !cJSON_IsNull(at))
    expect_ok(stanchion_deadline_at(int_of(at, "at"), &deadline), "at");
  else
    expect_ok(stanchion_deadline_after(req_int(config, "now"), req_int(config, "timeout"), &deadline),
              "after");
}

static void deadline_run(const char *op, const cJSON *step, cJSON *o) {
  if (strcmp(op, "check") == 0) {
    ALLOW(step, "check", "op", "expect", "repeat", "note", "now");
    uint64_t now = req_int(step, "now"), remaining;
    bool expired;
    expect_ok(stanchion_deadline_remaining(&deadline, now, &remaining), "remaining");
    expect_ok(stanchion_deadline_is_expired(&deadline, now, &expired), "is_expired");
    put_int(o, "expires_at", deadline.expires_at_ns);
    put_int(o, "remaining", remaining);
    put(o, "expired", cJSON_CreateBool(expired));
  } else if (strcmp(op, "min") == 0) {
    ALLOW(step, "min", "op", "expect", "repeat", "note", "at");
    stanchion_deadline other;
    expect_ok(stanchion_deadline_at(req_int(step, "at"), &other), "at");
    expect_ok(stanchion_deadline_min(&deadline, &other, &deadline), "min");
    put_int(o, "expires_at", deadline.expires_at_ns);
  } else {
    fail(FORMAT, "unknown op `%s` for a deadline", op);
  }
}

/* ---- token bucket and keyed limiter --------------------------------------------------- */

static stanchion_token_bucket bucket;
static stanchion_keyed_limiter keyed;

static stanchion_token_bucket_config bucket_fields(const cJSON *j) {
  stanchion_token_bucket_config c;
  stanchion_token_bucket_config_default(&c);
  c.capacity = req_u32(j, "capacity");
  c.refill_amount = opt_u32(j, "refill_amount", c.refill_amount);
  c.refill_every_ns = opt_int(j, "refill_every", c.refill_every_ns);
  return c;
}

static stanchion_token_bucket_config bucket_config(const cJSON *j) {
  ALLOW(j, "a token bucket config", "capacity", "refill_amount", "refill_every");
  return bucket_fields(j);
}

static stanchion_keyed_limiter_config keyed_config(const cJSON *j) {
  ALLOW(j, "a keyed limiter config", "capacity", "refill_amount", "refill_every", "slots",
        "policy");
  stanchion_keyed_limiter_config c;
  stanchion_keyed_limiter_config_default(&c);
  c.bucket = bucket_fields(j);
  c.slots = opt_u32(j, "slots", 4);
  if (c.slots < 1 || c.slots > 8) fail(FORMAT, "`slots`: %u is not in 1..=8", c.slots);
  if (c.slots != 1 && c.slots != 2 && c.slots != 4 && c.slots != 8)
    fail(FORMAT, "`slots`: %u: the C API's small table has 1, 2, 4, 8 or 16 slots", c.slots);
  const cJSON *p = get(j, "policy");
  if (p) {
    if (cJSON_IsString(p) && strcmp(p->valuestring, "reject") == 0)
      c.policy = STANCHION_TABLE_FULL_REJECT;
    else if (cJSON_IsString(p) && strcmp(p->valuestring, "admit") == 0)
      c.policy = STANCHION_TABLE_FULL_ADMIT;
    else
      fail(FORMAT, "`policy` is not \"reject\" or \"admit\"");
  }
  return c;
}

static void bucket_new(const cJSON *config) {
  stanchion_token_bucket_config c = bucket_config(config);
  expect_ok(stanchion_token_bucket_init(&bucket, &c), "invalid config");
}

static void keyed_new(const cJSON *config) {
  stanchion_keyed_limiter_config c = keyed_config(config);
  expect_ok(stanchion_keyed_limiter_init(&keyed, &c), "invalid config");
}

static void bucket_snapshot(cJSON *o, const stanchion_token_bucket_snapshot *s) {
  put_int(o, "available", s->available);
  put_int(o, "capacity", s->capacity);
  put_optional(o, "next_token_at", s->has_next_token_at, s->next_token_at_ns);
  put_int(o, "full_at", s->full_at_ns);
}

static void reservation(cJSON *o, stanchion_status s, const stanchion_rejection *r, uint64_t ready_at) {
  admission(o, s, r);
  put_optional(o, "ready_at", s == STANCHION_OK, ready_at);
}

/* The token bucket's ops, and the keyed limiter's when `keyed_op` (they take a `key`). */
static void limiter_run(const char *op, const cJSON *step, cJSON *o, bool keyed_op) {
  stanchion_rejection r;
  uint64_t key = keyed_op && strcmp(op, "active_keys") != 0 && strcmp(op, "validate") != 0
                     ? req_int(step, "key")
                     : 0;
  if (strcmp(op, "try_acquire") == 0) {
    ALLOW(step, "try_acquire", "op", "expect", "repeat", "note", "n", "now", "key");
    uint32_t n = opt_u32(step, "n", 1);
    uint64_t now = req_int(step, "now");
    stanchion_status s = keyed_op ? stanchion_keyed_limiter_try_acquire(&keyed, key, n, now, &r)
                                  : stanchion_token_bucket_try_acquire(&bucket, n, now, &r);
    admission(o, s, &r);
  } else if (strcmp(op, "reserve") == 0) {
    ALLOW(step, "reserve", "op", "expect", "repeat", "note", "n", "now", "max_wait", "key");
    uint32_t n = opt_u32(step, "n", 1);
    uint64_t now = req_int(step, "now"), max_wait = req_int(step, "max_wait"), ready_at = 0;
    stanchion_status s =
        keyed_op ? stanchion_keyed_limiter_reserve(&keyed, key, n, now, max_wait, &ready_at, &r)
                 : stanchion_token_bucket_reserve(&bucket, n, now, max_wait, &ready_at, &r);
    reservation(o, s, &r, ready_at);
  } else if (strcmp(op, "available") == 0) {
    ALLOW(step, "available", "op", "expect", "repeat", "note", "now", "key");
    uint64_t available, now = req_int(step, "now");
    expect_ok(keyed_op ? stanchion_keyed_limiter_available(&keyed, key, now, &available)
                       : stanchion_token_bucket_available(&bucket, now, &available),
              "available");
    put_int(o, "available", available);
  } else if (strcmp(op, "snapshot") == 0) {
    ALLOW(step, "snapshot", "op", "expect", "repeat", "note", "now", "key");
    stanchion_token_bucket_snapshot s;
    uint64_t now = req_int(step, "now");
    expect_ok(keyed_op ? stanchion_keyed_limiter_snapshot_get(&keyed, key, now, &s)
                       : stanchion_token_bucket_snapshot_get(&bucket, now, &s),
              "snapshot");
    bucket_snapshot(o, &s);
  } else if (keyed_op && strcmp(op, "active_keys") == 0) {
    ALLOW(step, "active_keys", "op", "expect", "repeat", "note", "now");
    uint32_t active;
    expect_ok(stanchion_keyed_limiter_active_keys(&keyed, req_int(step, "now"), &active), "active_keys");
    put_int(o, "active_keys", active);
  } else if (strcmp(op, "validate") == 0) {
    ALLOW(step, "validate", "op", "expect", "repeat", "note", "config");
    stanchion_config_error e;
    stanchion_status s;
    if (keyed_op) {
      stanchion_keyed_limiter_config c = keyed_config(required(step, "config"));
      s = stanchion_keyed_limiter_config_validate(&c, &e);
    } else {
      stanchion_token_bucket_config c = bucket_config(required(step, "config"));
      s = stanchion_token_bucket_config_validate(&c, &e);
    }
    config_error(o, s, &e);
  } else {
    fail(FORMAT, "unknown op `%s` for a %s", op, keyed_op ? "keyed limiter" : "token bucket");
  }
}

static void bucket_run(const char *op, const cJSON *step, cJSON *o) { limiter_run(op, step, o, false); }
static void keyed_run(const char *op, const cJSON *step, cJSON *o) { limiter_run(op, step, o, true); }

/* ---- bulkhead ------------------------------------------------------------------------- */

static stanchion_bulkhead bulkhead;

static stanchion_bulkhead_config bulkhead_config(const cJSON *j) {
  /* `max_waiting` bounds the async queue, which the C API does not have. */
  ALLOW(j, "a bulkhead config", "max_concurrent", "lanes", "max_waiting");
  stanchion_bulkhead_config c;
  stanchion_bulkhead_config_default(&c);
  c.max_concurrent = req_u32(j, "max_concurrent");
  const cJSON *lanes = get(j, "lanes");
  if (lanes) {
    if (!cJSON_IsArray(lanes)) fail(FORMAT, "`lanes` is not an array of ceilings");
    c.lanes = 0;
    for (const cJSON *l = lanes->child; l; l = l->next, c.lanes++)
      if (c.lanes < STANCHION_BULKHEAD_MAX_LANES) c.lane_ceilings[c.lanes] = u32_of(l, "lanes");
  }
  if (get(j, "max_waiting")) u32_of(get(j, "max_waiting"), "max_waiting");
  return c;
}

static void bulkhead_new(const cJSON *config) {
  stanchion_bulkhead_config c = bulkhead_config(config);
  expect_ok(stanchion_bulkhead_init(&bulkhead, &c), "invalid config");
  memset(names.used, 0, sizeof names.used);
}

static void bulkhead_run(const char *op, const cJSON *step, cJSON *o) {
  if (strcmp(op, "try_acquire") == 0) {
    ALLOW(step, "try_acquire", "op", "expect", "repeat", "note", "lane", "as");
    uint64_t lane = opt_int(step, "lane", 0);
    int slot = free_slot(&names);
    stanchion_bulkhead_permit *p = &names.permit[slot].bulkhead;
    stanchion_rejection r;
    stanchion_status s = stanchion_bulkhead_try_acquire(&bulkhead, lane > UINT32_MAX ? UINT32_MAX : (uint32_t)lane, p, &r);
    admission(o, s, &r);
    if (s == STANCHION_OK) {
      uint32_t taken;
      expect_ok(stanchion_bulkhead_permit_lane(p, &taken), "permit_lane");
      put_int(o, "lane", taken);
      /* Without `as`, the permit is held for the rest of the file: its slot stays taken. */
      const cJSON *as = get(step, "as");
      if (as && !cJSON_IsNull(as)) {
        bind_name(&names, slot, as);
      } else {
        names.used[slot] = true;
        names.name[slot][0] = '\0';
      }
    } else {
      put(o, "lane", cJSON_CreateNull());
    }
  } else if (strcmp(op, "release") == 0) {
    ALLOW(step, "release", "op", "expect", "repeat", "note", "permit");
    const char *name = req_string(step, "permit");
    int i = find_name(&names, name);
    if (i < 0) fail(FORMAT, "no permit named `%s`", name);
    bool released;
    expect_ok(stanchion_bulkhead_release(&bulkhead, &names.permit[i].bulkhead, &released), "release");
    put(o, "released", cJSON_CreateBool(released));
    put(o, "woken", cJSON_CreateArray());
  } else if (strcmp(op, "snapshot") == 0) {
    ALLOW(step, "snapshot", "op", "expect", "repeat", "note");
    stanchion_bulkhead_snapshot s;
    expect_ok(stanchion_bulkhead_snapshot_get(&bulkhead, &s), "snapshot");
    put_int(o, "in_flight", s.in_flight);
    put_int(o, "peak", s.peak);
    put_int(o, "waiting", 0);
    put_int(o, "rejected", s.rejected);
    put_int(o, "max_concurrent", s.max_concurrent);
  } else if (strcmp(op, "validate") == 0) {
    ALLOW(step, "validate", "op", "expect", "repeat", "note", "config");
    stanchion_bulkhead_config c = bulkhead_config(required(step, "config"));
    stanchion_config_error e;
    config_error(o, stanchion_bulkhead_config_validate(&c, &e), &e);
  } else {
    fail(FORMAT, "unknown op `%s` for a bulkhead", op);
  }
}

/* ---- adaptive concurrency limit ------------------------------------------------------ */

static stanchion_adaptive adaptive;

static stanchion_adaptive_config adaptive_config(const cJSON *j) {
  ALLOW(j, "an adaptive limiter config", "algorithm", "initial_limit", "min_limit", "max_limit",
        "min_samples", "window", "seed");
  stanchion_adaptive_config c;
  stanchion_adaptive_config_default(&c);
  const cJSON *v = get(j, "algorithm");
  if (v) {
    const cJSON *data;
    const char *name = variant(v, &data, "algorithm");
    if (strcmp(name, "aimd") == 0) {
      c.algorithm = STANCHION_ADAPTIVE_AIMD;
      if (data) {
        ALLOW(data, "`aimd`", "backoff_ratio", "timeout");
        if ((v = get(data, "backoff_ratio"))) c.aimd.backoff_ratio = float_of(v, "backoff_ratio");
        c.aimd.timeout_ns = opt_int(data, "timeout", c.aimd.timeout_ns);
      }
    } else if (strcmp(name, "vegas") == 0) {
      c.algorithm = STANCHION_ADAPTIVE_VEGAS;
      if (data) {
        ALLOW(data, "`vegas`", "alpha", "beta", "probe_multiplier", "smoothing");
        c.vegas.alpha = opt_u32(data, "alpha", c.vegas.alpha);
        c.vegas.beta = opt_u32(data, "beta", c.vegas.beta);
        c.vegas.probe_multiplier = opt_u32(data, "probe_multiplier", c.vegas.probe_multiplier);
        if ((v = get(data, "smoothing"))) c.vegas.smoothing = float_of(v, "smoothing");
      }
    } else if (strcmp(name, "gradient2") == 0) {
      c.algorithm = STANCHION_ADAPTIVE_GRADIENT2;
      if (data) {
        ALLOW(data, "`gradient2`", "smoothing", "queue_size", "long_window", "rtt_tolerance",
              "creep_guard");
        if ((v = get(data, "smoothing"))) c.gradient2.smoothing = float_of(v, "smoothing");
        c.gradient2.queue_size = opt_u32(data, "queue_size", c.gradient2.queue_size);
        c.gradient2.long_window = opt_u32(data, "long_window", c.gradient2.long_window);
        if ((v = get(data, "rtt_tolerance"))) c.gradient2.rtt_tolerance = float_of(v, "rtt_tolerance");
        if ((v = get(data, "creep_guard"))) {
          if (!cJSON_IsBool(v)) fail(FORMAT, "`creep_guard` is not a boolean");
          c.gradient2.creep_guard = cJSON_IsTrue(v);
        }
      }
    } else {
      fail(FORMAT, "unknown algorithm `%s`", name);
    }
  }
  c.initial_limit = opt_u32(j, "initial_limit", c.initial_limit);
  c.min_limit = opt_u32(j, "min_limit", c.min_limit);
  c.max_limit = opt_u32(j, "max_limit", c.max_limit);
  c.min_samples = opt_u32(j, "min_samples", c.min_samples);
  c.window_ns = opt_int(j, "window", c.window_ns);
  c.seed = opt_int(j, "seed", c.seed);
  return c;
}

static void adaptive_new(const cJSON *config) {
  stanchion_adaptive_config c = adaptive_config(config);
  expect_ok(stanchion_adaptive_init(&adaptive, &c), "invalid config");
  memset(names.used, 0, sizeof names.used);
}

static stanchion_outcome adaptive_outcome_of(const cJSON *step) {
  const char *o = req_string(step, "outcome");
  if (strcmp(o, "dropped") == 0) return STANCHION_OUTCOME_DROPPED;
  return outcome_of(step);
}

/* `admitted`, `reason`, `retry_after` and the permit's `in_flight` of a try_acquire at `now`
 * into `p`. */
static stanchion_status adaptive_admit(cJSON *o, uint64_t now, stanchion_adaptive_permit *p) {
  stanchion_rejection r;
  stanchion_status s = stanchion_adaptive_try_acquire(&adaptive, now, p, &r);
  admission(o, s, &r);
  uint32_t in_flight = 0;
  if (s == STANCHION_OK) expect_ok(stanchion_adaptive_permit_in_flight(p, &in_flight), "permit_in_flight");
  put_optional(o, "in_flight", s == STANCHION_OK, in_flight);
  return s;
}

static cJSON *change_json(const stanchion_adaptive_change *c) {
  if (!c->occurred) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  put_int(o, "from", c->from);
  put_int(o, "to", c->to);
  return o;
}

static void adaptive_run(const char *op, const cJSON *step, cJSON *o) {
  stanchion_adaptive_change change;
  if (strcmp(op, "acquire") == 0) {
    ALLOW(step, "acquire", "op", "expect", "repeat", "note", "now", "as");
    int slot = free_slot(&names);
    if (adaptive_admit(o, req_int(step, "now"), &names.permit[slot].adaptive) == STANCHION_OK) {
      /* Without `as`, the permit is held for the rest of the file: its slot stays taken. */
      const cJSON *as = get(step, "as");
      if (as && !cJSON_IsNull(as)) {
        bind_name(&names, slot, as);
      } else {
        names.used[slot] = true;
        names.name[slot][0] = '\0';
      }
    }
  } else if (strcmp(op, "record") == 0) {
    ALLOW(step, "record", "op", "expect", "repeat", "note", "permit", "outcome", "now");
    int i = take_permit(step);
    stanchion_outcome outcome = adaptive_outcome_of(step);
    expect_ok(stanchion_adaptive_record(&adaptive, &names.permit[i].adaptive, outcome,
                                        req_int(step, "now"), &change),
              "record");
    unbind(&names, i);
    put(o, "change", change_json(&change));
  } else if (strcmp(op, "release") == 0) {
    ALLOW(step, "release", "op", "expect", "repeat", "note", "permit");
    int i = take_permit(step);
    bool released;
    expect_ok(stanchion_adaptive_release(&adaptive, &names.permit[i].adaptive, &released), "release");
    unbind(&names, i);
    put(o, "released", cJSON_CreateBool(released));
  } else if (strcmp(op, "call") == 0) {
    ALLOW(step, "call", "op", "expect", "repeat", "note", "now", "latency", "outcome");
    uint64_t now = req_int(step, "now"), latency = opt_int(step, "latency", 0);
    stanchion_outcome outcome = adaptive_outcome_of(step);
    stanchion_adaptive_permit p;
    change.occurred = false;
    if (adaptive_admit(o, now, &p) == STANCHION_OK) {
      uint64_t end = now + latency < now ? UINT64_MAX : now + latency;
      expect_ok(stanchion_adaptive_record(&adaptive, &p, outcome, end, &change), "record");
    }
    put(o, "change", change_json(&change));
  } else if (strcmp(op, "snapshot") == 0) {
    ALLOW(step, "snapshot", "op", "expect", "repeat", "note");
    stanchion_adaptive_snapshot s;
    expect_ok(stanchion_adaptive_snapshot_get(&adaptive, &s), "snapshot");
    uint32_t limit;
    expect_ok(stanchion_adaptive_limit_get(&adaptive, &limit), "limit");
    if (limit != s.limit) fail(MISMATCH, "limit_get %u, snapshot's limit %u", limit, s.limit);
    put_int(o, "limit", s.limit);
    put_int(o, "in_flight", s.in_flight);
    put_int(o, "waiting", s.waiting);
    put_int(o, "peak", s.peak);
    put_int(o, "rejected", s.rejected);
    put_optional(o, "baseline", s.has_baseline, s.baseline_ns);
    put_optional(o, "last_update", s.has_last_update, s.last_update_ns);
    put_int(o, "windows", s.windows);
  } else if (strcmp(op, "validate") == 0) {
    ALLOW(step, "validate", "op", "expect", "repeat", "note", "config");
    stanchion_adaptive_config c = adaptive_config(required(step, "config"));
    stanchion_config_error e;
    config_error(o, stanchion_adaptive_config_validate(&c, &e), &e);
  } else {
    fail(FORMAT, "unknown op `%s` for an adaptive limiter", op);
  }
}

/* ---- files ---------------------------------------------------------------------------- */

struct subject {
  const char *primitive;
  void (*make)(const cJSON *config);
  void (*run)(const char *op, const cJSON *step, cJSON *observed);
};

static const struct subject subjects[] = {
    {"breaker", breaker_new, breaker_run},
    {"backoff", backoff_new, backoff_run},
    {"retry_budget", budget_new, budget_run},
    {"retry", retry_new, retry_run},
    {"deadline", deadline_new, deadline_run},
    {"token_bucket", bucket_new, bucket_run},
    {"keyed_limiter", keyed_new, keyed_run},
    {"bulkhead", bulkhead_new, bulkhead_run},
    {"adaptive", adaptive_new, adaptive_run},
};

static void portable_integers(const cJSON *v) {
  if (cJSON_IsNumber(v) && v->valuedouble > MAX_SAFE_INTEGER)
    fail(FORMAT, "%.0f is above 2^53 - 1: write it as a string", v->valuedouble);
  for (const cJSON *c = v->child; c; c = c->next) portable_integers(c);
}

/* The bulkhead's async-queue ops, which the C API does not have (it has no queue). Their
 * arguments are still checked, so a typo in a skipped step is a format error as anywhere. */
static bool is_queue_step(const char *primitive, const char *op, const cJSON *step) {
  if (strcmp(primitive, "bulkhead") != 0) return false;
  if (strcmp(op, "acquire_async") == 0)
    ALLOW(step, "acquire_async", "op", "expect", "repeat", "note", "lane", "as");
  else if (strcmp(op, "poll") == 0 || strcmp(op, "cancel") == 0)
    ALLOW(step, op, "op", "expect", "repeat", "note", "waiter");
  else
    return false;
  return true;
}

/* Whether a step's answer can depend on what earlier steps did to the primitive: every op's
 * but `validate`'s, which checks the config it is given and reads nothing else. */
static bool reads_state(const char *op) { return strcmp(op, "validate") != 0; }

/* What was skipped, per file and in all. A queue step is skipped alone; the first later step
 * that reads the state it changed ends the file's run: it and every step after it are skipped,
 * so that no skipped step can hide a mismatch in a step that depends on it. */
static struct {
  int queue, dependent;         /* this file's skipped steps of each kind */
  int first_queue, dependent_at; /* their first step */
  char dependent_op[64];
} skipped;
static long total_steps, total_queue_skipped, total_dependent_skipped;

enum verdict { PASS, PART, XFAIL, SKIP, FAIL };

static void print_skips(int steps_run, int steps) {
  printf("%d of %d steps run; skipped: %d queue step%s (acquire_async, poll, cancel: the C API has "
         "no queue; the first is step %d)",
         steps_run, steps, skipped.queue, skipped.queue == 1 ? "" : "s", skipped.first_queue);
  if (skipped.dependent)
    printf(", then the rest of the file, %d step%s from step %d (`%s`), which reads the bulkhead's "
           "state after a skipped step",
           skipped.dependent, skipped.dependent == 1 ? "" : "s", skipped.dependent_at,
           skipped.dependent_op);
  printf("\n");
}

static enum verdict run_file(const char *path, const char *folder, const char *name) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("FAIL   %s: cannot open\n", name);
    return FAIL;
  }
  static char text[1 << 20];
  size_t len = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[len] = '\0';
  cJSON *root = cJSON_Parse(text);
  if (!root) {
    printf("FAIL   %s: not JSON\n", name);
    return FAIL;
  }
  const char *deviation = NULL;
  static char deviation_text[1024];
  /* Read after a longjmp: volatile, so that their values then are the last ones stored. */
  volatile int step_index = -1, steps_run = 0, steps = 0;
  memset(&skipped, 0, sizeof skipped);
  observed_now = NULL;
  int kind = setjmp(on_failure);
  if (kind == 0) {
    portable_integers(root);
    ALLOW(root, "the file", "description", "covers", "primitive", "config", "steps",
          "known_deviation");
    const cJSON *dev = get(root, "known_deviation");
    if (dev) {
      if (!cJSON_IsString(dev) || !dev->valuestring[0])
        fail(FORMAT, "`known_deviation` must be a non-empty string");
      snprintf(deviation_text, sizeof deviation_text, "%s", dev->valuestring);
      deviation = deviation_text;
    }
    if (!req_string(root, "description")[0]) fail(FORMAT, "`description` is empty");
    const cJSON *covers = required(root, "covers");
    if (!cJSON_IsArray(covers) || !covers->child) fail(FORMAT, "`covers` must be a non-empty array");
    for (const cJSON *c = covers->child; c; c = c->next)
      if (!cJSON_IsString(c) || strncmp(c->valuestring, "\xc2\xa7", 2) != 0)
        fail(FORMAT, "`covers` entries must start with the section sign");
    const char *primitive = req_string(root, "primitive");
    if (strcmp(primitive, folder) != 0) fail(FORMAT, "primitive `%s` in folder `%s`", primitive, folder);
    const cJSON *all_steps = required(root, "steps");
    if (!cJSON_IsArray(all_steps) || !all_steps->child) fail(FORMAT, "`steps` must be a non-empty array");
    /* Every step's common fields first, those of steps that will be skipped included. */
    for (const cJSON *step = all_steps->child; step; step = step->next) {
      step_index = steps++;
      if (!cJSON_IsObject(step)) fail(FORMAT, "a step must be an object");
      req_string(step, "op");
      const cJSON *expect = get(step, "expect");
      if (expect && !cJSON_IsObject(expect)) fail(FORMAT, "`expect` must be an object");
      const cJSON *note = get(step, "note");
      if (note && !cJSON_IsString(note)) fail(FORMAT, "`note` must be a string");
      if (opt_int(step, "repeat", 1) == 0) fail(FORMAT, "`repeat` must be at least 1");
    }
    step_index = -1;
    const struct subject *subject = NULL;
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
      if (strcmp(subjects[i].primitive, primitive) == 0) subject = &subjects[i];
    if (!subject) fail(FORMAT, "unknown primitive `%s`", primitive);
    subject->make(required(root, "config"));
    step_index = 0;
    for (const cJSON *step = all_steps->child; step; step = step->next, step_index++) {
      const char *op = req_string(step, "op");
      if (is_queue_step(primitive, op, step)) {
        if (!skipped.queue++) skipped.first_queue = step_index;
        continue;
      }
      if (skipped.queue && reads_state(op)) {
        skipped.dependent = steps - step_index;
        skipped.dependent_at = step_index;
        snprintf(skipped.dependent_op, sizeof skipped.dependent_op, "%s", op);
        break;
      }
      const cJSON *expect = get(step, "expect");
      uint64_t repeat = opt_int(step, "repeat", 1);
      expect_c_field_name(primitive, step);
      for (uint64_t run = 0; run < repeat; run++) {
        observed_now = cJSON_CreateObject();
        subject->run(op, step, observed_now);
        check(expect, observed_now);
        cJSON_Delete(observed_now);
        observed_now = NULL;
      }
      steps_run++;
    }
  }
  cJSON_Delete(observed_now);
  observed_now = NULL;
  cJSON_Delete(root);
  char place[64] = "";
  if (step_index >= 0) snprintf(place, sizeof place, "step %d: ", step_index);
  if (kind == FORMAT) {
    printf("FAIL   %s: %sformat: %s\n", name, place, message);
    return FAIL;
  }
  if (kind == MISMATCH && deviation) {
    printf("xfail  %s: %s%s\n       known deviation: %s\n", name, place, message, deviation);
    return XFAIL;
  }
  if (kind == MISMATCH) {
    printf("FAIL   %s: %s%s\n", name, place, message);
    return FAIL;
  }
  total_steps += steps;
  total_queue_skipped += skipped.queue;
  total_dependent_skipped += skipped.dependent;
  bool some_skipped = skipped.queue > 0;
  if (deviation && !some_skipped) {
    printf("FAIL   %s: passes although it has a `known_deviation`: remove the field\n", name);
    return FAIL;
  }
  if (some_skipped) {
    printf("%s %s: ", steps_run ? "part  " : "skip  ", name);
    print_skips(steps_run, steps);
    if (deviation) printf("       known deviation, not reached in the steps run: %s\n", deviation);
    return steps_run ? PART : SKIP;
  }
  printf("ok     %s (%d steps)\n", name, steps_run);
  return PASS;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CONFORMANCE_DIR\n", argv[0]);
    return 2;
  }
  static char paths[512][520];
  char *sorted[512];
  int count = 0;
  DIR *top = opendir(argv[1]);
  if (!top) {
    fprintf(stderr, "conformance: cannot open %s\n", argv[1]);
    return 2;
  }
  for (struct dirent *d; (d = readdir(top));) {
    if (d->d_name[0] == '.') continue;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", argv[1], d->d_name);
    DIR *inner = opendir(sub);
    if (!inner) continue;
    for (struct dirent *e; (e = readdir(inner));) {
      size_t n = strlen(e->d_name);
      if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0 && count < 512) {
        snprintf(paths[count], sizeof paths[0], "%s/%s", d->d_name, e->d_name);
        sorted[count] = paths[count];
        count++;
      }
    }
    closedir(inner);
  }
  closedir(top);
  if (count == 0) {
    fprintf(stderr, "conformance: no scenario files under %s\n", argv[1]);
    return 1;
  }
  qsort(sorted, (size_t)count, sizeof sorted[0], compare_names);
  int tally[5] = {0};
  for (int i = 0; i < count; i++) {
    char folder[520], full[4700];
    snprintf(folder, sizeof folder, "%.*s", (int)(strchr(sorted[i], '/') - sorted[i]), sorted[i]);
    snprintf(full, sizeof full, "%s/%s", argv[1], sorted[i]);
    tally[run_file(full, folder, sorted[i])]++;
  }
  printf("conformance (C API): %d passed, %d passed in part, %d expected failures, %d skipped, "
         "%d failed, of %d files\n",
         tally[PASS], tally[PART], tally[XFAIL], tally[SKIP], tally[FAIL], count);
  printf("conformance (C API): %ld of %ld steps skipped: %ld queue steps, and %ld from the first "
         "step that reads a state a skipped one changed to the end of its file\n",
         total_queue_skipped + total_dependent_skipped, total_steps, total_queue_skipped,
         total_dependent_skipped);
  return tally[FAIL] ? 1 : 0;
}
