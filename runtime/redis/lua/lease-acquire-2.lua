-- Acquires or renews a partition lease. The epoch is the fencing token's counter: it grows with
-- every new holder, so a holder that lost its lease can never write with a current token.
-- KEYS[1] lease key ("<member>|<epoch>", with a TTL)   KEYS[2] epoch counter
-- ARGV[1] member id   ARGV[2] ttl ms   ARGV[3] '1' = a fresh acquisition, '0' = a renewal
-- Returns the epoch held by ARGV[1], or 0 when another member holds the lease.
--
-- A fresh acquisition always takes a new epoch, even when the lease is still this member's: the
-- process let the partition go (it could not renew in time, or a write was fenced) and its old
-- workers may still be finishing with the old token; a new worker with that same token could
-- re-read and commit the events they are about to commit, and both commits would apply.
local current = redis.call('GET', KEYS[1])
local sep = current and string.find(current, '|', 1, true)
local mine = sep and string.sub(current, 1, sep - 1) == ARGV[1]
if not current or (mine and ARGV[3] == '1') then
  local epoch = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
  return epoch
end
if mine then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(string.sub(current, sep + 1))
end
return 0
