#!/usr/bin/env python3
"""Parse every EQL rule of a checkout of Elastic's detection-rules repository with vigil.

Usage::

    python scripts/check_detection_rules.py [PATH]    # or set VIGIL_RULES_DIR=PATH

Looks for rule files under ``rules/`` and ``rules_building_block/`` (skipping ``_deprecated``
folders), keeps those with ``type = "eql"`` (language ``eql``), parses each query, prints every
failure as ``file: message`` and ends with ``N of M EQL rules parse``. The exit status is 0 only
when all of them parse. Nothing is copied from the checkout.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

RULE_FOLDERS = ("rules", "rules_building_block")


@dataclass(frozen=True)
class Failure:
    """A rule that did not parse: its file and the error text (first line)."""

    path: Path
    message: str


@dataclass(frozen=True)
class Report:
    """The outcome of a run over a checkout."""

    total: int
    failures: tuple[Failure, ...]
    seconds: float

    @property
    def parsed(self) -> int:
        """How many EQL rules parsed."""
        return self.total - len(self.failures)


def eql_rules(root: Path) -> list[tuple[Path, str]]:
    """Every (file, query) of an EQL rule under the checkout ``root``, in a stable order."""
    found: list[tuple[Path, str]] = []
    for folder in RULE_FOLDERS:
        for path in sorted((root / folder).rglob("*.toml")):
            if "_deprecated" in path.relative_to(root).parts:
                continue
            with path.open("rb") as handle:
                data = tomllib.load(handle)
            rule = data.get("rule", {})
            if rule.get("type") != "eql" or rule.get("language", "eql") != "eql":
                continue
            found.append((path, str(rule.get("query", ""))))
    return found


def check(root: Path) -> Report:
    """Parse every EQL rule under ``root`` and collect the failures."""
    from vigil.eql.parser import parse
    from vigil.errors import EqlError

    rules = eql_rules(root)
    failures: list[Failure] = []
    started = time.perf_counter()
    for path, query in rules:
        try:
            parse(query)
        except EqlError as exc:
            failures.append(Failure(path, str(exc)))
    return Report(len(rules), tuple(failures), time.perf_counter() - started)


def main(argv: list[str]) -> int:
    """Command-line entry point; returns the exit status."""
    location = argv[1] if len(argv) > 1 else os.environ.get("VIGIL_RULES_DIR")
    if not location:
        print("usage: check_detection_rules.py PATH (or set VIGIL_RULES_DIR)", file=sys.stderr)
        return 2
    root = Path(location)
    if not any((root / folder).is_dir() for folder in RULE_FOLDERS):
        print(f"{root}: no rules/ or rules_building_block/ folder here", file=sys.stderr)
        return 2
    report = check(root)
    for failure in report.failures:
        print(f"{failure.path.relative_to(root)}: {failure.message}\n")
    print(f"{report.parsed} of {report.total} EQL rules parse ({report.seconds:.2f} s)")
    return 0 if not report.failures and report.total else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main(sys.argv))
