--[[
stanchion fleet rate limiter: one decision of a token bucket shared by many processes.

The token bucket of docs/semantics.md §3, computed as GCRA (the generic cell rate algorithm)
exactly as the core's `TokenBucket` computes it, kept in Redis (§9): the same configuration,
the same timeline, the same answers, to the nanosecond of the `now` it is given.

  KEYS[1]  the limiter key; callers build it as `prefix{name}:limiter`, so every key a call
           touches carries one hash tag and Redis Cluster never answers CROSSSLOT
  ARGV[1]  capacity: the burst, 1..4294967295
  ARGV[2]  refill amount: tokens per refill period, 1..4294967295
  ARGV[3]  refill period in nanoseconds, 1..2^52
  ARGV[4]  n: the tokens asked for, 0..4294967295
  ARGV[5]  '1' to peek (answer as for a request, take nothing), '0' to take
  ARGV[6]  tests only: `now` in nanoseconds (decimal, up to 2^64 - 1) instead of the server's
           `TIME`; conformance scenarios use it to replay a timeline

Reply: {allowed, remaining, retry_after, reset_after}
  allowed      1 or 0
  remaining    whole tokens in the bucket after the decision (never negative)
  retry_after  nanoseconds (a decimal string) after which the same request passes, or nil:
               when allowed, when n > capacity (it never can), or when that moment is past
               2^64 - 1 ns
  reset_after  nanoseconds (a decimal string) until the bucket is full again, 0 when full

Numbers are returned as strings because Lua numbers are doubles: a duration that counts from
an older `now` (see Time) may exceed 2^53, and a string carries it exactly.

Time. `now` is the server's `TIME` (microseconds), so clients' clocks never matter. The state
keeps `seen`, the newest time a grant was decided at, and follows the core's rule for an older
`now` (§1): it counts as no time passed (the request is decided at `seen`), while
`retry_after` and `reset_after` count from the `now` given.

Exactness. Lua numbers are doubles, exact for integers only below 2^53, and the core keeps its
theoretical arrival time (TAT) in units of 1/amount ns with the rate in lowest terms, so that
no emission interval is ever rounded. This script does the same, with two rules that keep
every number it computes an exact integer:
  - No absolute time is ever one number. An instant is a pair (seconds, nanoseconds), each
    exact; only differences of instants that are known to be small become single numbers.
  - The TAT is stored relative to `seen`: D = TAT - seen, in units of 1/amount ns. A grant
    leaves D at most one burst, capacity x every units, and the caller (and this script)
    refuse configurations where that exceeds 2^52. Every sum, difference and product below is
    then an integer of at most 2^53, and every division is checked and corrected by one step.
The state is the string "seen_seconds seen_nanoseconds D amount". The rate is reduced to
lowest terms here as well as by the caller, so every caller of a key reads D in the same
units. A changed configuration (a deploy) takes over the bucket's TAT: the moment it would be
full again carries over, read in whole nanoseconds, rounded up, when the amount (the units)
changed, and a debt beyond 2^52 units, more than a full burst, is cut to 2^52 units.

Accepted rates: capacity x every <= 2^52 (about 4.5 x 10^15), with `every` in lowest terms
(`every / gcd(amount, every)`), and at most one token per nanosecond (amount <= every).
In time, for whole nanoseconds per token: a burst that refills in at most 2^52 ns (52 days).

Expiry. A grant sets the key to expire (PXAT) at the millisecond, rounded up, at which the
bucket is full again, so idle keys leave nothing and an expiry never comes early. Refusals and
peeks write nothing. A key that expired is a full bucket with no `seen`: a clock that later
steps back past the last grant sees a full bucket there, where the core, which never forgets
`seen`, would decide at `seen`. With injected times the expiry is still absolute on the
server's clock, so tests place their timelines in the server's future.
]]

local NS = 1000000000
-- Every stored or computed quantity stays at or below 2^52, so a sum of two stays exact.
local LIMIT = 4503599627370496
-- The end of time, 2^64 - 1 ns, as seconds and nanoseconds, as in the core (`Nanos::MAX`).
local END_S, END_N = 18446744073, 709551615
-- Above this many seconds a difference of instants is known to exceed 2^52 ns.
local FAR_S = 4503600

local function fail(message)
  error(redis.error_reply('ERR stanchion gcra: ' .. message))
end

-- A decimal argument in [low, high]. Digits only: tonumber would also take ' 12', '0x1f'
-- and '1e3', and would round anything past 2^53.
local function integer(text, low, high, name)
  if type(text) ~= 'string' or #text > 16 or not string.match(text, '^%d+$') then
    fail(name .. ' must be a decimal integer')
  end
  local value = tonumber(text)
  if value < low or value > high then
    fail(name .. ' out of range')
  end
  return value
end

-- floor(x / y) and x mod y for integers 0 <= x, 0 < y, x + y <= 2^53: the double quotient
-- may round to the next integer, and one correction step puts it back.
local function divmod(x, y)
  local q = math.floor(x / y)
  local r = x - q * y
  if r < 0 then
    q, r = q - 1, r + y
  elseif r >= y then
    q, r = q + 1, r - y
  end
  return q, r
end

local function ceil_div(x, y)
  local q, r = divmod(x, y)
  if r > 0 then
    return q + 1
  end
  return q
end

local function later(s1, n1, s2, n2)
  return s1 > s2 or (s1 == s2 and n1 > n2)
end

-- An instant plus a duration of at most 2^52 ns.
local function add(s, n, d)
  local q, r = divmod(n + d, NS)
  return s + q, r
end

-- The difference of two instants, the first not earlier, as seconds and nanoseconds.
local function sub(s1, n1, s2, n2)
  local s, n = s1 - s2, n1 - n2
  if n < 0 then
    return s - 1, n + NS
  end
  return s, n
end

local function decimal(s, n)
  if s == 0 then
    return string.format('%.0f', n)
  end
  return string.format('%.0f%09.0f', s, n)
end

local capacity = integer(ARGV[1], 1, 4294967295, 'capacity')
local amount = integer(ARGV[2], 1, 4294967295, 'refill amount')
local every = integer(ARGV[3], 1, LIMIT, 'refill period')
local n = integer(ARGV[4], 0, 4294967295, 'n')
if ARGV[5] ~= '0' and ARGV[5] ~= '1' then
  fail('peek must be 0 or 1')
end
local peek = ARGV[5] == '1'

do
  local x, y = amount, every
  while y > 0 do
    local _, r = divmod(x, y)
    x, y = y, r
  end
  amount, every = amount / x, every / x
end
if amount > every then
  fail('refill amount must be at most the refill period in ns')
end
local tolerance = capacity * every
if tolerance > LIMIT then
  fail('capacity x refill period (in lowest terms) must be at most 2^52')
end

local now_s, now_n
if ARGV[6] then
  local text = ARGV[6]
  if #text > 20 or not string.match(text, '^%d+$')
      or (#text == 20 and text > '18446744073709551615') then
    fail('now must be a decimal integer below 2^64')
  end
  if #text > 9 then
    now_s, now_n = tonumber(string.sub(text, 1, -10)), tonumber(string.sub(text, -9))
  else
    now_s, now_n = 0, tonumber(text)
  end
else
  local time = redis.call('TIME')
  now_s, now_n = tonumber(time[1]), tonumber(time[2]) * 1000
end

-- The request is decided at `at`, the later of `now` and `seen`; `ahead` is TAT - at in
-- units of 1/amount ns, 0 when the bucket is full at `at`. It is at most one burst, or at
-- most 2^52 after a configuration with a larger burst, so `ahead + n x every` <= 2^53.
local at_s, at_n = now_s, now_n
local behind_s, behind_n = 0, 0
local ahead = 0
local stored = redis.call('GET', KEYS[1])
if stored then
  local ss, sn, d, a = string.match(stored, '^(%d+) (%d+) (%d+) (%d+)$')
  if not ss then
    fail('the key does not hold a limiter state')
  end
  ss, sn, d, a = tonumber(ss), tonumber(sn), tonumber(d), tonumber(a)
  if later(ss, sn, END_S, END_N) or sn >= NS or d > LIMIT or a < 1 or a > 4294967295 then
    fail('the key does not hold a limiter state')
  end
  if a ~= amount then
    -- Whole nanoseconds, rounded up, then the new units: later, never sooner.
    local whole = ceil_div(d, a)
    if whole > divmod(LIMIT, amount) then
      d = LIMIT
    else
      d = whole * amount
    end
  end
  if later(ss, sn, now_s, now_n) then
    at_s, at_n = ss, sn
    behind_s, behind_n = sub(ss, sn, now_s, now_n)
    ahead = d
  else
    local ds, dn = sub(now_s, now_n, ss, sn)
    if ds < FAR_S then
      -- Below 2^53, and the product below is taken only when it is less than d.
      local delta = ds * NS + dn
      if delta < ceil_div(d, amount) then
        ahead = d - delta * amount
      end
    end
  end
end

local allowed, retry_after = 1, false
local granted = false
if n > capacity then
  allowed = 0
elseif n > 0 then
  local raised = ahead + n * every
  if raised <= tolerance then
    if not peek then
      ahead, granted = raised, true
    end
  else
    allowed = 0
    local wait = ceil_div(raised - tolerance, amount)
    local ready_s, ready_n = add(at_s, at_n, wait)
    if not later(ready_s, ready_n, END_S, END_N) then
      retry_after = decimal(add(behind_s, behind_n, wait))
    end
  end
end

local remaining = 0
if ahead < tolerance then
  remaining = divmod(tolerance - ahead, every)
end
local reset_after = '0'
local full_s, full_n = at_s, at_n
if ahead > 0 then
  full_s, full_n = add(at_s, at_n, ceil_div(ahead, amount))
  if later(full_s, full_n, END_S, END_N) then
    full_s, full_n = END_S, END_N
  end
  reset_after = decimal(sub(full_s, full_n, now_s, now_n))
end

if granted then
  local expire_ms = full_s * 1000 + ceil_div(full_n, 1000000)
  redis.call('SET', KEYS[1],
    string.format('%.0f %.0f %.0f %.0f', at_s, at_n, ahead, amount),
    'PXAT', string.format('%.0f', expire_ms))
end

return {allowed, remaining, retry_after, reset_after}
