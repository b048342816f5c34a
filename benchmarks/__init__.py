"""dbfsm's benchmarks: `python -m benchmarks` (or `tox -e bench`) rewrites docs/benchmarks.md."""
