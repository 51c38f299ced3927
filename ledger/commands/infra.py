"""``ledger infra``: bring the local Kafka broker and ClickHouse server up, down, or report them.

``up`` starts what is not running (reusing what is), waits until it answers and creates the
project's topics and database; ``down`` stops them; ``status`` prints one line per service.
``kafka --nodes 3`` does the same for a KRaft cluster (:mod:`infra.kafka_cluster`),
``clickhouse --nodes 4`` (or 2) for a ClickHouse cluster of two-replica shards with ZooKeeper
(:mod:`infra.clickhouse_cluster`).
``fetch`` only downloads the Kafka and ZooKeeper jars (``infra/setup.sh`` calls it). Progress
goes to stderr. ``kafka-tool NAME ARGS...`` runs one of Kafka's own command-line tools against the
project's broker, logged in as the operator (:mod:`infra.kafka_tools`), for example
``ledger infra kafka-tool kafka-consumer-groups --describe --all-groups`` for the sink's and the
workers' lag.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from base.settings import Settings

if TYPE_CHECKING:
    from infra.clickhouse_server import ClickHouseServer
    from infra.kafka_broker import KafkaBroker

HELP = "start, stop or inspect the local Kafka broker and ClickHouse server"
SERVICES = ("kafka", "clickhouse", "all")
ACTIONS = {
    "up": "start what is not running and wait until it answers",
    "down": "stop the services",
    "status": "one line per service; exit 1 if one is down",
    "fetch": "download the Kafka (with its tools) and ZooKeeper jars",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare ``ledger infra {up,down,status,fetch} [kafka|clickhouse|all]`` and
    ``ledger infra kafka-tool NAME ARGS...``."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    service = argparse.ArgumentParser(add_help=False)
    service.add_argument("service", nargs="?", choices=SERVICES, default="all")
    service.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for readiness (up)"
    )
    service.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="a local cluster: kafka 3 (KRaft nodes), clickhouse 2 or 4 (two replicas per shard)",
    )
    for action, help_text in ACTIONS.items():
        actions.add_parser(action, parents=[service], help=help_text)
    tool = actions.add_parser(
        "kafka-tool", help="run one of Kafka's command-line tools against the project's broker"
    )
    tool.add_argument("name", help="the tool, as Kafka's bin/NAME.sh names it")
    tool.add_argument("tool_args", nargs=argparse.REMAINDER, help="the tool's arguments")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out the requested action; 0 on success, 1 if ``status`` finds something down."""
    from infra.clickhouse_server import ClickHouseServer
    from infra.kafka_broker import KafkaBroker, ensure_kafka_jars, ensure_topics

    if args.action == "kafka-tool":
        from infra.kafka_tools import run_tool

        return run_tool(settings, args.name, args.tool_args).returncode
    wanted = ("kafka", "clickhouse") if args.service == "all" else (args.service,)
    kafka = KafkaBroker(settings)
    clickhouse = ClickHouseServer(settings)
    action: str = args.action

    if args.nodes > 1:
        return _cluster(args, settings)
    if action == "fetch":
        from infra.zookeeper_server import ensure_zookeeper_jars

        _say(f"kafka jars: {ensure_kafka_jars(settings)}")
        _say(f"zookeeper jars (ClickHouse cluster): {ensure_zookeeper_jars(settings)}")
        return 0
    if action == "up":
        if "kafka" in wanted:
            t0 = time.monotonic()
            _say(f"kafka: starting on {kafka.bootstrap} (data in {kafka.home})")
            started = kafka.start(timeout=args.timeout)
            verb = "started" if started else "already running"
            _say(f"kafka: {verb}, ready after {time.monotonic() - t0:.1f}s")
            created = ensure_topics(settings)
            _say(f"kafka: topics created: {', '.join(created) or 'none (all exist)'}")
        if "clickhouse" in wanted:
            t0 = time.monotonic()
            address = f"{clickhouse.host}:{clickhouse.port}"
            _say(f"clickhouse: starting on {address} (data in {clickhouse.home})")
            started = clickhouse.start(timeout=args.timeout)
            verb = "started" if started else "already running"
            _say(f"clickhouse: {verb}, ready after {time.monotonic() - t0:.1f}s")
        return 0
    if action == "down":
        if "clickhouse" in wanted:
            _say(f"clickhouse: {'stopped' if clickhouse.stop() else 'was not running'}")
        if "kafka" in wanted:
            _say(f"kafka: {'stopped' if kafka.stop() else 'was not running'}")
        return 0
    return _status(kafka, clickhouse, wanted)


def _status(kafka: KafkaBroker, clickhouse: ClickHouseServer, wanted: tuple[str, ...]) -> int:
    """One line per wanted service; 1 if any is down."""
    all_up = True
    if "kafka" in wanted:
        up = kafka.is_running()
        all_up &= up
        print(f"kafka\t{'up' if up else 'down'}\t{kafka.bootstrap}\tpid={kafka.pid()}")
    if "clickhouse" in wanted:
        up = clickhouse.is_running()
        all_up &= up
        print(
            f"clickhouse\t{'up' if up else 'down'}\t{clickhouse.host}:{clickhouse.port}"
            f"\tpid={clickhouse.pid()}"
        )
    return 0 if all_up else 1


def _cluster(args: argparse.Namespace, settings: Settings) -> int:
    """``--nodes N``: the Kafka or the ClickHouse cluster command."""
    if args.service == "kafka":
        from infra.kafka_cluster import cluster_command
    elif args.service == "clickhouse":
        from infra.clickhouse_cluster import cluster_command
    else:
        _say("--nodes needs one service: ledger infra up kafka|clickhouse --nodes N")
        return 2
    return cluster_command(args.action, settings, args.nodes, args.timeout, _say)


def _say(line: str) -> None:
    print(f"ledger infra: {line}", file=sys.stderr, flush=True)
