"""Load detection rules from files and folders, in any of the three formats vigil reads.

* detection-rules TOML (``[metadata]`` + ``[rule]``), see :mod:`.toml`;
* Kibana rule exports (NDJSON), see :mod:`.kibana`;
* Elastic's rule documentation pages (Markdown), see :mod:`.markdown`.

The format is told from the content: a Markdown page starts with optional ``---`` front matter and
a ``# Title`` and has a ``**Rule type**`` line; an export starts with ``{``; anything else is read
as TOML. Folders are searched recursively, in sorted order, for ``.toml``, ``.ndjson``, ``.md``,
``.markdown`` and ``.txt`` files, skipping hidden folders and ``_deprecated`` folders (as the
detection-rules repository does). In a folder, a file that is not a rule file at all (a README, a
``pyproject.toml``, event data) is passed over silently; a file named explicitly must be one.

Every problem is collected with its file, line and field; a broken rule never stops the others
from loading. A rule_id seen twice is loaded once (the first one) with a warning.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vigil.rules.loaders.common import LoadResult, RuleProblem
from vigil.rules.loaders.kibana import load_ndjson
from vigil.rules.loaders.markdown import derived_rule_id, load_markdown, looks_like_rule_page
from vigil.rules.loaders.toml import load_toml
from vigil.rules.model import Rule

__all__ = ["RULE_SUFFIXES", "LoadResult", "RuleProblem", "derived_rule_id", "detect_format", "load_rules"]

RULE_SUFFIXES = frozenset({".toml", ".ndjson", ".md", ".markdown", ".txt"})
_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
_JSON_SUFFIXES = frozenset({".ndjson", ".json", ".jsonl"})
_SKIPPED_FOLDERS = frozenset({"_deprecated", "node_modules", "__pycache__"})


def detect_format(text: str, suffix: str = "") -> str:
    """``markdown``, ``ndjson`` or ``toml``, from the content (the suffix only breaks ties)."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if looks_like_rule_page(text):
        return "markdown"
    if stripped.startswith("{"):
        return "ndjson"
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in _JSON_SUFFIXES:
        return "ndjson"
    return "toml"


def _files(paths: Sequence[str | Path], problems: list[RuleProblem]) -> list[tuple[Path, bool]]:
    """(file, named explicitly) for every path, folders expanded."""
    found: list[tuple[Path, bool]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                parts = child.relative_to(path).parts
                if any(p in _SKIPPED_FOLDERS or p.startswith(".") for p in parts):
                    continue
                if child.is_file() and child.suffix.lower() in RULE_SUFFIXES:
                    found.append((child, False))
        elif path.is_file():
            found.append((path, True))
        else:
            problems.append(RuleProblem(str(raw), None, None, "no such file or folder"))
    return found


def load_file(
    path: Path, *, named: bool = True
) -> tuple[list[Rule], list[dict[str, Any]], list[RuleProblem]]:
    """Load one file: (rules, exception items, problems). A file that is not a rule file at all
    is a problem only when ``named``."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        if not named:
            return [], [], []
        return [], [], [RuleProblem(file, None, None, f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    except OSError as exc:
        return [], [], [RuleProblem(file, None, None, f"cannot read the file: {exc.strerror or exc}")]
    fmt = detect_format(text, path.suffix.lower())
    items: list[dict[str, Any]] = []
    if fmt == "markdown":
        rules, problems, relevant = load_markdown(file, text)
    elif fmt == "ndjson":
        rules, items, problems, relevant = load_ndjson(file, text)
    else:
        rules, problems, relevant = load_toml(file, text)
    if not relevant and not named:
        return [], [], []
    return rules, items, problems


def load_rules(paths: Sequence[str | Path], jobs: int = 1) -> LoadResult:
    """Load every rule under ``paths`` (files or folders); see the module docstring. ``jobs``:
    processes that may read the files (see :func:`_load_files`)."""
    problems: list[RuleProblem] = []
    rules: list[Rule] = []
    items: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    files = _files(paths, problems)
    for found, found_items, found_problems in _load_files(files, jobs):
        problems.extend(found_problems)
        items.extend(found_items)
        for rule in found:
            first = seen.get(rule.rule_id)
            if first is not None:
                loc = rule.location("rule_id") or rule.location("name")
                problems.append(
                    RuleProblem(
                        rule.source,
                        loc.line if loc else None,
                        "rule_id",
                        f"{rule.rule_id} is also the rule_id of a rule in {first}; this copy is skipped",
                        "warning",
                    )
                )
                continue
            seen[rule.rule_id] = rule.source
            rules.append(rule)
    return LoadResult(tuple(rules), tuple(problems), tuple(items), tuple(str(p) for p, _ in files))


#: From this many files on, :func:`load_rules` with ``jobs`` of 2 or more reads two fifths of them
#: in a forked helper process (a thousand rule files take ~0.6 s to read and parse in one).
PARALLEL_MIN_FILES = 200

_Loaded = tuple[list[Rule], list[dict[str, Any]], list[RuleProblem]]


def _load_files(files: list[tuple[Path, bool]], jobs: int) -> list[_Loaded]:
    """:func:`load_file` of each file, in order. With ``jobs`` of 2 or more and many files, a
    forked helper reads the last two fifths meanwhile and sends back its rules with their parsed
    queries (which compiling them then reuses, see :func:`vigil.eql.parser.remember_parsed`);
    if it fails, this process reads that half too: the result is the same either way."""
    if jobs < 2 or len(files) < PARALLEL_MIN_FILES or "fork" not in multiprocessing.get_all_start_methods():
        return [load_file(path, named=named) for path, named in files]
    # The helper's share is the smaller: it also pickles its rules and trees (~0.1 s for 400).
    cut = len(files) * 3 // 5
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    helper = ctx.Process(target=_load_part, args=(files[cut:], send), daemon=True)
    helper.start()
    send.close()
    theirs: list[_Loaded] | None = None
    try:
        mine = [load_file(path, named=named) for path, named in files[:cut]]
        try:
            theirs, trees = receive.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            theirs = None
    finally:
        receive.close()
        helper.join()
    if theirs is None:
        theirs = [load_file(path, named=named) for path, named in files[cut:]]
    else:
        from vigil.eql.parser import remember_parsed

        remember_parsed(trees)
    return mine + theirs


def _load_part(files: list[tuple[Path, bool]], send: Any) -> None:
    """The helper of :func:`_load_files`: its files' results and the trees of their queries."""
    try:
        from vigil.eql.parser import parse

        out = [load_file(path, named=named) for path, named in files]
        trees: dict[str, Any] = {}
        for found, _items, _problems in out:
            for rule in found:
                try:
                    trees[rule.query] = parse(rule.query)  # (parsed when loaded: a cache hit)
                except Exception:
                    continue
        send.send((out, trees))
    except BaseException:
        pass
    finally:
        send.close()
        os._exit(0)  # no atexit handlers or buffers of the parent's objects
