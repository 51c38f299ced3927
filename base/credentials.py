"""Who connects as whom: the Kafka principal of each role, and the one rule about default secrets.

Every Kafka client of the ledger (gates, authorities, the worker, the sink, lag and admin tools,
the tests' own clients) builds its security options with :func:`kafka_client_security` for its
role, so credentials live in one place: ``Settings`` (``LEDGER_KAFKA_<ROLE>_PASSWORD`` and friends).
The broker authenticates with SASL/SCRAM-SHA-512 and authorizes with ACLs per principal (see
``infra/kafka_acls.py``); a listener that is not on loopback also needs TLS (``SASL_SSL``).

The built-in passwords are for a laptop: :func:`require_configured_secrets` refuses to let any
component reach a non-loopback address while a secret it uses still has its built-in value.
"""

from __future__ import annotations

import ipaddress
from dataclasses import fields
from typing import Any, Literal

from base.errors import LedgerError
from base.settings import Settings

KafkaRole = Literal["gate", "authority", "worker", "sink", "enforcement", "operator", "broker"]
KAFKA_ROLES: tuple[KafkaRole, ...] = (
    "gate",
    "authority",
    "worker",
    "sink",
    "enforcement",
    "operator",
    "broker",
)
CLICKHOUSE_SECRETS = ("clickhouse_password", "investigator_password", "supervisor_password")


class InsecureConfigurationError(LedgerError):
    """A component would talk to a non-loopback address with a built-in (public) secret."""


def kafka_user(settings: Settings, role: KafkaRole) -> str:
    """The SCRAM user name of ``role`` (``<kafka_user_prefix><role>``)."""
    return f"{settings.kafka_user_prefix}{role}"


def kafka_password(settings: Settings, role: KafkaRole) -> str:
    """The SCRAM password of ``role``, from ``LEDGER_KAFKA_<ROLE>_PASSWORD``."""
    return str(getattr(settings, f"kafka_{role}_password"))


def publisher_transactional_prefix(settings: Settings, role: KafkaRole) -> str:
    """Transactional ids of ``role``'s event publishers start with this; the broker grants each
    role its own prefix (``infra/kafka_security.py``), so a gate cannot fence an authority."""
    return f"{kafka_user(settings, role)}.publisher."


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (v4 or v6, bracketed or not)."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a DNS name: it may resolve anywhere


def kafka_hosts(settings: Settings) -> list[str]:
    """The host part of every ``host:port`` in ``settings.kafka_bootstrap``."""
    return [entry.strip().rsplit(":", 1)[0] for entry in settings.kafka_bootstrap.split(",")]


def require_configured_secrets(
    settings: Settings, component: str, secrets: tuple[str, ...]
) -> None:
    """Refuse (raise :class:`InsecureConfigurationError`) if ``component`` would use a built-in
    secret named in ``secrets`` (Settings field names) towards a non-loopback host."""
    defaults = {f.name: f.default for f in fields(Settings)}
    hosts = [settings.clickhouse_host] if set(secrets) & set(CLICKHOUSE_SECRETS) else []
    if any(name.startswith("kafka_") for name in secrets):
        hosts += kafka_hosts(settings)
    exposed = [h for h in hosts if not is_loopback(h)]
    built_in = [name for name in secrets if getattr(settings, name) == defaults.get(name)]
    if exposed and built_in:
        variables = ", ".join(f"LEDGER_{name.upper()}" for name in built_in)
        raise InsecureConfigurationError(
            f"{component} refuses to start: {', '.join(exposed)} is not loopback and "
            f"{variables} still hold the built-in development secrets; configure them"
        )


def kafka_client_security(settings: Settings, role: KafkaRole) -> dict[str, Any]:
    """kafka-python client options that authenticate as ``role`` (SASL/SCRAM, TLS if set).

    Raises :class:`InsecureConfigurationError` for a built-in password off loopback.
    """
    component = f"the Kafka {role} client"
    require_configured_secrets(settings, component, (f"kafka_{role}_password",))
    protocol = settings.kafka_security_protocol
    exposed = [h for h in kafka_hosts(settings) if not is_loopback(h)]
    if exposed and protocol != "SASL_SSL":
        raise InsecureConfigurationError(
            f"{component} refuses to start: {', '.join(exposed)} is not loopback, so "
            f"LEDGER_KAFKA_SECURITY_PROTOCOL must be SASL_SSL (is {protocol})"
        )
    if protocol == "PLAINTEXT":
        return {"security_protocol": protocol}
    options: dict[str, Any] = {
        "security_protocol": protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": kafka_user(settings, role),
        "sasl_plain_password": kafka_password(settings, role),
    }
    if protocol == "SASL_SSL" and settings.kafka_ssl_cafile is not None:
        options["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return options
