-- wrk script: POST a JSON body (LOAD_BODY) with "{id}" replaced by a unique id and
-- "{channel}" by a number counting round LOAD_CHANNELS; benchmarks/load.py does the same.
local threads = 0
local counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  local auth = os.getenv("LOAD_AUTH")
  if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
end

request = function()
  counter = counter + 1
  local id = (os.getenv("LOAD_RUN") or "run") .. "_" .. tid .. "_" .. counter
  local channel = tostring(counter % tonumber(os.getenv("LOAD_CHANNELS") or "1"))
  local body = os.getenv("LOAD_BODY"):gsub("{id}", id):gsub("{channel}", channel)
  return wrk.format("POST", nil, nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
