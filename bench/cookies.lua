-- wrk script of the load benchmark (bench/load.sh): sends each request with the next cookie of
-- a pool read from the file given after `--`, one `name=value` per line, so concurrent
-- requests carry different sessions, as they would from different visitors. Prints one
-- machine-readable RESULT line at the end.

local cookies = {}
local next_cookie = 0

function init(args)
  local path = args[1]
  if path ~= nil and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then
        cookies[#cookies + 1] = line
      end
    end
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

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
