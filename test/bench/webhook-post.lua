-- wrk script: posts the signed ICS webhook deliveries listed in $DELIVERIES in order, then stops
-- its thread once every one of them is answered as recorded (the bench ends wrk with SIGINT after
-- it sees them all in the inbox). Connections still open after the last is sent post it again:
-- fewer duplicates than connections, answered `"duplicate":true` and not counted. One line per
-- delivery: path, webhook-id, webhook-timestamp, webhook-signature and the body, separated by tabs
-- (the body is JSON, so it holds no raw tab or newline). One thread only (-t1): each thread would
-- post the whole list.
local requests = {}
local nxt = 1
local answered = 0
local checked = false
local threads = 0

function setup(thread)
  threads = threads + 1
  if threads > 1 then error("webhook-post.lua runs with one thread (-t1)") end
end

function init(args)
  for line in io.lines(os.getenv("DELIVERIES")) do
    local path, id, ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    table.insert(requests, wrk.format("POST", path, {
      ["content-type"] = "application/json",
      ["webhook-id"] = id,
      ["webhook-timestamp"] = ts,
      ["webhook-signature"] = sig,
    }, body))
  end
end

function request()
  -- wrk calls request() once before the thread starts, to check what it builds: not sent.
  if not checked then
    checked = true
    return requests[1]
  end
  -- Past the end (connections open until the thread stops): the last one again, a duplicate.
  local r = requests[nxt] or requests[#requests]
  nxt = nxt + 1
  return r
end

function response(status, headers, body)
  if not body:find('"duplicate":true', 1, true) then answered = answered + 1 end
  if answered >= #requests then wrk.thread:stop() end
end
