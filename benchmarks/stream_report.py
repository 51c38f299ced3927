"""The stream benchmark's printed table: figures and ratios, latency per load, profiles."""

from __future__ import annotations

from typing import Any


def _row(label: str, value: str) -> None:
    print(f"  {label:<58} {value}")


def _latency_rows(run_: dict[str, Any], target_ms: float) -> None:
    asked = run_["rate_asked_msgs_per_s"]
    print(f"  -- {asked:,.0f} msg/s for {run_['seconds']:.0f} s")
    _row(
        "offered, achieved",
        f"{run_['offered_msgs_per_s']:>10,.0f} msg/s ({run_['messages']} "
        f"msgs, {run_['entries_per_s']:,.0f} entries/s)",
    )
    _row("pacing: worst lag behind schedule", f"{run_['max_behind_schedule_ms']:>10.1f} ms")
    _row(
        "worker processed during the load",
        f"{run_['worker_processed_per_s']:>10,.0f} msg/s "
        f"({run_['behind_at_end_of_load']} behind at the end)",
    )
    cores = ", ".join(f"{k} {v:.2f}" for k, v in run_["cores_during_load"].items())
    _row("CPU cores used during the load", f"{'':>10} {cores}")
    _row(
        f"entries decided / missing after {run_['drain_s']:.0f} s drain",
        f"{run_['decided']:>10} / {run_['missing_after_drain']}",
    )
    for label, key in (
        ("send -> decision consumed", "arrival_latency_ms"),
        ("send -> decision record timestamp", "record_timestamp_latency_ms"),
    ):
        q = run_[key]
        if q:
            _row(
                f"{label} p50/p95/p99/max",
                f"{q['p50']:>10.0f} / {q['p95']:.0f} / {q['p99']:.0f} / {q['max']:.0f} ms",
            )
    verdict = "meets" if run_["meets_target"] else "MISSES"
    _row(f"target p99 < {target_ms:.0f} ms (all decided) at {asked:,.0f} msg/s", f"{verdict:>10}")


def report(r: dict[str, Any]) -> None:
    """The table of figures and ratios."""
    _report_throughput(r)
    _report_latency(r)
    _report_profiles(r)


def _report_throughput(r: dict[str, Any]) -> None:
    st, raw, enf, rep = r["stream"], r["raw"], r["enforcement"], r["in_process"]
    null = r["null_agent"]
    print(f"machine: {r['machine']}")
    print(
        f"stream: {st['messages']} messages ({st['heartbeats']} heartbeats), "
        f"{st['travellers']} travellers x {st['days']} days, seed {st['seed']}, "
        f"violations {st['violation_share']}, {st['partitions']} partitions"
    )
    print("THROUGHPUT (pre-published backlog, one worker)")
    _row("baseline: raw aiokafka consume + decode_event", f"{raw['aiokafka_per_s']:>10,.0f} msg/s")
    _row("raw kafka-python consume + decode_event", f"{raw['kafka_python_per_s']:>10,.0f} msg/s")
    _row(
        "Faust null agent (take_events, no tables, same topics)",
        f"{null['events_per_s']:>10,.0f} msg/s ({null['counted']} in {null['seconds']:.2f} s, "
        f"{null['worker_cores']:.2f} cores)",
    )
    _row("ratio Faust null agent / raw aiokafka", f"{null['ratio_vs_aiokafka']:>10.3f}")
    _row(
        "enforcement worker (/health/ processed, first->last)",
        f"{enf['events_per_s']:>10,.0f} events/s ({enf['counted']} in {enf['seconds']:.2f} s, "
        f"{enf['worker_cores']:.2f} cores)",
    )
    _row("ratio enforcement / Faust null agent", f"{enf['ratio_vs_null_agent']:>10.3f}")
    _row("ratio enforcement / raw aiokafka", f"{enf['ratio_vs_aiokafka']:>10.3f}")
    _row("ratio enforcement / raw kafka-python", f"{enf['ratio_vs_kafka_python']:>10.3f}")
    _row("worker start -> first message processed", f"{enf['startup_s']:>10.1f} s")
    _row(
        "decisions published / dead letters / group lag after",
        f"{enf['decisions_published']:>10} / {enf['health'].get('dead_lettered')} / "
        f"{enf['lag_after']}",
    )
    _row("Faust 'producer buffer full' warnings", f"{enf['producer_buffer_full_warnings']:>10}")
    logs = enf["changelogs"]
    _row(
        "changelog bytes per traveller event",
        f"{enf['changelog_bytes_per_traveller_event']:>10,.0f} B ({enf['traveller_events']} "
        f"events; records: travellers {logs.get('travellers_records')}, "
        f"clocks {logs.get('clocks_records')})",
    )
    _row(
        "state bytes per traveller (stored, mean / median)",
        f"{rep['state_bytes_per_traveller_mean']:>10,.0f} / "
        f"{rep['state_bytes_per_traveller_median']:,.0f} B ({rep['travellers_stored']} travellers)",
    )
    _row(
        "in process: Processor.process_batch, memory tables",
        f"{rep['events_per_s']:>10,.0f} events/s (one core, no Kafka/Faust; "
        f"{rep['table_writes_per_traveller_event']:.2f} table writes per traveller event)",
    )
    _row("ratio enforcement / in process", f"{rep['ratio_enforcement_vs_in_process']:>10.3f}")
    if enf["log_problems"]:
        _row("worker log lines with ERROR/Traceback", f"{len(enf['log_problems']):>10}")


def _report_latency(r: dict[str, Any]) -> None:
    lat = r.get("latency")
    if lat is not None:
        print(
            f"LATENCY (fresh worker, caught up; paced entries + heartbeats; trigger = "
            f"{lat['trigger']})"
        )
        for run_ in lat["runs"]:
            _latency_rows(run_, lat["target_p99_ms"])
        _row("Faust 'producer buffer full' warnings", f"{lat['producer_buffer_full_warnings']:>10}")
        if lat["log_problems"]:
            _row("worker log lines with ERROR/Traceback", f"{len(lat['log_problems']):>10}")


def _report_profiles(r: dict[str, Any]) -> None:
    rep = r["in_process"]
    print("PROFILE: Processor.process_batch in process under cProfile, top by own time")
    for line in rep["profile_top_tottime"]:
        print(f"  {line}")
    prof = r.get("worker_profile")
    if prof is not None:
        print(
            "PROFILE: the worker process under cProfile "
            f"({prof['events_per_s_under_cprofile']:,.0f} events/s under the profiler; "
            f"dump {prof['dump']}), top by own time"
        )
        for line in prof["top_tottime"]:
            print(f"  {line}")
