-- Settles, atomically, what one consumer group did on one partition since its previous commit:
-- for each function, its dead letters and emitted events are appended, its state writes applied,
-- its failure records written, the events it completed while other members still have them marked
-- done; then the events every member settled are acknowledged, and their marks and failure records
-- cleared. A crash before this script leaves everything to be redone; after it, nothing is redone:
-- so emits and state writes apply exactly once per completion.
--
-- Fencing: with a token, the caller must still hold the partition's lease; a process that lost it
-- (paused, partitioned) can neither ack nor dead-letter nor emit nor write state.
-- Idempotence: the same commit sent twice (a client resends it after a reconnect that lost the
-- reply, or a failover replayed it) writes nothing the second time: each commit has an id, and the
-- last one applied is kept per group (commits of one group on one partition are sequential).
-- Lost commits: each commit names the one its worker made before it (none for a worker's first),
-- and is refused with FENCED unless that one is the last applied. A failover or a restart without
-- fsync can drop a commit Redis had acknowledged; the next one must not land on top of the hole,
-- or a key's later events would be completed before its earlier ones, which the pending list now
-- holds again. The worker stops, and the partition is taken up again from its pending entries.
-- Failover: an ack that finds its event not pending means the read that delivered it was lost
-- (asynchronous replication) while its completion, committed now, was not: the new primary will
-- deliver the event again. The ids go to the group's settled hash, and the worker that reads it
-- again acks it instead of running it (partition-worker.ts). A chunk's ids all go there, pending
-- or not (XACK counts, it does not say which): every id a commit acks was completed, so each
-- record is true.
-- Returns how many ids it recorded so (0 but after a failover).
--
-- KEYS[1] partition stream   KEYS[2] lease   KEYS[3] active-versions hash   KEYS[4] commit-ids hash
-- KEYS[5] the group's settled hash
-- KEYS[6..] referenced by index from ARGV: per-function hashes and streams, emit targets, state hashes.
-- ARGV: group, token, commitId, previous commitId ('' = the worker's first),
--   nAcks, ids..., nClear, keyIndex...,
--   nParts, per part: name, version, firstId ('' = none), takeoversIdx, attemptsIdx, doneIdx (0 = none),
--     dlqIdx, nMarks, ids..., nFailures, (id, json)..., nDead, (n, fields...)...,
--     nEmits, (keyIdx, n, fields...)..., nState, (keyIdx, ttlMs (0 = none), nSet, (name, json)..., nDel, names...)...,
--     nReleased, ids...
local group, token, commitId, previous = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if token ~= '' and redis.call('GET', KEYS[2]) ~= token then
  return redis.error_reply('FENCED this process no longer holds the partition lease')
end
local applied = redis.call('HGET', KEYS[4], group)
if applied == commitId then return 0 end
if previous ~= '' and applied ~= previous then
  return redis.error_reply('FENCED LOSTCOMMIT an earlier commit of this worker is missing (lost in a failover or a restart): the partition is read again from its pending entries')
end

local pos = 5
local function num() local v = tonumber(ARGV[pos]); pos = pos + 1; return v end
local function str() local v = ARGV[pos]; pos = pos + 1; return v end

local nAcks = num()
local acksFrom = pos
pos = pos + nAcks
local nClear = num()
local clear = {}
for c = 1, nClear do clear[c] = num() end

-- Chunks keep unpack() far below Lua's C-stack limit whatever the count.
local CHUNK = 500
local function chunked(from, count, fn)
  local last = from + count - 1
  for s = from, last, CHUNK do fn(s, math.min(s + CHUNK - 1, last)) end
end

local nParts = num()
for _ = 1, nParts do
  local name, version, firstId = str(), str(), str()
  local takeovers, attempts, done, dlq = num(), num(), num(), num()
  local nMarks = num()
  if nMarks > 0 then
    for i = pos, pos + nMarks - 1 do redis.call('HSET', KEYS[done], ARGV[i], '1') end
    chunked(pos, nMarks, function(a, b) redis.call('HDEL', KEYS[attempts], unpack(ARGV, a, b)) end)
  end
  pos = pos + nMarks
  local nFailures = num()
  for _ = 1, nFailures do
    redis.call('HSET', KEYS[attempts], ARGV[pos], ARGV[pos + 1])
    pos = pos + 2
  end
  local nDead = num()
  for _ = 1, nDead do
    local n = num()
    redis.call('XADD', KEYS[dlq], '*', unpack(ARGV, pos, pos + n - 1))
    pos = pos + n
  end
  local nEmits = num()
  for _ = 1, nEmits do
    local k, n = num(), num()
    redis.call('XADD', KEYS[k], '*', unpack(ARGV, pos, pos + n - 1))
    pos = pos + n
  end
  local nState = num()
  for _ = 1, nState do
    local k, ttl, nSet = num(), num(), num()
    for _ = 1, nSet do
      redis.call('HSET', KEYS[k], ARGV[pos], ARGV[pos + 1])
      pos = pos + 2
    end
    local nDel = num()
    if nDel > 0 then chunked(pos, nDel, function(a, b) redis.call('HDEL', KEYS[k], unpack(ARGV, a, b)) end) end
    pos = pos + nDel
    if ttl > 0 and redis.call('EXISTS', KEYS[k]) == 1 then redis.call('PEXPIRE', KEYS[k], ttl) end
  end
  local nReleased = num()
  for i = pos, pos + nReleased - 1 do
    -- Read but never started (a graceful stop): the redelivery that follows is not an attempt.
    local raw = redis.call('HGET', KEYS[attempts], ARGV[i])
    local rec = raw and cjson.decode(raw) or { attempts = 0, firstFailureAt = 0, lastFailureAt = 0 }
    rec.free = (rec.free or 0) + 1
    redis.call('HSET', KEYS[attempts], ARGV[i], cjson.encode(rec))
  end
  pos = pos + nReleased
  -- "Which version handled event X": the takeover with the largest fromId <= X.
  if firstId ~= '' and redis.call('HGET', KEYS[3], name) ~= version then
    redis.call('HSET', KEYS[3], name, version)
    redis.call('XADD', KEYS[takeovers], '*', 'version', version, 'fromId', firstId)
  end
end

local recorded = 0
if nAcks > 0 then
  chunked(acksFrom, nAcks, function(a, b)
    if redis.call('XACK', KEYS[1], group, unpack(ARGV, a, b)) < b - a + 1 then
      for i = a, b do redis.call('HSET', KEYS[5], ARGV[i], '1') end
      recorded = recorded + b - a + 1
    end
    for c = 1, nClear do redis.call('HDEL', KEYS[clear[c]], unpack(ARGV, a, b)) end
  end)
end
if recorded > 0 then redis.call('PEXPIRE', KEYS[5], 86400000) end
redis.call('HSET', KEYS[4], group, commitId)
return recorded
