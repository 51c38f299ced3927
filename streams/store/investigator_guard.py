"""What the investigator may run on chDB: one read-only statement, checked by ClickHouse's parser.

chDB is one embedded engine per process, so there is no server-side user to lock down: the
investigator's session is the project's. ``readonly = 1`` refuses writes, DDL, settings changes
and most table functions, but not ``INTO OUTFILE`` (chDB writes the file itself, truncating or
appending anything the process can write) nor the scalar ``file()`` function, and a multi-statement
text runs every statement. So before a query runs, the engine's own parser is asked twice, never a
regular expression: ``formatQuerySingleLine`` (with the text bound as a parameter) refuses anything
but exactly one statement, and ``EXPLAIN AST`` of that single statement gives the tree that
:func:`refusal` walks. Allowed: a SELECT (with UNION, subqueries, CTEs) or DESCRIBE without
``INTO OUTFILE``, ``FORMAT`` or ``SETTINGS``, reading tables or the generator table functions in
:data:`ALLOWED_TABLE_FUNCTIONS`; scalar functions in :data:`REFUSED_FUNCTIONS` are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from base.settings import Settings

# Table functions that only generate values in memory; everything else (file, url, s3, remote,
# hdfs, mysql, postgresql, executable, input, jdbc, odbc, cluster, ...) is refused.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {"numbers", "numbers_mt", "zeros", "zeros_mt", "values", "generate_series", "generateseries"}
)
# Scalar functions that touch the filesystem or load external models.
REFUSED_FUNCTIONS = frozenset({"file", "catboostevaluate", "modelevaluate"})
_READ_ROOTS = frozenset({"SelectWithUnionQuery", "DescribeQuery"})
_ROOT_CLAUSES = {"Literal": "INTO OUTFILE", "Identifier": "FORMAT", "Set": "SETTINGS"}


def investigator_limits(settings: Settings) -> dict[str, int | str]:
    """Per-query limits of the investigator, the same on chDB's session and the server's profile.

    A query that would read or return more, or run longer, fails with ClickHouse's own error
    (TIMEOUT_EXCEEDED, TOO_MANY_ROWS, TOO_MANY_BYTES, TOO_MANY_ROWS_OR_BYTES).
    """
    return {
        "max_execution_time": settings.investigator_max_execution_seconds,
        "max_rows_to_read": settings.investigator_max_rows_to_read,
        "max_bytes_to_read": settings.investigator_max_bytes_to_read,
        "max_result_rows": settings.investigator_max_result_rows,
        "read_overflow_mode": "throw",
        "result_overflow_mode": "throw",
    }


@dataclass(frozen=True, slots=True)
class AstNode:
    """One line of ``EXPLAIN AST``: its depth, node kind and (for functions) name."""

    depth: int
    kind: str
    name: str

    @classmethod
    def parse(cls, line: str) -> AstNode:
        stripped = line.lstrip(" ")
        words = stripped.split(" ")
        name = words[1] if len(words) > 1 and not words[1].startswith("(") else ""
        return cls(len(line) - len(stripped), words[0], name)


def refusal(ast_lines: list[str]) -> str | None:
    """Why the statement whose ``EXPLAIN AST`` is ``ast_lines`` is refused, or None if allowed."""
    nodes = [AstNode.parse(line) for line in ast_lines if line.strip()]
    if not nodes:
        return "empty query"
    root = nodes[0]
    if root.kind not in _READ_ROOTS:
        return f"only SELECT and DESCRIBE may run, not {root.kind}"
    clause = _root_clause(nodes)
    if clause is not None:
        return f"{clause} is not allowed (the result goes to ledger, never to a file or setting)"
    stack: list[AstNode] = []
    for node in nodes:
        while stack and stack[-1].depth >= node.depth:
            stack.pop()
        reason = _node_refusal(stack[-1] if stack else None, node)
        if reason is not None:
            return reason
        stack.append(node)
    return None


def _root_clause(nodes: list[AstNode]) -> str | None:
    """INTO OUTFILE, FORMAT or SETTINGS attached to the whole statement (depth-1 children)."""
    allowed_first = (
        "ExpressionList" if nodes[0].kind == "SelectWithUnionQuery" else "TableExpression"
    )
    for node in nodes[1:]:
        if node.depth == 1 and node.kind != allowed_first:
            return _ROOT_CLAUSES.get(node.kind, node.kind)
    return None


def _node_refusal(parent: AstNode | None, node: AstNode) -> str | None:
    if node.kind == "Set":
        return "SETTINGS is not allowed (the investigator's limits are fixed)"
    if node.kind != "Function":
        return None
    name = node.name.lower()
    if parent is not None and parent.kind == "TableExpression":
        if name not in ALLOWED_TABLE_FUNCTIONS:
            return f"table function {node.name}() is not allowed (files and network are off)"
    elif name in REFUSED_FUNCTIONS:
        return f"function {node.name}() is not allowed (it reads files)"
    return None
