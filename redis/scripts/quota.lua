--[[
stanchion fleet quota: one bucket of a stock of units (items, seats, credits) shared by many
processes, taken from without ever going below zero (docs/semantics.md §9).

A quota is K buckets (K = 1 unless it is bucketed), each its own key on its own cluster hash
tag, so a hot quota spreads over a cluster's slots. One call of this script reads and writes
one bucket only; callers sweep the buckets, one call each, to find one that can serve a take.

  KEYS[1]  the bucket's count: `prefix{name:i}:quota` for bucket i in 0..K-1. A decimal
           string; a missing key holds 0.
  KEYS[2]  only for a take with a request id: `prefix{name:i}:quota:id:<request id>`, with
           the same hash tag as KEYS[1], where this bucket remembers the id's outcome
  ARGV[1]  the operation: 'take', 'restock' or 'remaining'

take: takes units if this bucket holds enough, never leaving it below zero.
  ARGV[2]  least: the fewest units that will do, 1..2^53-1
  ARGV[3]  most: the most units to take, least..2^53-1 (equal to least for an exact take;
           larger to fill a local batch with what the bucket has)
  ARGV[4]  how long the bucket remembers a request id, in milliseconds, 1..2^40 (read only
           with KEYS[2], but always given)
  ARGV[5]  tests only: `now` in nanoseconds (decimal, up to 2^64 - 1) instead of the
           server's `TIME`; conformance scenarios use it to replay a timeline
  Reply {taken, remaining, replayed}
    taken      the units taken: min(count, most) when the bucket holds at least `least`,
               else 0 (nothing taken: this bucket cannot serve the take); -1 when KEYS[2]
               remembers this id for a take with another `least` or `most` (nothing taken)
    remaining  the bucket's count after the call
    replayed   1 when KEYS[2] remembered the id: `taken` is the first call's outcome here
               and nothing was taken now; 0 otherwise

restock: adds units to this bucket.
  ARGV[2]  n: the units to add, 1..2^53-1
  Reply {remaining}: the count after; it saturates at 2^53 - 1 (units beyond are not kept)

remaining: reads the count.
  Reply {remaining}

Request ids. The first take with an id at a bucket records its outcome there, granted or not,
as "taken least most expires_ms" under KEYS[2], set to expire (PXAT) at `now` + the memory.
Until then a take with the same id at this bucket replays that outcome and takes nothing, so
a take retried after a timeout (outcome unknown) is charged once. A record whose expiry has
passed by the `now` of the call is forgotten, even before Redis removes it. Callers sweep the
buckets of a take with an id in an order fixed by the id, so a retry visits the buckets the
first attempt visited, in the same order, and every bucket answers as it did the first time.
With an injected `now` the expiry is still absolute on the server's clock, so tests place
their timelines in the server's future.

Counts stay at most 2^53 - 1, the largest integer Lua's doubles (and every JSON reader) hold
exactly; every argument is checked (digits only, in range), so another binding's mistake is
an error, never a wrong count.
]]

local MAX = 9007199254740991
local MAX_MEMORY = 1099511627776

local function fail(message)
  error(redis.error_reply('ERR stanchion quota: ' .. message))
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

-- The bucket's count; a missing key is an empty bucket.
local function count()
  local stored = redis.call('GET', KEYS[1])
  if not stored then
    return 0
  end
  if #stored > 16 or not string.match(stored, '^%d+$') or tonumber(stored) > MAX then
    fail('the key does not hold a quota count')
  end
  return tonumber(stored)
end

local function store(value)
  redis.call('SET', KEYS[1], string.format('%.0f', value))
end

-- Now in whole milliseconds: the injected nanoseconds, or the server's `TIME`.
local function now_ms(text)
  if text then
    if #text > 20 or not string.match(text, '^%d+$')
        or (#text == 20 and text > '18446744073709551615') then
      fail('now must be a decimal integer below 2^64')
    end
    if #text <= 6 then
      return 0
    end
    return tonumber(string.sub(text, 1, -7))
  end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local op = ARGV[1]

if op == 'remaining' then
  return {count()}
end

if op == 'restock' then
  local n = integer(ARGV[2], 1, MAX, 'n')
  local stock = count()
  if stock > MAX - n then
    stock = MAX
  else
    stock = stock + n
  end
  store(stock)
  return {stock}
end

if op ~= 'take' then
  fail("the operation must be 'take', 'restock' or 'remaining'")
end

local least = integer(ARGV[2], 1, MAX, 'least')
local most = integer(ARGV[3], least, MAX, 'most')
local memory = integer(ARGV[4], 1, MAX_MEMORY, 'id memory')
local stock = count()

local now
if KEYS[2] then
  now = now_ms(ARGV[5])
  local record = redis.call('GET', KEYS[2])
  if record then
    local taken, was_least, was_most, expires =
      string.match(record, '^(%d+) (%d+) (%d+) (%d+)$')
    if not taken then
      fail('the key does not hold a request id record')
    end
    if tonumber(expires) > now then
      if tonumber(was_least) ~= least or tonumber(was_most) ~= most then
        return {-1, stock, 1}
      end
      return {tonumber(taken), stock, 1}
    end
  end
elseif ARGV[5] then
  now_ms(ARGV[5])
end

local taken = 0
if stock >= least then
  taken = math.min(stock, most)
  stock = stock - taken
  store(stock)
end

if KEYS[2] then
  local expires = now + memory
  redis.call('SET', KEYS[2],
    string.format('%.0f %.0f %.0f %.0f', taken, least, most, expires),
    'PXAT', string.format('%.0f', expires))
end

return {taken, stock, 0}
