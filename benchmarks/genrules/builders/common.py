"""What a query builder returns, and helpers shared by the builders of every rule kind."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..eql import condition
from ..mitre import Mitre
from ..settings import WIN
from ..vocab.network import COLD_ACTORS, COLD_LINUX_ACTORS, RARE_ACTORS


@dataclass
class Built:
    """What a query builder made: query text, theme title for the name, description phrase,
    ATT&CK mapping, OS and a qualifier for the name (" via cmd.exe")."""

    query: str
    title: str
    what: str
    mitre: Mitre
    os: str = WIN
    qualifier: str = ""


def pick(rng: random.Random, pool: Sequence[str], low: int, high: int) -> list[str]:
    """Between ``low`` and ``high`` distinct values of ``pool``, in a random order."""
    k = min(len(pool), rng.randint(low, high))
    return rng.sample(list(pool), k)


def with_hot(rng: random.Random, hot: str, cold: Sequence[str], extra: tuple[int, int] = (0, 3)) -> list[str]:
    """``hot`` among a few ``cold`` values, as a real rule lists its variants."""
    values = pick(rng, [c for c in cold if c.lower() != hot.lower()], *extra)
    values.insert(rng.randint(0, len(values)), hot)
    return values


def os_clause(os_name: str) -> str:
    return f'host.os.type == "{os_name}"'


def actor_clause(rng: random.Random, hot: bool, os_name: str = WIN) -> str:
    """``process.name`` of the process behind a file, registry, network or DNS event."""
    if os_name != WIN:
        return condition(rng, "process.name", pick(rng, COLD_LINUX_ACTORS, 1, 4))
    if hot:
        return condition(rng, "process.name", with_hot(rng, rng.choice(RARE_ACTORS), COLD_ACTORS, (0, 4)))
    return condition(rng, "process.name", pick(rng, COLD_ACTORS, 1, 5))
