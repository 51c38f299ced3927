"""Local services for the ledger: fetch, start, stop and wait for Kafka and ClickHouse.

There is no Docker. :mod:`infra.kafka_broker` runs a single-node KRaft broker from the official
Apache Kafka jars (fetched once with Maven) and :mod:`infra.clickhouse_server` runs Debian's
``clickhouse-server`` with a generated project config. Both keep every file under
``settings.data_dir`` and listen on loopback only. ``ledger infra``
(:mod:`ledger.commands.infra`) is the command-line face; ``tests/conftest.py`` uses the same
classes for the service fixtures.
"""
