#!/usr/bin/env python3
"""Generate a deterministic set of EQL detection rules shaped like Elastic's public corpus.

    python benchmarks/gen_rules.py --rules 1000 --seed 1 --out DIR [--format toml|ndjson]

The benchmark "1,000 rules in one ``vigil hunt``" needs a rule set with the shapes of the real one
(detection-rules' ``rules/windows`` and friends) without copying it: those rules are under the
Elastic License, so every query here is assembled from the value vocabularies of ``genrules/``.

What the set looks like (the proportions are exact counts, rounded, shuffled by the seed):

* about 80 % single-event queries: process 40 %, file 15 %, registry 12 %, network 8 %, DNS 3 %,
  authentication 2 %; conditions with ``:``, ``in``, ``in~``, ``like~``, ``==``, wildcards on
  names, arguments, command lines, paths, registry paths, ports and domains, ``cidrmatch``,
  optional ``?fields``, exclusions with ``and not``, ``host.os.type`` and event.type/action tests;
* about 20 % sequences joined by ``process.entity_id``, ``host.id`` or both (or per stage, parent
  to child), ``maxspan`` from 30s to 5m, two or three stages, a few with ``until`` or ``runs``;
* Windows mostly, with some Linux and macOS rules (they never match the Windows-only events of
  ``gen_ecs.py``, as most of a real rule set never matches a given environment).

The vocabularies overlap with what ``../shared/tools/gen_ecs.py`` writes (its programs, arguments,
paths, registry keys, ports, domains, logon events), so a share of the rules -- the "hot" ones,
built around one concrete behaviour of the generator -- raise alerts, while most rules and most
events match nothing. Index patterns cover where those events land: ``logs-endpoint.events.*``
(Elastic Endpoint hosts, by ``data_stream``) and ``winlogbeat-*`` (Sysmon hosts, by agent).

The output depends only on the arguments: each rule draws from its own random generator seeded
with (seed, position), and files are written in a fixed order with fixed formatting. Writing into
a folder again first removes what an earlier run wrote there (TOML files starting with this
script's marker line, its ``rules.ndjson``), so that a smaller set does not leave rules behind;
other files are left alone.

The code is the package ``genrules/`` next to this script (vocabularies, query builders per rule
kind, rule documents, output); this script is its command line and keeps the names other code
imports from ``gen_rules``.

On 100,000 events of ``gen_ecs.py --seed 1``, the 1,000 rules of seed 1 raise about 1,400 alerts
from about 120 rules, and fewer than 1 % of the events match any rule.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# The package next to this file (the tests load this script by path, without its folder on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from genrules.builders import BUILDERS
from genrules.builders.common import Built
from genrules.mitre import Mitre
from genrules.output import classify, summary, to_kibana, to_toml, write_rules
from genrules.rules import GeneratedRule, allocate_kinds, generate, name_qualifiers
from genrules.settings import (
    AUTHOR,
    HOT_SHARE,
    KIND_SHARES,
    MARKER,
    NDJSON_NAME,
    OTHER_OS_SHARE,
    RULE_ID_NAMESPACE,
)

__all__ = [
    "AUTHOR",
    "BUILDERS",
    "HOT_SHARE",
    "KIND_SHARES",
    "MARKER",
    "NDJSON_NAME",
    "OTHER_OS_SHARE",
    "RULE_ID_NAMESPACE",
    "Built",
    "GeneratedRule",
    "Mitre",
    "allocate_kinds",
    "build_parser",
    "classify",
    "generate",
    "main",
    "name_qualifiers",
    "summary",
    "to_kibana",
    "to_toml",
    "write_rules",
]


def build_parser() -> argparse.ArgumentParser:
    """The command line of the script."""
    parser = argparse.ArgumentParser(
        prog="gen_rules.py",
        description="Generate a deterministic set of EQL detection rules shaped like Elastic's public corpus "
        "(detection-rules TOML files or one Kibana export), for benchmarks over gen_ecs.py events.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rules", type=int, default=1000, help="number of rules to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed; same arguments give the same bytes")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if needed)")
    parser.add_argument(
        "--format",
        choices=("toml", "ndjson"),
        default="toml",
        help=f"toml: one detection-rules file per rule; ndjson: one Kibana export, {NDJSON_NAME}",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Generate and write the rules; print the mix on stderr."""
    args = build_parser().parse_args(argv)
    if args.rules < 1:
        print("gen_rules.py: --rules must be at least 1", file=sys.stderr)
        return 2
    rules = generate(args.rules, args.seed)
    write_rules(rules, args.out, args.format, args.seed)
    print(summary(rules, args.format, args.seed, args.out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
