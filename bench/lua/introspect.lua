-- POST introspection with client_secret_basic; token taken from env TOKEN.
-- Same request as ../shared/peers/wrk/introspect.lua; the Authorization header is the measured client's.
-- Counts active:true / other responses across threads and prints "ACTIVE n INACTIVE m".
local tok = os.getenv("TOKEN")
wrk.method = "POST"
wrk.body = "token=" .. tok .. "&token_type_hint=access_token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "@AUTHORIZATION@"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) active = 0; inactive = 0 end
function response(status, headers, body)
  if body and body:find('"active":%s*true') then active = active + 1 else inactive = inactive + 1 end
end
function done(summary, latency, requests)
  local a, i = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("active"); i = i + t:get("inactive") end
  io.write(string.format("ACTIVE %d INACTIVE %d\n", a, i))
end
