-- wrk script: refresh_token grant with rotation (after ../shared/peers/node-oidc-provider/wrk/refresh.lua).
-- Each thread owns a FIFO pool of refresh tokens (one chain per connection); request() takes the
-- oldest, response() appends the rotated one, so each chain is always used by one request at a time.
-- Env: RT_FILE (one refresh token per line), NTHREADS, AUTH (Authorization header value).
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  local nthreads = tonumber(os.getenv("NTHREADS"))
  pool = {}
  local i = 0
  for line in io.lines(os.getenv("RT_FILE")) do
    if line ~= "" then
      if i % nthreads == tid then table.insert(pool, line) end
      i = i + 1
    end
  end
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = os.getenv("AUTH") }
end

function request()
  local rt = table.remove(pool, 1) or "pool-exhausted"
  return wrk.format("POST", os.getenv("TOKEN_PATH") or "/token", headers, "grant_type=refresh_token&refresh_token=" .. rt)
end

function response(status, hdrs, body)
  local rt = body:match('"refresh_token":"([^"]+)"')
  if rt then table.insert(pool, rt) end
end
