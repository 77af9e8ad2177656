"""Elasticsearch's EQL suite through the columnar event store: every spec (453 runs) with its data
loaded once per suite into a temporary store and its query answered over the candidates the SQL
push-down returns. The store path must give the plain evaluator's answers.

The suite's files live outside the repository (``../shared/conformance/es-eql``); without them
the test skips.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.conformance.loader import LoadedSuite, Spec
from vigil.conformance.runner import format_outcome, iter_runs, run_spec

SUITE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "es-eql"
ABSENT = f"conformance suite not found at {SUITE_DIR} (Elastic-licensed data is not vendored)"


def _params() -> list[object]:
    if not SUITE_DIR.is_dir():
        return [pytest.param(None, None, id="suite-absent", marks=pytest.mark.skip(reason=ABSENT))]
    return [
        pytest.param(suite, spec, id=f"{suite.name}::{spec.file}::{spec.name}::store")
        for suite, spec in iter_runs(SUITE_DIR)
    ]


@pytest.mark.parametrize(("suite", "spec"), _params())
def test_spec_through_the_store(suite: LoadedSuite, spec: Spec) -> None:
    outcome = run_spec(suite, spec, "store")
    if outcome.skipped_reason is not None:
        pytest.skip(outcome.skipped_reason)
    assert outcome.passed, format_outcome(outcome)
