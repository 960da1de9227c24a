-- A fenced, non-blocking XREADGROUP: only the lease holder may move entries into the pending list,
-- so a process that lost its lease cannot take entries the new owner would then never see.
-- (Lua cannot BLOCK; idle workers wait on the wake watcher's XREAD instead.)
-- KEYS[1] partition stream   KEYS[2] lease
-- ARGV[1] token   ARGV[2] group   ARGV[3] consumer   ARGV[4] count   ARGV[5] id ('>' or '0')
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('FENCED this process no longer holds the partition lease')
end
return redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4], 'STREAMS', KEYS[1], ARGV[5])
