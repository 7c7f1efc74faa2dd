-- wrk script: posts the signed ICS webhook deliveries listed in $DELIVERIES, each once, in order.
-- One line per delivery: path, webhook-id, webhook-timestamp, webhook-signature and the body,
-- separated by tabs (the body is JSON, so it holds no raw tab or newline). Run with one thread
-- (-t1). Once the list is used up, wrk repeats the last delivery (answered as a duplicate) until
-- the bench stops it with SIGINT, after every delivery of the list is recorded.
local requests = {}
local nxt = 1
local checked = false

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
  local r = requests[nxt] or requests[#requests]
  nxt = nxt + 1
  return r
end
