"""The platform's benchmark: throughput and latency of its routes as ratios to a bare route.

Run it with ``python -m bench`` (or ``nox -s bench``) from the repository root; see
``docs/performance.md``.
"""
