-- Acquires or renews partition leases. The epoch is the fencing token's counter: it grows with
-- every new holder, so a holder that lost its lease can never write with a current token.
-- KEYS[2i-1] lease key of pair i ("<member>|<epoch>", with a TTL)   KEYS[2i] its epoch counter
-- ARGV[1] member id   ARGV[2] ttl ms   ARGV[2+i] '1' = a fresh acquisition of pair i, '0' = a renewal
-- Returns, per pair, the epoch held by ARGV[1], or 0 when another member holds that lease.
--
-- Several pairs per call: on one server a process renews every lease it holds in one round trip
-- (an idle process's cost to Redis is then per heartbeat, not per partition); on a Cluster each
-- partition is a slot of its own, so a call carries one pair.
--
-- A fresh acquisition always takes a new epoch, even when the lease is still this member's: the
-- process let the partition go (it could not renew in time, or a write was fenced) and its old
-- workers may still be finishing with the old token; a new worker with that same token could
-- re-read and commit the events they are about to commit, and both commits would apply.
local member, ttl = ARGV[1], ARGV[2]
local out = {}
for i = 1, #KEYS / 2 do
  local lease, counter, fresh = KEYS[2 * i - 1], KEYS[2 * i], ARGV[2 + i]
  local current = redis.call('GET', lease)
  local sep = current and string.find(current, '|', 1, true)
  local mine = sep and string.sub(current, 1, sep - 1) == member
  if not current or (mine and fresh == '1') then
    local epoch = redis.call('INCR', counter)
    redis.call('SET', lease, member .. '|' .. epoch, 'PX', ttl)
    out[i] = epoch
  elseif mine then
    redis.call('PEXPIRE', lease, ttl)
    out[i] = tonumber(string.sub(current, sep + 1))
  else
    out[i] = 0
  end
end
return out
