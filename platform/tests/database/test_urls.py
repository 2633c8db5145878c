"""The database URLs the platform takes (``database/urls``)."""

from __future__ import annotations

import pytest
from payments_platform.database import driver_url


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///payments.db", "sqlite+pysqlite:///payments.db"),
        ("sqlite+aiosqlite:///payments.db", "sqlite+pysqlite:///payments.db"),
        ("postgresql://db.internal/payments", "postgresql+asyncpg://db.internal/payments"),
        ("postgresql+asyncpg://db.internal/p", "postgresql+asyncpg://db.internal/p"),
    ],
)
def test_a_url_gets_the_driver_the_platform_uses(given: str, used: str) -> None:
    assert driver_url(given).render_as_string() == used


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        ("mysql://db.internal/payments", "not supported: use sqlite or postgresql"),
        ("postgresql+psycopg2://db.internal/p", "driver 'psycopg2' is not supported"),
        ("sqlite://", "in-memory SQLite database would lose every payment"),
        ("sqlite:///:memory:", "in-memory SQLite database would lose every payment"),
    ],
)
def test_other_backends_and_drivers_are_refused(given: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        driver_url(given)
