-- wrk script for Tally's event ingestion: every request carries new, unique events.
--   wrk -s bench/wrk/events.lua http://127.0.0.1:PORT -- RUN_ID API_KEY BASE_UNIX_TS BATCH_SIZE
-- BATCH_SIZE 0: POST /api/v1/events with one event; otherwise POST /api/v1/events/batch with that many.
-- The mix: 5 subscriptions; api_calls 60 % (count), storage 25 % (sum of gb), compute 15 % (sum of
-- seconds, filtered by region); timestamps in the hour before BASE_UNIX_TS, as Unix seconds.
-- done() prints one line "BENCH_JSON {...}" with the counts, status codes and latency percentiles.

local threads = {}
counter = 0  -- global: done() reads it with thread:get

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local methods = {"GET", "GET", "GET", "POST", "PUT", "DELETE"}
local paths = {"/v1/items", "/v1/orders", "/v1/users/me", "/v1/search", "/v1/reports/daily"}
local regions = {"eu-west-1", "us-east-1", "ap-south-1"}
local instances = {"m5.large", "c6g.xlarge", "t3.micro"}

function init(args)
  run_id = args[1]
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/json"
  wrk.method = "POST"
  base_ts = tonumber(args[3])
  batch_size = tonumber(args[4])
  path = batch_size > 0 and "/api/v1/events/batch" or "/api/v1/events"
  ok, bad, last_bad = 0, 0, 0
  math.randomseed(tid * 7919 + base_ts)
end

local function event(n)
  local r = math.random()
  local sub = "bench_sub_" .. math.random(1, 5)
  local ts = base_ts - math.random(0, 3599)
  local code, props
  if r < 0.60 then
    code = "api_calls"
    props = string.format('{"method":"%s","path":"%s","status":%d,"latency_ms":%d}',
      methods[math.random(#methods)], paths[math.random(#paths)], math.random() < 0.97 and 200 or 500,
      math.random(1, 900))
  elseif r < 0.85 then
    code = "storage"
    props = string.format('{"gb":"%d.%02d","bucket":"b-%d"}', math.random(0, 50), math.random(0, 99),
      math.random(1, 20))
  else
    code = "compute"
    props = string.format('{"region":"%s","seconds":%d,"instance":"%s"}', regions[math.random(3)],
      math.random(1, 3600), instances[math.random(3)])
  end
  return string.format('{"transaction_id":"%s-%d-%d","external_subscription_id":"%s","code":"%s",'
    .. '"timestamp":%d,"properties":%s}', run_id, tid, n, sub, code, ts, props)
end

function request()
  local body
  if batch_size > 0 then
    local parts = {}
    for i = 1, batch_size do
      counter = counter + 1
      parts[i] = event(counter)
    end
    body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  else
    counter = counter + 1
    body = '{"event":' .. event(counter) .. '}'
  end
  return wrk.format(nil, path, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
    last_bad = status
  end
end

function done(summary, latency, requests)
  local ok_total, bad_total, sent, last = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    bad_total = bad_total + thread:get("bad")
    sent = sent + thread:get("counter")
    if thread:get("last_bad") ~= 0 then last = thread:get("last_bad") end
  end
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%d,"duration_s":%.3f,"bytes":%d,"ok":%d,"non_2xx":%d,'
    .. '"last_bad_status":%d,"events_generated":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,'
    .. '"timeout":%d},"latency_ms":{"p50":%.3f,"p90":%.3f,"p95":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f}}\n',
    summary.requests, summary.duration / 1e6, summary.bytes, ok_total, bad_total, last, sent,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
