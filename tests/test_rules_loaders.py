"""Rule loaders: detection-rules TOML, Kibana exports, documentation pages; located problems."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from vigil.rules.loaders import RuleProblem, derived_rule_id, detect_format, load_rules
from vigil.rules.model import Rule, Technique, Threat, ThreatEntry
from vigil.rules.validate import rule_status

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "rules"
SEED = ROOT.parent / "shared" / "seeds" / "000_aff36af8e83651ee.txt"

SMB_QUERY = (
    "sequence by process.entity_id\n"
    '  [process where event.type == "start" and process.pid != 4]\n'
    "  [network where destination.port == 445 and process.pid != 4 and\n"
    '     not cidrmatch(destination.ip, "127.0.0.1", "::1")]'
)
SMB_THREAT = (
    Threat(
        "MITRE ATT&CK",
        ThreatEntry("TA0008", "Lateral Movement", "https://attack.mitre.org/tactics/TA0008/"),
        (
            Technique(
                ThreatEntry("T1021", "Remote Services", "https://attack.mitre.org/techniques/T1021/"),
                (
                    ThreatEntry(
                        "T1021.002",
                        "SMB/Windows Admin Shares",
                        "https://attack.mitre.org/techniques/T1021/002/",
                    ),
                ),
            ),
        ),
    ),
)
SMB_ID = derived_rule_id("Direct Outbound SMB Connection")

GOOD_TOML = """\
[metadata]
maturity = "production"

[rule]
author = ["Elastic"]
description = "A test rule."
from = "now-9m"
index = ["logs-*"]
language = "eql"
license = "Elastic License v2"
name = "NAME"
risk_score = 21
rule_id = "RULE_ID"
severity = "low"
type = "eql"
query = '''
process where process.name == "cmd.exe"
'''
"""


def _toml(rule_id: str, name: str = "A rule", **replace: str) -> str:
    text = GOOD_TOML.replace("RULE_ID", rule_id).replace("NAME", name)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def _one(path: Path) -> Rule:
    result = load_rules([str(path)])
    assert result.problems == (), [str(p) for p in result.problems]
    assert len(result.rules) == 1
    return result.rules[0]


def _check_smb_facts(rule: Rule) -> None:
    assert rule.rule_id == SMB_ID
    assert rule.name == "Direct Outbound SMB Connection"
    assert rule.type == "eql" and rule.language == "eql"
    assert rule.index == ("winlogbeat-*", "logs-endpoint.events.*", "logs-windows.*")
    assert rule.severity == "medium"
    assert rule.risk_score == 47
    assert rule.interval == "5m"
    assert rule.from_ == "now-9m"
    assert rule.to == "now"
    assert rule.max_signals == 100
    assert rule.references == ()
    assert rule.tags == ("Elastic", "Host", "Windows", "Threat Detection", "Lateral Movement")
    assert rule.version == 7
    assert rule.author == ("Elastic",)
    assert rule.license == "Elastic License v2"
    assert rule.query == SMB_QUERY
    assert rule.threat == SMB_THREAT
    assert rule.supported and rule_status(rule) == "ok"


# --------------------------------------------------------------------------- the three formats


@pytest.mark.skipif(not SEED.exists(), reason="the seed rule page (../shared/seeds) is not available")
def test_seed_page_loads_with_every_fact() -> None:
    rule = _one(SEED)
    _check_smb_facts(rule)
    assert rule.description.startswith("Identifies unexpected processes")
    assert rule.extra["format"] == "markdown"
    assert rule.extra["mapped_pages"][0].startswith("https://www.elastic.co/guide/en/security/")
    assert rule.extra["rule_id_source"] == "derived from the name"
    assert rule.location("query") is not None and rule.location("query").line == 49  # type: ignore[union-attr]


@pytest.mark.parametrize("suffix", ["toml", "ndjson", "md"])
def test_example_files_carry_the_smb_facts(suffix: str) -> None:
    rule = _one(EXAMPLES / f"direct_outbound_smb.{suffix}")
    _check_smb_facts(rule)
    assert rule.extra["format"] == {"md": "markdown"}.get(suffix, suffix)


def test_three_example_files_give_equal_rules() -> None:
    rules = [_one(EXAMPLES / f"direct_outbound_smb.{s}") for s in ("toml", "ndjson", "md")]
    # source, locations and extra say where a rule came from; every other field must agree.
    bare = [dataclasses.replace(r, source="") for r in rules]
    assert bare[0] == bare[1] == bare[2]
    assert len({r.description for r in rules}) == 1 and "445" in rules[0].description


def test_folder_of_examples_keeps_one_copy_of_a_rule_id() -> None:
    result = load_rules([str(EXAMPLES)])
    assert len(result.rules) == 1
    assert len(result.warnings) == 2 and not result.errors
    assert all(p.field == "rule_id" and "also the rule_id" in p.message for p in result.warnings)


# --------------------------------------------------------------------------- TOML


def test_toml_fields_map_to_the_model(tmp_path: Path) -> None:
    text = _toml("r1") + (
        'building_block_type = "default"\ntimestamp_override = "event.ingested"\n'
        'event_category_override = "event.type"\ntiebreaker_field = "event.sequence"\n'
        'note = "guide"\nsetup = "setup"\nreferences = ["https://example.com"]\nmax_signals = 5\n'
        'interval = "1h"\nto = "now-1m"\nenabled = false\nfalse_positives = ["admins"]\n'
        'investigation_fields = {field_names = ["host.name"]}\n'
        '[[rule.exceptions_list]]\nid = "endpoint_list"\nlist_id = "endpoint_list"\n'
        'namespace_type = "agnostic"\ntype = "endpoint"\n'
        '[rule.alert_suppression]\ngroup_by = ["host.name"]\nmissing_fields_strategy = "doNotSuppress"\n'
        '[rule.alert_suppression.duration]\nunit = "m"\nvalue = 5\n'
        '[[rule.filters]]\n[rule.filters.meta]\nnegate = true\n[rule.filters.query.wildcard."file.path"]\n'
        'case_insensitive = true\nvalue = "C:\\\\\\\\Temp\\\\\\\\*"\n'
    )
    path = tmp_path / "r.toml"
    path.write_text(text)
    rule = _one(path)
    assert rule.building_block_type == "default"
    assert rule.timestamp_override == "event.ingested"
    assert rule.event_category_override == "event.type"
    assert rule.tiebreaker_field == "event.sequence"
    assert (rule.note, rule.setup, rule.max_signals, rule.interval, rule.to) == (
        "guide",
        "setup",
        5,
        "1h",
        "now-1m",
    )
    assert rule.enabled is False and rule.false_positives == ("admins",)
    assert rule.exceptions_list[0].list_id == "endpoint_list"
    assert rule.exceptions_list[0].namespace_type == "agnostic"
    assert rule.alert_suppression is not None
    assert rule.alert_suppression.group_by == ("host.name",)
    assert rule.alert_suppression.duration_seconds == 300
    assert rule.alert_suppression.missing_fields_strategy == "doNotSuppress"
    assert rule.filters[0]["query"]["wildcard"]["file.path"]["value"] == "C:\\\\Temp\\\\*"
    assert rule.extra["investigation_fields"] == {"field_names": ["host.name"]}
    assert rule.extra["metadata"] == {"maturity": "production"}
    assert rule.query == 'process where process.name == "cmd.exe"\n'


def test_field_locations_are_found_when_asked_and_survive_pickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from vigil.rules.loaders import toml as toml_loader

    scans: list[str] = []
    real_scan = toml_loader.scan_positions

    def counting_scan(text: str) -> dict[str, object]:
        scans.append(text)
        return real_scan(text)  # type: ignore[return-value]

    monkeypatch.setattr(toml_loader, "scan_positions", counting_scan)
    text = _toml("r1")
    path = tmp_path / "r.toml"
    path.write_text(text)
    rule = _one(path)
    assert scans == []  # a rule without problems does not pay for the position scan
    lines = text.splitlines()
    for name in ("rule_id", "query", "from"):
        loc = rule.location(name)
        assert loc is not None and lines[loc.line - 1].lstrip().startswith(name), name
    assert rule.location("from_") == rule.location("from")
    assert len(scans) == 1  # scanned once, on first use
    copy = pickle.loads(pickle.dumps(rule))
    assert type(copy.locations) is dict and copy.locations == dict(rule.locations)


def test_broken_files_give_located_problems_and_the_others_load(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(_toml("good"))
    (tmp_path / "bad_toml.toml").write_text(_toml("b1", **{"risk_score = 21": "risk_score = = 21"}))
    (tmp_path / "bad_type.toml").write_text(_toml("b2", **{'type = "eql"': 'type = "sigma"'}))
    (tmp_path / "bad_from.toml").write_text(_toml("b3", **{'from = "now-9m"': 'from = "now-9x"'}))
    (tmp_path / "bad_query.toml").write_text(_toml("b4", **{'== "cmd.exe"': '=== "cmd.exe"'}))
    (tmp_path / "no_name.toml").write_text(_toml("b5", **{'name = "A rule"\n': ""}))
    deprecated = tmp_path / "_deprecated"
    deprecated.mkdir()
    (deprecated / "old.toml").write_text(_toml("old", **{"risk_score = 21": "risk_score = = 21"}))
    (tmp_path / "README.md").write_text("# Rules\n\nThese are rules.\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    result = load_rules([str(tmp_path)])
    assert [r.rule_id for r in result.rules] == ["good"]
    by_file = {Path(p.file).name: p for p in result.problems}
    assert set(by_file) == {
        "bad_toml.toml",
        "bad_type.toml",
        "bad_from.toml",
        "bad_query.toml",
        "no_name.toml",
    }
    assert all(p.severity == "error" for p in result.problems)

    bad_toml = by_file["bad_toml.toml"]
    assert (bad_toml.line, bad_toml.column) == (12, 14)
    assert bad_toml.message.startswith("bad TOML") and bad_toml.caret.endswith("^")

    bad_type = by_file["bad_type.toml"]
    assert (bad_type.line, bad_type.field) == (15, "type") and "sigma" in bad_type.message

    bad_from = by_file["bad_from.toml"]
    assert (bad_from.line, bad_from.field) == (7, "from") and "now-9x" in bad_from.message

    bad_query = by_file["bad_query.toml"]
    # The query string opens on line 16; its first line is line 17 of the file.
    assert (bad_query.line, bad_query.column, bad_query.field) == (17, 30, "query")
    assert bad_query.caret == 'process where process.name === "cmd.exe"\n                             ^'

    no_name = by_file["no_name.toml"]
    assert no_name.field == "name" and "missing" in no_name.message and no_name.line == 4
    assert str(no_name) == f"{no_name.file}:4: name: missing; every rule needs a name"


def test_query_error_inside_a_basic_string_with_escapes(tmp_path: Path) -> None:
    # \t and \" escapes and a line-ending backslash: the column must land on the raw text.
    text = _toml("esc").replace(
        "query = '''\nprocess where process.name == \"cmd.exe\"\n'''",
        'query = """\nprocess where \\t process.name == \\"a\\" and \\\n    process.pid === 4\n"""',
    )
    path = tmp_path / "esc.toml"
    path.write_text(text)
    (problem,) = load_rules([str(path)]).problems
    line = text.split("\n")[problem.line - 1]  # type: ignore[operator]
    assert line.strip() == "process.pid === 4"
    assert line[problem.column - 1 :].startswith("= 4")  # type: ignore[operator]


def test_toml_without_rule_table_named_explicitly(tmp_path: Path) -> None:
    path = tmp_path / "meta.toml"
    path.write_text('[metadata]\nmaturity = "production"\n')
    (problem,) = load_rules([str(path)]).problems
    assert problem.field == "rule" and problem.line == 1
    other = tmp_path / "other.toml"
    other.write_text('[project]\nname = "x"\n')
    (problem,) = load_rules([str(other)]).problems
    assert "not a rule file" in problem.message


def test_type_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "types.toml"
    path.write_text(
        _toml("types", **{"risk_score = 21": 'risk_score = "high"', 'index = ["logs-*"]': 'index = "logs-*"'})
    )
    result = load_rules([str(path)])
    messages = {p.field: p.message for p in result.problems}
    assert messages["risk_score"].startswith("expected a whole number, got a string")
    assert messages["index"].startswith("expected a list of strings")
    assert not result.rules


def test_semantic_checks(tmp_path: Path) -> None:
    path = tmp_path / "semantic.toml"
    path.write_text(
        _toml(
            "sem",
            **{
                "risk_score = 21": "risk_score = 101\nmax_signals = 0",
                'severity = "low"': 'severity = "severe"',
                'index = ["logs-*"]\n': "",
                'from = "now-9m"': 'from = "now-1H"',
            },
        )
    )
    result = load_rules([str(path)])
    fields = {p.field for p in result.errors}
    assert fields == {"risk_score", "max_signals", "severity", "index", "from"}
    from_problem = next(p for p in result.errors if p.field == "from")
    assert "'h'" in from_problem.message


KQL = 'query = "process.name : cmd.exe"'


def test_unsupported_types_load_and_are_marked(tmp_path: Path) -> None:
    path = tmp_path / "kql.toml"
    path.write_text(
        _toml(
            "kql",
            **{
                'type = "eql"': 'type = "query"',
                'language = "eql"': 'language = "kuery"',
                "query = '''\nprocess where process.name == \"cmd.exe\"\n'''": KQL,
            },
        )
    )
    rule = _one(path)
    assert not rule.supported
    assert rule_status(rule).startswith("not supported yet: rule type 'query'")


def test_unsupported_filter_is_a_warning_and_marks_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "qs.toml"
    path.write_text(_toml("qs") + '[[rule.filters]]\n[rule.filters.query.query_string]\nquery = "a:b"\n')
    result = load_rules([str(path)])
    (problem,) = result.problems
    assert problem.severity == "warning" and problem.field == "filters" and problem.line == 19
    assert "query_string query is not supported" in problem.message
    assert rule_status(result.rules[0]).startswith("not supported yet: filters[0]: the query_string")


def test_threat_ids_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "threat.toml"
    path.write_text(
        _toml("threat")
        + '[[rule.threat]]\nframework = "MITRE ATT&CK"\n[rule.threat.tactic]\nid = "TA08"\n'
        + 'name = "Lateral Movement"\nreference = "https://attack.mitre.org/tactics/TA0008/"\n'
    )
    result = load_rules([str(path)])
    (problem,) = result.problems
    assert problem.severity == "warning" and problem.field == "threat[0].tactic.id" and problem.line == 22
    assert len(result.rules) == 1


# --------------------------------------------------------------------------- Kibana exports


def _export(tmp_path: Path, *objects: object, name: str = "export.ndjson") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(o) + "\n" for o in objects))
    return path


RULE = {
    "rule_id": "k1",
    "name": "Kibana rule",
    "description": "d",
    "type": "eql",
    "language": "eql",
    "query": 'process where process.name == "a"',
    "index": ["logs-*"],
    "risk_score": 73,
    "severity": "high",
    "timestamp_override": "event.ingested",
    "timestamp_override_fallback_disabled": True,
    "alert_suppression": {"group_by": ["host.name"], "duration": {"value": 2, "unit": "h"}},
    "exceptions_list": [{"id": "abc", "list_id": "my-list", "type": "detection", "namespace_type": "single"}],
}


def test_kibana_export_with_exceptions_and_summary(tmp_path: Path) -> None:
    item = {
        "item_id": "i1",
        "list_id": "my-list",
        "type": "simple",
        "namespace_type": "single",
        "entries": [{"field": "host.name", "operator": "included", "type": "match", "value": "h1"}],
    }
    container = {"list_id": "my-list", "type": "detection", "namespace_type": "single", "name": "My list"}
    connector = {"type": "action", "id": "c1", "attributes": {"name": "slack"}}
    summary = {"exported_count": 4, "exported_rules_count": 1, "missing_rules": []}
    result = load_rules([str(_export(tmp_path, RULE, container, item, connector, summary))])
    assert result.problems == ()
    (rule,) = result.rules
    assert rule.timestamp_override == "event.ingested" and rule.timestamp_override_fallback_disabled
    assert rule.alert_suppression is not None and rule.alert_suppression.duration_seconds == 7200
    assert rule.exceptions_list[0].list_id == "my-list"
    assert result.exception_items == (item,)


def test_kibana_export_problems_are_located(tmp_path: Path) -> None:
    bad_query = dict(RULE, rule_id="k2", query='process where process.name == "a\\tb" and foo(1)')
    bad_item = {
        "item_id": "i2",
        "list_id": "l",
        "entries": [{"field": "a", "operator": "maybe", "type": "match"}],
    }
    path = tmp_path / "e.ndjson"
    path.write_text(
        json.dumps(RULE) + "\n{not json\n" + json.dumps(bad_query) + "\n" + json.dumps(bad_item) + "\n"
    )
    result = load_rules([str(path)])
    assert [r.rule_id for r in result.rules] == ["k1"]
    by_line = {p.line: p for p in result.problems}
    assert by_line[2].message.startswith("bad JSON") and by_line[2].column == 2
    query = by_line[3]
    line = path.read_text().split("\n")[2]
    assert query.field == "query" and line[query.column - 1 :].startswith("foo(1)")  # type: ignore[operator]
    assert {p.field for p in result.problems if p.line == 4} == {"entries[0].operator", "entries[0].value"}
    assert result.exception_items == ()  # a malformed item is reported and left out


def test_event_data_is_not_an_export(tmp_path: Path) -> None:
    data = tmp_path / "events.ndjson"
    data.write_text('{"@timestamp": "2024-01-01T00:00:00Z", "event": {"category": "process"}}\n')
    assert load_rules([str(tmp_path)]).problems == ()
    (problem,) = load_rules([str(data)]).problems
    assert problem.message == "not a Kibana rules export"


# --------------------------------------------------------------------------- Markdown pages


PAGE = """\
---
mapped_pages:
  - https://example.com/rule.html
rule_id: page-1
---

# Page Rule [page-rule]

First paragraph.

Second paragraph.

**Rule type**: eql

**Rule indices**:

* logs-*

**Severity**: high

**Risk score**: 73

**Runs every**: 10m

**Searches indices from**: now-15m (a note)

**Maximum alerts per execution**: 10

**References**:

* https://example.com/a

**Tags**:

* One

**Version**: 2

**Rule authors**:

* Someone

**Rule license**: Apache 2.0

## Investigation guide [_guide]

## Triage

Look at **this**: carefully.

## Setup [_setup]

Install things.

## Rule query [_query]

```eql
process where
  process.name == "a"
```
"""


def test_markdown_page_sections_and_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(PAGE)
    rule = _one(path)
    assert rule.rule_id == "page-1" and rule.name == "Page Rule"
    assert rule.description == "First paragraph.\n\nSecond paragraph."
    assert (rule.severity, rule.risk_score, rule.interval, rule.from_, rule.max_signals) == (
        "high",
        73,
        "10m",
        "now-15m",
        10,
    )
    assert rule.references == ("https://example.com/a",) and rule.version == 2
    assert rule.note == "## Triage\n\nLook at **this**: carefully."
    assert rule.setup == "Install things."
    assert rule.query == 'process where\n  process.name == "a"'
    assert rule.threat == ()


def test_markdown_query_error_points_into_the_code_block(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    text = PAGE.replace('process.name == "a"', 'process.name === "a"')
    path.write_text(text)
    (problem,) = load_rules([str(path)]).problems
    lines = text.split("\n")
    assert lines[problem.line - 2] == "process where"  # type: ignore[operator]
    assert lines[problem.line - 1][problem.column - 1 :] == '= "a"'  # type: ignore[index, operator]
    assert problem.caret == '  process.name === "a"\n                 ^'


def test_markdown_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "page.md"
    path.write_text(PAGE.replace("**Risk score**: 73", "**Risk score**: high"))
    (problem,) = load_rules([str(path)]).problems
    assert problem.field == "risk_score" and problem.line == 21


def test_format_is_detected_by_content(tmp_path: Path) -> None:
    assert detect_format(PAGE) == "markdown"
    assert detect_format(json.dumps(RULE)) == "ndjson"
    assert detect_format(GOOD_TOML) == "toml"
    assert detect_format("# comment\n[rule]\n") == "toml"
    named = tmp_path / "rule.rule"
    named.write_text(_toml("odd"))
    assert _one(named).rule_id == "odd"


def test_missing_path_is_a_problem() -> None:
    result = load_rules(["/no/such/rules"])
    assert result.problems == (RuleProblem("/no/such/rules", None, None, "no such file or folder"),)


def _many_rule_files(folder: Path, n: int) -> None:
    """``n`` rule files: most good (some queries shared), a few broken, one rule_id twice, a
    README passed over."""
    folder.mkdir()
    for i in range(n):
        if i % 37 == 5:
            text = _toml(f"id-{i}", f"Rule {i}").replace(
                'process where process.name == "cmd.exe"', "process where ("
            )
        elif i % 53 == 7:
            text = "this is not [toml"
        elif i == n - 1:
            text = _toml("id-3", "A copy of rule 3")
        else:
            query = f'process where process.name == "tool{i % 11}.exe"'
            text = _toml(f"id-{i}", f"Rule {i}").replace('process where process.name == "cmd.exe"', query)
        (folder / f"rule_{i:04d}.toml").write_text(text)
    (folder / "README.md").write_text("# Rules\n\nNot a rule.\n")


def test_many_files_loaded_by_two_processes_as_by_one(tmp_path: Path) -> None:
    from vigil.eql import parser
    from vigil.rules.loaders import PARALLEL_MIN_FILES

    folder = tmp_path / "rules"
    _many_rule_files(folder, PARALLEL_MIN_FILES + 40)
    one = load_rules([str(folder)], jobs=1)
    parser._REMEMBERED.clear()
    two = load_rules([str(folder)], jobs=2)
    assert two == one
    assert len(one.rules) > PARALLEL_MIN_FILES // 2
    assert {p.severity for p in one.problems} == {"error", "warning"}
    # the helper's rules' parsed queries are kept, the same trees as parsing them here
    assert parser._REMEMBERED
    for text, tree in parser._REMEMBERED.items():
        assert tree == parser._parse_cached(text)


def test_loading_helper_failing_leaves_its_files_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from vigil.rules import loaders

    folder = tmp_path / "rules"
    _many_rule_files(folder, loaders.PARALLEL_MIN_FILES + 10)

    def dies(_files: object, send: object) -> None:
        os._exit(3)  # ends without an answer

    one = load_rules([str(folder)], jobs=1)
    monkeypatch.setattr(loaders, "_load_part", dies)
    assert load_rules([str(folder)], jobs=2) == one
