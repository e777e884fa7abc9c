-- On an owner's set: raises a session's score to its expiry, drops members whose score has
-- passed, and keeps the set until its highest score.
--
-- ARGV: session id, its expiry, now (all in ms).
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1
