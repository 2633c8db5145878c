"""Configuration: one TOML file plus ``PAYMENTS_*`` environment overrides, decoded by msgspec.

An override names a key path with double underscores: ``PAYMENTS_DATABASE__URL=...`` sets
``[database] url``, ``PAYMENTS_GATEWAYS__JSON__WEIGHT=2`` sets ``[gateways.json] weight``. Its
value is read as a TOML value when it parses as one (``2``, ``true``, ``["AED"]``), else as a
string. With no file, the demo profile is used; overrides apply to it too.

``sections`` holds the structs, ``loading`` the reading and the error messages.
"""

from payments_platform.config.loading import (
    CONFIG_PATH_VARIABLE,
    ENV_PREFIX,
    LOG_LEVEL_VARIABLE,
    ConfigError,
    apply_overrides,
    blame_override,
    decode_plugin_settings,
    decode_settings,
    load_settings,
)
from payments_platform.config.sections import (
    GATEWAY_NAME,
    DatabaseConfig,
    Dispatch,
    GatewayConfig,
    LifecycleSettings,
    MerchantKeys,
    NotificationEndpoint,
    NotificationSettings,
    PluginsConfig,
    RoutingConfig,
    SecuritySettings,
    ServerConfig,
    Settings,
    SimulatorConfig,
    WorkerSettings,
)

__all__ = [
    "CONFIG_PATH_VARIABLE",
    "ENV_PREFIX",
    "GATEWAY_NAME",
    "LOG_LEVEL_VARIABLE",
    "ConfigError",
    "DatabaseConfig",
    "Dispatch",
    "GatewayConfig",
    "LifecycleSettings",
    "MerchantKeys",
    "NotificationEndpoint",
    "NotificationSettings",
    "PluginsConfig",
    "RoutingConfig",
    "SecuritySettings",
    "ServerConfig",
    "Settings",
    "SimulatorConfig",
    "WorkerSettings",
    "apply_overrides",
    "blame_override",
    "decode_plugin_settings",
    "decode_settings",
    "load_settings",
]
