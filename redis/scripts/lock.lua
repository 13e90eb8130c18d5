--[[
stanchion fleet lock: a lease on a name, with a fencing token (docs/semantics.md §9).

One script, three operations on one lock, each a single atomic step:

  KEYS[1]  the lock key, `prefix{name}:lock`: holds the holder's token while the lease lasts
  KEYS[2]  the fence key, `prefix{name}:fence`: the newest fencing token handed out; the same
           hash tag as KEYS[1], so both live in one cluster slot
  ARGV[1]  the operation: 'acquire', 'release' or 'extend'
  ARGV[2]  the holder's token: 32 hexadecimal digits (128 random bits)
  ARGV[3]  acquire and extend: the lease time in milliseconds, 1..2^40
  ARGV[4]  acquire, tests only: `now` in microseconds instead of the server's `TIME`

acquire  SET KEYS[1] token NX PX ttl. Reply {1, fence, ttl} when the lease is taken, or
         {0, pttl} when another holder has it, `pttl` its remaining milliseconds (the time
         after which trying again may succeed). Holding the lock already with this token is
         "held by another": a lease is not re-entrant.
release  Deletes KEYS[1] only if it holds the token. Reply 1 if it did, 0 if the lease had
         already gone (expired, or taken over by another holder).
extend   Sets the lease's remaining time to ttl (it sets, never adds) only if KEYS[1] holds
         the token. Reply 1 if it did, 0 if the lease had gone.

Fencing. Each acquisition's fence is max(previous fence + 1, now in microseconds), stored in
KEYS[2], which never expires. It grows with every acquisition of the name, so a resource
that remembers the largest fence it has seen can refuse a writer holding an older one. The
key is kept forever because a counter that restarted would hand out fences already used; the
time floor keeps fences growing even so, if the key is lost anyway (evicted, or a failover to
a replica that had not received the last increment), as long as the server clocks move
forward. Fences stay below 2^53 (exact in every client's numbers) until the year 2255.
]]

local op = ARGV[1]
local token = ARGV[2]

if op == 'release' then
  if redis.call('GET', KEYS[1]) == token then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end

local ttl = tonumber(ARGV[3])
if ttl == nil or ttl < 1 or ttl > 1099511627776 or ttl ~= math.floor(ttl) then
  return redis.error_reply('ERR stanchion lock: ttl must be an integer of 1..2^40 ms')
end

if op == 'extend' then
  if redis.call('GET', KEYS[1]) == token then
    redis.call('PEXPIRE', KEYS[1], ttl)
    return 1
  end
  return 0
end

if op ~= 'acquire' then
  return redis.error_reply('ERR stanchion lock: unknown operation ' .. tostring(op))
end

if not redis.call('SET', KEYS[1], token, 'NX', 'PX', ttl) then
  return {0, redis.call('PTTL', KEYS[1])}
end

local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local fence = math.max((tonumber(redis.call('GET', KEYS[2])) or 0) + 1, now)
redis.call('SET', KEYS[2], string.format('%.0f', fence))
return {1, fence, ttl}
