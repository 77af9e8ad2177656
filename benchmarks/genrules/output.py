"""Writing rules as detection-rules TOML files or one Kibana export, and the summary of the mix."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .mitre import Mitre
from .rules import GeneratedRule
from .settings import AUTHOR, KIND_SHARES, MARKER, NDJSON_NAME, RULE_ID_NAMESPACE


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _threat(mitre: Mitre) -> list[dict[str, object]]:
    tech_id, tech_name = mitre.technique
    technique: dict[str, object] = {
        "id": tech_id,
        "name": tech_name,
        "reference": f"https://attack.mitre.org/techniques/{tech_id}/",
    }
    if mitre.sub is not None:
        sub_id, sub_name = mitre.sub
        technique["subtechnique"] = [
            {
                "id": sub_id,
                "name": sub_name,
                "reference": f"https://attack.mitre.org/techniques/{sub_id.replace('.', '/')}/",
            }
        ]
    tactic_id, tactic_name = mitre.tactic
    return [
        {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": tactic_id,
                "name": tactic_name,
                "reference": f"https://attack.mitre.org/tactics/{tactic_id}/",
            },
            "technique": [technique],
        }
    ]


def _toml_string(value: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML escapes for this text)."""
    return json.dumps(value, ensure_ascii=False)


def _toml_array(values: Sequence[str]) -> str:
    one_line = "[" + ", ".join(_toml_string(v) for v in values) + "]"
    if len(one_line) <= 100:
        return one_line
    return "[\n" + "".join(f"    {_toml_string(v)},\n" for v in values) + "]"


def _toml_entry(entry_id: str, name: str, reference: str) -> list[str]:
    return [
        f"id = {_toml_string(entry_id)}",
        f"name = {_toml_string(name)}",
        f"reference = {_toml_string(reference)}",
    ]


def to_toml(rule: GeneratedRule, seed: int, total: int) -> str:
    """The rule as a detection-rules TOML file ([metadata], [rule], query, [[rule.threat]])."""
    integrations = sorted(
        {
            "endpoint" if p.startswith("logs-endpoint") else "windows"
            for p in rule.index
            if p.startswith(("logs-endpoint", "logs-windows", "winlogbeat"))
        }
    )
    out = [
        f"{MARKER} (seed {seed}, rule {rule.position + 1} of {total}); not an Elastic rule.",
        "[metadata]",
        f'creation_date = "{rule.creation_date}"',
    ]
    if integrations:
        out.append(f"integration = {_toml_array(integrations)}")
    out += ['maturity = "production"', f'updated_date = "{rule.updated_date}"', "", "[rule]"]
    out.append(f"author = {_toml_array([AUTHOR])}")
    out.append('description = """\n' + rule.description.replace("\\", "\\\\") + '\n"""')
    out.append(f"from = {_toml_string(rule.from_)}")
    out.append(f"index = {_toml_array(rule.index)}")
    if rule.interval is not None:
        out.append(f"interval = {_toml_string(rule.interval)}")
    out.append('language = "eql"')
    out.append('license = "Apache-2.0"')
    out.append(f"name = {_toml_string(rule.name)}")
    if rule.note:
        out.append('note = """' + rule.note.replace("\\", "\\\\") + '"""')
    mitre = rule.built.mitre
    tech = (mitre.sub[0] if mitre.sub else mitre.technique[0]).replace(".", "/")
    out.append(f"references = {_toml_array([f'https://attack.mitre.org/techniques/{tech}/'])}")
    out.append(f"risk_score = {rule.risk_score}")
    out.append(f"rule_id = {_toml_string(rule.rule_id)}")
    out.append(f"severity = {_toml_string(rule.severity)}")
    out.append(f"tags = {_toml_array(rule.tags)}")
    if rule.timestamp_override:
        out.append(f"timestamp_override = {_toml_string(rule.timestamp_override)}")
    out.append('type = "eql"')
    out.append("")
    # A literal multi-line string: the query's backslashes stay as written (no ''' in queries).
    out.append("query = '''\n" + rule.built.query + "\n'''")
    # The layout of detection-rules: technique (and sub-technique) tables, then the tactic.
    out += ["", "", "[[rule.threat]]", 'framework = "MITRE ATT&CK"', "", "[[rule.threat.technique]]"]
    out += _toml_entry(*mitre.technique, f"https://attack.mitre.org/techniques/{mitre.technique[0]}/")
    if mitre.sub is not None:
        out += ["", "[[rule.threat.technique.subtechnique]]"]
        out += _toml_entry(
            *mitre.sub, f"https://attack.mitre.org/techniques/{mitre.sub[0].replace('.', '/')}/"
        )
    out += ["", "[rule.threat.tactic]"]
    out += _toml_entry(*mitre.tactic, f"https://attack.mitre.org/tactics/{mitre.tactic[0]}/")
    return "\n".join(out) + "\n"


def to_kibana(rule: GeneratedRule) -> dict[str, object]:
    """The rule as one object of a Kibana rule export."""
    doc: dict[str, object] = {
        "id": str(uuid.uuid5(RULE_ID_NAMESPACE, "saved-object:" + rule.rule_id)),
        "rule_id": rule.rule_id,
        "name": rule.name,
        "description": rule.description,
        "type": "eql",
        "language": "eql",
        "query": rule.built.query,
        "index": list(rule.index),
        "interval": rule.interval or "5m",
        "from": rule.from_,
        "to": "now",
        "max_signals": 100,
        "severity": rule.severity,
        "severity_mapping": [],
        "risk_score": rule.risk_score,
        "risk_score_mapping": [],
        "tags": list(rule.tags),
        "threat": _threat(rule.built.mitre),
        "version": 1,
        "author": [AUTHOR],
        "license": "Apache-2.0",
        "references": [],
        "false_positives": [],
        "note": rule.note,
        "setup": "",
        "enabled": True,
        "immutable": False,
        "exceptions_list": [],
        "related_integrations": [],
        "required_fields": [],
        "actions": [],
        "output_index": "",
    }
    if rule.timestamp_override:
        doc["timestamp_override"] = rule.timestamp_override
    return doc


def _export_summary(count: int) -> dict[str, object]:
    return {
        "exported_count": count,
        "exported_rules_count": count,
        "missing_rules": [],
        "missing_rules_count": 0,
        "exported_exception_list_count": 0,
        "exported_exception_list_item_count": 0,
        "missing_exception_list_item_count": 0,
        "missing_exception_list_items": [],
        "missing_exception_lists": [],
        "missing_exception_lists_count": 0,
        "exported_action_connector_count": 0,
        "missing_action_connection_count": 0,
        "missing_action_connections": [],
        "excluded_action_connection_count": 0,
        "excluded_action_connections": [],
    }


def _remove_stale(out: Path) -> None:
    """Remove files an earlier run of this script wrote into ``out`` (a smaller or different
    set would otherwise stay next to the new one); other files are left alone."""
    for path in sorted(out.glob("*.toml")):
        with open(path, encoding="utf-8", errors="replace") as fh:
            if fh.readline().startswith(MARKER):
                path.unlink()
    ndjson = out / NDJSON_NAME
    if ndjson.exists():
        with open(ndjson, encoding="utf-8", errors="replace") as fh:
            if f'"author": ["{AUTHOR}"]' in fh.readline():
                ndjson.unlink()


def write_rules(rules: Sequence[GeneratedRule], out: Path, fmt: str, seed: int) -> list[Path]:
    """Write ``rules`` into ``out``: one TOML file per rule, or one Kibana export."""
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    written: list[Path] = []
    if fmt == "ndjson":
        path = out / NDJSON_NAME
        lines = [json.dumps(to_kibana(r), ensure_ascii=False) for r in rules]
        lines.append(json.dumps(_export_summary(len(rules))))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [path]
    used: set[str] = set()
    for rule in rules:
        stem = f"{_slug(rule.built.mitre.tactic[1])}_{_slug(rule.name)}"[:120]
        name = stem
        n = 1
        while name in used:
            n += 1
            name = f"{stem}_{n}"
        used.add(name)
        path = out / f"{name}.toml"
        path.write_text(to_toml(rule, seed, len(rules)), encoding="utf-8")
        written.append(path)
    return written


def classify(query: str) -> str:
    """The kind of a generated query, as the mix counts it: ``sequence``, ``dns`` (a network or
    dns query on ``dns.*`` fields) or the event category."""
    head = query.split(" ", 1)[0]
    if head == "sequence":
        return "sequence"
    if head in ("network", "dns") and "dns.question" in query:
        return "dns"
    return head


def summary(rules: Sequence[GeneratedRule], fmt: str, seed: int, out: Path) -> str:
    """The one-line description of the mix printed on stderr."""
    kinds = Counter(classify(r.built.query) for r in rules)
    total = max(len(rules), 1)
    mix = ", ".join(f"{k} {kinds[k]} ({100 * kinds[k] / total:.0f}%)" for k, _ in KIND_SHARES)
    seqs = [r for r in rules if r.kind == "sequence"]
    by_entity = sum(
        1
        for r in seqs
        if "process.entity_id" in r.built.query.split("\n")[0] or " by process.entity_id" in r.built.query
    )
    by_host = sum(
        1
        for r in seqs
        if r.built.query.startswith("sequence by host.id")
        and "process.entity_id" not in r.built.query.split("\n")[0]
    )
    until = sum(1 for r in seqs if "\nuntil " in r.built.query)
    runs = sum(1 for r in seqs if "with runs=" in r.built.query)
    oses = Counter(r.built.os for r in rules)
    optional = sum(1 for r in rules if re.search(r"\?[a-z]", r.built.query))
    hot = sum(1 for r in rules if r.hot)
    return (
        f"gen_rules: {len(rules)} rules ({fmt}, seed {seed}) in {out}: {mix}; "
        f"sequences by entity id {by_entity}, "
        f"by host.id only {by_host}, with until {until}, with runs {runs}; "
        f"os windows {oses['windows']}, linux {oses['linux']}, macos {oses['macos']}; "
        f"{optional} with ?optional fields; {hot} built to match gen_ecs events"
    )
