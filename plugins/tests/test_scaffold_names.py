"""The scaffold refuses what would not make a loadable plugin, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from payments_plugins.scaffold import ScaffoldError, new_plugin


@pytest.mark.parametrize(
    ("name", "currencies", "message"),
    [
        ("Acme", ("EUR",), "'Acme' is not a gateway type name the scaffold takes"),
        ("acme-pay", ("EUR",), "'acme-pay' is not a gateway type name"),
        ("acme", ("EURO",), "currencies must be ISO 4217 codes such as EUR, not ['EURO']"),
    ],
)
def test_a_name_or_currency_that_cannot_be_a_plugin_is_refused(
    tmp_path: Path, name: str, currencies: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ScaffoldError) as refused:
        new_plugin(name, tmp_path, currencies=currencies)
    assert message in str(refused.value)
    assert not any(tmp_path.iterdir())


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    new_plugin("acme_pay", tmp_path)
    written = tmp_path / "payments-plugin-acme-pay"
    assert (written / "src" / "payments_plugin_acme_pay" / "plugin.py").is_file()
    with pytest.raises(ScaffoldError, match="already exists"):
        new_plugin("acme_pay", tmp_path)
