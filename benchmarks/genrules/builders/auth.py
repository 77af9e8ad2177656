"""Authentication rules (Windows Security channel logons)."""

from __future__ import annotations

import random

from ..eql import condition, negate, render_event_query
from ..mitre import T_BRUTE_FORCE, T_VALID_ACCOUNTS, Mitre
from ..settings import WIN
from .common import Built, os_clause, pick, with_hot

AUTH_COLD_USERS = ("administrator", "admin", "guest", "svc_backup", "krbtgt", "root", "test")


def auth_clauses(rng: random.Random, hot: bool) -> tuple[list[str], str, str, Mitre, str]:
    """(clauses, title, what, mitre, qualifier) of an authentication rule. gen_ecs writes Security channel
    logons (4624, 4625, 4634) with ``winlog.logon.type`` and ``source.ip``."""
    clauses: list[str] = []
    if rng.random() < 0.5:
        title, what, mitre = (
            "Logon Failures",
            "failed logons of a kind used in password guessing",
            T_BRUTE_FORCE,
        )
        clauses.append(
            rng.choice(
                ('event.outcome == "failure"', 'event.action == "logon-failed"', 'event.code == "4625"')
            )
        )
    else:
        title, what, mitre = (
            "Remote Logon",
            "a successful remote or network logon of an unusual kind",
            T_VALID_ACCOUNTS,
        )
        clauses.append(
            rng.choice(('event.outcome == "success"', 'event.action == "logged-in"', 'event.code == "4624"'))
        )
    if hot:
        clauses.append(
            condition(
                rng,
                "winlog.logon.type",
                with_hot(rng, "RemoteInteractive", ("NewCredentials", "Batch", "Unlock"), (0, 2)),
            )
        )
        clauses.append(f'cidrmatch(source.ip, "10.0.{rng.randint(0, 60)}.0/24")')
        qualifier = " over Remote Desktop"
    else:
        clauses.append(condition(rng, "user.name", pick(rng, AUTH_COLD_USERS, 1, 4)))
        if rng.random() < 0.5:
            clauses.append(
                condition(
                    rng,
                    "winlog.logon.type",
                    pick(rng, ("Network", "RemoteInteractive", "NewCredentials"), 1, 2),
                )
            )
        qualifier = " of a Privileged Account"
    if rng.random() < 0.4:
        clauses.append(negate(condition(rng, "source.ip", ["127.0.0.1", "::1"])))
    return clauses, title, what, mitre, qualifier


def build_authentication(rng: random.Random, hot: bool, os_name: str) -> Built:
    """A single-event authentication rule (Windows Security channel)."""
    body, title, what, mitre, qualifier = auth_clauses(rng, hot)
    base = [os_clause(WIN)] if rng.random() < 0.5 else []
    return Built(render_event_query("authentication", base + body), title, what, mitre, WIN, qualifier)
