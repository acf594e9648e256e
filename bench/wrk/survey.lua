-- An audience burst: every request is one worker's answer from their own phone (own
-- User-Agent, own client_ref), spread over the surveys given as the first argument.
-- Prints one JSON line at the end: statuses, latency percentiles (microseconds), errors.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for t in string.gmatch(args[1], "[^,]+") do
    table.insert(tokens, t)
  end
  n = 0
  statuses = {}
  math.randomseed(tid * 7919)
end

local comments = { "节目很精彩", "希望多来几次", "音响有点小", "演员很用心", "" }

function request()
  n = n + 1
  local token = tokens[(n * 31 + tid) % #tokens + 1]
  local body = string.format(
    '{"overall":%d,"content":%d,"performers":%d,"organisation":%d,"comment":"%s","wanted_programs":["戏曲"],"client_ref":"w%d-%d"}',
    math.random(3, 5), math.random(2, 5), math.random(3, 5), math.random(3, 5),
    comments[math.random(1, #comments)], tid, n)
  return wrk.format("POST", "/api/surveys/" .. token .. "/responses",
    { ["Content-Type"] = "application/json", ["User-Agent"] = string.format("phone-%d-%d", tid, n) }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local agg = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for k, v in pairs(s) do
      agg[k] = (agg[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(agg) do
    table.insert(parts, string.format('"%d":%d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us":%d,"requests":%d,"statuses":{%s},"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.duration, summary.requests, table.concat(parts, ","),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
