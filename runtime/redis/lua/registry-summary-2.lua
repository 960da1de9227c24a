-- A function's active version and its kept versions, read in one step.
-- KEYS[1] head (hash)   KEYS[2] history (zset)
-- Returns { active, hash, info JSON, joined ('' when a deploy of an older fnrun left none), kept
-- versions newest first … }, or nil when not deployed
local head = redis.call('HMGET', KEYS[1], 'active', 'hash', 'info', 'joined')
if not head[1] then
  return false
end
local out = { head[1], head[2], head[3], head[4] or '' }
for _, v in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, -1)) do
  out[#out + 1] = v
end
return out
