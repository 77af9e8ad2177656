"""`vigil hunt` / `vigil replay` over the event store give the alerts they give over the files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vigil.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "examples" / "rules" / "direct_outbound_smb.toml"
DATA = ROOT / "examples" / "data"
GENERATOR = ROOT.parent / "shared" / "tools" / "gen_ecs.py"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ids(stdout: str) -> list[str]:
    return sorted(json.loads(x)["kibana.alert.uuid"] for x in stdout.splitlines() if x.strip())


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not GENERATOR.exists():
        return DATA
    path = tmp_path_factory.mktemp("gen") / "events.ndjson"
    out = subprocess.run(
        [sys.executable, str(GENERATOR), "--events", "3000", "--seed", "5", "--smb-fraction", "0.2"],
        capture_output=True,
        check=True,
    ).stdout
    path.write_bytes(out)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    folder = tmp_path_factory.mktemp("store") / "events.store"
    code, _out, err = run("store", "add", "--store", str(folder), str(data))
    assert code == 0, err
    return folder


def test_hunt_over_the_store(tmp_path: Path, data: Path, store: Path) -> None:
    common = ["hunt", "--rules", str(RULE), "--format", "ndjson"]
    code, files_out, err = run(*common, "--alert-db", str(tmp_path / "a.db"), str(data))
    assert code == 0, err
    code, store_out, err = run(*common, "--alert-db", str(tmp_path / "b.db"), "--store", str(store))
    assert code == 0, err
    assert ids(files_out) and ids(files_out) == ids(store_out)


def test_many_rules_over_the_store(tmp_path: Path, data: Path, store: Path) -> None:
    """A generated rule set (event rules of every category, sequences by entity and host): one
    read of the store, each rule offered only the events its SQL chose, gives the alerts of the
    hunt over the file."""
    rules = tmp_path / "rules"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gen_rules.py"),
            "--rules",
            "400",
            "--seed",
            "3",
            "--out",
            str(rules),
        ],
        check=True,
        capture_output=True,
    )
    common = ["hunt", "--rules", str(rules), "--format", "ndjson"]
    code, files_out, err = run(*common, "--alert-db", str(tmp_path / "a.db"), str(data))
    assert code == 0, err
    code, store_out, err = run(*common, "--alert-db", str(tmp_path / "b.db"), "--store", str(store))
    assert code == 0, err
    assert len(ids(files_out)) > 10 and ids(files_out) == ids(store_out)


def test_replay_over_the_store(tmp_path: Path, data: Path, store: Path) -> None:
    first = json.loads(data.read_text().splitlines()[0] if data.is_file() else "{}").get("@timestamp")
    start = first or "2024-05-14T08:00:00Z"
    end = start[:11] + "23:59:00Z"
    common = ["replay", "--rules", str(RULE), "--format", "ndjson", "--start", start, "--end", end]
    code, files_out, err = run(*common, "--alert-db", str(tmp_path / "a.db"), str(data))
    assert code == 0, err
    code, store_out, err = run(*common, "--alert-db", str(tmp_path / "b.db"), "--store", str(store))
    assert code == 0, err
    assert ids(files_out) and ids(files_out) == ids(store_out)


def test_data_or_store(tmp_path: Path, store: Path) -> None:
    code, _out, err = run("hunt", "--rules", str(RULE), "--store", str(store), str(DATA))
    assert code == 2 and "not both" in err
    code, _out, err = run(
        "replay", "--rules", str(RULE), "--start", "2024-01-01T00:00:00Z", "--end", "2024-01-02T00:00:00Z"
    )
    assert code == 2 and "missing DATA" in err
