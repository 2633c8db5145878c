"""Merchant notifications: what happened to a merchant's payments, pushed to its endpoints.

An event is written in the same transaction as the status change that causes it, with one
delivery per endpoint that wants it and a ``notify`` job of the outbox per delivery, so that a
crash can delay a notification but never lose or invent one. Workers post each one signed as
the Standard Webhooks specification says, retrying with backoff for at least a day.

``events`` names the event types, ``signing`` signs, ``addresses`` keeps deliveries off the
service's own network, ``delivery`` posts one, ``receiver`` is the demo's merchant endpoint.
"""
