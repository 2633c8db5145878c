"""Configuration: TOML file, PAYMENTS_* overrides, errors that name the key."""

from pathlib import Path

import msgspec
import pytest
from payments_platform.config import (
    ConfigError,
    apply_overrides,
    decode_plugin_settings,
    load_settings,
)
from payments_platform.routing import Strategy

OPEN_API = '\n[security]\nauth = "none"\n'
"""Tests about other sections open the client API, which otherwise needs keys."""


def write(tmp_path: Path, text: str, *, security: str = OPEN_API) -> Path:
    path = tmp_path / "payments.toml"
    path.write_text(text + security, encoding="utf-8")
    return path


def test_no_file_means_the_demo_profile() -> None:
    settings = load_settings(None, {})
    assert settings.demo
    assert settings.database.migrate_on_start
    assert settings.database.url == "sqlite:///payments.db"
    assert list(settings.gateways) == ["json", "soap"]
    assert settings.gateways["json"].simulator is not None
    assert settings.gateways["soap"].simulator is not None


def test_the_demo_listens_on_loopback_and_a_config_file_on_every_interface(
    tmp_path: Path,
) -> None:
    """Issue 19, section 5: the demo, whose API is open, listened on every interface."""
    everywhere = "0.0.0.0"  # noqa: S104 - what is tested
    assert load_settings(None, {}).server.host == "127.0.0.1"
    assert load_settings(None, {"PAYMENTS_SERVER__HOST": everywhere}).server.host == everywhere
    assert load_settings(write(tmp_path, ""), {}).server.host == everywhere


def test_a_file_is_read_and_defaults_fill_the_rest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [database]
        url = "sqlite:///prod.db"
        [routing]
        strategy = "priority"
        [gateways.primary]
        type = "json"
        weight = 3
        currencies = ["AED"]
        [gateways.primary.settings]
        base_url = "https://vendor.example"
        """,
    )
    settings = load_settings(path, {})
    assert not settings.demo
    assert settings.server.port == 8080
    assert settings.routing.strategy is Strategy.PRIORITY
    primary = settings.gateways["primary"]
    assert (primary.type, primary.weight, primary.currencies) == ("json", 3.0, ["AED"])
    assert primary.settings == {"base_url": "https://vendor.example"}


def test_soft_declines_pass_a_payment_on_twice_unless_configured(tmp_path: Path) -> None:
    """The budget of gateways a payment is offered to after soft declines: 2 by default, 0
    (every decline final) from the file or the environment."""
    assert load_settings(write(tmp_path, ""), {}).routing.soft_decline_attempts == 2
    path = write(tmp_path, "[routing]\nsoft_decline_attempts = 0\n")
    assert load_settings(path, {}).routing.soft_decline_attempts == 0
    environ = {"PAYMENTS_ROUTING__SOFT_DECLINE_ATTEMPTS": "5"}
    assert load_settings(path, environ).routing.soft_decline_attempts == 5


def test_environment_overrides_nested_keys_with_typed_values(tmp_path: Path) -> None:
    path = write(tmp_path, '[gateways.a]\ntype = "json"\n')
    settings = load_settings(
        path,
        {
            "PAYMENTS_SERVER__PORT": "9000",
            "PAYMENTS_DATABASE__URL": "sqlite:///other.db",
            "PAYMENTS_GATEWAYS__A__ENABLED": "false",
            "PAYMENTS_GATEWAYS__A__CURRENCIES": '["AED"]',
            "PAYMENTS_CONFIG": "ignored: it names the file",
            "UNRELATED": "x",
        },
    )
    assert settings.server.port == 9000
    assert settings.database.url == "sqlite:///other.db"
    assert settings.gateways["a"].enabled is False
    assert settings.gateways["a"].currencies == ["AED"]
    assert settings.enabled_gateways() == {}


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[server]\nport = 'x'\n", {}, "`server.port`"),
        ("[server]\nport = 70000\n", {}, "`server.port`"),
        (
            "[server]\nprot = 1\n",
            {},
            "unknown field `prot` (did you mean `port`?) - at `server.prot`",
        ),
        ("[routing]\nstrategy = 'random'\n", {}, "`routing.strategy`"),
        ("[routing.breaker]\nfailure_rate_threshold = 2\n", {}, "failure_rate_threshold"),
        ("[routing]\nsoft_decline_attempts = -1\n", {}, "`routing.soft_decline_attempts`"),
        ("[routing]\nsoft_decline_attempts = 11\n", {}, "`routing.soft_decline_attempts`"),
        (
            "[gateways.a]\nweight = 1\n",
            {},
            "missing required field `type`: set `gateways.a.type` in the config file, or"
            " PAYMENTS_GATEWAYS__A__TYPE in the environment - at `gateways.a`",
        ),
        ("[gateways.a]\ntype = 'json'\nweight = 0\n", {}, "`gateways.a.weight`"),
        ("[gateways.a]\ntype = 'json'\nwat = 0\n", {}, "unknown field `wat` - at `gateways.a.wat`"),
        ("[gateways.'Bad Name']\ntype = 'json'\n", {}, "gateway name 'Bad Name'"),
        ("", {"PAYMENTS_SERVER__PORT": "eighty"}, "`server.port`"),
        ("demo = true\n", {}, "`demo` is set only by the demo profile"),
        ("this is not toml", {}, "not valid TOML"),
    ],
)
def test_errors_name_the_offending_key(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=r".*") as raised:
        load_settings(write(tmp_path, text), environ)
    assert message in str(raised.value)


KEY_HASH = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("security", "message"),
    [
        ("", "the client API has no keys"),
        ("\n[security.merchants.acme]\nkey_hashes = []\n", "the client API has no keys"),
        ("\n[security.merchants.acme]\nkey_hashes = ['abc']\n", "security.merchants"),
        ("\n[security]\nauth = 'open'\n", "`security.auth`"),
        (
            f"\n[security.merchants.'Big Shop']\nkey_hashes = ['{'sha256:' + 'ab' * 32}']\n",
            "merchant name 'Big Shop'",
        ),
    ],
)
def test_the_client_api_needs_keys_unless_opened_explicitly(
    tmp_path: Path, security: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=r".*") as raised:
        load_settings(write(tmp_path, "", security=security), {})
    assert message in str(raised.value)


def test_merchant_key_hashes_are_read(tmp_path: Path) -> None:
    security = f'\n[security.merchants.acme]\nkey_hashes = ["{KEY_HASH}"]\n'
    settings = load_settings(write(tmp_path, "", security=security), {})
    assert settings.security.auth == "api-keys"
    assert settings.security.merchants["acme"].key_hashes == [KEY_HASH]


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        (
            "",
            {"PAYMENTS_DATABSE__URL": "sqlite:///x.db"},
            "PAYMENTS_DATABSE__URL: unknown field `databse` (did you mean `database`?)"
            " - at `databse`",
        ),
        (
            "",
            {"PAYMENTS_SERVER__PORT": "eighty"},
            "PAYMENTS_SERVER__PORT: Expected `int`, got `str` - at `server.port`",
        ),
        (
            "[gateways.acme]\ntype = 'json'\n",
            {"PAYMENTS_GATEWAYS__ACMEE__WEIGHT": "2"},
            "PAYMENTS_GATEWAYS__ACMEE__WEIGHT: missing required field `type`: set"
            " `gateways.acmee.type` in the config file, or PAYMENTS_GATEWAYS__ACMEE__TYPE in the"
            " environment - at `gateways.acmee`",
        ),
        (
            "[routing]\nstrategy = 'weigthed'\n",
            {},
            "invalid value 'weigthed' (did you mean 'weighted'?): choose one of 'adaptive',"
            " 'weighted', 'priority' - at `routing.strategy`",
        ),
        (
            "",
            {"PAYMENTS_ROUTING__STRATEGY": "random"},
            "PAYMENTS_ROUTING__STRATEGY: invalid value 'random': choose one of 'adaptive',"
            " 'weighted', 'priority' - at `routing.strategy`",
        ),
        (
            "[gateways.a]\ntype = 'json'\n[gateways.a.simulator]\nauto_webhook_status = 'pad'\n",
            {},
            "invalid value 'pad' (did you mean 'paid'?): choose one of 'expired', 'failed',"
            " 'paid' - at `gateways.a.simulator.auto_webhook_status`",
        ),
        (
            "[routing.braker]\nminimum_calls = 1\n",
            {},
            "unknown field `braker` (did you mean `breaker`?) - at `routing.braker`",
        ),
        ("[telemetry]\nx = 1\n", {}, "unknown field `telemetry` - at `telemetry`"),
    ],
)
def test_errors_say_which_variable_and_which_values_would_do(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=r".*") as raised:
        load_settings(write(tmp_path, text), environ)
    assert str(raised.value) == message


class VendorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    base_url: str
    api_key: str


def test_a_missing_secret_names_its_whole_key_and_the_variable_that_sets_it() -> None:
    """Issue 19, finding 3.3: it said ``Object missing required field `api_key` ``, naming
    neither where the key goes nor the variable an operator keeping secrets out of the file
    sets."""
    with pytest.raises(ConfigError, match=r".*") as raised:
        decode_plugin_settings(
            {"base_url": "https://vendor.example"}, VendorSettings, "gateways.acme.settings"
        )
    assert str(raised.value) == (
        "missing required field `api_key`: set `gateways.acme.settings.api_key` in the config"
        " file, or PAYMENTS_GATEWAYS__ACME__SETTINGS__API_KEY in the environment"
        " - at `gateways.acme.settings`"
    )


def test_a_key_no_variable_can_set_is_named_without_one() -> None:
    """Issue 19, finding 3.3: a variable's path is lower-cased, so it cannot reach a table
    whose name has capitals; the message does not offer one."""
    with pytest.raises(ConfigError, match=r".*") as raised:
        decode_plugin_settings({"base_url": "x"}, VendorSettings, "gateways.Acme.settings")
    assert str(raised.value) == (
        "missing required field `api_key`: set `gateways.Acme.settings.api_key` in the config"
        " file - at `gateways.Acme.settings`"
    )


@pytest.mark.parametrize(
    ("security", "message"),
    [
        (
            f"\n[security.merchants.shop]\nkey_hashes = ['{KEY_HASH}']\n"
            "[security.merchants.acme]\nkey_hashes = ['abc']\n",
            "Expected `str` matching regex '^sha256:[0-9a-f]{64}$'"
            " - at `security.merchants.acme.key_hashes[0]`",
        ),
        (
            "\n[security.merchants.'Big Shop']\nkey_hashes = 'abc'\n",
            'Expected `array`, got `str` - at `security.merchants."Big Shop".key_hashes`',
        ),
        (
            "\n[security.merchants.acme]\nkey_hash = []\n",
            "unknown field `key_hash` (did you mean `key_hashes`?)"
            " - at `security.merchants.acme.key_hash`",
        ),
    ],
)
def test_an_error_in_a_merchant_s_table_names_the_merchant(
    tmp_path: Path, security: str, message: str
) -> None:
    """Issue 19, finding 3.3: it said `security.merchants[...]`."""
    with pytest.raises(ConfigError, match=r".*") as raised:
        load_settings(write(tmp_path, "", security=security), {})
    assert str(raised.value) == message


def test_a_variable_is_not_blamed_for_a_key_the_file_wrote(tmp_path: Path) -> None:
    path = write(tmp_path, "[gateways.acme]\nweight = 1\n")
    with pytest.raises(ConfigError, match=r".*") as raised:
        load_settings(path, {"PAYMENTS_GATEWAYS__ACME__WEIGHT": "2"})
    assert str(raised.value) == (
        "missing required field `type`: set `gateways.acme.type` in the config file, or"
        " PAYMENTS_GATEWAYS__ACME__TYPE in the environment - at `gateways.acme`"
    )


def test_the_command_s_own_variables_are_not_overrides(tmp_path: Path) -> None:
    environ = {"PAYMENTS_CONFIG": "x.toml", "PAYMENTS_LOG_LEVEL": "debug"}
    assert load_settings(write(tmp_path, ""), environ).server.port == 8080


def test_missing_file_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.toml", {})


def test_override_cannot_go_through_a_value() -> None:
    with pytest.raises(ConfigError, match="PAYMENTS_SERVER__PORT__X"):
        apply_overrides({"server": {"port": 1}}, {"PAYMENTS_SERVER__PORT__X": "1"})


def test_base_url_reaches_a_wildcard_listener_on_loopback() -> None:
    settings = load_settings(None, {"PAYMENTS_SERVER__PORT": "8123"})
    assert settings.base_url == "http://127.0.0.1:8123"
    public = load_settings(None, {"PAYMENTS_SERVER__PUBLIC_URL": "https://pay.example/"})
    assert public.base_url == "https://pay.example"


@pytest.mark.parametrize(
    ("gateway", "reconcile_after", "refused"),
    [
        ("", "37.5", False),  # the default deadline, 30 s, and its margin of 7.5 s
        ("", "37", True),
        ("deadline_seconds = 4\n", "6", False),  # a margin of at least 2 s
        ("deadline_seconds = 4\n", "5.9", True),
        ("deadline_seconds = 4\nenabled = false\n", "1", False),  # a disabled gateway calls nothing
    ],
)
def test_a_call_is_never_judged_abandoned_before_its_deadline_has_surely_passed(
    tmp_path: Path, gateway: str, reconcile_after: str, refused: bool
) -> None:
    """A slow call was judged abandoned while it still ran: reconcile_after_seconds must exceed
    every enabled gateway's deadline by a margin, or the config is refused naming both."""
    path = write(
        tmp_path,
        f'[payments]\nreconcile_after_seconds = {reconcile_after}\n[gateways.acme]\ntype = "json"\n'
        + gateway,
    )
    if not refused:
        load_settings(path, {})
        return
    with pytest.raises(ConfigError) as error:
        load_settings(path, {})
    message = str(error.value)
    assert "gateway 'acme'" in message
    assert "deadline_seconds" in message
    assert "`payments.reconcile_after_seconds`" in message


def test_the_demo_takes_every_risky_setting_on_purpose_and_a_production_config_none(
    tmp_path: Path,
) -> None:
    demo = load_settings(None, {})
    flagged = {where for where, _why in demo.risks()}
    assert {
        "security.auth",
        "security.allow_unsigned_webhooks",
        "notifications.allow_http",
        "notifications.allow_private_addresses",
        "notifications.receiver",
        "payments.allow_http_return_url",
        "gateways.json.simulator",
        "gateways.soap.simulator",
    } == flagged
    key_hash = "sha256:" + "ab" * 32
    production = write(
        tmp_path,
        '[server]\npublic_url = "https://payments.example"\n'
        f'[security.merchants.shop]\nkey_hashes = ["{key_hash}"]\n',
        security="",
    )
    assert load_settings(production, {}).risks() == []


def test_deliveries_given_up_within_the_hour_are_a_risk(tmp_path: Path) -> None:
    short = load_settings(None, {"PAYMENTS_NOTIFICATIONS__RETRY_FOR_SECONDS": "5"})
    hour = load_settings(None, {"PAYMENTS_NOTIFICATIONS__RETRY_FOR_SECONDS": "3600"})
    assert "notifications.retry_for_seconds" in {where for where, _ in short.risks()}
    assert "notifications.retry_for_seconds" not in {where for where, _ in hour.risks()}
