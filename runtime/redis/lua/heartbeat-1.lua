-- Records a member's heartbeat with Redis' clock (no skew between machines), drops members silent
-- for longer than the member TTL, and returns the live members.
-- KEYS[1] members sorted set   ARGV[1] member id   ARGV[2] member ttl ms   ARGV[3] 1 to leave instead
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now, ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
