"""Regenerate tests/golden/windows_golden.json.gz, the pinned output of the Windows-to-ECS mappings.

``tests/test_windows_golden_*.py`` (security, powershell, sysmon, helpers; their shared machinery
in ``tests/windows_golden.py``) map a fixed set of inputs (../shared/datasets records, seeded
mutations, seeded synthetic documents, helper inputs) and compare a hash of each exact output
document with the hash stored in ``windows_golden.json.gz``. This script rewrites that file from
the output of the code it imports: gzip-compressed JSON, written the same way each time (groups
sorted, one input a line, no name or time in the gzip header), so that regenerating unchanged
data gives a byte-identical file (``zcat tests/golden/windows_golden.json.gz`` shows it).

Use it ONLY when a mapping change is intended: a failing golden test is otherwise a regression
to fix in src/, not a file to regenerate. Before regenerating, check each reported difference
(the test prints the input and today's output document of every differing input) against
Winlogbeat's golden output tests: elastic/beats
``x-pack/winlogbeat/module/{sysmon,security,powershell}/test/testdata/ingest/*.golden.json``
(the excerpts in ../shared/datasets/winlogbeat-golden, see its PROVENANCE.md, and the tests
that use them, e.g. tests/test_windows_sysmon.py and tests/test_windows_security.py, must still
pass), and say in the commit message which inputs changed and why.

Run it from the repository root, with ../shared/datasets present (it refuses otherwise, since
most groups are made from those records), on a clean checkout of the code whose output should
become the reference (other people's work in progress must not leak into the golden data)::

    git worktree add /tmp/vigil-golden HEAD          # or the commit with the intended change
    PYTHONPATH=/tmp/vigil-golden/src:/tmp/vigil-golden/tests \\
        .venv/bin/python tests/golden/make_windows_golden.py --code /tmp/vigil-golden/src
    git worktree remove --force /tmp/vigil-golden

``--code DIR`` makes sure ``vigil`` is imported from DIR (PYTHONPATH must put it first). Both
sets of the Sysmon groups are written: the default sample and the ``VIGIL_SYSMON_DIFF_FULL=1``
one (``*-full``), each from a fresh interpreter. ``--group NAME`` (repeatable) remakes only
those groups and keeps the others as they are in the file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
OUTPUT = HERE / "windows_golden.json.gz"


def compute(groups: list[str], code: str | None) -> dict[str, dict[str, Any]]:
    """The golden entries of ``groups`` in this interpreter (VIGIL_SYSMON_DIFF_FULL as it is set)."""
    import vigil

    if code is not None and not Path(vigil.__file__).resolve().is_relative_to(Path(code).resolve()):
        sys.exit(f"vigil is imported from {vigil.__file__}, not from {code}: put {code} first in PYTHONPATH")
    import windows_golden as golden

    if not golden.DATASETS.is_dir():
        sys.exit(
            f"the shared data sets are not at hand ({golden.DATASETS}): refusing to write partial golden data"
        )
    specs = golden.all_groups()
    out: dict[str, dict[str, Any]] = {}
    for group in groups:
        start = time.perf_counter()
        entries = golden.golden_of(group, specs[group])
        out[golden.stored_name(group)] = entries
        count = sum(len(v) if isinstance(v, dict) else int(v.split(":")[0]) for v in entries.values())
        took = time.perf_counter() - start
        print(f"{golden.stored_name(group)}: {count} inputs ({took:.1f} s)", file=sys.stderr)
    return out


def render(result: dict[str, dict[str, Any]]) -> str:
    """The golden file: groups and sources in order, one input (or one -full source) a line."""
    lines = ["{"]
    groups = sorted(result)
    for i, name in enumerate(groups):
        lines.append(f"{json.dumps(name)}: {{")
        sources = list(result[name].items())
        for j, (source, entry) in enumerate(sources):
            comma = "," if j < len(sources) - 1 else ""
            if isinstance(entry, str):
                lines.append(f" {json.dumps(source, ensure_ascii=False)}: {json.dumps(entry)}{comma}")
                continue
            lines.append(f" {json.dumps(source, ensure_ascii=False)}: {{")
            items = list(entry.items())
            for k, (item, digest) in enumerate(items):
                end = "," if k < len(items) - 1 else ""
                lines.append(f"  {json.dumps(item, ensure_ascii=False)}: {json.dumps(digest)}{end}")
            lines.append(" }" + comma)
        lines.append("}," if i < len(groups) - 1 else "}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """``text`` gzip-compressed into ``path``: no file name and a zero mtime in the header, so the
    same text always gives the same bytes (written aside, then moved into place)."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    os.replace(partial, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", help="the src/ directory vigil must be imported from")
    parser.add_argument("--group", action="append", help="remake only this group (repeatable)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))
    import windows_golden as golden  # for the group names only; the hashes come from children

    known = list(golden.all_groups())
    groups = args.group or known
    unknown = sorted(set(groups) - set(known))
    if unknown:
        sys.exit(f"unknown groups: {unknown}; known: {known}")
    if args.child:
        json.dump(compute(groups, args.code), sys.stdout)
        return
    result: dict[str, Any] = golden.load_golden(OUTPUT) if OUTPUT.exists() else {}
    if not args.group:
        result = {}
    # Each set in a fresh interpreter: VIGIL_SYSMON_DIFF_FULL is read at import, and caches
    # must not carry over.
    for full in (False, True):
        wanted = [g for g in groups if not full or g in golden.FULL_GROUPS]
        if not wanted:
            continue
        env = dict(os.environ, VIGIL_SYSMON_DIFF_FULL="1" if full else "0")
        command = [sys.executable, __file__, "--child", *[f"--group={g}" for g in wanted]]
        if args.code:
            command.append(f"--code={args.code}")
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, check=False)
        if done.returncode:
            sys.exit(done.returncode)
        result.update(json.loads(done.stdout))
    write(OUTPUT, render(result))
    if golden.load_golden(OUTPUT) != result:
        sys.exit(f"{OUTPUT} does not read back as written")
    print(f"wrote {OUTPUT} ({len(result)} groups)", file=sys.stderr)


if __name__ == "__main__":
    main()
