"""Whole rules: the mix of kinds, names and Kibana fields around a built query (:func:`generate`)."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from .builders import BUILDERS
from .builders.common import Built
from .settings import (
    DATA_SOURCES,
    HOT_SHARE,
    KIND_SHARES,
    OTHER_OS_INDICES,
    OTHER_OS_SHARE,
    RULE_ID_NAMESPACE,
    SCHEDULES,
    SEVERITIES,
    WIN,
    WINDOWS_INDICES,
)


@dataclass
class GeneratedRule:
    """One generated rule: its kind and whether it was built to match gen_ecs events, the query
    builder's output, and the Kibana fields of the rule."""

    position: int
    kind: str
    hot: bool
    built: Built
    rule_id: str
    name: str
    description: str
    severity: str
    risk_score: int
    index: tuple[str, ...]
    interval: str | None
    from_: str
    tags: tuple[str, ...]
    timestamp_override: str | None
    creation_date: str
    updated_date: str
    note: str = ""


def allocate_kinds(count: int, rng: random.Random) -> list[str]:
    """Exactly the shares of :data:`KIND_SHARES` (largest remainders), in a seeded order."""
    total = sum(w for _, w in KIND_SHARES)
    exact = [(k, count * w / total) for k, w in KIND_SHARES]
    counts = {k: int(x) for k, x in exact}
    left = count - sum(counts.values())
    for k, _x in sorted(exact, key=lambda kx: (-(kx[1] - int(kx[1])), kx[0]))[:left]:
        counts[k] += 1
    kinds = [k for k, _ in KIND_SHARES for _ in range(counts[k])]
    rng.shuffle(kinds)
    return kinds


def _tags(built: Built, index: Sequence[str]) -> tuple[str, ...]:
    os_tag = {"windows": "OS: Windows", "linux": "OS: Linux", "macos": "OS: macOS"}[built.os]
    tags = ["Domain: Endpoint", os_tag, "Use Case: Threat Detection", f"Tactic: {built.mitre.tactic[1]}"]
    for pattern in index:
        for prefix, tag in DATA_SOURCES.items():
            if pattern.startswith(prefix) and tag not in tags:
                tags.append(tag)
    tags.append("Benchmark: vigil")
    return tuple(tags)


def _date(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(first_year, last_year)}/{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}"


NAME_PREFIXES = ("Suspicious", "Unusual", "Potential", "Anomalous", "Uncommon", "Rare")
# Fields whose first values make a rule name more specific, and how the name says it.
NAME_FIELDS = (
    ("process.name", " via {}"),
    ("destination.port", " on Port {}"),
    ("dns.question.name", " for {}"),
    ("registry.value", " ({})"),
    ("file.extension", " ({} Files)"),
    ("file.name", " ({})"),
    ("process.parent.name", " Spawned by {}"),
    ("user.name", " for {}"),
)
# A positive condition on one of NAME_FIELDS and its value or value list.
_CONDITION = re.compile(
    r"(?<![\w.?])(\?)?("
    + "|".join(re.escape(f) for f, _ in NAME_FIELDS)
    + r') (?::|like~|in~|in|==) (\((?:[^()"]|"(?:[^"\\]|\\.)*")*\)|"(?:[^"\\]|\\.)*"|\d+)'
)
_VALUE = re.compile(r'"((?:[^"\\]|\\.)*)"|(\d+)')


def name_qualifiers(built: Built) -> list[str]:
    """Ways to make the rule's name more specific: the builder's own, then one per plain value
    of the positive conditions of the query (names, ports, domains, registry values...)."""
    out = [built.qualifier] if built.qualifier else []
    templates = dict(NAME_FIELDS)
    for match in _CONDITION.finditer(built.query):
        before = built.query[: match.start()].rstrip()
        if before.endswith(("not", "not (")):
            continue
        for text, number in _VALUE.findall(match.group(3)):
            value = number or text.replace("\\\\", "\\")
            if value and "*" not in value and "?" not in value:
                out.append(templates[match.group(2)].format(value))
    return list(dict.fromkeys(out))


def _unique_name(rng: random.Random, built: Built, used: set[str]) -> str:
    """A rule name not used yet: a prefix, the title and (most of the time) a qualifier, trying
    other qualifiers and prefixes before numbering it, since names in the corpus are unique."""
    prefixes = rng.sample(NAME_PREFIXES, len(NAME_PREFIXES))
    qualifiers = name_qualifiers(built)
    plain_first = rng.random() < 0.35
    for prefix in prefixes:
        base = f"{prefix} {built.title}"
        options = (
            [base, *(base + q for q in qualifiers)]
            if plain_first
            else [*(base + q for q in qualifiers), base]
        )
        for option in options:
            if option not in used:
                return option
    n = 2
    while f"{prefixes[0]} {built.title} ({n})" in used:
        n += 1
    return f"{prefixes[0]} {built.title} ({n})"


def generate(count: int, seed: int) -> list[GeneratedRule]:
    """``count`` rules for ``seed``: the same arguments always give the same rules."""
    kinds = allocate_kinds(count, random.Random(f"gen_rules:{seed}:kinds"))
    rules: list[GeneratedRule] = []
    used_names: set[str] = set()
    for position, kind in enumerate(kinds):
        rng = random.Random(f"gen_rules:{seed}:{position}")
        hot = rng.random() < HOT_SHARE[kind]
        os_name = WIN
        share = OTHER_OS_SHARE.get(kind, 0.0)
        if rng.random() < share:
            os_name = "linux" if rng.random() < 0.65 else "macos"
            hot = False
        built = BUILDERS[kind](rng, hot, os_name)
        if built.os == WIN:
            index = rng.choice(WINDOWS_INDICES[kind])
        else:
            index = rng.choice(OTHER_OS_INDICES[built.os])
        severity, risk, _w = rng.choices(SEVERITIES, [s[2] for s in SEVERITIES])[0]
        interval, from_, _w = rng.choices(SCHEDULES, [s[2] for s in SCHEDULES])[0]
        name = _unique_name(rng, built, used_names)
        used_names.add(name)
        description = (
            f"Identifies {built.what}. Adversaries rely on this behaviour for "
            f"{built.mitre.tactic[1].lower()} ({built.mitre.technique[1]}), while administrators and "
            "software updates rarely do. This rule was generated for benchmarking vigil and is not an "
            "Elastic rule."
        )
        note = ""
        if rng.random() < 0.3:
            note = (
                "## Triage and analysis\n\n"
                "- Review the process tree and command line of the process behind the alert.\n"
                "- Check whether the program is expected on this host and for this user.\n"
                "- Look for related alerts on the same host in the 48 hours around the event.\n"
            )
        rules.append(
            GeneratedRule(
                position=position,
                kind=kind,
                hot=hot,
                built=built,
                rule_id=str(uuid.uuid5(RULE_ID_NAMESPACE, f"{seed}:{position}")),
                name=name,
                description=description,
                severity=severity,
                risk_score=risk,
                index=tuple(index),
                interval=None if rng.random() < 0.25 and interval == "5m" else interval,
                from_=from_,
                tags=_tags(built, index),
                timestamp_override="event.ingested" if rng.random() < 0.4 else None,
                creation_date=_date(rng, 2020, 2023),
                updated_date=_date(rng, 2024, 2025),
                note=note,
            )
        )
    return rules
