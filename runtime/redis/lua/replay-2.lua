-- Moves one dead letter back into its partition stream, addressed to its function only.
-- KEYS[1] dead-letter stream   KEYS[2] partition stream
-- ARGV[1] dead-letter entry id ARGV[2..] XADD field/value pairs of the replayed event
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return false
end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
