-- wrk script: a GET with an Authorization header (AUTH), e.g. a Bearer token for /userinfo.
wrk.method = "GET"
local auth = os.getenv("AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
