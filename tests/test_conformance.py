"""Elasticsearch's EQL QA suite, one test per spec run (453 runs; test_queries.toml runs twice).

The suite's files are Elastic License 2.0 and live outside the repository, in
``../shared/conformance/es-eql`` next to the repository root; without them every test skips.
Each run must give the expected answer in both result positions (head and tail).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.conformance.loader import LoadedSuite, Spec
from vigil.conformance.runner import KNOWN_PATHS, format_outcome, iter_runs, run_spec

SUITE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "es-eql"
ABSENT = f"conformance suite not found at {SUITE_DIR} (Elastic-licensed data is not vendored)"


def _params() -> list[object]:
    if not SUITE_DIR.is_dir():
        return [pytest.param(None, None, None, id="suite-absent", marks=pytest.mark.skip(reason=ABSENT))]
    return [
        pytest.param(suite, spec, path, id=f"{suite.name}::{spec.file}::{spec.name}::{path}")
        for suite, spec in iter_runs(SUITE_DIR)
        for path in KNOWN_PATHS
    ]


# Every accelerator must give the plain evaluator's answers: each spec runs through the plain
# path, behind the raw-bytes pre-filter, behind pre-filter plus projection decoding, and with its
# events chosen by range searches and the key pre-pass as the parallel reader chooses them (in
# two readings, and in one that records lines by key), and behind the columnar filter and the
# key gate of many-rules hunts.
@pytest.mark.parametrize(("suite", "spec", "path"), _params())
def test_spec(suite: LoadedSuite, spec: Spec, path: str) -> None:
    outcome = run_spec(suite, spec, path)
    if outcome.skipped_reason is not None:
        pytest.skip(outcome.skipped_reason)
    assert outcome.passed, format_outcome(outcome)


@pytest.mark.skipif(not SUITE_DIR.is_dir(), reason=ABSENT)
def test_scan_path_without_hyperscan(monkeypatch: pytest.MonkeyPatch) -> None:
    # The range searches' fallback (Aho-Corasick over the bare needles) must choose the same
    # events as Hyperscan does: the whole suite through the "scan" and "record" paths, and the
    # columnar filter's search for literal runs.
    from vigil.conformance.runner import run_conformance
    from vigil.sources import scan as scan_module

    monkeypatch.setattr(scan_module, "_NO_HYPERSCAN", True)
    report = run_conformance(SUITE_DIR, paths=("scan", "record", "columnar"))
    assert report.failed == 0 and report.passed > 1300
