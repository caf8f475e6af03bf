"""`make bench`: a reproducible load benchmark of ΛiD next to the reference peer (node-oidc-provider).

`python -m bench.run` starts ΛiD (2 worker processes, PostgreSQL + Redis when reachable) and the peer of
../shared/peers/, drives both with wrk on loopback for a bounded time, and prints requests/s, p50 and p99
for each scenario with the ratio ΛiD / peer. Raw results go to .cache/bench/results.json.
`python -m bench.profile` samples ΛiD's workers with py-spy under the same load (own time per function).
See docs/PERFORMANCE.md.
"""
