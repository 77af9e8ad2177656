"""``vigil rules validate`` and ``vigil rules list``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vigil.cli_rules import rules

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "rules"

RULE = """\
[rule]
author = ["Elastic"]
description = "d"
from = "FROM"
index = ["logs-*"]
language = "eql"
name = "NAME"
risk_score = 21
rule_id = "ID"
severity = "low"
type = "TYPE"
query = '''
process where true
'''
"""


def _rule(folder: Path, rule_id: str, name: str, *, type_: str = "eql", from_: str = "now-6m") -> Path:
    path = folder / f"{rule_id}.toml"
    path.write_text(
        RULE.replace("ID", rule_id).replace("NAME", name).replace("TYPE", type_).replace("FROM", from_)
    )
    return path


def test_validate_examples_is_clean() -> None:
    result = CliRunner().invoke(rules, ["validate", str(EXAMPLES / "direct_outbound_smb.toml")])
    assert result.exit_code == 0, result.output
    assert result.output == "1 rule, 0 errors, 0 warnings\n"


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    _rule(tmp_path, "good", "Good rule")
    bad = _rule(tmp_path, "bad", "Bad rule", from_="now-9x")
    _rule(tmp_path, "kql", "KQL rule", type_="query")
    result = CliRunner().invoke(rules, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{bad}:4: from: bad date math 'now-9x': unknown unit 'x'")
    assert lines[-1] == "2 rules, 1 error, 0 warnings (1 of the rules are not supported yet)"


def test_validate_warnings_only_exit_0(tmp_path: Path) -> None:
    path = _rule(tmp_path, "w", "Warned")
    path.write_text(path.read_text() + "max_signals = 5000\n")
    result = CliRunner().invoke(rules, ["validate", str(path)])
    assert result.exit_code == 0
    assert "max_signals: 5000 is above Kibana's limit" in result.output
    assert result.output.endswith("1 rule, 0 errors, 1 warning\n")


def test_validate_shows_the_query_caret(tmp_path: Path) -> None:
    path = _rule(tmp_path, "q", "Query")
    path.write_text(path.read_text().replace("process where true", "process where true and"))
    result = CliRunner().invoke(rules, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:13:" in result.output and "process where true and\n" in result.output
    assert "Traceback" not in result.output


def test_validate_missing_path() -> None:
    result = CliRunner().invoke(rules, ["validate", "/no/such/folder"])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "/no/such/folder: no such file or folder"


def test_list_table(tmp_path: Path) -> None:
    _rule(tmp_path, "aaaaaaaa-1111", "An [eql] rule")
    _rule(tmp_path, "bbbbbbbb-2222", "A KQL rule", type_="query")
    result = CliRunner().invoke(rules, ["list", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "aaaaaaaa" in out and "aaaaaaaa-1111" not in out
    assert "An [eql] rule" in out  # names are text, not rich markup
    assert "not supported yet: rule type 'query'" in out
    assert " ok " in out
    assert out.rstrip().endswith("2 rules, 0 errors, 0 warnings")


def test_list_json(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(rules, ["list", str(EXAMPLES / "direct_outbound_smb.md"), "--format", "json"])
    assert result.exit_code == 0
    body = result.output[: result.output.rindex("]") + 1]
    (row,) = json.loads(body)
    assert row["name"] == "Direct Outbound SMB Connection"
    assert row["index"] == ["winlogbeat-*", "logs-endpoint.events.*", "logs-windows.*"]
    assert (row["severity"], row["risk_score"], row["interval"], row["from"]) == (
        "medium",
        47,
        "5m",
        "now-9m",
    )
    assert row["status"] == "ok" and row["supported"] is True


def test_list_with_errors_exits_1(tmp_path: Path) -> None:
    _rule(tmp_path, "bad", "Bad", from_="later")
    result = CliRunner().invoke(rules, ["list", str(tmp_path)])
    assert result.exit_code == 1
    assert "from: bad date math 'later'" in result.output
    assert "no rules" in result.output
