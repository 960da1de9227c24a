-- Releases a lease only if it is still held with this exact token (compare-and-delete).
-- KEYS[1] lease key   ARGV[1] token "<member>|<epoch>"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
