-- POST a different prepared form body per request (code redemption, refresh rotation, sign-in), with
-- client_secret_basic when @AUTHORIZATION@ is not empty. Lines of the file named by env BENCH_LINES:
-- "<body>" or, with env BENCH_HEADER (e.g. Cookie), "<header value>\t<body>". Thread k of env
-- BENCH_THREADS takes lines k, k+n, k+2n... and cycles through them (each pass past the first resends
-- lines already sent). Env BENCH_EXPECT: the status every answer should have (others count as FAILED).
-- (Answers >= 400 are left to wrk's own count.) Env BENCH_CAPTURE + BENCH_TOKENS_OUT: the JSON string field to collect from the answers (e.g.
-- refresh_token), written one a line at the end. Env BENCH_CHAIN (a body prefix, e.g.
-- "grant_type=refresh_token&refresh_token="): each captured value is sent once more, as that prefix + the
-- value, before the file's lines (a client rotating its own refresh token: every value is used once). Prints "SENT n WRAPS w TOKENS t" and "OK n FAILED m".
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = "@AUTHORIZATION@"
if #auth > 0 then wrk.headers["Authorization"] = auth end
local path = os.getenv("BENCH_LINES")
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local header = os.getenv("BENCH_HEADER") or ""
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local capture = os.getenv("BENCH_CAPTURE") or ""
local pattern = '"' .. capture .. '"%s*:%s*"([^"]+)"'
local chain = os.getenv("BENCH_CHAIN") or ""
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
function init(args)
  bodies = {}; hvals = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid - 1 and #line > 0 then
      if #header > 0 then
        local h, b = line:match("^([^\t]*)\t(.*)$")
        hvals[#hvals + 1] = h; bodies[#bodies + 1] = b
      else
        bodies[#bodies + 1] = line
      end
    end
    i = i + 1
  end
  assert(#bodies > 0, "no lines for thread " .. tid)
  nlines = #bodies; idx = 0; wraps = 0; sent = 0; ok = 0; failed = 0; got = {}
  queue = {}; qhead = 1; qtail = 0; chained = 0
end
function request()
  sent = sent + 1
  if qhead <= qtail then
    local tok = queue[qhead]
    queue[qhead] = nil; qhead = qhead + 1; chained = chained + 1
    return wrk.format(nil, nil, nil, chain .. tok)
  end
  idx = idx + 1
  if idx > nlines then idx = 1; wraps = wraps + 1 end
  if #header > 0 then wrk.headers[header] = hvals[idx] end
  return wrk.format(nil, nil, nil, bodies[idx])
end
function response(status, headers, body)
  if status ~= expect then
    if status < 400 then failed = failed + 1 end  -- wrk counts 4xx and 5xx itself (Non-2xx or 3xx)
    return
  end
  if #capture > 0 then
    local tok = body and body:match(pattern)
    if not tok then failed = failed + 1; return end
    if #chain > 0 then qtail = qtail + 1; queue[qtail] = tok else got[#got + 1] = tok end
  end
  ok = ok + 1
end
function done(summary, latency, requests)
  local s, w, n, o, f, c = 0, 0, 0, 0, 0, 0
  local out = nil
  if #capture > 0 then out = assert(io.open(os.getenv("BENCH_TOKENS_OUT"), "w")) end
  for _, t in ipairs(threads) do
    c = c + t:get("chained"); s = s + t:get("sent"); n = n + t:get("nlines"); o = o + t:get("ok"); f = f + t:get("failed")
    local tw = t:get("wraps")
    if tw > w then w = tw end
    if out then
      local toks = t:get("got")
      for i = 1, #toks do out:write(toks[i], "\n") end
    end
  end
  if out then out:close() end
  io.write(string.format("SENT %d WRAPS %d TOKENS %d\n", s, w, n))
  io.write(string.format("OK %d FAILED %d CHAINED %d\n", o, f, c))
end
