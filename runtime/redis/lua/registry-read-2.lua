-- Reads one version of a function; with no version given, the active one, read in the same step
-- as the active pointer so that a concurrent deploy or remove cannot split the two.
-- KEYS[1] head (hash)   KEYS[2] versions (hash)
-- ARGV[1] version, or '' for the active one
-- Returns { version, hash, code, source map, info JSON }, or nil when absent
local version = ARGV[1]
if version == '' then
  version = redis.call('HGET', KEYS[1], 'active')
  if not version then
    return false
  end
end
local v = redis.call('HMGET', KEYS[2], version .. ':hash', version .. ':code', version .. ':map', version .. ':info')
if not v[1] then
  return false
end
return { version, v[1], v[2], v[3], v[4] }
