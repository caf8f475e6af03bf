-- POST revocation with client_secret_basic, a different token per request: the tokens are read from the
-- file named by env BENCH_TOKENS (one a line); thread k of env BENCH_THREADS takes lines k, k+n, k+2n...
-- and cycles through them (each pass past the first sends tokens that are already revoked).
-- Request shape as ../shared/peers/wrk/introspect.lua. Prints "SENT n WRAPS w TOKENS t".
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "@AUTHORIZATION@"
local path = os.getenv("BENCH_TOKENS")
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
function init(args)
  toks = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid - 1 and #line > 0 then toks[#toks + 1] = line end
    i = i + 1
  end
  assert(#toks > 0, "no tokens for thread " .. tid)
  ntoks = #toks; idx = 0; wraps = 0; sent = 0
end
function request()
  idx = idx + 1
  if idx > ntoks then idx = 1; wraps = wraps + 1 end
  sent = sent + 1
  return wrk.format(nil, nil, nil, "token=" .. toks[idx] .. "&token_type_hint=access_token")
end
function done(summary, latency, requests)
  local s, w, n = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent"); n = n + t:get("ntoks")
    local tw = t:get("wraps")
    if tw > w then w = tw end
  end
  io.write(string.format("SENT %d WRAPS %d TOKENS %d\n", s, w, n))
end
