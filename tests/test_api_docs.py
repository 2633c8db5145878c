"""docs/api.md tells clients what the API sends them: checked against the code it describes."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from payments_platform.config.sections import NotificationSettings
from payments_platform.lifecycle import DeliveryStatus
from payments_platform.web.views import DeliveryView, NotificationView

API_PAGE = Path(__file__).parent.parent / "docs" / "api.md"


def _section(title: str) -> str:
    """The text of one ``## title`` section of the API page."""
    text = API_PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_every_field_of_a_notification_and_its_deliveries_is_described() -> None:
    """Issue 19 section 5: `endpoint`, `status`, `attempts`, `last_status_code` and `last_error`
    of `GET /payments/{id}`'s deliveries were in no page."""
    section = _section("Notifications")
    fields = [*NotificationView.__struct_fields__, *DeliveryView.__struct_fields__]
    assert [name for name in fields if f"`{name}`" not in section] == []
    assert [s.value for s in DeliveryStatus if f"`{s.value}`" not in section] == []


def test_the_least_time_a_delivery_is_retried_for_is_the_one_the_settings_allow() -> None:
    """Issue 19 section 5: the page promised retries for at least a day, but the operator may
    set `retry_for_seconds` as low as its floor."""
    settings = msgspec.inspect.type_info(NotificationSettings)
    assert isinstance(settings, msgspec.inspect.StructType)
    [retry_for] = [field.type for field in settings.fields if field.name == "retry_for_seconds"]
    assert isinstance(retry_for, msgspec.inspect.FloatType)
    assert retry_for.ge is not None
    floor = int(retry_for.ge)
    section = _section("Notifications")
    assert "`retry_for_seconds`" in section
    assert re.search(rf"\b{floor} seconds?\b", section), floor
