-- Idempotent publish: the first publish of a dedupe id appends the event; a repeat within the
-- window returns the id of the first and appends nothing.
-- KEYS[1] partition stream   KEYS[2] dedupe key (same partition, same slot)
-- ARGV[1] window in ms       ARGV[2..] XADD field/value pairs
local existing = redis.call('GET', KEYS[2])
if existing then
  return { existing, 1 }
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return { id, 0 }
