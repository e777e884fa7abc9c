-- Deletes a session if it belongs to the owner ARGV[1]: answers 1 if it did, 0 if the session
-- has another owner or none, -1 if it is not there. Sent with `EVAL`, so it can be pipelined.
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then
  redis.call('DEL', KEYS[1])
  return -1
end
if redis.call('HGET', KEYS[1], 'o') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return -1
