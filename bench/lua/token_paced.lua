-- token_cc.lua with a per-connection pause before each request, to offer a chosen rate with wrk (closed loop).
-- env BENCH_DELAY_MS: mean pause in milliseconds (each pause is uniform in [0.5, 1.5] x mean, rounded
-- at random to whole milliseconds so that the mean holds and the connections do not fall into step).
-- wrk measures latency from the moment a request is written, so the pause is not counted in it.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api%3Aread"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "@AUTHORIZATION@"
local mean = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
function init(args) math.randomseed(7919 * tid) end
function delay()
  if mean <= 0 then return 0 end
  local d = mean * (0.5 + math.random())
  local whole = math.floor(d)
  if math.random() < d - whole then whole = whole + 1 end
  return whole
end
