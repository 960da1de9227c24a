-- A non-blocking XREADGROUP, fenced when a token is given: only the lease holder may move entries
-- into the pending list, so a process that lost its lease cannot take entries the new owner would
-- then skip. (Lua cannot BLOCK; idle workers wait on the wake watcher's XREAD instead.) Workers use
-- it only for reads that find nothing and while their lease is in doubt: reads of new entries are
-- a plain XREADGROUP, for Lua's conversion of the reply costs Redis more than the read itself
-- (worker/redis-source.ts says how the holder finds what another reader took).
-- When a read of new entries ('>') finds none, it returns {'tip', <id of the stream's last entry>}
-- instead: everything up to there was delivered, so that is where to wait from (no XINFO needed).
-- Unfenced (ARGV[1] = ''), the script names the stream only: a key it does not touch, absent on a
-- Cluster node whose slot is migrating, would get TRYAGAIN until the move is over. Both in one
-- script, not XREADGROUP then XREVRANGE: an entry appended in between would be taken for the tip,
-- and the worker would wait past an entry nobody has read.
-- KEYS[1] partition stream   KEYS[2] lease (fenced only)
-- ARGV[1] token ('' = unfenced)   ARGV[2] group   ARGV[3] consumer   ARGV[4] count   ARGV[5] id ('>' or a pending id)
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('FENCED this process no longer holds the partition lease')
end
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4], 'STREAMS', KEYS[1], ARGV[5])
if ARGV[5] == '>' and (not reply or #reply == 0 or #reply[1][2] == 0) then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  return { 'tip', last[1] and last[1][1] or '0-0' }
end
return reply
