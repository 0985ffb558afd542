-- wrk script: a fixed form POST. BODY is the urlencoded body, AUTH an optional
-- Authorization header value.
wrk.method = "POST"
wrk.body = os.getenv("BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
