"""What a transaction is: a plain function of a connection (:data:`Work`), and the effects it
leaves for once it has committed (:func:`after_commit`).

A transaction is not a coroutine, so it cannot await anything (a gateway call, say) while it
holds locks. Every runner (:mod:`.sqlite_writer`, :mod:`.sqlite_threads`,
:mod:`.postgresql_transactions`) hands the effects a transaction registered back to
:class:`~.transactions.Database`, which runs them once the commit is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

T = TypeVar("T")
Work = Callable[[sa.Connection], T]
"""A transaction's body: runs with the connection, returns what the caller awaits."""

Effects = list[Callable[[], None]]
"""What a transaction registered with :func:`after_commit`, in the order it did."""

AFTER_COMMIT = "payments_after_commit"
"""The key of ``Connection.info`` under which a transaction's effects wait for its end."""


def after_commit(conn: sa.Connection, effect: Callable[[], None]) -> None:
    """Run ``effect`` once the transaction ``conn`` is in has committed; never if it rolls back.

    What is logged and counted then describes what was committed, not what was tried. Effects
    run on the event loop, in the order they were registered.
    """
    conn.info.setdefault(AFTER_COMMIT, []).append(effect)
