-- Gives the store-side turn back if ARGV[1] still holds it: the lease at KEYS[1].
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
