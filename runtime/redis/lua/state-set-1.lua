-- Sets one per-key state value from outside a handler (fnrun state set, the UI): checks the key's
-- limits against what is stored now and writes, in one step, so two operators cannot pass the
-- limits together. A commit of a handler's writes (commit.lua) may land just after and overwrite it.
-- KEYS[1] state hash
-- ARGV[1] name   ARGV[2] JSON value   ARGV[3] ttlMs (0 = leave the hash's TTL as it is)
-- ARGV[4] max names per key   ARGV[5] max bytes per key (names and values)
-- Returns {written (1|0), names, bytes}: the totals after the write, or those it would have had.
local name, json = ARGV[1], ARGV[2]
local ttl, maxNames, maxBytes = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local names, bytes = 1, #name + #json
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= name then
    names = names + 1
    bytes = bytes + #all[i] + #all[i + 1]
  end
end
if names > maxNames or bytes > maxBytes then return {0, names, bytes} end
redis.call('HSET', KEYS[1], name, json)
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return {1, names, bytes}
