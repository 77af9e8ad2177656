"""Process start rules, and the process stages of sequences."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..eql import condition, negate, render_event_query
from ..settings import WIN
from ..vocab.process import LINUX_PROCESS_THEMES, WINDOWS_PROCESS_THEMES
from ..vocab.programs import HOT_PROCESS_BUDGET, NARROWING, ProcAnchor, ProcTheme
from .common import Built, os_clause, pick, with_hot


def _process_start_clause(rng: random.Random, os_name: str) -> str:
    if os_name != WIN:
        return rng.choice(
            (
                'event.type == "start"',
                'event.action == "exec"',
                'event.type == "start" and event.action == "exec"',
            )
        )
    return rng.choices(
        (
            'event.type == "start"',
            'event.type in ("start", "process_started")',
            'event.action == "start"',
            'event.type : "start"',
        ),
        (55, 20, 15, 10),
    )[0]


GENERIC_PROCESS_EXCLUSIONS = (
    (
        "process.parent.executable",
        (
            "?:\\Program Files\\Microsoft Monitoring Agent\\*",
            "?:\\Program Files (x86)\\ManageEngine\\*",
            "?:\\Program Files\\Rapid7\\*",
            "?:\\Windows\\CCM\\CcmExec.exe",
        ),
    ),
    (
        "process.executable",
        (
            "?:\\Program Files\\Contoso Tools\\*",
            "?:\\Program Files (x86)\\Vendor Agent\\*",
            "?:\\Windows\\ccmcache\\*",
        ),
    ),
    ("process.parent.name", ("CcmExec.exe", "ManagementAgentHost.exe", "ir_agent.exe", "ltsvc.exe")),
    ("process.command_line", ("*\\Program Files\\Contoso*", "*--monitoring-probe*", "*\\ccmcache\\*")),
    ("?process.code_signature.subject_name", ("Contoso Endpoint Tools Ltd", "Example Monitoring Inc.")),
    ("?process.parent.args", ("--vendor-update", "/scheduled-maintenance")),
)


def _exclusions(
    rng: random.Random, hot: bool, pool: Sequence[tuple[str, Sequence[str]]], max_count: int
) -> list[str]:
    """``not`` conditions with values that gen_ecs never writes (vendor tools and the like). A
    hot rule avoids optional (``?``) fields there: a missing field makes ``not`` false."""
    out = []
    candidates = [p for p in pool if not (hot and p[0].startswith("?"))]
    for fld, values in _pick_pairs(rng, candidates, 0, max_count):
        text = condition(rng, fld, pick(rng, values, 1, 3), "  ")
        out.append(negate(text))
    return out


def _pick_pairs(
    rng: random.Random, pool: Sequence[tuple[str, Sequence[str]]], low: int, high: int
) -> list[tuple[str, Sequence[str]]]:
    k = min(len(pool), rng.randint(low, high))
    return rng.sample(list(pool), k)


def _narrowings(anchor: ProcAnchor) -> list[str]:
    """The narrowing conditions (keys of :data:`NARROWING`) that an anchor can be given."""
    usable = (
        ("parent", anchor.parent != "explorer.exe"),
        ("system", anchor.user == "user"),
        ("endpoint", True),
    )
    return [kind for kind, ok in usable if ok]


def _narrowest(anchor: ProcAnchor) -> float:
    """The expected matches per 100,000 events of an anchor with every narrowing it can have."""
    expected = float(anchor.rate)
    for kind in _narrowings(anchor):
        expected *= NARROWING[kind]
    return expected


def process_clauses(
    rng: random.Random, theme: ProcTheme, hot: bool, *, stage: bool = False
) -> tuple[list[str], str]:
    """The clauses of a process start rule (or sequence stage) of ``theme``, event test first,
    and a qualifier for the rule name.

    A hot rule is built around one of the theme's anchors: its name, one of its arguments or
    command-line fragments, then conditions of the kind real rules use to single out the odd case
    (an unexpected parent, SYSTEM, one data source) until the rule expects at most
    :data:`HOT_PROCESS_BUDGET` matches per 100,000 events (four times that for a sequence stage,
    which its join narrows further). A cold rule always has a condition on attacker vocabulary
    only, so it never matches gen_ecs events.
    """
    start = _process_start_clause(rng, theme.os)
    clauses: list[str] = []
    budget = HOT_PROCESS_BUDGET * (4 if stage else 1)
    anchors = [a for a in theme.anchors if _narrowest(a) <= 2 * budget]
    anchor = rng.choice(anchors) if hot and anchors else None
    hot_names = sorted({a.name for a in theme.anchors})
    if anchor is not None:
        names = with_hot(rng, anchor.name, theme.names, (0, 3))
        if anchor.pe and theme.pe and rng.random() < 0.25:
            pe = with_hot(rng, anchor.pe, theme.pe, (0, 2))
            pe_text = condition(rng, "?process.pe.original_file_name", pe)
            clauses.append(f"({condition(rng, 'process.name', names)} or {pe_text})")
        elif rng.random() < 0.12:
            clauses.append(
                condition(rng, "process.executable", with_hot(rng, anchor.exe, theme.exes, (0, 2)))
            )
        else:
            clauses.append(condition(rng, "process.name", names))
        if rng.random() < 0.5:
            clauses.append(
                condition(rng, "process.args", with_hot(rng, rng.choice(anchor.args), theme.args, (0, 3)))
            )
        else:
            clauses.append(
                condition(
                    rng, "process.command_line", with_hot(rng, rng.choice(anchor.cmd), theme.cmd, (0, 2))
                )
            )
        expected = float(anchor.rate)
        narrowings = _narrowings(anchor)
        rng.shuffle(narrowings)
        for kind in narrowings:
            if expected <= budget:
                break
            expected *= NARROWING[kind]
            if kind == "parent":
                # gen_ecs starts the program from explorer.exe when its usual parent is not
                # running: "started by explorer, an Office program or a script host".
                parents = with_hot(rng, "explorer.exe", theme.parents, (1, 4))
                clauses.append(condition(rng, "process.parent.name", parents))
            elif kind == "system":
                clauses.append(condition(rng, "user.id", ["S-1-5-18"]))
            else:
                start = 'event.action == "start"'
        if anchor.user != "user" and rng.random() < 0.3:
            sids = ["S-1-5-18"] if anchor.user == "system" else ["S-1-5-19", "S-1-5-20"]
            clauses.append(condition(rng, "user.id", sids))
        if theme.exes and rng.random() < 0.3:
            clauses.append(negate(condition(rng, "process.executable", pick(rng, theme.exes, 1, 3))))
        qualifier = anchor.name
    else:
        # Cold: real rules often name common programs and narrow them with attacker arguments,
        # so hot names appear here too; the arguments, command line or parent are never seen.
        pool = list(theme.names) + (hot_names if rng.random() < 0.5 else [])
        names = pick(rng, pool, 1, 4)
        if theme.pe and rng.random() < 0.2:
            pe_text = condition(rng, "?process.pe.original_file_name", pick(rng, theme.pe, 1, 3))
            clauses.append(f"({condition(rng, 'process.name', names)} or {pe_text})")
        else:
            clauses.append(condition(rng, "process.name", names))
        for kind in rng.sample(("args", "cmd", "parent"), rng.randint(1, 2)):
            if kind == "args":
                clauses.append(condition(rng, "process.args", pick(rng, theme.args, 1, 4)))
            elif kind == "cmd":
                clauses.append(condition(rng, "process.command_line", pick(rng, theme.cmd, 1, 3)))
            else:
                clauses.append(condition(rng, "process.parent.name", pick(rng, theme.parents, 1, 5)))
        if theme.exes and rng.random() < 0.2:
            clauses.append(condition(rng, "process.executable", pick(rng, theme.exes, 1, 3)))
        if rng.random() < 0.1:
            clauses.append(f"length(process.command_line) > {rng.choice((100, 200, 500, 1000))}")
        if theme.os == WIN and rng.random() < 0.1:
            clauses.append(rng.choice(EXTRA_PROCESS_TESTS))
        qualifier = names[0]
    if not stage:
        clauses.extend(
            _exclusions(rng, anchor is not None, GENERIC_PROCESS_EXCLUSIONS if theme.os == WIN else (), 2)
        )
    return [start, *clauses], qualifier


EXTRA_PROCESS_TESTS = (
    '?process.Ext.token.integrity_level_name == "system"',
    "process.args_count >= 3",
    "process.code_signature.trusted == false",
    '?process.code_signature.subject_name != "Microsoft Windows"',
)


def build_process(rng: random.Random, hot: bool, os_name: str) -> Built:
    """A single-event process rule."""
    themes = (
        WINDOWS_PROCESS_THEMES
        if os_name == WIN
        else tuple(t for t in LINUX_PROCESS_THEMES if t.os == os_name)
    )
    theme = rng.choice(themes)
    body, qualifier = process_clauses(rng, theme, hot)
    base = [os_clause(os_name)] if os_name != WIN or rng.random() < 0.9 else []
    query = render_event_query("process", base + body)
    return Built(query, theme.title, theme.what, theme.mitre, os_name, f" via {qualifier}")
