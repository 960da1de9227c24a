-- Settles events of one function in one partition atomically: dead letters and emitted events are
-- appended, the function's failure records are cleared, and the entries are either acknowledged
-- for the consumer group ('ack') or marked done for this function ('mark', for groups of several
-- functions whose last member has not finished). A crash before this script leaves everything to
-- be redone; after it, nothing is redone: so emits are published exactly once per completion.
--
-- Fencing: with a token, the script first checks that the caller still holds the partition's
-- lease; a process that lost it (paused, partitioned) can neither ack nor dead-letter nor emit.
--
-- KEYS[1] partition stream          KEYS[2] attempts hash of the function
-- KEYS[3] done hash of the function KEYS[4] dead-letter stream of the function
-- KEYS[5] lease                     KEYS[6] active-versions hash   KEYS[7] takeovers stream of the function
-- KEYS[8 .. 7+nClear]  done hashes of the group's members, cleared on 'ack'
-- KEYS[...]            streams that emitted events go to (referenced by index)
-- ARGV: group, mode, token, function, version, nIds, ids..., nClear, nDead, (nFields, fields...)*,
--       nEmits, (keyIndex, nFields, fields...)*
local group, mode, token, fn, version = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if token ~= '' and redis.call('GET', KEYS[5]) ~= token then
  return redis.error_reply('FENCED this process no longer holds the partition lease')
end
local pos = 6
local nIds = tonumber(ARGV[pos]); pos = pos + 1
local idsFrom, idsTo = pos, pos + nIds - 1
pos = pos + nIds
local nClear = tonumber(ARGV[pos]); pos = pos + 1

-- The same commit twice (a client resends it after a reconnect that lost the reply, or a failover
-- replayed it): the first run acked or marked every id, so the first id tells. Nothing is written
-- again, so emits and dead letters are not duplicated.
if nIds > 0 then
  local first = ARGV[idsFrom]
  if mode == 'ack' then
    if #redis.call('XPENDING', KEYS[1], group, first, first, 1) == 0 then return 0 end
  elseif redis.call('HEXISTS', KEYS[3], first) == 1 then
    return 0
  end
end

local nDead = tonumber(ARGV[pos]); pos = pos + 1
for _ = 1, nDead do
  local n = tonumber(ARGV[pos]); pos = pos + 1
  redis.call('XADD', KEYS[4], '*', unpack(ARGV, pos, pos + n - 1))
  pos = pos + n
end

local nEmits = tonumber(ARGV[pos]); pos = pos + 1
for _ = 1, nEmits do
  local k, n = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1]); pos = pos + 2
  redis.call('XADD', KEYS[k], '*', unpack(ARGV, pos, pos + n - 1))
  pos = pos + n
end

-- "Which version handled event X": the takeover with the largest fromId <= X.
if nIds > 0 and redis.call('HGET', KEYS[6], fn) ~= version then
  redis.call('HSET', KEYS[6], fn, version)
  redis.call('XADD', KEYS[7], '*', 'version', version, 'fromId', ARGV[idsFrom])
end

-- Chunks keep unpack() far below Lua's C-stack limit whatever the batch size.
local CHUNK = 500
for from = idsFrom, idsTo, CHUNK do
  local to = math.min(from + CHUNK - 1, idsTo)
  redis.call('HDEL', KEYS[2], unpack(ARGV, from, to))
  if mode == 'ack' then
    redis.call('XACK', KEYS[1], group, unpack(ARGV, from, to))
    for c = 1, nClear do
      redis.call('HDEL', KEYS[7 + c], unpack(ARGV, from, to))
    end
  else
    for i = from, to do
      redis.call('HSET', KEYS[3], ARGV[i], '1')
    end
  end
end
return nIds
