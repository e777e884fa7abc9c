-- A write under the store-side turn (fenced): only while the lease at KEYS[2] still holds the
-- token ARGV[1], and giving it back if ARGV[2] is `1`. KEYS[1] is the session.
--
-- ARGV: token, release, whole (`1`: replace the hash; else a patch of a live session), expiry,
-- owner (`k` keep, `s` set to ARGV[6], `d` delete), owner, the number n of fields to set, then
-- n name/value pairs (the cookie state's `c` among them), then the names to delete. Answers
-- {status, previous owner}: status 1 written, 0 the session is gone (a patch writes nothing),
-- -1 the turn is no longer this token's (nothing written).
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {-1, false} end
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
local whole = ARGV[3] == '1'
if not whole and redis.call('HEXISTS', KEYS[1], 'v') == 0 then return {0, false} end
local previous = redis.call('HGET', KEYS[1], 'o')
if whole then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'v', '1')
end
if ARGV[5] == 's' then redis.call('HSET', KEYS[1], 'o', ARGV[6])
elseif ARGV[5] == 'd' then redis.call('HDEL', KEYS[1], 'o') end
local n = tonumber(ARGV[7])
for i = 8, 7 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 8 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return {1, previous}
