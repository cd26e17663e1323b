"""What the tests, the benchmarks and the scripts share to run Dockwise for real (stdlib only: scripts/audit imports
it with the system Python before .venv exists)."""
