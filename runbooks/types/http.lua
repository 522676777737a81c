---@meta
-- LuaLS annotations for `require "http"` (bindings/lua_http.cpp). Not loaded at run time.
-- tests/check_stubs.py keeps the names here equal to what the binding registers.

---GET/POST and checks with expectations. Only http:// and https:// URLs; redirects are not
---followed. Every request is recorded (`http`). In dry-run, reads (GET, HEAD) are sent;
---anything else is only announced.
---@class http
local http = {}

---Options shared by all http functions.
---@class http.Options
---@field timeout? number seconds per attempt; default 10
---@field retries? integer extra attempts (transport errors and 5xx); default 0
---@field interval? number seconds between attempts; default 1
---@field headers? table<string, string> `Name = value`
---@field body? string request body
---@field insecure? boolean true turns TLS certificate verification off; default false

---@class http.RequestOptions: http.Options
---@field json? any a Lua value sent as the JSON body (Content-Type added unless set); not with `body`

---@class http.CheckSpec: http.Options
---@field url string required
---@field method? string default `"GET"`
---@field status? integer expected status; default 200
---@field json? table<string, any> expected fields: `{ ["dotted.path"] = value }`, array indexes from 0

---@class http.Response
---@field status number HTTP status; 0 on a transport error or when not sent (dry-run)
---@field body? string
---@field json? any the parsed body when it is JSON
---@field time_ms? number
---@field attempts? integer
---@field error? string the transport error, if any
---@field dry_run? boolean true when the request was only announced

---Sends a GET. Never raises for a transport error or an HTTP error status: check
---`response.error` and `response.status`. Dry-run: sent for real (a read).
---@param url string
---@param opts? http.RequestOptions
---@return http.Response response
function http.get(url, opts) end

---Sends a POST. Never raises for a transport error or an HTTP error status.
---Dry-run: not sent; prints `would send: POST URL`, records it and returns
---`{ status = 0, dry_run = true }`.
---@param url string
---@param opts? http.RequestOptions
---@return http.Response response
function http.post(url, opts) end

---Repeats the request (up to `retries` extra times, `interval` apart) until the expectation
---holds. Never raises for a failed check. Dry-run: GET and HEAD are sent for real; other methods
---return `true, "would send: METHOD URL", { status = 0, dry_run = true }`.
---@param spec http.CheckSpec
---@return boolean ok
---@return string detail `"200 in 12 ms"` or the reasons it failed
---@return http.Response response
function http.check(spec) end

return http
