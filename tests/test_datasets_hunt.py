"""`vigil hunt` with "Direct Outbound SMB Connection" over every real data set in ../shared/datasets.

The expected alert count of each data set is read from the table of ../shared/datasets/README.md
(its last column), so a data set added there is hunted here too. The one positive case, the
PurpleSharp capture, is checked event by event against what the README and its PROVENANCE.md say.
The data are read in place (EVTX, NXLog JSON lines, Winlogbeat JSON); the upstream zips are not
needed. Skipped when ../shared is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vigil.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
README = DATASETS / "README.md"
RULE = ROOT / "examples" / "rules" / "direct_outbound_smb.toml"

pytestmark = pytest.mark.skipif(not README.is_file(), reason=f"{DATASETS} is absent (../shared)")


def expected_alerts() -> dict[str, int]:
    """folder -> expected alert count, from the README's table rows ``| `folder/` | ... | N ... |``."""
    if not README.is_file():
        return {}
    found: dict[str, int] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        row = re.match(r"\|\s*`([^`/]+)/`\s*\|", line)
        if not row:
            continue
        last = line.rstrip().rstrip("|").rsplit("|", 1)[-1]
        count = re.match(r"\s*\**(\d+)", last)
        assert count, f"README row without an alert count: {line}"
        found[row.group(1)] = int(count.group(1))
    return found


EXPECTED = expected_alerts()


def hunt(data: Path, db: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    result = CliRunner().invoke(
        main,
        ["hunt", "--rules", str(RULE), str(data), "--format", "ndjson", "--alert-db", str(db), *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()], result.stderr


def get(doc: dict[str, Any], path: str) -> Any:
    """A field by dotted path, nested or flattened (alerts mix both)."""
    if path in doc:
        return doc[path]
    head, _, rest = path.partition(".")
    while rest:
        child = doc.get(head)
        if isinstance(child, dict):
            found = get(child, rest)
            if found is not None:
                return found
        part, _, rest = rest.partition(".")
        head = f"{head}.{part}"
    return None


def test_every_data_set_has_an_expectation() -> None:
    folders = sorted(p.name for p in DATASETS.iterdir() if p.is_dir())
    assert folders and set(folders) == set(EXPECTED), "README table and folders differ"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hunt_gives_the_alerts_the_readme_lists(name: str, tmp_path: Path) -> None:
    alerts, err = hunt(DATASETS / name, tmp_path / "alerts.db")
    shells = [a for a in alerts if get(a, "kibana.alert.group.index") is None]
    assert len(shells) == EXPECTED[name], err
    assert "0 malformed line(s) skipped" in err and "damaged" not in err
    assert f"{EXPECTED[name]} alert(s)" in err


@pytest.mark.parametrize("mode", ["agent", "winlogbeat"])
def test_purplesharp_alert_in_detail(mode: str, tmp_path: Path) -> None:
    alerts, err = hunt(
        DATASETS / "mordor-purplesharp-ad-playbook", tmp_path / "alerts.db", "--ecs-mode", mode
    )
    shells = [a for a in alerts if get(a, "kibana.alert.group.index") is None]
    blocks = sorted(
        (a for a in alerts if get(a, "kibana.alert.group.index") is not None),
        key=lambda a: get(a, "kibana.alert.group.index"),
    )
    assert len(shells) == 1 and len(blocks) == 2, err
    shell = shells[0]
    entity = "{313fa531-4300-5f91-ae04-000000000400}"
    assert get(shell, "kibana.alert.rule.name") == "Direct Outbound SMB Connection"
    assert get(shell, "process.entity_id") == entity
    start, connect = blocks
    expected_index = "logs-windows.sysmon_operational-default"
    if mode == "winlogbeat":
        expected_index = "winlogbeat-8.17.0"
    for block in blocks:
        assert get(block, "host.name").split(".")[0] == "WORKSTATION5"
        assert get(block, "process.entity_id") == entity
        assert get(block, "process.pid") == 7520
        assert get(block, "process.name") == "PurpleSharp.exe"
        index = get(block, "kibana.alert.ancestors")[0]["index"]
        expected_index = (
            "winlogbeat-8.17.0" if mode == "winlogbeat" else "logs-windows.sysmon_operational-default"
        )
        assert index == expected_index
    assert get(start, "kibana.alert.original_time").startswith("2020-10-22T08:29:52.016")
    assert "start" in get(start, "event.type") and "process" in get(start, "event.category")
    assert get(connect, "kibana.alert.original_time").startswith("2020-10-22T08:29:53.017")
    assert get(connect, "destination.ip") == "172.18.38.5"
    assert get(connect, "destination.port") == 445
    assert "network" in get(connect, "event.category")
