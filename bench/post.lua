-- wrk's script for `make bench` (bench/http.py): every request is a POST of one
-- small JSON body, as the page's "Say hello" button sends it (wrk's own
-- scripting API: the `wrk` table and the `done` hook, wrk's SCRIPTING file).
wrk.method = "POST"
wrk.body = '{"name": "bench", "duration": 0}'
wrk.headers["Content-Type"] = "application/json"

-- At the end, one line of JSON for bench/http.py: the count, the time taken
-- (microseconds), the latencies' percentiles (microseconds), and the errors
-- (status: answers of HTTP 400 and above).
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
