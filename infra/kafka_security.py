"""Kafka authentication and authorization: SCRAM users per role, and ACLs so each does its job.

The client listener speaks SASL/SCRAM-SHA-512 (``SASL_PLAINTEXT`` on loopback; ``SASL_SSL`` with
``LEDGER_KAFKA_SSL_KEYSTORE`` when ``LEDGER_KAFKA_SECURITY_PROTOCOL=SASL_SSL``, required off
loopback by ``base.credentials``). The controller listener uses SASL/PLAIN with the broker's
own credentials (KRaft cannot use SCRAM there: the credentials live in the metadata it serves).
``StandardAuthorizer`` denies whatever no ACL allows. The broker's and operator's SCRAM users are
seeded when the storage is formatted (the broker needs its own to start); :func:`ensure_security`
then upserts every role's credentials (so changed passwords take effect) and its ACLs:

- gate: write (and read back, to reconcile in-doubt sends) the crossings topic, in transactions
  under transactional ids with the gate's prefix; authority: the same on the permits topic;
- worker: read both inputs, write decisions and dead letters, everything on topics, groups and
  transactional ids prefixed with its app id (changelogs, Faust's own topics, its group);
- sink: read the four topics, its own groups, write signed checkpoints; enforcement: read
  decisions and checkpoints, its own groups;
- operator and broker: super users (only they create or delete the project's topics).
"""

from __future__ import annotations

import time
from typing import Any

from base.credentials import (
    KAFKA_ROLES,
    KafkaRole,
    kafka_password,
    kafka_user,
    publisher_transactional_prefix,
)
from base.settings import Settings
from infra.errors import InfraError

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SCRAM_ITERATIONS = 8192
_FORBIDDEN_IN_SECRETS = set('"\\,[]=\n\r ')
SUPER_ROLES: tuple[KafkaRole, ...] = ("broker", "operator")
ENFORCEMENT_GROUP_PREFIX = "enforcement"


def client_listener(settings: Settings) -> str:
    """The name (and protocol) of the client listener: SASL_PLAINTEXT or SASL_SSL."""
    protocol = settings.kafka_security_protocol
    if protocol not in ("SASL_PLAINTEXT", "SASL_SSL"):
        raise InfraError(f"LEDGER_KAFKA_SECURITY_PROTOCOL={protocol}: the broker needs SASL")
    return protocol


def _secret(settings: Settings, role: KafkaRole) -> str:
    password = kafka_password(settings, role)
    if not password or set(password) & _FORBIDDEN_IN_SECRETS:
        raise InfraError(
            f"LEDGER_KAFKA_{role.upper()}_PASSWORD must be non-empty, without spaces, quotes, "
            "backslashes, commas, brackets or '='"
        )
    return password


def broker_security_properties(settings: Settings) -> dict[str, str]:
    """server.properties entries for SASL on both listeners and the ACL authorizer."""
    listener = client_listener(settings)
    user, password = kafka_user(settings, "broker"), _secret(settings, "broker")
    scram = settings.kafka_sasl_mechanism
    props = {
        "listener.security.protocol.map": f"CONTROLLER:SASL_PLAINTEXT,{listener}:{listener}",
        "inter.broker.listener.name": listener,
        "sasl.mechanism.inter.broker.protocol": scram,
        "sasl.mechanism.controller.protocol": "PLAIN",
        f"listener.name.{listener.lower()}.sasl.enabled.mechanisms": scram,
        f"listener.name.{listener.lower()}.{scram.lower()}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{user}" password="{password}";'
        ),
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{password}" user_{user}="{password}";'
        ),
        "authorizer.class.name": AUTHORIZER,
        "super.users": ";".join(f"User:{kafka_user(settings, r)}" for r in SUPER_ROLES),
        "allow.everyone.if.no.acl.found": "false",
    }
    if listener == "SASL_SSL":
        if settings.kafka_ssl_keystore is None:
            raise InfraError("SASL_SSL needs LEDGER_KAFKA_SSL_KEYSTORE (a PKCS12 keystore)")
        props.update(
            {
                f"listener.name.{listener.lower()}.ssl.keystore.location": str(
                    settings.kafka_ssl_keystore
                ),
                f"listener.name.{listener.lower()}.ssl.keystore.type": "PKCS12",
                f"listener.name.{listener.lower()}.ssl.keystore.password": (
                    settings.kafka_ssl_keystore_password
                ),
            }
        )
    return props


def scram_format_arguments(settings: Settings) -> list[str]:
    """``kafka-storage format`` arguments seeding the broker's and operator's SCRAM users."""
    arguments: list[str] = []
    for role in SUPER_ROLES:
        spec = f"name={kafka_user(settings, role)},password={_secret(settings, role)}"
        arguments += ["--add-scram", f"{settings.kafka_sasl_mechanism}=[{spec}]"]
    return arguments


def role_acls(settings: Settings) -> list[Any]:
    """The ACLs (kafka-python ``ACL`` objects) that let each non-super role do its job."""
    from kafka.admin import ACLOperation as Op
    from kafka.admin import ResourceType as Res

    s = settings
    inputs = [s.topic_crossings, s.topic_permits]
    outputs = [s.topic_decisions, s.topic_deadletter]
    read, write = (Op.READ, Op.DESCRIBE), (Op.WRITE, Op.DESCRIBE)
    grants: list[tuple[KafkaRole, Any, str, bool, tuple[Any, ...]]] = [
        # Gates and authorities read their own topic back to reconcile in-doubt sends.
        ("gate", Res.TOPIC, s.topic_crossings, False, (*write, Op.READ)),
        ("authority", Res.TOPIC, s.topic_permits, False, (*write, Op.READ)),
        # Their publishers write in transactions, each role under its own transactional ids.
        *[
            (role, Res.TRANSACTIONAL_ID, publisher_transactional_prefix(s, role), True, write)
            for role in ("gate", "authority")
        ],
        *[("worker", Res.TOPIC, t, False, read) for t in inputs],
        *[("worker", Res.TOPIC, t, False, write) for t in outputs],
        ("worker", Res.TOPIC, s.app_id, True, (Op.ALL,)),
        ("worker", Res.GROUP, s.app_id, True, (Op.ALL,)),
        ("worker", Res.TRANSACTIONAL_ID, s.app_id, True, (Op.ALL,)),
        *[("sink", Res.TOPIC, t, False, read) for t in inputs + outputs],
        ("sink", Res.GROUP, f"{s.app_id}-sink", True, read),
        ("sink", Res.TOPIC, s.topic_checkpoints, False, write),  # signed Merkle checkpoints
        ("enforcement", Res.TOPIC, s.topic_checkpoints, False, read),  # verifiers
        ("enforcement", Res.TOPIC, s.topic_decisions, False, read),
        ("enforcement", Res.GROUP, ENFORCEMENT_GROUP_PREFIX, True, read),
    ]
    return [
        _acl(kafka_user(s, role), kind, name, prefixed, op)
        for role, kind, name, prefixed, ops in grants
        for op in ops
    ]


def _acl(user: str, kind: Any, name: str, prefixed: bool, operation: Any) -> Any:
    from kafka.admin import ACL, ACLPermissionType, ACLResourcePatternType, ResourcePattern

    pattern = ACLResourcePatternType.PREFIXED if prefixed else ACLResourcePatternType.LITERAL
    return ACL(
        principal=f"User:{user}",
        host="*",
        operation=operation,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(kind, name, pattern),
    )


def ensure_security(settings: Settings, admin: Any, *, update_passwords: bool = False) -> None:
    """Create missing SCRAM users (all of them with ``update_passwords``, so changed passwords
    take effect) and the ACLs of ``settings``, then wait until every broker enforces them.

    ``admin`` is a kafka-python ``KafkaAdminClient`` logged in as the operator. Re-salting an
    existing user can fail a login in flight, hence only on request (``ledger infra up``).
    """
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion
    from kafka.errors import KafkaError

    mechanism = ScramMechanism[settings.kafka_sasl_mechanism.replace("-", "_")]
    try:
        known = admin.describe_user_scram_credentials(
            [kafka_user(settings, r) for r in KAFKA_ROLES]
        )
    except KafkaError as e:
        raise InfraError(f"reading Kafka SCRAM users: {e}") from e
    upserts = [
        UserScramCredentialUpsertion(
            kafka_user(settings, role), mechanism, _secret(settings, role), SCRAM_ITERATIONS
        )
        for role in KAFKA_ROLES
        if update_passwords or not known.get(kafka_user(settings, role), {}).get("credential_infos")
    ]
    try:
        results = admin.alter_user_scram_credentials(upserts) if upserts else {}
        errors = {u: e for u, e in results.items() if e}
        if errors:
            raise InfraError(f"creating Kafka SCRAM users failed: {errors}")
        result = admin.create_acls(role_acls(settings))
    except KafkaError as e:
        raise InfraError(f"creating Kafka users and ACLs: {e}") from e
    failed = result.get("failed", []) if isinstance(result, dict) else []
    if failed:
        raise InfraError(f"creating Kafka ACLs failed: {failed}")
    _wait_until_every_broker_has(admin, role_acls(settings))


def _acl_key(acl: Any) -> tuple[str, int, int, str, int]:
    pattern = acl.resource_pattern
    return (
        acl.principal,
        int(acl.operation),
        int(pattern.resource_type),
        pattern.resource_name,
        int(pattern.pattern_type),
    )


def _wait_until_every_broker_has(admin: Any, acls: list[Any], timeout: float = 60.0) -> None:
    """Block until every live broker's authorizer holds ``acls``.

    The controller commits new ACLs before the brokers apply them; a client refused in that
    window gets a non-retriable authorization error (fatal to a kafka-python producer). So each
    broker is asked directly (DescribeAcls is answered from the broker's own authorizer), through
    kafka-python's connection manager because its public call picks any one broker.
    """
    from kafka.admin import ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourceType
    from kafka.protocol.admin import DescribeAclsRequest

    wanted = {_acl_key(a) for a in acls}
    request = DescribeAclsRequest(
        min_version=1,
        resource_type_filter=ResourceType.ANY,
        resource_name_filter=None,
        pattern_type_filter=ACLResourcePatternType.ANY,
        principal_filter=None,
        host_filter=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
    )
    deadline = time.monotonic() + timeout
    brokers = [int(b["broker_id"]) for b in admin.describe_cluster().get("brokers", [])]
    for broker in brokers:
        while True:
            response = admin._manager.run(admin._manager.send, request, broker)
            held, _ = admin._convert_describe_acls_response_to_acls(response)
            missing = wanted - {_acl_key(a) for a in held}
            if not missing:
                break
            if time.monotonic() > deadline:
                raise InfraError(f"broker {broker} lacks {len(missing)} ACLs after {timeout:.0f}s")
            time.sleep(0.1)
