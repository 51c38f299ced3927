"""The investigator's guide: audit questions with their SQL, and its markdown rendering.

:data:`QUESTIONS` is the single source of the questions in ``docs/investigator-guide.md``: each
is a question, why it matters, and SQL over the investigator views of
``infra/sql/002_views.sql`` that runs unchanged on chDB and on ClickHouse 18.16 (a test runs
every query on both). :func:`render` turns the answers of a store into the guide; ``ledger guide``
runs the queries as the read-only investigator and writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streams.audit import decisions_in_force_sql
from streams.store.base import QueryResult, Store
from streams.store.text import MARKDOWN, cell, render_table


@dataclass(frozen=True, slots=True)
class Question:
    """One audit question of the guide."""

    question: str
    why: str
    sql: str


QUESTIONS: tuple[Question, ...] = (
    Question(
        "Who is suspected to be still in the country after their deadline?",
        "The EES list of people still inside after their authorised stay (a DHS 'suspected "
        "in-country overstay'): no exit is known and the event-time watermark has passed the "
        "deadline. These are the cases to follow up first.",
        """SELECT traveller_id, jurisdiction, entry_port, entered_at, deadline, rule
FROM suspected_overstayers
ORDER BY deadline, traveller_id
LIMIT 20""",
    ),
    Question(
        "Who left after their deadline, and how late?",
        "Out-of-country overstays: the exit is known and was after the deadline. The size of "
        "the overstay drives the sanction, so the list is sorted by it.",
        """SELECT traveller_id, jurisdiction, entry_port, exit_port, deadline, exited_at,
       overstay_seconds, round(overstay_seconds / 86400, 1) AS overstay_days
FROM overstays
ORDER BY overstay_seconds DESC, traveller_id
LIMIT 20""",
    ),
    Question(
        "How did the stays end, per jurisdiction?",
        "The overall picture: how many stays are open, closed in time, overstayed, suspected, or "
        "ended by a second entry with no exit recorded (a gap in the crossing records).",
        """SELECT jurisdiction, outcome, count() AS stays, uniqExact(traveller_id) AS travellers
FROM stays
GROUP BY jurisdiction, outcome
ORDER BY jurisdiction, stays DESC, outcome""",
    ),
    Question(
        "Which open stays reach their deadline first?",
        "The overstays of tomorrow, with the time left. 'Now' is the latest event time the "
        "store holds, so the answer is reproducible from the data alone, whatever the wall "
        "clock says.",
        """SELECT traveller_id, jurisdiction, entry_port, entered_at, deadline,
       toInt64(deadline) - toInt64((SELECT max(occurred_at) FROM events)) AS seconds_left
FROM stays
WHERE outcome = 'open' AND deadline IS NOT NULL
ORDER BY deadline, traveller_id
LIMIT 20""",
    ),
    Question(
        "Where, under which rule, were violations found each day?",
        "Violations in force per day, rule and port: a port or rule version standing out is "
        "either a real pattern or a misconfigured designation in the policy data.",
        """SELECT day, port, rule, code, decisions, travellers
FROM decisions_by_rule_port_day
WHERE severity = 'VIOLATION'
ORDER BY day, decisions DESC, port, rule, code
LIMIT 20""",
    ),
    Question(
        "Which nationalities are refused most at entry?",
        "Entry-condition violations (not overstays) by the nationality on the travel document: "
        "it shows whether refusals follow the TWOV nationality list or something else.",
        """SELECT nationality, code, count() AS decisions
FROM (
    SELECT code, evidence[1] AS event_id
    FROM decisions_in_force
    WHERE severity = 'VIOLATION' AND code NOT IN ('OVERSTAY', 'SUSPECTED_OVERSTAY')
) AS d
ANY LEFT JOIN (SELECT event_id, nationality FROM events) AS e USING event_id
GROUP BY nationality, code
ORDER BY decisions DESC, nationality, code
LIMIT 20""",
    ),
    Question(
        "What exactly happened to the traveller with the longest overstay?",
        "The case file: every event and every decision emission of one traveller, in event "
        "time, with the knowledge time of each emission and its Kafka coordinates as evidence.",
        """SELECT at, kind, what, port, detail, ref_id, emitted_at
FROM timeline
WHERE traveller_id = (
    SELECT traveller_id FROM overstays ORDER BY overstay_seconds DESC, traveller_id LIMIT 1
)
ORDER BY at, at_ms, kind DESC, kafka_offset""",
    ),
    Question(
        "Which conclusions did the ledger withdraw, and how many?",
        "Decisions are snapshots revised as late records arrive: a suspected overstay is "
        "withdrawn when the exit turns up. Withdrawn decisions are no longer in force but stay "
        "in the log.",
        """SELECT code, count() AS withdrawn, uniqExact(traveller_id) AS travellers
FROM decision_log
WHERE latest AND status = 'RETRACTED'
GROUP BY code
ORDER BY withdrawn DESC, code""",
    ),
    Question(
        "Was any decision published more than once?",
        "The worker delivers at least once, so after a restart an emission may be published "
        "again. Repeats are harmless (every view counts a decision once, by decision_id) but "
        "their number shows how often the worker replayed.",
        """SELECT code, status, count() AS emissions,
       uniqExact(decision_id, observed_at, observed_at_ms, detail) AS distinct_emissions
FROM decision_log
GROUP BY code, status
HAVING emissions > distinct_emissions
ORDER BY code, status""",
    ),
    Question(
        "Which messages could not be processed, and where are the originals?",
        "Bad input is kept, not dropped: each dead letter names the topic, partition and offset "
        "of the original message, so it can be re-read from Kafka and corrected at the source.",
        """SELECT source_topic, source_partition, source_offset, reason, failed_at, raw_bytes
FROM dead_letter_report
ORDER BY source_topic, source_partition, source_offset
LIMIT 20""",
    ),
)

ASOF_NOTE = """\
## As of a knowledge time

Every view answers for *now*. To ask what the ledger held true at a past knowledge time T (the
Kafka timestamp at which each emission was published), run `ledger asof --known-at T
[--traveller ID]`: per decision, the latest emission published at or before T decides, so a later
retraction does not rewrite what was known then. ClickHouse 18.16 has no parameterised views, so
this is a query with parameters (`streams/audit.py`):

```sql
{sql}
```
"""

DEFAULT_DATA_NOTE = "the store filled by `make run` (one simulated day of traffic)"


def run_questions(store: Store) -> list[tuple[Question, QueryResult]]:
    """Every question's answer from ``store``."""
    return [(q, store.query(q.sql)) for q in QUESTIONS]


def render(answers: Sequence[tuple[Question, QueryResult]], *, backend: str, data_note: str) -> str:
    """The guide as markdown, with each query's real output as a table."""
    out = [
        "# Investigator's guide",
        "",
        "<!-- Generated by `ledger guide --out docs/investigator-guide.md` from streams/guide.py; "
        "do not edit by hand. -->",
        "",
        "Ten audit questions, each with its SQL and the answer it gave, queried as the "
        f"read-only `investigator` (store: {backend}). Every query runs unchanged on embedded "
        'chDB and on ClickHouse 18.16; run any of them with `ledger sql --as investigator "..."`.',
        "",
        f"**Data.** The answers below come from {data_note}.",
        "",
        "The views (`infra/sql/002_views.sql`) count each decision once: per `decision_id` the "
        "latest emission decides whether it is in force. Instants are UTC, to the second (each "
        "has a `*_ms` column with the milliseconds).",
        "",
    ]
    for n, (q, result) in enumerate(answers, 1):
        out += [f"## {n}. {q.question}", "", q.why, "", "```sql", q.sql, "```", ""]
        out += [markdown_table(result.columns, result.rows), ""]
    out.append(ASOF_NOTE.format(sql=decisions_in_force_sql("ledger", traveller=False)))
    return "\n".join(out).rstrip() + "\n"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; ``(no rows)`` when empty."""
    if not rows:
        return "_(no rows)_"

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    cells = [[esc(cell(v)) for v in row] for row in rows]
    return render_table([esc(c) for c in columns], cells, MARKDOWN)
