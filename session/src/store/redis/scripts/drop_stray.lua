-- Deletes what a patch wrote into a session that had ended before it landed: a hash without
-- the format marker. A session written whole meanwhile has the marker and stays.
if redis.call('HEXISTS', KEYS[1], 'v') == 0 then redis.call('DEL', KEYS[1]) end
return 1
