-- Mints access tokens as fast as the server issues them (the request of token_cc.lua) and, at the end,
-- writes every token received to the file named by env BENCH_TOKENS_OUT, one a line.
-- Prints "MINTED n FAILED m" (m: responses without an access token).
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api%3Aread"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "@AUTHORIZATION@"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) tokens = {}; minted = 0; failed = 0 end
function response(status, headers, body)
  local tok = status == 200 and body and body:match('"access_token"%s*:%s*"([^"]+)"')
  if tok then
    minted = minted + 1
    tokens[minted] = tok
  else
    failed = failed + 1
  end
end
function done(summary, latency, requests)
  local f = assert(io.open(os.getenv("BENCH_TOKENS_OUT"), "w"))
  local total, bad = 0, 0
  for _, t in ipairs(threads) do
    local toks = t:get("tokens")
    for i = 1, #toks do f:write(toks[i], "\n") end
    total = total + #toks
    bad = bad + t:get("failed")
  end
  f:close()
  io.write(string.format("MINTED %d FAILED %d\n", total, bad))
end
