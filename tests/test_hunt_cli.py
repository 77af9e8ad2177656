"""End to end: `vigil hunt` / `vigil replay` with the rule the project started from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vigil.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "examples" / "rules"
DATA = ROOT / "examples" / "data"
SEED = ROOT.parent / "shared" / "seeds" / "000_aff36af8e83651ee.txt"
FORMATS = ["direct_outbound_smb.toml", "direct_outbound_smb.ndjson", "direct_outbound_smb.md"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def hunt_sample(db: str, *extra: str) -> tuple[int, str, str]:
    """`vigil hunt` with the TOML rule over the sample data, alerts as NDJSON into ``db``."""
    return run(
        "hunt", "--rules", str(RULES / FORMATS[0]), str(DATA), "--format", "ndjson", "--alert-db", db, *extra
    )


def alerts_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def primary_ids(alerts: list[dict]) -> list[str]:
    """Ids of the shell alerts (sequences), which stand for the hits."""
    return sorted(a["kibana.alert.uuid"] for a in alerts if "kibana.alert.group.index" not in a)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "alerts.db")


@pytest.mark.parametrize("rule_file", FORMATS)
def test_hunt_sample_raises_the_four_expected_alerts(rule_file: str, db: str) -> None:
    code, out, err = run(
        "hunt", "--rules", str(RULES / rule_file), str(DATA), "--format", "ndjson", "--alert-db", db
    )
    assert code == 0, err
    alerts = alerts_of(out)
    shells = [a for a in alerts if "kibana.alert.group.index" not in a]
    blocks = [a for a in alerts if "kibana.alert.group.index" in a]
    assert len(shells) == 4
    assert len(blocks) == 8
    for a in alerts:
        assert a["event.kind"] == "signal" if "event.kind" in a else a["event"]["kind"] == "signal"
        assert a["kibana.alert.rule.name"] == "Direct Outbound SMB Connection"
        assert a["kibana.alert.severity"] == "medium"
        assert a["kibana.alert.risk_score"] == 47
        assert a["kibana.alert.workflow_status"] == "open"
    assert "4 alert(s)" in err


def test_hunt_summary_counts_every_event_read_as_query_does(db: str) -> None:
    # Every event of the file is read: the decoded ones and those the pre-filter passed over.
    lines = sum(1 for line in (DATA / "smb-sample.ndjson").read_bytes().splitlines() if line.strip())
    code, _out, err = hunt_sample(db)
    assert code == 0, err
    summary = next(line for line in err.splitlines() if line.startswith("vigil hunt:"))
    read = int(summary.split(" events read")[0].rsplit(" ", 1)[1].replace(",", ""))
    passed_over = int(summary.split(" passed over")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert read == lines and 0 < passed_over < read, summary
    query = CliRunner().invoke(
        main, ["query", "@" + str(ROOT / "examples" / "queries" / "direct_outbound_smb.eql"), str(DATA)]
    )
    assert f"{lines:,} events read" in query.stderr


def test_hunt_options_for_checking_give_the_same_alerts(tmp_path: Path) -> None:
    """--no-columnar, --no-key-gate and --no-prefilter change how lines are chosen and which
    events the rules are offered, never the alerts."""
    found = []
    for i, extra in enumerate([(), ("--no-columnar",), ("--no-prefilter",), ("--no-key-gate",)]):
        db = str(tmp_path / f"a{i}.db")
        code, out, err = hunt_sample(db, *extra)
        assert code == 0, err
        found.append(primary_ids(alerts_of(out)))
    assert found[0] == found[1] == found[2] == found[3] and len(found[0]) == 4


def test_hunt_leaves_the_garbage_collector_as_it_found_it(db: str) -> None:
    import gc

    before = gc.get_threshold()
    code, _out, err = run("hunt", "--rules", str(RULES / FORMATS[0]), str(DATA), "--alert-db", db)
    assert code == 0, err
    # the compiled rules were frozen during the run (see cli_hunt._settle_gc), and thawed after
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before
    # the collector, off while the rules are loaded and compiled, is on again, however that ends
    assert gc.isenabled()
    broken = Path(db).parent / "broken.toml"
    broken.write_text('[rule]\nname = "x\n')
    code, _out, err = run("hunt", "--rules", str(broken), str(DATA), "--alert-db", db)
    assert code != 0 and "no rule to run" in err
    assert gc.isenabled()


def test_three_formats_give_the_same_alerts(tmp_path: Path) -> None:
    ids = []
    for i, rule_file in enumerate(FORMATS):
        code, out, err = run(
            "hunt",
            "--rules",
            str(RULES / rule_file),
            str(DATA),
            "--format",
            "ndjson",
            "--alert-db",
            str(tmp_path / f"{i}.db"),
        )
        assert code == 0, err
        ids.append(sorted(a["kibana.alert.uuid"] for a in alerts_of(out)))
    assert ids[0] == ids[1] == ids[2]


@pytest.mark.skipif(not SEED.exists(), reason=f"seed rule page not found at {SEED}")
def test_the_published_page_loads_and_gives_the_same_alerts(tmp_path: Path) -> None:
    code, out, err = run(
        "hunt", "--rules", str(SEED), str(DATA), "--format", "ndjson", "--alert-db", str(tmp_path / "seed.db")
    )
    assert code == 0, err
    _, toml_out, _ = hunt_sample(str(tmp_path / "toml.db"))
    seed_alerts, toml_alerts = alerts_of(out), alerts_of(toml_out)
    assert len(primary_ids(seed_alerts)) == 4

    # Same hits (same source events), whatever the rule's id is in each file.
    def sources(alerts: list[dict]) -> list[str]:
        return sorted(a["kibana.alert.ancestors"][0]["id"] for a in alerts if "kibana.alert.group.index" in a)

    assert sources(seed_alerts) == sources(toml_alerts)


def test_hunt_again_stores_no_duplicates(db: str) -> None:
    rule = str(RULES / FORMATS[0])
    run("hunt", "--rules", rule, str(DATA), "--format", "ndjson", "--alert-db", db)
    code, _out, err = run("hunt", "--rules", rule, str(DATA), "--format", "ndjson", "--alert-db", db)
    assert code == 0
    assert "0 alert(s)" in err and "4 duplicate(s)" in err
    code, out, _ = run("alerts", "list", "--alert-db", db, "--format", "ndjson")
    assert code == 0
    assert len([line for line in out.splitlines() if line.strip()]) == 4


def test_replay_overlapping_windows_raise_each_alert_once(db: str) -> None:
    # The sample's sequences happen between 08:08 and 08:09 on 2024-05-14: with interval 5m and
    # from now-9m, the ticks at 08:10 and 08:15 both see them.
    code, out, err = run(
        "replay",
        "--rules",
        str(RULES / FORMATS[0]),
        "--start",
        "2024-05-14T08:00:00Z",
        "--end",
        "2024-05-14T08:30:00Z",
        str(DATA),
        "--format",
        "ndjson",
        "--alert-db",
        db,
    )
    assert code == 0, err
    assert len(primary_ids(alerts_of(out))) == 4
    assert "7 run(s)" in err
    assert "4 duplicate(s)" in err


def test_replay_max_signals_caps_and_warns(tmp_path: Path) -> None:
    text = (RULES / FORMATS[0]).read_text()
    capped = tmp_path / "capped.toml"
    capped.write_text(text.replace("max_signals = 100", "max_signals = 1"))
    assert "max_signals = 1" in capped.read_text()
    code, out, err = run(
        "replay",
        "--rules",
        str(capped),
        "--start",
        "2024-05-14T08:10:00Z",
        "--end",
        "2024-05-14T08:10:00Z",
        str(DATA),
        "--format",
        "ndjson",
        "--alert-db",
        str(tmp_path / "a.db"),
    )
    assert code == 0, err
    assert len(primary_ids(alerts_of(out))) == 1
    assert "reached the maximum alert limit" in err


def test_bad_rule_files_are_located_and_the_good_rule_still_runs(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(RULES / FORMATS[0], rules / "good.toml")
    (rules / "broken.toml").write_text('[rule]\nname = "x\n')
    bad_query = (RULES / FORMATS[0]).read_text().replace("process where", "process wher", 1)
    (rules / "bad_query.toml").write_text(
        bad_query.replace(_rule_id(), "00000000-0000-0000-0000-000000000001")
    )
    code, out, err = run(
        "hunt", "--rules", str(rules), str(DATA), "--format", "ndjson", "--alert-db", str(tmp_path / "a.db")
    )
    assert code == 0, err
    assert len(primary_ids(alerts_of(out))) == 4
    assert "broken.toml:2" in err
    assert "bad_query.toml:" in err


def _rule_id() -> str:
    for line in (RULES / FORMATS[0]).read_text().splitlines():
        if line.startswith("rule_id"):
            return line.split("=", 1)[1].strip().strip('"')
    raise AssertionError("no rule_id")


def test_unsupported_rule_type_is_skipped_with_one_line(tmp_path: Path) -> None:
    text = (RULES / FORMATS[0]).read_text().replace('type = "eql"', 'type = "threshold"')
    (tmp_path / "t.toml").write_text(text)
    code, out, err = run(
        "hunt", "--rules", str(tmp_path / "t.toml"), str(DATA), "--alert-db", str(tmp_path / "a.db")
    )
    assert "not supported yet" in err
    assert code != 0 or out == ""


def _program(*args: str, cwd: Path) -> tuple[int, str, str]:
    """The ``vigil`` program as its console script runs it (``vigil.cli:run``), in a process."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import sys; from vigil.cli import run; sys.argv[0] = 'vigil'; run()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


def test_program_ends_fast_after_a_hunt_with_everything_written(tmp_path: Path) -> None:
    """After a hunt the program ends without tearing its objects down (vigil.cli.run): the
    output file, standard output and the alert store hold all they hold when it ends normally."""
    expected_code, expected_out, _err = hunt_sample(str(tmp_path / "a.db"))
    assert expected_code == 0 and alerts_of(expected_out)
    out_file = tmp_path / "alerts.ndjson"
    common = ["hunt", "--rules", str(RULES / FORMATS[0]), str(DATA), "--format", "ndjson", "--no-progress"]
    code, stdout, stderr = _program(
        *common, "--alert-db", str(tmp_path / "b.db"), "--output", str(out_file), cwd=tmp_path
    )
    assert code == 0, stderr
    assert primary_ids(alerts_of(out_file.read_text())) == primary_ids(alerts_of(expected_out))
    assert "alerts stored in" in stderr  # the summary, printed before the end
    code, stdout, stderr = _program(*common, "--alert-db", str(tmp_path / "c.db"), cwd=tmp_path)
    assert code == 0 and primary_ids(alerts_of(stdout)) == primary_ids(alerts_of(expected_out))
    listed = CliRunner().invoke(
        main, ["alerts", "list", "--alert-db", str(tmp_path / "c.db"), "--format", "ndjson"]
    )
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == len(
        primary_ids(alerts_of(expected_out))
    )
    # an error keeps its exit code, and a command that did not finish writing ends as usual
    code, _stdout, stderr = _program("hunt", "--rules", str(tmp_path / "missing"), str(DATA), cwd=tmp_path)
    assert code == 2 and "no rule to run" in stderr
    code, stdout, _stderr = _program("--version", cwd=tmp_path)
    assert code == 0 and stdout.startswith("vigil")
