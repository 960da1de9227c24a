-- Makes a kept version of a function active again (the versions themselves never change).
-- A version naming another group than the active one's joins that group now (see registry-deploy-3.lua).
-- KEYS[1] head (hash)   KEYS[2] history (zset)   KEYS[3] versions (hash)
-- ARGV[1] version, or '' for the newest kept version older than the active one
-- ARGV[2] this rollback's registry-order number
-- Returns { status, previous active (0: none), active }; status is 'ok', 'no-function',
-- 'no-previous' (no older version is kept) or 'no-version' (that version is not kept)
local active = redis.call('HGET', KEYS[1], 'active')
if not active then
  return { 'no-function', 0, 0 }
end
local target = ARGV[1]
if target == '' then
  target = redis.call('ZREVRANGEBYSCORE', KEYS[2], '(' .. active, '-inf', 'LIMIT', 0, 1)[1]
  if not target then
    return { 'no-previous', tonumber(active), 0 }
  end
end
local data = redis.call('HMGET', KEYS[3], target .. ':hash', target .. ':info')
if not data[1] then
  return { 'no-version', tonumber(active), 0 }
end
redis.call('HSET', KEYS[1], 'active', target, 'hash', data[1], 'info', data[2])
local manifest = cjson.decode(data[2]).manifest
local group = ''
if type(manifest) == 'table' and type(manifest.group) == 'table' and type(manifest.group.name) == 'string' then
  group = manifest.group.name
end
if redis.call('HGET', KEYS[1], 'group') ~= group or not redis.call('HGET', KEYS[1], 'joined') then
  redis.call('HSET', KEYS[1], 'group', group, 'joined', ARGV[2])
end
return { 'ok', tonumber(active), tonumber(target) }
