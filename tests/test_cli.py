"""The vigil command line, end to end over the bundled sample data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vigil import __version__
from vigil.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "examples" / "queries" / "direct_outbound_smb.eql"
SAMPLE = ROOT / "examples" / "data"
SAMPLE_FILE = SAMPLE / "smb-sample.ndjson"
SAMPLE_EVENTS = sum(1 for line in SAMPLE_FILE.read_bytes().splitlines() if line.strip())

# The alerts examples/README.md documents: (host.name, process.name, destination of step 2).
EXPECTED = [
    ("ws-fin-0007", "net.exe", "10.0.20.15"),
    ("WS-ENG-0012", "powershell.exe", "10.0.20.21"),
    ("ws-it-0003", "PsExec64.exe", "fd00:10:20::42"),
    ("WS-HR-0021", "rundll32.exe", "10.0.20.30"),
]

needs_engine = pytest.mark.skipif(
    not (ROOT / "src" / "vigil" / "engine" / "runner.py").exists()
    or not (ROOT / "src" / "vigil" / "eql" / "parser.py").exists(),
    reason="the engine or the parser is not written yet",
)


def run(*args: str, input: bytes | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def alerts(sequences: list[dict]) -> list[tuple[str, str, str]]:
    found = []
    for sequence in sequences:
        start, connection = sequence["events"]
        found.append(
            (
                start["_source"]["host"]["name"],
                start["_source"]["process"]["name"],
                connection["_source"]["destination"]["ip"],
            )
        )
    return found


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


@needs_engine
def test_query_json_is_an_eql_search_response() -> None:
    result = run("query", f"@{RULE}", str(SAMPLE), "--format", "json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert list(body) == ["is_partial", "is_running", "took", "timed_out", "hits"]
    assert (body["is_partial"], body["is_running"], body["timed_out"]) == (False, False, False)
    assert isinstance(body["took"], int)
    hits = body["hits"]
    assert hits["total"] == {"value": len(EXPECTED), "relation": "eq"}
    assert "events" not in hits
    assert alerts(hits["sequences"]) == EXPECTED
    for sequence in hits["sequences"]:
        assert list(sequence) == ["join_keys", "events"]
        start, connection = sequence["events"]
        assert sequence["join_keys"] == [start["_source"]["process"]["entity_id"]]
        assert connection["_source"]["process"]["entity_id"] == start["_source"]["process"]["entity_id"]
        for event in sequence["events"]:
            assert list(event) == ["_index", "_id", "_source"]
            assert event["_index"].startswith("logs-")
            assert len(event["_id"]) == 20


@needs_engine
def test_query_ndjson_prints_one_hit_per_line() -> None:
    result = run("query", f"@{RULE}", str(SAMPLE_FILE), "--format", "ndjson")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert alerts([json.loads(line) for line in lines]) == EXPECTED


@needs_engine
def test_query_table_and_summary() -> None:
    result = run("query", f"@{RULE}", str(SAMPLE))
    assert result.exit_code == 0, result.stderr
    for number, (_host, process, destination) in enumerate(EXPECTED, 1):
        assert f"sequence {number}" in result.stdout
        assert process in result.stdout
        assert destination in result.stdout
    assert "join keys" in result.stdout
    assert f"{SAMPLE_EVENTS:,} events read" in result.stderr
    assert "0 malformed lines skipped" in result.stderr
    assert f"{len(EXPECTED)} sequences matched" in result.stderr
    assert "--size" not in result.stderr


@needs_engine
def test_event_query_and_size_note() -> None:
    query = "network where destination.port == 445"
    result = run("query", query, str(SAMPLE), "--format", "json", "--size", "3")
    assert result.exit_code == 0, result.stderr
    hits = json.loads(result.stdout)["hits"]
    assert hits["total"] == {"value": 3, "relation": "eq"}
    assert len(hits["events"]) == 3
    assert all(e["_source"]["destination"]["port"] == 445 for e in hits["events"])
    assert "3 events matched" in result.stderr
    assert "reached --size 3" in result.stderr

    table = run("query", query, str(SAMPLE), "--size", "100")
    assert table.exit_code == 0
    assert "-> 10.0.20.15:445" in table.stdout


@needs_engine
def test_stdin_input() -> None:
    result = run("query", f"@{RULE}", "-", "--format", "ndjson", input=SAMPLE_FILE.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(EXPECTED)


@needs_engine
def test_malformed_line_is_reported_skipped_and_counted(tmp_path: Path) -> None:
    lines = SAMPLE_FILE.read_bytes().splitlines(keepends=True)
    # A real SMB connection line, truncated: it holds everything the rule looks for, so the
    # pre-filter lets it through to the decoder.
    smb = next(line for line in lines if b'"port":445' in line)
    lines.insert(5, smb.rstrip(b"\n")[:-2] + b"\n")
    bad = tmp_path / "damaged.ndjson"
    bad.write_bytes(b"".join(lines))
    result = run("query", f"@{RULE}", str(bad), "--format", "ndjson")
    assert result.exit_code == 0, result.stderr
    assert f"{bad}:6:" in result.stderr
    assert "malformed JSON" in result.stderr
    assert "1 malformed line skipped" in result.stderr
    assert f"{SAMPLE_EVENTS:,} events read" in result.stderr
    assert len(result.stdout.splitlines()) == len(EXPECTED)  # nothing valid was lost

    # Under --strict every line is decoded, even one the pre-filter would pass over.
    lines[5] = b'{"event": {"category": ["file"]}\n'
    bad.write_bytes(b"".join(lines))
    strict = run("query", f"@{RULE}", str(bad), "--format", "ndjson", "--strict")
    assert strict.exit_code == 1
    assert f"{bad}:6:" in strict.stderr
    assert strict.stdout == ""
    assert "Traceback" not in strict.stderr


@needs_engine
def test_bad_query_exits_2_with_a_caret() -> None:
    result = run("query", "process where process.name ==", str(SAMPLE))
    assert result.exit_code == 2
    assert "^" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_data_file_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["query", "any where true", str(tmp_path / "nope.ndjson")])
    if not (ROOT / "src" / "vigil" / "engine" / "runner.py").exists():
        pytest.skip("the engine is not written yet")
    assert result.exit_code == 1
    assert "nope.ndjson: no such file" in result.stderr


def test_missing_query_file_exits_2(tmp_path: Path) -> None:
    result = run("query", f"@{tmp_path / 'nope.eql'}", str(SAMPLE))
    assert result.exit_code == 2
    assert "cannot read the query file" in result.stderr


@needs_engine
def test_parse_prints_the_canonical_form() -> None:
    from vigil.eql.parser import parse
    from vigil.eql.printer import to_text

    text = RULE.read_text()
    result = run("parse", text)
    assert result.exit_code == 0, result.stderr
    canonical = result.stdout.rstrip("\n")
    assert canonical == to_text(parse(text))
    again = run("parse", canonical)
    assert again.stdout.rstrip("\n") == canonical  # canonical text is a fixed point
    assert run("parse", f"@{RULE}").stdout == result.stdout


@needs_engine
def test_parse_error_exits_2_with_a_caret() -> None:
    result = run("parse", 'sequence by process.entity_id\n  [process where event.type == "start" and]')
    assert result.exit_code == 2
    assert "^" in result.stderr
    assert "Traceback" not in result.stderr


SUITE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "es-eql"


@pytest.mark.skipif(not SUITE_DIR.is_dir(), reason=f"conformance suite not found at {SUITE_DIR}")
def test_conformance_command_over_the_real_suite() -> None:
    result = run("conformance", str(SUITE_DIR), "--path", "plain", "--path", "projection")
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "906 passed, 0 failed"
    assert result.exit_code == 0


def test_conformance_command_on_a_folder_without_the_suite(tmp_path: Path) -> None:
    result = run("conformance", str(tmp_path))
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert str(tmp_path) in result.output or "not found" in result.output.lower()


def test_conformance_needs_an_existing_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["conformance", str(tmp_path / "absent")])
    assert result.exit_code == 2


@needs_engine
def test_real_subprocess_of_the_console_script() -> None:
    vigil = Path(sys.executable).with_name("vigil")
    done = subprocess.run(
        [str(vigil), "query", f"@{RULE}", str(SAMPLE), "--format", "ndjson"],
        capture_output=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr.decode()
    hits = [json.loads(line) for line in done.stdout.splitlines()]
    assert alerts(hits) == EXPECTED
    assert b"Traceback" not in done.stderr
    # A reader that stops early is no error.
    piped = subprocess.run(
        f"'{vigil}' query 'any where true' '{SAMPLE}' --format ndjson --size 200 | head -n 1",
        shell=True,
        capture_output=True,
        check=False,
    )
    assert piped.returncode == 0
    assert b"Traceback" not in piped.stderr


def test_sub_commands_in_other_modules_are_listed_and_run_but_imported_only_when_asked() -> None:
    # `vigil --help` lists every command; `vigil query` starts without importing the rule
    # loaders, the service or the store (their imports are half of the start-up).
    listed = CliRunner().invoke(main, ["--help"])
    assert listed.exit_code == 0, listed.output
    for name in (
        "alerts",
        "conformance",
        "convert",
        "hunt",
        "parse",
        "query",
        "replay",
        "rules",
        "serve",
        "store",
    ):
        assert f"  {name} " in listed.output, name
    assert CliRunner().invoke(main, ["rules", "--help"]).exit_code == 0
    assert CliRunner().invoke(main, ["nosuch"]).exit_code == 2
    probe = (
        "import sys; from vigil.cli import main\n"
        "heavy = [m for m in ('vigil.rules.loaders', 'vigil.cli_serve', 'vigil.cli_store', 'vigil.cli_hunt')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
