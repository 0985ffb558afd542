-- wrk script: the authorization_code grant, one pre-minted code per request (bench/mint.py codes).
-- Env: CODE_FILE (one code per line), NTHREADS, AUTH (Basic of the client), REDIRECT, VERIFIER.
-- Each thread owns every NTHREADS-th code. A thread whose codes are all spent stops (a code is
-- single-use: sending one twice would only measure refusals) and says so; run.sh shows it.
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  local nthreads = tonumber(os.getenv("NTHREADS"))
  pool = {}
  local i = 0
  for line in io.lines(os.getenv("CODE_FILE")) do
    if line ~= "" then
      if i % nthreads == tid then table.insert(pool, line) end
      i = i + 1
    end
  end
  exhausted = 0
  tail = "&redirect_uri=" .. enc(os.getenv("REDIRECT")) .. "&code_verifier=" .. enc(os.getenv("VERIFIER"))
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = os.getenv("AUTH") }
end

function request()
  local code = table.remove(pool, 1)
  if not code then
    exhausted = 1
    wrk.thread:stop()
    code = "pool-exhausted"
  end
  return wrk.format("POST", "/token", headers, "grant_type=authorization_code&code=" .. enc(code) .. tail)
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    if t:get("exhausted") == 1 then
      io.write("POOL EXHAUSTED\n")
      return
    end
  end
end
