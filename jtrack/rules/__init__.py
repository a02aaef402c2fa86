"""Segments, outcomes and action maps from a TOML rules file, evaluated over the store.

Public API: load_rules, parse_rules, check_rules, evaluate, evaluate_store, RuleResults,
session_rule_columns, join_rule_columns, explain_session, explain_store, rules_report.
Core module: never imports typer or rich and never prints.
"""

from __future__ import annotations

from jtrack.rules.evaluate import RuleResults, evaluate
from jtrack.rules.explain import explain_session
from jtrack.rules.load import Problem, RulesError, check_rules, check_text, load_rules, parse_rules
from jtrack.rules.model import ActionMap, Condition, Outcome, Pattern, Rules, Segment
from jtrack.rules.report import RulesReport, join_rule_columns, rules_report, session_rule_columns
from jtrack.rules.store import evaluate_store, explain_store

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
    "check_rules",
    "check_text",
    "evaluate",
    "evaluate_store",
    "explain_session",
    "explain_store",
    "join_rule_columns",
    "load_rules",
    "parse_rules",
    "rules_report",
    "session_rule_columns",
]
