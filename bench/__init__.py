"""The platform's benchmark: server CPU per request, throughput and latency of every route,
beside a bare app measured in the same run; SQL statements per request; one and two workers.

Run it with ``python -m bench`` (or ``nox -s bench``) from the repository root; see
``docs/performance.md``.
"""
