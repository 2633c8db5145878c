"""The use cases: one module per data path, none of them knowing HTTP.

``initiate`` (with ``failover``), ``webhooks``, ``refunds`` and ``reads`` serve the API;
``reconcile``, ``expire`` and ``job_handlers`` serve the workers. They share ``transitions``
(every change of a payment's status and what it schedules) and ``gateway_call`` (every call to
a gateway). Each reads top to bottom as its rule: claim in one short transaction, call the
gateway with no transaction open, record the answer in another.
"""
