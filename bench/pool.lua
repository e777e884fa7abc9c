-- wrk script that makes the load benchmark's pool of sessions (bench/load.sh) over HTTP:
--
--   wrk -t1 -c4 -d600s -s bench/pool.lua http://127.0.0.1:PORT/init -- POOL_FILE N
--
-- Requests carry no cookie, so each one is a new visitor and the route (`/init`,
-- `/init-large`) creates a session. The `name=value` part of every Set-Cookie answered is
-- appended to POOL_FILE, one a line, the format bench/cookies.lua reads; after N cookies the
-- file is closed and wrk ends at once (answers still in flight leave a few sessions nobody
-- uses). An answer that is not 200 or sets no cookie stops it with exit status 1.
--
-- Needs one wrk thread (-t1): each thread has its own Lua state and would write its own
-- cookies over the others'.

local file
local wanted
local written = 0

function init(args)
  file = assert(io.open(args[1], "w"))
  wanted = assert(tonumber(args[2]), "pool.lua: the number of sessions to create is missing")
end

-- wrk keeps the header names as the server sent them (`set-cookie` from hyper,
-- `Set-Cookie` from Node).
local function set_cookie(headers)
  for name, value in pairs(headers) do
    if name:lower() == "set-cookie" then
      return value
    end
  end
end

function response(status, headers, body)
  local cookie = set_cookie(headers)
  if status ~= 200 or cookie == nil then
    file:close()
    io.stderr:write(string.format("pool.lua: answer %d without a session cookie\n", status))
    os.exit(1)
  end
  file:write(cookie:match("^[^;]*"), "\n")
  written = written + 1
  if written == wanted then
    file:close()
    os.exit(0)
  end
end
