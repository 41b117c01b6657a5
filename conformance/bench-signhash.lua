-- wrk script for conformance/bench: POST one fixed signatures/signHash body again and again.
-- The body and the bearer token come from the environment (BENCH_BODY, BENCH_TOKEN), so neither
-- appears on a command line. `done` prints one machine-readable RESULT line; wrk counts every
-- answer with a status above 399 in summary.errors.status.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
