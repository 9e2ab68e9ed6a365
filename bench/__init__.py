"""`make bench`: Waypost measured against the bare-Temporal floor, in one run.

`python -m bench.run` starts its own Temporal dev server and Postgres (or uses the configured
ones), runs the Waypost worker and the baseline worker as separate processes with the same
worker settings, and writes `bench/results/latest.json` plus a short table.
"""
