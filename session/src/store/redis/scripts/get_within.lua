-- A session's hash, unless it is more than ARGV[1] bytes: then only that size, so an oversized
-- session never leaves Redis. The size is `Record::encoded_size` (field names without their
-- `f:`, values, the owner) plus whatever else the hash holds, but for the format marker and a
-- cookie state of at most 1 KiB (a real one is a few dozen bytes).
local hash = redis.call('HGETALL', KEYS[1])
local size = 0
for i = 1, #hash, 2 do
  local name, value = hash[i], hash[i + 1]
  if string.sub(name, 1, 2) == 'f:' then
    size = size + #name - 2 + #value
  elseif name == 'o' then
    size = size + #value
  elseif name ~= 'v' and not (name == 'c' and #value <= 1024) then
    size = size + #name + #value
  end
end
if size > tonumber(ARGV[1]) then return size end
return hash
