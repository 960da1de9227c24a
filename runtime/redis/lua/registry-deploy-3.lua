-- Stores a new version of a function and makes it active, unless its content hash is the active
-- one's. Versions are numbered 1, 2, 3 … per function; beyond ARGV[5] kept versions the oldest
-- are deleted, never the active one.
-- The head's `group` and `joined` say since when the function is in the group its active version
-- names: `joined` (a registry-order number) changes only when the group does, so a shared group's
-- owner is the member with the lowest `joined` (runtime/policy/group-owners.ts).
-- KEYS[1] head (hash)   KEYS[2] history (zset)   KEYS[3] versions (hash)
-- ARGV[1] content hash  ARGV[2] info JSON  ARGV[3] code  ARGV[4] source map  ARGV[5] versions kept
-- ARGV[6] the group the version names ('' for none)  ARGV[7] this deploy's registry-order number
-- Returns { changed (1) or unchanged (0), previous active (0: none), active }
local head = redis.call('HMGET', KEYS[1], 'active', 'hash')
local previous = tonumber(head[1]) or 0
if previous > 0 and head[2] == ARGV[1] then
  return { 0, previous, previous }
end
local version = redis.call('HINCRBY', KEYS[1], 'last', 1)
redis.call('HSET', KEYS[3], version .. ':hash', ARGV[1], version .. ':code', ARGV[3], version .. ':map', ARGV[4], version .. ':info', ARGV[2])
redis.call('ZADD', KEYS[2], version, version)
redis.call('HSET', KEYS[1], 'active', version, 'hash', ARGV[1], 'info', ARGV[2])
if redis.call('HGET', KEYS[1], 'group') ~= ARGV[6] or not redis.call('HGET', KEYS[1], 'joined') then
  redis.call('HSET', KEYS[1], 'group', ARGV[6], 'joined', ARGV[7])
end
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if excess > 0 then
  -- One candidate more than needed, in case the active version is among the oldest.
  for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess)) do
    if excess == 0 then break end
    if tonumber(old) ~= version then
      redis.call('ZREM', KEYS[2], old)
      redis.call('HDEL', KEYS[3], old .. ':hash', old .. ':code', old .. ':map', old .. ':info')
      excess = excess - 1
    end
  end
end
return { 1, previous, version }
