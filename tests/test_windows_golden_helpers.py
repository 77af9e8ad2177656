"""The string helpers of the Windows mappings against pinned golden output: the ``helper-*`` groups.

The inputs of the former tests/test_windows_helpers_differential.py and the helper tests of
tests/test_windows_sysmon_diff.py, generated the same way: seeded inputs reaching the helpers'
edges, the results hashed as their ``repr`` (so types and key order count). The machinery (hashing,
seeded draws, the golden file and the comparison) is in ``windows_golden.py``, whose docstring says
how the golden tests work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vigil.ecs.windows import powershell, security_helpers, security_steps
from vigil.ecs.windows.sysmon_ingest import parse_utc_time
from vigil.ecs.windows.util import split_command_line
from windows_golden import VALUES, Case, Group, check_golden, draw_float, draw_int, draw_text

SPACES = " \t\n\x0b\x0c\r\x1c\x1f\x85\u00a0\u1680\u2003\u2007\u2028\u202f\u3000"
DIGITS = "0123456789abcdefABCDEF\u0663\u00b2"


def helper_cases(
    seed: str, count: int, draw: Callable[[random.Random], Any], run: Callable[[Any], Any]
) -> Iterator[Case]:
    rng = random.Random(seed)
    for i in range(count):
        value = draw(rng)
        yield (seed, f"#{i}"), value, run(value)


def java_whitespace_group() -> Iterator[Case]:
    chars = security_helpers.JAVA_WHITESPACE
    assert len(set(chars)) == len(chars), "JAVA_WHITESPACE repeats a character"
    yield ("JAVA_WHITESPACE", "all"), None, sorted(chars)


def _decode_twice(text: Any) -> Any:
    first = security_helpers.java_long_decode(text)
    # twice: the second answer comes from the cache
    second = security_helpers.java_long_decode(text)
    assert repr(first) == repr(second), f"java_long_decode({text!r}): {first!r} then {second!r}"
    return first


def long_decode_group() -> Iterator[Case]:
    def draw(rng: random.Random) -> str:
        return draw_text(rng, DIGITS + "+-#xX_ 0", 12) if rng.random() < 0.5 else draw_text(rng, None, 12)

    return helper_cases("java_long_decode", 600, draw, _decode_twice)


def long_decode_other_group() -> Iterator[Case]:
    def draw(rng: random.Random) -> Any:
        r = rng.randrange(5)
        if r == 0:
            return None
        if r == 1:
            return rng.random() < 0.5
        if r == 2:
            return draw_int(rng)
        if r == 3:
            return draw_float(rng)
        return [draw_int(rng) for _ in range(rng.randint(0, 4))]

    return helper_cases("java_long_decode (other values)", 100, draw, security_helpers.java_long_decode)


def trim_group() -> Iterator[Case]:
    return helper_cases(
        "java_trim", 100, lambda rng: draw_text(rng, SPACES + "\x00\x01ab", 20), security_helpers.java_trim
    )


def ws_split_group() -> Iterator[Case]:
    return helper_cases(
        "painless_ws_split",
        100,
        lambda rng: draw_text(rng, SPACES + "ab%1"),
        security_helpers.painless_ws_split,
    )


def last_path_part_group() -> Iterator[Case]:
    return helper_cases(
        "last_path_part", 100, lambda rng: draw_text(rng, "ab\\", 12), security_helpers.last_path_part
    )


def split_4688_group() -> Iterator[Case]:
    return helper_cases(
        "split_4688_command_line",
        600,
        lambda rng: draw_text(rng, SPACES + 'ab"\\=', 30),
        security_steps.split_4688_command_line,
    )


def powershell_lines_group() -> Iterator[Case]:
    def draw(rng: random.Random) -> tuple[str, str]:
        return draw_text(rng, "ab\n\t\\=", 20), rng.choice(["\n", "\n\t", "\\"])

    return helper_cases("powershell _lines", 100, draw, lambda args: powershell._lines(*args))


def squeeze_keys_group() -> Iterator[Case]:
    def draw(rng: random.Random) -> dict[str, int]:
        return {draw_text(rng, SPACES + "ab", 6): draw_int(rng) for _ in range(rng.randint(0, 6))}

    return helper_cases("powershell _squeeze_keys", 100, draw, powershell._squeeze_keys)


def _kv(args: tuple[str, str]) -> dict[str, Any]:
    text, trim = args
    separator = "\n" if trim == " \n\t" else "\n\t"
    parts = powershell._context_parts if trim == " \n\t" else powershell._classic_parts
    ours: dict[str, Any] = {"a": "x"}
    powershell._kv(ours, text, separator, parts)
    return ours


def powershell_kv_group() -> Iterator[Case]:
    def draw(rng: random.Random) -> tuple[str, str]:
        return draw_text(rng, " \n\tab=\r", 30), rng.choice([" \n\t", "\n\t"])

    return helper_cases("powershell _kv", 100, draw, _kv)


_CMD_PIECES = ['"', "\\", " ", "\t", "a", "b", "C:\\P F\\x.exe"]


def command_line_split_group() -> Iterator[Case]:
    def draw(rng: random.Random) -> str:
        return "".join(rng.choice(_CMD_PIECES) for _ in range(rng.randint(0, 14)))

    return helper_cases("split_command_line", 500, draw, split_command_line)


def utc_time_group() -> Iterator[Case]:
    def draw(rng: random.Random) -> str:
        chars = list(rng.choice(["2024-02-29 23:59:59.000", "2023-02-28 10:00:00.512"]))
        for _ in range(rng.randint(0, 3)):
            at, char = rng.randint(0, 23), rng.choice("0123456789 -:.T\n٣")
            chars[at : at + 1] = [char]  # replaces, or appends past the end
        return "".join(chars)

    return helper_cases("parse_utc_time", 300, draw, parse_utc_time)


# =========================================================================== the golden comparison

GROUPS: dict[str, Group] = {
    "helper-java-whitespace": (False, java_whitespace_group, VALUES),
    "helper-java-long-decode": (False, long_decode_group, VALUES),
    "helper-java-long-decode-other": (False, long_decode_other_group, VALUES),
    "helper-java-trim": (False, trim_group, VALUES),
    "helper-painless-ws-split": (False, ws_split_group, VALUES),
    "helper-last-path-part": (False, last_path_part_group, VALUES),
    "helper-split-4688-command-line": (False, split_4688_group, VALUES),
    "helper-powershell-lines": (False, powershell_lines_group, VALUES),
    "helper-powershell-squeeze-keys": (False, squeeze_keys_group, VALUES),
    "helper-powershell-kv": (False, powershell_kv_group, VALUES),
    "helper-split-command-line": (False, command_line_split_group, VALUES),
    "helper-parse-utc-time": (False, utc_time_group, VALUES),
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_output_matches_the_golden_hashes(group: str) -> None:
    check_golden(group, GROUPS[group])
