"""Sequence rules: a process start followed by what the same process does, two starts on one
host, a parent and its child, three stages, ``until`` or ``runs``."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..eql import condition, render_event_query
from ..mitre import T_BRUTE_FORCE, T_UNIX_SHELL, Mitre
from ..settings import MAXSPANS, WIN
from ..vocab.files import WINDOWS_FILE_THEMES
from ..vocab.network import COLD_ACTORS, DNS_THEMES, NETWORK_THEMES
from ..vocab.process import LINUX_PROCESS_THEMES, WINDOWS_PROCESS_THEMES
from ..vocab.programs import ProcTheme
from ..vocab.registry import REGISTRY_THEMES
from .auth import AUTH_COLD_USERS
from .common import Built, os_clause, pick, with_hot
from .files import file_clauses
from .network import dns_clauses, network_clauses
from .process import process_clauses
from .registry import registry_clauses


def _stage(category: str, clauses: Sequence[str], by: str = "", runs: int = 0) -> str:
    """One bracketed sequence stage, laid out as the corpus does."""
    text = render_event_query(category, clauses, "    ")
    out = "  [" + text + "]"
    if by:
        out += f" by {by}"
    if runs:
        out += f" with runs={runs}"
    return out


def _start_stage(
    rng: random.Random, hot: bool, themes: Sequence[ProcTheme]
) -> tuple[list[str], ProcTheme, str]:
    theme = rng.choice([t for t in themes if t.anchors] if hot else list(themes))
    body, qualifier = process_clauses(rng, theme, hot, stage=True)
    return [os_clause(WIN), *body], theme, qualifier


def _follow_stage(rng: random.Random, hot: bool) -> tuple[str, list[str], str, Mitre]:
    """A non-process stage performed by the process of the first stage: (category, clauses,
    label, mitre)."""
    kind = rng.choices(("network", "file", "registry", "dns"), (45, 25, 15, 15))[0]
    if kind == "network":
        theme = rng.choice([t for t in NETWORK_THEMES if t.os == WIN and (t.hot_ports or not hot)])
        body, _q = network_clauses(rng, theme, hot, stage=True)
        # The process is already fixed by the join: drop the actor condition a rule would have.
        body = [c for c in body if not c.startswith("process.name")]
        return (
            "network",
            body,
            theme.title.replace(" by User Process", "").replace(" by Unusual Process", ""),
            theme.mitre,
        )
    if kind == "file":
        ftheme = rng.choice([t for t in WINDOWS_FILE_THEMES if t.anchors or not hot])
        body, _q = file_clauses(rng, ftheme, hot, stage=True)
        body = [c for c in body if not c.startswith("process.name")]
        return "file", body, ftheme.title, ftheme.mitre
    if kind == "registry":
        rtheme = rng.choice([t for t in REGISTRY_THEMES if t.anchors or not hot])
        body, _q = registry_clauses(rng, rtheme, hot, stage=True)
        body = [c for c in body if not c.startswith("process.name")]
        return "registry", body, rtheme.title, rtheme.mitre
    dtheme = rng.choice([t for t in DNS_THEMES if t.hot or not hot])
    category, body, _q = dns_clauses(rng, dtheme, hot, stage=True)
    body = [c for c in body if not c.startswith("process.name")]
    return category, body, dtheme.title, dtheme.mitre


SEQUENCE_SHAPES = (
    ("entity", 30),
    ("host_entity", 14),
    ("host_pair", 16),
    ("parent_child", 10),
    ("three_stage", 12),
    ("until", 6),
    ("runs_auth", 4),
    ("runs_process", 3),
    ("linux", 5),
)


def build_sequence(rng: random.Random, hot: bool, os_name: str) -> Built:
    """A sequence rule: a process start followed by what the same process does (joined by
    ``process.entity_id``, optionally with ``host.id``), two starts on one host, a parent and its
    child, three stages, ``until`` a process ends, or ``runs`` of repeated events."""
    shape = rng.choices([s for s, _ in SEQUENCE_SHAPES], [w for _, w in SEQUENCE_SHAPES])[0]
    maxspan = rng.choice(MAXSPANS)
    os_used = WIN
    if shape in ("entity", "host_entity", "until"):
        first, theme, qualifier = _start_stage(rng, hot, WINDOWS_PROCESS_THEMES)
        category, second, label, mitre = _follow_stage(rng, hot)
        by = "process.entity_id" if shape != "host_entity" else "host.id, process.entity_id"
        lines = [
            f"sequence by {by} with maxspan={maxspan}",
            _stage("process", first),
            _stage(category, second or ["true"]),
        ]
        if shape == "until":
            lines.append('until [process where event.type == "end"]')
        title = f"{theme.title} Followed by {label}"
        what = f"{theme.what}, followed within {maxspan} by the same process: {label.lower()}"
    elif shape == "three_stage":
        first, theme, qualifier = _start_stage(rng, hot, WINDOWS_PROCESS_THEMES)
        cat2, second, label2, mitre = _follow_stage(rng, hot)
        cat3, third, label3, _m = _follow_stage(rng, hot)
        by = rng.choice(("process.entity_id", "host.id, process.entity_id"))
        lines = [
            f"sequence by {by} with maxspan={maxspan}",
            _stage("process", first),
            _stage(cat2, second or ["true"]),
            _stage(cat3, third or ["true"]),
        ]
        title = f"{theme.title} with {label2} and {label3}"
        what = (
            f"{theme.what}, then {label2.lower()} and {label3.lower()} by the same process within {maxspan}"
        )
    elif shape == "host_pair":
        first, theme, qualifier = _start_stage(rng, hot, WINDOWS_PROCESS_THEMES)
        second_stage, theme2, _q = _start_stage(rng, hot, WINDOWS_PROCESS_THEMES)
        lines = [
            f"sequence by host.id with maxspan={maxspan}",
            _stage("process", first),
            _stage("process", second_stage),
        ]
        title = f"{theme.title} Followed by {theme2.title}"
        what = f"{theme.what}, followed on the same host within {maxspan} by {theme2.what}"
        mitre = theme2.mitre
    elif shape == "parent_child":
        first, theme, qualifier = _start_stage(rng, hot, WINDOWS_PROCESS_THEMES)
        child_theme = rng.choice(
            [t for t in WINDOWS_PROCESS_THEMES if t.anchors] if hot else list(WINDOWS_PROCESS_THEMES)
        )
        child, _q = process_clauses(rng, child_theme, hot, stage=True)
        if hot:
            # The child's parent in gen_ecs: cmd.exe starts net.exe, PsExec64.exe and python.exe
            # (and conhost.exe, too often to be interesting); explorer.exe and svchost.exe start
            # the rest.
            first = [os_clause(WIN), 'event.type == "start"', condition(rng, "process.name", ["cmd.exe"])]
            tool = rng.choice(("net.exe", "PsExec64.exe", "python.exe"))
            child = [
                'event.type == "start"',
                condition(rng, "process.name", with_hot(rng, tool, COLD_ACTORS, (0, 3))),
            ]
            qualifier = "cmd.exe"
        lines = [
            f"sequence with maxspan={maxspan}",
            _stage("process", first, by="process.entity_id"),
            _stage("process", [os_clause(WIN), *child], by="process.parent.entity_id"),
        ]
        title = f"{theme.title} Spawning {child_theme.title}"
        what = f"{theme.what}, which then starts a child process: {child_theme.what}"
        mitre = child_theme.mitre
    elif shape == "runs_auth":
        runs = rng.randint(3, 8) if not hot else rng.randint(2, 3)
        fail = ['event.outcome == "failure"']
        if not hot:
            fail.append(condition(rng, "user.name", pick(rng, AUTH_COLD_USERS, 1, 3)))
        lines = [
            f"sequence by host.id, user.name with maxspan={maxspan}",
            _stage("authentication", fail, runs=runs),
            _stage("authentication", ['event.outcome == "success"']),
        ]
        title, what, mitre, qualifier = (
            "Logon Failures Followed by Success",
            f"{runs} failed logons of one user on one host followed by a successful one",
            T_BRUTE_FORCE,
            f" ({runs} Attempts)",
        )
    elif shape == "runs_process":
        first, theme, qualifier = _start_stage(rng, hot, WINDOWS_PROCESS_THEMES)
        runs = rng.randint(2, 5)
        lines = [f"sequence by host.id with maxspan={maxspan}", _stage("process", first, runs=runs)]
        ended = ['event.type == "end"']
        if not hot:
            ended.append(condition(rng, "process.name", pick(rng, COLD_ACTORS, 1, 3)))
        lines.append(_stage("process", [os_clause(WIN), *ended]))
        title = f"Repeated {theme.title}"
        what = f"{theme.what}, repeated {runs} times on one host within {maxspan}"
        mitre = theme.mitre
    else:  # a Linux sequence: shell then outbound connection by the same process
        os_used = "linux"
        ltheme = LINUX_PROCESS_THEMES[0]
        body, qualifier = process_clauses(rng, ltheme, False, stage=True)
        net, _q = network_clauses(rng, NETWORK_THEMES[-1], False, stage=True)
        net = [c for c in net if not c.startswith("process.name")]
        lines = [
            f"sequence by host.id, process.entity_id with maxspan={maxspan}",
            _stage("process", [os_clause("linux"), *body]),
            _stage("network", [os_clause("linux"), *net]),
        ]
        title, what, mitre = (
            "Shell Followed by Outbound Connection",
            "a shell started with suspicious arguments that then connects out",
            T_UNIX_SHELL,
        )
    if qualifier and not qualifier.startswith(" "):
        qualifier = f" via {qualifier}"
    return Built("\n".join(lines), title, what, mitre, os_used, qualifier)
