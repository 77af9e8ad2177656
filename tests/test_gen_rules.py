"""benchmarks/gen_rules.py: a deterministic, corpus-shaped EQL rule set that vigil loads and runs.

The hunt test needs ../shared/tools/gen_ecs.py (the event generator of the benchmarks) and is
skipped without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from vigil.cli import main as vigil_main
from vigil.rules.executor import plan_rule
from vigil.rules.loaders import load_rules
from vigil.rules.validate import rule_status

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gen_rules.py"
GEN_ECS = ROOT.parent / "shared" / "tools" / "gen_ecs.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_rules", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


gen_rules = _load_script()


def _generate(out: Path, *args: str) -> None:
    assert gen_rules.main(["--out", str(out), *args]) == 0


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def toml_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 rules in detection-rules TOML files (seed 1)."""
    out = tmp_path_factory.mktemp("toml")
    _generate(out, "--rules", "200", "--seed", "1")
    return out


def test_same_arguments_give_the_same_bytes(tmp_path: Path, toml_rules: Path) -> None:
    _generate(tmp_path / "again", "--rules", "200", "--seed", "1")
    assert _contents(tmp_path / "again") == _contents(toml_rules)
    _generate(tmp_path / "n1", "--rules", "200", "--seed", "1", "--format", "ndjson")
    _generate(tmp_path / "n2", "--rules", "200", "--seed", "1", "--format", "ndjson")
    assert _contents(tmp_path / "n1") == _contents(tmp_path / "n2")
    _generate(tmp_path / "other", "--rules", "200", "--seed", "2")
    assert _contents(tmp_path / "other") != _contents(toml_rules)


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for name, data in _contents(folder).items():
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def test_the_output_is_pinned(tmp_path: Path) -> None:
    """The bytes of two small sets, as the generator wrote them when it was one file: a change in
    the output (vocabularies, the order of random draws, formatting) has to be deliberate."""
    _generate(tmp_path / "n", "--rules", "50", "--seed", "3", "--format", "ndjson")
    ndjson = (tmp_path / "n" / "rules.ndjson").read_bytes()
    assert hashlib.sha256(ndjson).hexdigest() == (
        "71a46c2c387ce013e372a6a774d4320e7b1efdc836457463591c20b35c630a2a"
    )
    _generate(tmp_path / "t", "--rules", "40", "--seed", "5")
    assert _digest(tmp_path / "t") == "4ebff66a2f68e3d611ba1912d3e02e0a22c90f258f103188bfe2a476df144b50"


def test_rerun_into_the_same_folder_replaces_its_own_files_only(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('[rule]\nname = "kept"\n', encoding="utf-8")
    _generate(tmp_path, "--rules", "30")
    _generate(tmp_path, "--rules", "20")
    assert len(list(tmp_path.glob("*.toml"))) == 21
    _generate(tmp_path, "--rules", "20", "--format", "ndjson")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.toml", "rules.ndjson"]


def test_the_mix_is_the_benchmark_spec() -> None:
    rules = gen_rules.generate(1000, 1)
    kinds = Counter(gen_rules.classify(r.built.query) for r in rules)
    share = {k: kinds[k] / len(rules) for k in kinds}
    assert abs(share["sequence"] - 0.20) <= 0.02
    assert abs(share["process"] - 0.40) <= 0.03
    assert abs(share["file"] - 0.15) <= 0.02
    assert abs(share["registry"] - 0.12) <= 0.02
    assert abs(share["network"] - 0.08) <= 0.02
    assert 0.02 <= share["dns"] + share["authentication"] <= 0.08
    queries = [r.built.query for r in rules]
    sequences = [q for q in queries if q.startswith("sequence")]
    first_lines = [q.split("\n", 1)[0] for q in sequences]
    assert sum("process.entity_id" in q for q in sequences) >= 0.5 * len(sequences)
    assert sum(line.startswith("sequence by host.id with") for line in first_lines) >= 20
    assert all(re.search(r"maxspan=(30s|[1-5]m)\b", line) for line in first_lines)
    assert all(2 <= q.count("\n  [") <= 3 for q in sequences)
    assert 5 <= sum("\nuntil [" in q for q in sequences) <= 40
    assert 5 <= sum("with runs=" in q for q in sequences) <= 40
    # The operators and field forms of the corpus.
    text = "\n".join(queries)
    for needle in (" : (", " like~ ", " in~ (", " in (", "?process.", "and not ", "cidrmatch(", "*"):
        assert needle in text, needle
    assert sum('host.os.type == "windows"' in q for q in queries) >= 800
    assert sum('host.os.type == "linux"' in q or 'host.os.type == "macos"' in q for q in queries) >= 50
    assert len({r.rule_id for r in rules}) == len({r.name for r in rules}) == 1000


def test_every_rule_loads_and_compiles(toml_rules: Path, tmp_path: Path) -> None:
    _generate(tmp_path, "--rules", "200", "--seed", "1", "--format", "ndjson")
    for folder in (toml_rules, tmp_path):
        loaded = load_rules([folder])
        assert not loaded.problems, "\n".join(str(p) for p in loaded.problems[:5])
        assert len(loaded.rules) == 200
        for rule in loaded.rules:
            assert rule.type == "eql" and rule.language == "eql"
            assert rule_status(rule) == "ok", rule.name
            assert rule.threat and rule.index
            plan_rule(rule, size=10)  # raises RuleError naming the rule if it does not compile
    result = CliRunner().invoke(vigil_main, ["rules", "validate", str(toml_rules)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "200 rules, 0 errors, 0 warnings" in result.output


@pytest.mark.skipif(not GEN_ECS.exists(), reason=f"the event generator is not at {GEN_ECS}")
def test_a_hunt_over_gen_ecs_events_raises_alerts_on_few_events(toml_rules: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    subprocess.run(
        [sys.executable, str(GEN_ECS), "--events", "5000", "--seed", "1", "--out", str(events)], check=True
    )
    alerts_file = tmp_path / "alerts.ndjson"
    result = CliRunner().invoke(
        vigil_main,
        [
            "hunt",
            "--rules",
            str(toml_rules),
            str(events),
            "--format",
            "ndjson",
            "--output",
            str(alerts_file),
            "--alert-db",
            str(tmp_path / "alerts.db"),
            "--no-progress",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    alerts = [json.loads(line) for line in alerts_file.read_text(encoding="utf-8").splitlines() if line]
    assert alerts, "no generated rule matched any gen_ecs event"
    fired = {a["kibana.alert.rule.rule_id"] for a in alerts}
    assert len(fired) < 100  # most rules are about behaviour gen_ecs does not produce
    sources = {
        ancestor["id"]
        for alert in alerts
        for ancestor in alert.get("kibana.alert.ancestors", [])
        if ancestor.get("type") == "event"
    }
    assert 0 < len(sources) < 0.05 * 5000  # most events match no rule
