"""Every EQL rule of Elastic's detection-rules repository parses (when a checkout is at hand).

Set ``VIGIL_RULES_DIR`` to a checkout of https://github.com/elastic/detection-rules to run it;
nothing from that repository is stored here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "check_detection_rules.py"
RULES_DIR = os.environ.get("VIGIL_RULES_DIR")


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_detection_rules", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not RULES_DIR, reason="set VIGIL_RULES_DIR to a checkout of elastic/detection-rules")
def test_every_detection_rule_parses() -> None:
    script = _load_script()
    report = script.check(Path(str(RULES_DIR)))
    assert report.total > 0, f"no EQL rules found under {RULES_DIR}"
    failures = "\n\n".join(f"{f.path}: {f.message}" for f in report.failures)
    assert not report.failures, f"{report.parsed} of {report.total} EQL rules parse\n\n{failures}"


def test_script_usage_without_a_checkout(tmp_path: Path) -> None:
    script = _load_script()
    assert script.main(["check_detection_rules.py", str(tmp_path)]) == 2


def test_script_on_a_tiny_checkout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _load_script()
    rules = tmp_path / "rules" / "windows"
    rules.mkdir(parents=True)
    (tmp_path / "rules" / "_deprecated").mkdir()
    (rules / "good.toml").write_text(
        '[rule]\ntype = "eql"\nlanguage = "eql"\nquery = """\nprocess where true\n"""\n'
    )
    (rules / "bad.toml").write_text('[rule]\ntype = "eql"\nquery = """\nprocess where a = 1\n"""\n')
    (rules / "kql.toml").write_text('[rule]\ntype = "query"\nquery = "a:b"\n')
    (tmp_path / "rules" / "_deprecated" / "old.toml").write_text('[rule]\ntype = "eql"\nquery = "x"\n')
    assert script.main(["check_detection_rules.py", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "windows/bad.toml" in out and "did you mean" in out
    assert out.splitlines()[-1].startswith("1 of 2 EQL rules parse")
