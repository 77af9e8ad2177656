"""Registry rules (Windows only), and the registry stages of sequences."""

from __future__ import annotations

import random

from ..eql import condition, negate, render_event_query
from ..settings import WIN
from ..vocab.programs import SYS32
from ..vocab.registry import REGISTRY_THEMES, RegTheme
from .common import Built, actor_clause, os_clause, pick, with_hot


def registry_clauses(
    rng: random.Random, theme: RegTheme, hot: bool, *, stage: bool = False
) -> tuple[list[str], str]:
    """The clauses of a registry rule (or stage) of ``theme``; see :func:`.process.process_clauses`."""
    clauses: list[str] = []
    anchor = rng.choice(theme.anchors) if hot and theme.anchors else None
    if anchor is not None and rng.random() < 0.7:
        # Elastic Endpoint's action: half the gen_ecs registry events (Sysmon names it otherwise).
        clauses.append('event.action == "modification"')
    elif rng.random() < 0.6:
        clauses.append(
            rng.choice(
                (
                    'event.type == "change"',
                    'event.type in ("creation", "change")',
                    'event.action == "modification"',
                )
            )
        )
    if anchor is not None:
        clauses.append(condition(rng, "registry.path", with_hot(rng, anchor.path, theme.paths, (0, 3))))
        second = rng.choice(("value", "data", "actor", "actor"))
        if second == "value":
            clauses.append(
                condition(rng, "registry.value", with_hot(rng, anchor.value, theme.values, (0, 2)))
            )
        elif second == "data":
            clauses.append(
                condition(rng, "registry.data.strings", with_hot(rng, anchor.data, theme.data, (0, 2)))
            )
        clauses.append(actor_clause(rng, True))
        qualifier = f" ({anchor.value.strip('*')})"
    else:
        clauses.append(condition(rng, "registry.path", pick(rng, theme.paths, 1, 4)))
        options = rng.sample(("value", "data", "actor"), rng.randint(0, 2))
        for kind in options:
            if kind == "value":
                clauses.append(condition(rng, "registry.value", pick(rng, theme.values, 1, 3)))
            elif kind == "data":
                fld = rng.choice(("registry.data.strings", "?registry.data.strings"))
                clauses.append(condition(rng, fld, pick(rng, theme.data, 1, 3)))
            else:
                clauses.append(actor_clause(rng, False))
        qualifier = f" ({theme.values[0].strip('*') or 'Default Value'})"
    if not stage and rng.random() < 0.5:
        clauses.append(
            negate(
                condition(
                    rng,
                    "process.executable",
                    pick(
                        rng,
                        (
                            SYS32 + "msiexec.exe",
                            "?:\\Program Files\\*\\Setup.exe",
                            "?:\\Windows\\System32\\DriverStore\\*",
                            SYS32 + "svchost.exe",
                            "?:\\Program Files (x86)\\Contoso\\*",
                        ),
                        1,
                        3,
                    ),
                )
            )
        )
    return clauses, qualifier


def build_registry(rng: random.Random, hot: bool, os_name: str) -> Built:
    """A single-event registry rule (Windows only)."""
    theme = rng.choice(REGISTRY_THEMES)
    body, qualifier = registry_clauses(rng, theme, hot)
    base = [os_clause(WIN)] if rng.random() < 0.9 else []
    return Built(
        render_event_query("registry", base + body), theme.title, theme.what, theme.mitre, WIN, qualifier
    )
