"""``vigil store add|info`` and ``vigil query --store``, end to end over the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vigil.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "examples" / "queries" / "direct_outbound_smb.eql"
SAMPLE_FILE = ROOT / "examples" / "data" / "smb-sample.ndjson"
SAMPLE_EVENTS = sum(1 for line in SAMPLE_FILE.read_bytes().splitlines() if line.strip())


def run(*args: str, input: bytes | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_add_info_and_query(tmp_path: Path) -> None:
    store = tmp_path / "events.store"
    added = run("store", "add", str(SAMPLE_FILE), "--store", str(store))
    assert added.exit_code == 0, added.output
    assert f"{SAMPLE_EVENTS:,} events written" in added.stderr
    assert "0 malformed lines skipped" in added.stderr
    assert "partition" in added.stderr

    info = run("store", "info", "--store", str(store), "--format", "json")
    assert info.exit_code == 0
    body = json.loads(info.stdout)
    assert body["rows"] == SAMPLE_EVENTS and body["files"] >= 1 and body["generation"] == 1
    table = run("store", "info", "--store", str(store))
    assert f"{SAMPLE_EVENTS:,}" in table.stdout and "index=" in table.stdout

    over_files = run("query", f"@{RULE}", str(SAMPLE_FILE), "--format", "ndjson", "--size", "100")
    over_store = run("query", f"@{RULE}", "--store", str(store), "--format", "ndjson", "--size", "100")
    assert over_store.exit_code == 0, over_store.stderr
    assert over_store.stdout == over_files.stdout
    assert len(over_store.stdout.splitlines()) == 4
    assert "4 sequences matched" in over_store.stderr and "read as candidates" in over_store.stderr

    event_query = "network where destination.port == 445 and process.pid != 4"
    a = run("query", event_query, str(SAMPLE_FILE), "--format", "json", "--size", "1000")
    b = run("query", event_query, "--store", str(store), "--format", "json", "--size", "1000")
    hits_a = json.loads(a.stdout)["hits"]
    hits_b = json.loads(b.stdout)["hits"]
    assert hits_a == hits_b and hits_a["total"]["value"] > 0


def test_add_with_index_and_malformed_lines(tmp_path: Path) -> None:
    data = tmp_path / "in.ndjson"
    data.write_bytes(
        b'{"@timestamp": "2024-05-01T00:00:00Z", "event": {"category": ["process"]}}\n'
        b"{broken\n"
        b'{"@timestamp": "2024-05-02T00:00:00Z", "event": {"category": ["network"]}}\n'
    )
    store = tmp_path / "s"
    added = run("store", "add", str(data), "--store", str(store), "--index", "logs-x")
    assert added.exit_code == 0
    assert "2 events written" in added.stderr and "1 malformed line skipped" in added.stderr
    assert f"{data}:2:2: malformed JSON" in added.stderr
    body = json.loads(run("store", "info", "--store", str(store), "--format", "json").stdout)
    assert body["indices"] == ["logs-x"] and len(body["partitions"]) == 2

    strict = run("store", "add", str(data), "--store", str(store), "--strict")
    assert strict.exit_code == 1 and "nothing was added" in strict.stderr
    again = json.loads(run("store", "info", "--store", str(store), "--format", "json").stdout)
    assert again["rows"] == 2 and again["generation"] == 1  # the failed add committed nothing

    second = run("store", "add", "-", "--store", str(store), input=data.read_bytes())
    assert second.exit_code == 0
    assert json.loads(run("store", "info", "--store", str(store), "--format", "json").stdout)["rows"] == 4


def test_usage_errors(tmp_path: Path) -> None:
    both = run("query", "any where true", str(SAMPLE_FILE), "--store", str(tmp_path))
    assert both.exit_code == 2 and "not both" in both.stderr
    neither = run("query", "any where true")
    assert neither.exit_code == 2 and "missing DATA" in neither.stderr
    missing = run("query", "any where true", "--store", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and "not an event store" in missing.stderr
    info = run("store", "info", "--store", str(tmp_path / "nowhere"))
    assert info.exit_code == 1 and "not an event store" in info.stderr
    bad_query = run("query", "any where (", "--store", str(tmp_path))
    assert bad_query.exit_code == 2
    no_input = run("store", "add", str(tmp_path / "absent.ndjson"), "--store", str(tmp_path / "s"))
    assert no_input.exit_code == 1 and "no such file" in no_input.stderr
