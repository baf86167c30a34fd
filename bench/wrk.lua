-- wrk script for hack/bench.sh: gokv-bench's workloads, sent by wrk, an
-- independent load generator, so that the two measure the same server side
-- by side. Keys are key-0 ... key-(WRK_KEYS-1) in WRK_BUCKET, picked
-- uniformly, as gokv-bench names and preloads them.
--
-- Usage: GOKV_TOKEN=... WRK_WORKLOAD=get|put|mixed [WRK_VALUE_SIZE=100]
--        [WRK_KEYS=10000] [WRK_READ_RATIO=0.9] [WRK_BUCKET=bench]
--        wrk -t2 -c32 -d10s --latency -s bench/wrk.lua http://127.0.0.1:PORT
--
-- The token comes from the environment, never the command line, where it
-- would show in ps. done() prints one line "wrk-json {...}": throughput,
-- errors and the latency percentiles in milliseconds, for jq.

local workload = os.getenv("WRK_WORKLOAD") or "get"
local keys = tonumber(os.getenv("WRK_KEYS") or "10000")
local size = tonumber(os.getenv("WRK_VALUE_SIZE") or "100")
local ratio = tonumber(os.getenv("WRK_READ_RATIO") or "0.9")
local bucket = os.getenv("WRK_BUCKET") or "bench"
local token = os.getenv("GOKV_TOKEN")

local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local gets = {}
local body, put_headers

function init(args)
  if not token or token == "" then
    error("set GOKV_TOKEN")
  end
  math.randomseed(os.time() * 1000 + (id or 0))
  -- Requests are built once: building one per request in Lua would cost
  -- wrk more CPU than the server spends on it.
  local headers = { Authorization = "Bearer " .. token }
  if workload ~= "put" then
    for i = 0, keys - 1 do
      gets[i] = wrk.format("GET", "/" .. bucket .. "/key-" .. i, headers)
    end
  end
  -- Values as gokv-bench writes them: a, b, c, ... z, a, ...
  local letters = {}
  for i = 0, size - 1 do
    letters[#letters + 1] = string.char(97 + i % 26)
  end
  body = table.concat(letters)
  put_headers = { Authorization = "Bearer " .. token, ["Content-Type"] = "application/octet-stream" }
end

local function put(i)
  return wrk.format("PUT", "/" .. bucket .. "/key-" .. i, put_headers, body)
end

function request()
  local i = math.random(0, keys - 1)
  if workload == "put" or (workload == "mixed" and math.random() >= ratio) then
    return put(i)
  end
  return gets[i]
end

function done(summary, latency)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'wrk-json {"requests":%d,"seconds":%.3f,"requests_per_second":%.1f,' ..
    '"errors":%d,"errors_by":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"max":%.3f,"mean":%.3f}}\n',
    summary.requests, seconds, summary.requests / seconds,
    e.connect + e.read + e.write + e.status + e.timeout, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3))
end
