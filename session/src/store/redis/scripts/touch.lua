-- Moves a live session's expiry and cookie state, if its stored owner is the expected one.
-- Answers 0 when the session is not there, 2 when it has another owner (nothing written), 1.
-- It ends with a read of the key: Redis tracks the keys a script reads for the connection
-- that ran it, so a cached store keeps being told of other clients' writes after its touch.
--
-- ARGV: expiry, cookie state, expected owner, `1` if one is expected (else `0`).
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then return 0 end
local expected = ARGV[4] == '1' and ARGV[3]
if redis.call('HGET', KEYS[1], 'o') ~= expected then return 2 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('EXISTS', KEYS[1])
return 1
