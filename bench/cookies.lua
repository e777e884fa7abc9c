-- wrk script of the load benchmark (bench/load.sh): sends each request with the next cookie of
-- a pool read from the file given after `--`, one `name=value` per line, so concurrent
-- requests carry different sessions, as they would from different visitors; an empty path
-- sends no cookie (every request is a new visitor). Checks every answer against the second
-- argument, what the route must answer:
--
--   =TEXT   the body is exactly TEXT (`=ok`, `=1024`)
--   >=N     the body is a decimal number of at least N (`>=1` for a counter the pool's sessions
--           start at 1, which a request that lost its session would answer as 0)
--
-- and prints one machine-readable RESULT line at the end: `errors` counts wrk's socket errors
-- (connect, read, write, timeout) and every answer whose status is not 200, `bad_body` the 200
-- answers whose body is not what the route answers.

local cookies = {}
local next_cookie = 0
local exact, at_least
-- Read by done() through thread:get, so globals of each thread's Lua state.
bad_status = 0
bad_body = 0

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  local path, expect = args[1], args[2] or ""
  if path ~= nil and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then
        cookies[#cookies + 1] = line
      end
    end
    -- Each run (and each wrk thread) starts at a random place in the pool, so a pool larger
    -- than one run gets through is used all over, not only at its start.
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
    next_cookie = math.random(0, #cookies - 1)
  end
  if expect:sub(1, 1) == "=" then
    exact = expect:sub(2)
  elseif expect:sub(1, 2) == ">=" then
    at_least = tonumber(expect:sub(3))
  end
  if exact == nil and at_least == nil then
    io.stderr:write("cookies.lua: expected answer must be =TEXT or >=N, not '" .. expect .. "'\n")
    os.exit(2)
  end
end

function request()
  local headers = {}
  if #cookies > 0 then
    next_cookie = next_cookie % #cookies + 1
    headers["Cookie"] = cookies[next_cookie]
  end
  return wrk.format("GET", nil, headers, nil)
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif exact ~= nil then
    if body ~= exact then
      bad_body = bad_body + 1
    end
  elseif not body:match("^%d+$") or tonumber(body) < at_least then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local status, body = 0, 0
  for _, thread in ipairs(threads) do
    status = status + thread:get("bad_status")
    body = body + thread:get("bad_body")
  end
  -- wrk's own status count (>= 400) is left out: bad_status has every status but 200.
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d bad_body=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + status, body))
end
