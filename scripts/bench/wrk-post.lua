-- wrk script for scenario 1: POST a JSON body with extra headers, print one JSON line at the end.
--   wrk -s wrk-post.lua URL -- BODY_FILE ["Header: value"]...
-- The result line starts with "WRK_JSON " (latencies in microseconds).

local body = ""
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   local path = args[1]
   if path ~= nil and path ~= "" then
      local f = assert(io.open(path, "rb"))
      body = f:read("*a")
      f:close()
   end
   for i = 2, #args do
      local name, value = string.match(args[i], "^%s*([^:]+):%s*(.*)$")
      if name ~= nil then headers[name] = value end
   end
   req = wrk.format("POST", nil, headers, body)
end

function request()
   return req
end

function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes":%d,' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f,"stdev":%.1f},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      summary.requests, seconds, summary.requests / seconds, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      latency.max, latency.mean, latency.stdev,
      e.connect, e.read, e.write, e.status, e.timeout))
end
