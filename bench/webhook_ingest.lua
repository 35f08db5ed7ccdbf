-- wrk script for bench/webhook_ingest.sh: Mailchimp-style form webhooks,
-- every body unique (consentd derives the event id from the body hash), so
-- each request is a new inbox row. Thread id + per-thread counter make the
-- e-mail address unique; done() prints the 2xx answers summed over threads.
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  thread:set("run", os.getenv("INGEST_RUN") or "0")
  table.insert(threads, thread)
end

function init(args)
  n = 0
  ok = 0
  path = wrk.path
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
  n = n + 1
  local email = string.format("r%s-c%s-t%d-%d%%40example.com", run, os.getenv("INGEST_CONNS") or "0", tid, n)
  local body = "type=profile&fired_at=2026-11-29+12%3A00%3A00"
    .. "&data%5Bid%5D=" .. string.format("%d%d", tid, n)
    .. "&data%5Blist_id%5D=5e1c0a7b2d"
    .. "&data%5Bemail%5D=" .. email
    .. "&data%5Bemail_type%5D=html"
  return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
  if status >= 200 and status < 300 then ok = ok + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("ok") or 0) end
  io.write(string.format("INGEST_2XX %d\n", total))
end
