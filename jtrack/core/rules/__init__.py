"""Segments, outcomes and action maps from a TOML rules file, evaluated over sessions.

Public API: load_rules, parse_rules, check_rules, evaluate, RuleResults,
session_rule_columns, join_rule_columns, explain_session, rules_report.
Core module: never imports typer or rich and never prints.
"""

from __future__ import annotations

from jtrack.core.rules.evaluate import RuleResults, evaluate
from jtrack.core.rules.explain import explain_session
from jtrack.core.rules.load import (
    Problem,
    RulesError,
    as_rules,
    check_rules,
    check_text,
    load_rules,
    parse_rules,
)
from jtrack.core.rules.model import ActionMap, Condition, Outcome, Pattern, Rules, Segment
from jtrack.core.rules.report import (
    RulesReport,
    join_rule_columns,
    rules_report,
    session_rule_columns,
)

__all__ = [
    "ActionMap",
    "Condition",
    "Outcome",
    "Pattern",
    "Problem",
    "RuleResults",
    "Rules",
    "RulesError",
    "RulesReport",
    "Segment",
    "as_rules",
    "check_rules",
    "check_text",
    "evaluate",
    "explain_session",
    "join_rule_columns",
    "load_rules",
    "parse_rules",
    "rules_report",
    "session_rule_columns",
]
