-- Deletes a session and answers the owner it had (nil if none).
local owner = redis.call('HGET', KEYS[1], 'o')
redis.call('DEL', KEYS[1])
return owner
