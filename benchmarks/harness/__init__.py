"""The benchmark harness behind ``benchmarks/run.py``: labs, peers, measurements, results."""
