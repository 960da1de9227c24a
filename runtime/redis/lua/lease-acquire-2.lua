-- Acquires or renews a partition lease. The epoch is the fencing token's counter: it grows with
-- every new holder, so a holder that lost its lease can never write with a current token.
-- KEYS[1] lease key ("<member>|<epoch>", with a TTL)   KEYS[2] epoch counter
-- ARGV[1] member id   ARGV[2] ttl ms
-- Returns the epoch held by ARGV[1], or 0 when another member holds the lease.
local current = redis.call('GET', KEYS[1])
if not current then
  local epoch = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
  return epoch
end
local sep = string.find(current, '|', 1, true)
if sep and string.sub(current, 1, sep - 1) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(string.sub(current, sep + 1))
end
return 0
