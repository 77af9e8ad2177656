"""The machinery of the Windows-to-ECS golden tests (``tests/test_windows_golden_*.py``).

Every input of those tests is generated the same way each run (data set records in a fixed order,
seeded mutations, seeded synthetic documents) and mapped with today's code; a short hash of the
*exact* output (``orjson.dumps``: key order kept, ``1``, ``True`` and ``"1"`` told apart) must equal
the one stored in ``tests/golden/windows_golden.json.gz`` (gzip-compressed JSON), keyed by group and
by a stable description of the input (data set file and record, or seed and case index). The golden
file holds hashes only: no data set content (../shared is under licences that forbid copying it here).

Groups, each defined (in the ``GROUPS`` dict of its module) next to the inputs it is made from:

* Security / PowerShell (``security-*`` in ``test_windows_golden_security.py``; ``operational-*``
  and ``classic-*`` in ``test_windows_golden_powershell.py``): every record of those channels in
  ../shared/datasets (NXLog lines, the classic ``Windows PowerShell`` lines of the upstream zips,
  EVTX records, Winlogbeat's golden raw records), one seeded mutation of each, and seeded synthetic
  documents; mapped with ``to_ecs``, alternately in ``agent`` and ``winlogbeat`` mode.
* Sysmon (``sysmon-*`` in ``test_windows_golden_sysmon.py``): a sample per event code of the data
  sets' Sysmon records (all of them with ``VIGIL_SYSMON_DIFF_FULL=1``, upstream zips included), the
  same records bent in many ways, and seeded random documents; each mapped in both modes.
* ``nxlog-*`` (``test_windows_golden_sysmon.py``): NXLog records turned into Winlogbeat-raw
  documents (``nxlog_to_raw``).
* ``helper-*`` (``test_windows_golden_helpers.py``): the string helpers the mappings are built
  from, on seeded inputs reaching their edges (hashes of ``repr`` of the result, so types and key
  order count).

Besides the hashes, the properties that need no oracle are checked as they are: two documents
mapped from the same input are equal and share no list or dict, the value caches stay bounded,
long values are mapped but not remembered.

This module (no ``test_`` prefix: pytest does not collect it; the tests import it as
``windows_golden``, tests/ being on ``sys.path`` as for ``engine_util``) holds what the groups
share: hashing, the data set records, the mapping of cases, seeded draws, the golden file and the
comparison (:func:`check_golden`). :func:`all_groups` gathers the groups of every module, for
``tests/golden/make_windows_golden.py``.

A mismatch names the group and the input, and prints the input and today's output document.
When a mapping change is *intended*, regenerate the golden file with
``tests/golden/make_windows_golden.py`` (its docstring says how and when).
"""

from __future__ import annotations

import copy
import functools
import glob
import gzip
import hashlib
import importlib
import io
import json
import os
import random
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from vigil.ecs.windows import to_ecs
from vigil.sources.evtx import evtx_documents
from vigil.sources.winlog import is_nxlog, nxlog_to_raw

GOLDEN = Path(__file__).resolve().parent / "golden" / "windows_golden.json.gz"
DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
FULL = os.environ.get("VIGIL_SYSMON_DIFF_FULL", "") not in ("", "0")

SECURITY = "security"
OPERATIONAL = "microsoft-windows-powershell/operational"
CLASSIC = "windows powershell"
CHANNELS = (SECURITY, OPERATIONAL, CLASSIC)
SYSMON = "microsoft-windows-sysmon/operational"
HASH_CHARS = 12  # of the sha256 hex digest: 48 bits, ample to notice a changed document

# An input's stable description: (source, item), e.g. (data set file, record) or (seed, case number).
Label = tuple[str, str]
# A case: (label, input shown on a mismatch, output to hash).
Case = tuple[Label, Any, Any]
# A group: (needs ../shared, cases, how an output is hashed).
Group = tuple[bool, Callable[[], Iterator[Case]], Callable[[Any], str]]


# --------------------------------------------------------------------------- hashing


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS]


def doc_bytes(doc: Any) -> bytes:
    """The exact document as bytes: key order kept, value types told apart."""
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:  # integers past 64 bits: the standard encoder takes them
        return b"json:" + json.dumps(doc, ensure_ascii=False, default=repr).encode("utf-8", "surrogatepass")


# Where the data sets are differs between checkouts (documents read from EVTX files carry their
# path in ``log.file.path``): it is hashed as this placeholder, so the hashes hold anywhere.
_ROOT = str(DATASETS).encode("utf-8")
_ROOT_PLACEHOLDER = b"<datasets>"


def doc_hash(doc: Any) -> str:
    return digest(doc_bytes(doc).replace(_ROOT, _ROOT_PLACEHOLDER))


def value_hash(value: Any) -> str:
    """For helper results: ``repr`` tells ``1``, ``True``, ``1.0`` and ``"1"`` apart, and keeps key order."""
    return digest(repr(value).encode("utf-8", "surrogatepass").replace(_ROOT, _ROOT_PLACEHOLDER))


def clone(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (documents hold JSON values only; much faster than ``copy.deepcopy``)."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(doc))
    return copied


def containers(doc: Any) -> Iterator[int]:
    if isinstance(doc, dict):
        yield id(doc)
        for value in doc.values():
            yield from containers(value)
    elif isinstance(doc, list):
        yield id(doc)
        for value in doc:
            yield from containers(value)


def map_twice(raw: dict[str, Any], mode: str, label: Label) -> dict[str, Any]:
    """``to_ecs`` on two copies of ``raw``: equal, exactly, and sharing no list or dict."""
    first = to_ecs(copy.deepcopy(raw), mode=mode)
    second = to_ecs(copy.deepcopy(raw), mode=mode)
    assert doc_bytes(first) == doc_bytes(second), f"{label}: two mappings of one input differ"
    assert not set(containers(first)) & set(containers(second)), (
        f"{label}: two documents mapped from one input share a list or dict"
    )
    return first


def need_datasets() -> None:
    if not DATASETS.is_dir():
        pytest.skip(f"the shared data sets are not at hand ({DATASETS})")


def unique(labels: list[Label]) -> list[Label]:
    """The labels, a repeated one's item suffixed `` #2``, `` #3``..."""
    seen: dict[Label, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else (label[0], f"{label[1]} #{seen[label]}"))
    return out


# =========================================================================== data sets
# Security / PowerShell records (the inputs of the former tests/test_windows_differential.py)


def channel_of(raw: dict[str, Any]) -> str:
    return str(raw["winlog"].get("channel", "")).lower()


@functools.cache
def dataset_records() -> tuple[tuple[Label, dict[str, Any]], ...]:
    """Every Security/PowerShell record of the data sets, as Winlogbeat-raw documents (read once)."""
    found: list[tuple[Label, dict[str, Any]]] = []
    for path in sorted(DATASETS.glob("mordor-*/*.json")):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    raw = nxlog_to_raw(json.loads(line))
                    if channel_of(raw) in CHANNELS:
                        found.append(((f"{path.parent.name}/{path.name}", str(number)), raw))
    # The *_filtered.json files leave out the classic channel; the upstream zips have it.
    for path in sorted(DATASETS.glob("mordor-*/*.zip")):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as stream:
                    for number, line in enumerate(io.TextIOWrapper(stream, encoding="utf-8"), 1):
                        if '"Windows PowerShell"' in line:
                            raw = nxlog_to_raw(json.loads(line))
                            if channel_of(raw) == CLASSIC:
                                found.append(((f"{path.parent.name}/{path.name}!{member}", str(number)), raw))
    for path in sorted(DATASETS.rglob("*.evtx")):
        name = path.relative_to(DATASETS).as_posix()
        for _key, raw in evtx_documents(str(path), path.name, lambda _damage: None):
            if channel_of(raw) in CHANNELS:
                found.append(((name, f"record {raw['winlog'].get('record_id')}"), raw))
    golden = DATASETS / "winlogbeat-golden"
    for path in sorted(golden.glob("security-*.raw-8x.json")):
        found += [
            ((f"winlogbeat-golden/{path.name}", f"[{i}]"), raw)
            for i, raw in enumerate(json.loads(path.read_text()))
        ]
    keys = unique([key for key, _raw in found])
    return tuple(zip(keys, (raw for _key, raw in found), strict=True))


def of_channel(channel: str) -> list[tuple[Label, dict[str, Any]]]:
    need_datasets()
    cases = [(label, raw) for label, raw in dataset_records() if channel_of(raw) == channel]
    assert cases, f"no {channel} records found under {DATASETS}"
    return cases


# Sysmon records (the inputs of the former tests/test_windows_sysmon_diff.py); the NXLog lines are
# also those of the nxlog-* groups.

PER_CODE = 10**9 if FULL else 150  # data set records kept per event code (NXLog and EVTX each)


def nxlog_lines() -> Iterator[tuple[Label, bytes]]:
    for path in sorted(glob.glob(str(DATASETS / "*" / "*.json"))):
        name = Path(path).relative_to(DATASETS).as_posix()
        with open(path, "rb") as f:
            for number, line in enumerate(f, 1):
                yield (name, str(number)), line
    if FULL:
        for path in sorted(glob.glob(str(DATASETS / "*" / "*.zip"))):
            name = Path(path).relative_to(DATASETS).as_posix()
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    with zf.open(member) as f:
                        for number, line in enumerate(f, 1):
                            yield (f"{name}!{member}", str(number)), line


def _sample(docs: Iterator[tuple[Label, dict[str, Any]]]) -> list[tuple[Label, dict[str, Any]]]:
    kept: dict[str, list[tuple[Label, dict[str, Any]]]] = {}
    for label, doc in docs:
        bucket = kept.setdefault(str(doc["winlog"].get("event_id")), [])
        if len(bucket) < PER_CODE:
            bucket.append((label, doc))
    return [item for bucket in kept.values() for item in bucket]


def _nxlog_raws() -> Iterator[tuple[Label, dict[str, Any]]]:
    for label, line in nxlog_lines():
        if b"Sysmon" not in line:
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if type(doc) is dict and is_nxlog(doc) and str(doc.get("Channel", "")).lower() == SYSMON:
            yield label, nxlog_to_raw(doc)


def _evtx_raws() -> Iterator[tuple[Label, dict[str, Any]]]:
    for path in sorted(glob.glob(str(DATASETS / "**" / "*.evtx"), recursive=True)):
        name = Path(path).relative_to(DATASETS).as_posix()
        for _key, doc in evtx_documents(path, path, lambda damage: None):
            if doc["winlog"]["channel"].lower() == SYSMON:
                yield (name, f"record {doc['winlog'].get('record_id')}"), doc


def _golden_raws() -> list[tuple[Label, dict[str, Any]]]:
    path = DATASETS / "winlogbeat-golden" / "sysmon-9.01.evtx.golden.raw-8x.excerpt.json"
    raws = json.loads(path.read_text()) if path.exists() else []
    return [((f"winlogbeat-golden/{path.name}", f"[{i}]"), raw) for i, raw in enumerate(raws)]


@functools.cache
def sysmon_records() -> tuple[tuple[Label, dict[str, Any]], ...]:
    """Sysmon records of the shared data sets as raw documents (a sample per event code)."""
    found = _sample(_nxlog_raws()) + _sample(_evtx_raws()) + _golden_raws()
    keys = unique([label for label, _raw in found])
    return tuple(zip(keys, (raw for _label, raw in found), strict=True))


def records() -> tuple[tuple[Label, dict[str, Any]], ...]:
    """The Sysmon records of :func:`sysmon_records`, or a skip when there are none."""
    need_datasets()
    found = sysmon_records()
    if not found:
        pytest.skip(f"no Sysmon records found under {DATASETS}")
    return found


# =========================================================================== cases


def mapped_alternately(cases: list[tuple[Label, dict[str, Any]]]) -> Iterator[Case]:
    """Each input mapped once, in ``agent`` then ``winlogbeat`` mode by turns (as before)."""
    for i, ((source, item), raw) in enumerate(cases):
        mode = "winlogbeat" if i % 2 else "agent"
        label = (source, f"{item} ({mode})")
        yield label, raw, map_twice(raw, mode, label)


def mapped_both_ways(cases: Iterator[tuple[Label, dict[str, Any]]]) -> Iterator[Case]:
    """Each input mapped in both modes: the output is ``[agent document, winlogbeat document]``."""
    for label, raw in cases:
        yield label, raw, [map_twice(raw, mode, label) for mode in ("agent", "winlogbeat")]


# Odd values a mutation may put in place of a field's value.
ODD_VALUES: tuple[Any, ...] = (
    None,
    "",
    "-",
    " ",
    "0",
    "0x0",
    "0x10",
    "#1f",
    "010",
    "-1",
    "+5",
    "0x",
    "x1",
    "12",
    3,
    True,
    2.5,
    "%%1833",
    "  %%4417 %%4418  ",
    "%%1537\n\t\t\t\t%%4423",
    "\u00a0",
    "LOCAL",
    "Unknown",
    "::ffff:10.1.2.3",
    "[::ffff:10.1.2.3]:445",
    "fe80::1",
    "S-1-5-18",
    "CORP\\bob",
    "a\\b\\c",
    "bob@corp.local",
    'C:\\x.exe "a b" c',
    "x=y",
    ["a", "b"],
    {"k": "v"},
)


def mutations(raw: dict[str, Any], rng: random.Random, count: int) -> Iterator[dict[str, Any]]:
    data = raw["winlog"].get("event_data")
    keys = list(data) if isinstance(data, dict) else []
    values = [v for v in data.values()] if isinstance(data, dict) else []
    for _ in range(count):
        doc = clone(raw)
        event_data = doc["winlog"].get("event_data")
        if not isinstance(event_data, dict) or not keys:
            yield doc
            continue
        for key in rng.sample(keys, k=min(len(keys), rng.randint(1, 4))):
            action = rng.random()
            if action < 0.3:
                event_data.pop(key, None)
            elif action < 0.7:
                event_data[key] = rng.choice(ODD_VALUES)
            else:
                event_data[key] = rng.choice(values)
        yield doc


def records_group(channel: str) -> Callable[[], Iterator[Case]]:
    return lambda: mapped_alternately(of_channel(channel))


def mutations_group(channel: str) -> Callable[[], Iterator[Case]]:
    def build() -> Iterator[Case]:
        rng = random.Random(f"mutate-{channel}")
        cases = of_channel(channel)
        mutated = [
            ((source, f"{item} mutated" if i == 0 else f"{item} mutated {i}"), doc)
            for (source, item), raw in cases
            for i, doc in enumerate(mutations(raw, rng, 1))
        ]
        return mapped_alternately(mutated)

    return build


def spoil(rng: random.Random, data: dict[str, Any]) -> None:
    """Now and then, an odd value (``None``, a number, a list...) in place of a field's value."""
    for key in list(data):
        if rng.random() < 0.08:
            data[key] = rng.choice(ODD_VALUES)


def random_value(rng: random.Random, pool: tuple[Any, ...]) -> Any:
    return rng.choice(pool) if rng.random() < 0.85 else rng.choice(ODD_VALUES)


# --- seeded stand-ins for the former Hypothesis strategies ---------------------------------------
# Hypothesis draws new inputs on every run; golden output needs the same inputs every time, so
# these draw from the same alphabets, sizes and pools with a seeded generator.


def any_char(rng: random.Random) -> str:
    """A character as ``st.text()`` draws them: mostly ASCII, some control, BMP and astral (no surrogates)."""
    r = rng.random()
    if r < 0.55:
        return chr(rng.randint(0x20, 0x7E))
    if r < 0.65:
        return chr(rng.randint(0, 0x1F))
    if r < 0.75:
        return chr(rng.randint(0x80, 0x2FF))
    if r < 0.9:
        code = rng.randint(0x300, 0xFFFD)
        return chr(code) if not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return chr(rng.randint(0x10000, 0x10FFFF))


def draw_text(rng: random.Random, alphabet: str | None = None, max_size: int = 40) -> str:
    size = rng.randint(0, max_size) if rng.random() < 0.5 else rng.randint(0, min(max_size, 5))
    if alphabet is None:
        return "".join(any_char(rng) for _ in range(size))
    return "".join(rng.choice(alphabet) for _ in range(size))


def draw_int(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.randint(-10, 300)
    if r < 0.8:
        return rng.randint(-(2**31), 2**31)
    if r < 0.95:
        return rng.randint(-(2**63), 2**63)
    return rng.randint(-(2**80), 2**80)


def draw_float(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.3:
        return rng.choice((0.0, -0.0, 1.0, -1.0, 0.5, 1e308, -1e308, 5e-324, float("inf"), float("-inf")))
    if r < 0.6:
        return float(rng.randint(-1000, 1000))
    return rng.uniform(-1e6, 1e6)


# =========================================================================== the golden comparison

DOCS, VALUES = doc_hash, value_hash

# The modules defining the groups (each in its ``GROUPS``), for the golden file's generator.
GROUP_MODULES = (
    "test_windows_golden_security",
    "test_windows_golden_powershell",
    "test_windows_golden_sysmon",
    "test_windows_golden_helpers",
)
# Groups whose inputs change with VIGIL_SYSMON_DIFF_FULL. With it set they are stored under their
# name + "-full", as one hash per source file (of the hashes of its inputs in order): the full
# set has ~130,000 inputs, too many to keep one hash each in the repository. A mismatch there
# names the file; the default run names the input.
FULL_GROUPS = ("sysmon-records", "sysmon-bent", "nxlog-records")


def all_groups() -> dict[str, Group]:
    """Every group of every module of :data:`GROUP_MODULES` (imported from tests/, as pytest does)."""
    groups: dict[str, Group] = {}
    for name in GROUP_MODULES:
        module = importlib.import_module(name)
        for group, spec in module.GROUPS.items():
            if group in groups:
                raise AssertionError(f"group {group} is defined twice (again in {name})")
            groups[group] = spec
    return groups


def stored_name(group: str, full: bool = FULL) -> str:
    return f"{group}-full" if full and group in FULL_GROUPS else group


def hashes_of(group: str, spec: Group) -> Iterator[tuple[Label, Any, Any, str]]:
    """(label, input, output, hash) of every case of ``group``, as today's code maps them."""
    needs_datasets, cases, hasher = spec
    if needs_datasets:
        need_datasets()
    for label, given, output in cases():
        yield label, given, output, hasher(output)


def golden_of(group: str, spec: Group) -> dict[str, Any]:
    """What the golden file holds for ``group``: {source: {item: hash}}, or {source: "count:hash"}
    for the ``-full`` groups."""
    name = stored_name(group)
    hashes: dict[str, dict[str, str]] = {}
    for (source, item), _given, _output, got in hashes_of(group, spec):
        items = hashes.setdefault(source, {})
        if item in items:
            raise AssertionError(f"{group}: two inputs are labelled {source} / {item}")
        items[item] = got
    if name == group:
        return dict(hashes)
    return {
        source: f"{len(items)}:{digest(' '.join(items.values()).encode())}"
        for source, items in hashes.items()
    }


def load_golden(path: Path = GOLDEN) -> dict[str, dict[str, Any]]:
    """The golden file: gzip-compressed JSON, {group: {source: {item: hash}} or {source: "count:hash"}}."""
    stored: dict[str, dict[str, Any]] = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
    return stored


@functools.cache
def golden() -> dict[str, dict[str, Any]]:
    return load_golden()


def show(value: Any) -> str:
    return doc_bytes(value).decode("utf-8", "replace")


def check_golden(group: str, spec: Group) -> None:
    """The outputs of ``group`` against its golden hashes; a failure names the differing inputs."""
    name = stored_name(group)
    if name not in golden():
        pytest.fail(f"no golden hashes for {name} in {GOLDEN} (see tests/golden/make_windows_golden.py)")
    want = golden()[name]
    if name != group:  # VIGIL_SYSMON_DIFF_FULL: one hash per source file
        got_full = golden_of(group, spec)
        wrong = sorted(s for s in set(want) | set(got_full) if want.get(s) != got_full.get(s))
        assert not wrong, (
            f"{name}: the outputs of these sources differ from the golden ones (count:hash, now vs golden;"
            " run without VIGIL_SYSMON_DIFF_FULL to see the inputs of the sampled records):\n"
            + "\n".join(f"  {s}: {got_full.get(s)} != {want.get(s)}" for s in wrong[:20])
        )
        return
    seen: set[Label] = set()
    differing: list[str] = []
    for (source, item), given, output, got in hashes_of(group, spec):
        assert (source, item) not in seen, f"{group}: two inputs are labelled {source} / {item}"
        seen.add((source, item))
        expected = want.get(source, {}).get(item)
        if expected == got:
            continue
        what = "no golden hash for this input" if expected is None else f"hash {got} != golden {expected}"
        differing.append(
            f"{group} / {source} / {item}: {what}\n  input:  {show(given)}\n  output: {show(output)}"
        )
    missing = sorted(f"{s} / {i}" for s, items in want.items() for i in items if (s, i) not in seen)
    if differing or missing:
        report = differing[:5]
        if len(differing) > 5:
            report.append(f"... and {len(differing) - 5} more inputs whose output differs")
        if missing:
            report.append(f"{len(missing)} inputs of the golden file were not generated, e.g. {missing[:5]}")
        pytest.fail(
            f"{len(differing)} of {len(seen)} {group} outputs differ from the golden ones"
            " (an intended change? see tests/golden/make_windows_golden.py)\n" + "\n".join(report),
            pytrace=False,
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run tests/golden/make_windows_golden.py to (re)make the golden hashes")
