--[[
stanchion fleet bulkhead: a semaphore of at most `limit` leases shared by many processes
(docs/semantics.md §9).

Each holder holds a lease: a random 128-bit token, chosen by the caller, with an expiry on the
server's clock. A lease that expires is reclaimed by the next call, so a holder that crashes
or stops renewing frees its slot after its TTL at the latest. Releasing and renewing check the
token first; a renewal sets the expiry to `now + ttl` (it never adds to what is left).

  KEYS[1]  the semaphore: `prefix{name}:semaphore`, a sorted set whose members are the tokens
           of the leases held and whose scores are their expiries, in milliseconds on the
           server's Unix clock. The key expires (PEXPIREAT) with its last lease.
  ARGV[1]  the operation: 'acquire', 'renew', 'release' or 'holders'
  ARGV[2]  the lease's token: 32 lowercase hexadecimal digits (read by acquire, renew and
           release; pass '' for holders)
  ARGV[3]  limit: the most leases held at once, 1..4294967295 (read by acquire; pass '0'
           otherwise)
  ARGV[4]  ttl: the lease time in milliseconds, 1..2^40 (read by acquire and renew; pass '0'
           otherwise)
  ARGV[5]  tests only: `now` in nanoseconds (decimal, up to 2^64 - 1) instead of the
           server's `TIME`, taken in whole milliseconds (rounded down); conformance
           scenarios use it to replay a timeline

Every operation first removes the leases whose expiry is at or before `now`. Then:
  acquire  if the token holds a lease, sets its expiry to now + ttl (a retried acquire is
           charged once); otherwise adds the lease if fewer than `limit` are held
  renew    if the token holds a lease, sets its expiry to now + ttl
  release  removes the token's lease, if it holds one
  holders  changes nothing

Reply {ok, holders, next_expiry}
  ok           1 when the lease was acquired, renewed or released (for holders, always 1);
               0 when acquire found `limit` leases held, or renew or release found no lease
               for the token (it expired or was released)
  holders      the leases held after the call
  next_expiry  milliseconds from `now` until the earliest held lease expires (unless renewed
               or released first), or nil when none is held

With an injected `now` the key's expiry is still absolute on the server's clock, so tests
place their timelines in the server's future.
]]

local MAX_LIMIT = 4294967295
local MAX_TTL = 1099511627776

local function fail(message)
  error(redis.error_reply('ERR stanchion semaphore: ' .. message))
end

-- A decimal argument in [low, high]. Digits only: tonumber would also take ' 12', '0x1f'
-- and '1e3'.
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

local function token(text)
  if type(text) ~= 'string' or #text ~= 32 or not string.match(text, '^[0-9a-f]+$') then
    fail('token must be 32 lowercase hexadecimal digits')
  end
  return text
end

local now
if ARGV[5] then
  local text = ARGV[5]
  if #text > 20 or not string.match(text, '^%d+$')
      or (#text == 20 and text > '18446744073709551615') then
    fail('now must be a decimal integer below 2^64')
  end
  if #text <= 6 then
    now = 0
  else
    now = tonumber(string.sub(text, 1, -7))
  end
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local op = ARGV[1]
local member, limit, ttl
if op == 'acquire' then
  member = token(ARGV[2])
  limit = integer(ARGV[3], 1, MAX_LIMIT, 'limit')
  ttl = integer(ARGV[4], 1, MAX_TTL, 'ttl')
elseif op == 'renew' then
  member = token(ARGV[2])
  ttl = integer(ARGV[4], 1, MAX_TTL, 'ttl')
elseif op == 'release' then
  member = token(ARGV[2])
elseif op ~= 'holders' then
  fail("the operation must be 'acquire', 'renew', 'release' or 'holders'")
end

-- Every argument is checked before the first write: a script that fails part way keeps
-- what it wrote.
local key = KEYS[1]
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now))

-- Sets a held lease's expiry, then the key's to its last lease's.
local function hold()
  redis.call('ZADD', key, string.format('%.0f', now + ttl), member)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', key, string.format('%.0f', tonumber(last[2])))
end

local ok = 1
if op == 'acquire' then
  if redis.call('ZSCORE', key, member) or redis.call('ZCARD', key) < limit then
    hold()
  else
    ok = 0
  end
elseif op == 'renew' then
  if redis.call('ZSCORE', key, member) then
    hold()
  else
    ok = 0
  end
elseif op == 'release' then
  ok = redis.call('ZREM', key, member)
end

local holders = redis.call('ZCARD', key)
local next_expiry = false
if holders > 0 then
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  next_expiry = tonumber(first[2]) - now
end

return {ok, holders, next_expiry}
