"""Elastic's prebuilt rule documentation pages (Markdown), read back into rules.

A page looks like this (the layout Elastic's documentation uses for each prebuilt rule)::

    ---
    mapped_pages:
      - https://www.elastic.co/guide/en/security/current/prebuilt-rule-....html
    ---

    # Rule Name [anchor]

    Description paragraph(s).

    **Rule type**: eql
    **Rule indices**:            followed by a bullet list
    **Severity**: medium         (also Risk score, Runs every, Searches indices from,
                                  Maximum alerts per execution, References, Tags, Version,
                                  Rule authors, Rule license)

    ## Investigation guide [...]  (optional: becomes note)
    ## Setup [...]                (optional: becomes setup)
    ## Rule query [...]           followed by a fenced code block: the query

    **Framework**: MITRE ATT&CK   then "* Tactic:", "* Technique:", "* Sub-technique:" bullets,
                                  each with "* Name:", "* ID:", "* Reference URL:" bullets

The page has no rule_id. vigil takes ``rule_id`` from the front matter when it has one, and
otherwise derives a stable one from the rule name: ``uuid5(DOC_RULE_NAMESPACE, name)``. A rule
file in another format that should be the same rule uses that id (see :func:`derived_rule_id`).
The page has no ``to`` and no ``language`` either: ``to`` is ``now`` and the language follows the
type (``eql`` for eql rules).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from vigil.rules.loaders.common import Origin, RuleProblem, build_rule
from vigil.rules.model import Rule

# The namespace of rule ids derived from documentation pages (uuid5 of "vigil:elastic-docs-rule").
DOC_RULE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "vigil:elastic-docs-rule")

_TITLE = re.compile(r"^#\s+(?P<name>.+?)(?:\s+\[(?P<anchor>[^\]]*)\])?\s*$")
_FIELD = re.compile(r"^\*\*(?P<label>[^*]+)\*\*:\s*(?P<value>.*)$")
_BULLET = re.compile(r"^(?P<indent>\s*)[*-]\s+(?P<text>.*)$")
_SECTION = re.compile(r"^##\s+(?P<title>.+?)(?:\s+\[[^\]]*\])?\s*$")
_FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)\s*$")
_LINK = re.compile(r"^\[(?P<text>[^\]]*)\]\((?P<url>[^)]*)\)$")

_LABELS = {
    "Rule type": "type",
    "Rule indices": "index",
    "Severity": "severity",
    "Risk score": "risk_score",
    "Runs every": "interval",
    "Searches indices from": "from",
    "Maximum alerts per execution": "max_signals",
    "References": "references",
    "Tags": "tags",
    "Version": "version",
    "Rule authors": "author",
    "Rule license": "license",
}
_LIST_FIELDS = frozenset({"index", "references", "tags", "author"})
_INT_FIELDS = frozenset({"risk_score", "max_signals", "version"})
_SECTIONS = {"investigation guide": "note", "setup": "setup", "rule query": "query"}


def derived_rule_id(name: str) -> str:
    """The rule_id vigil gives a documentation page without one: uuid5 of the rule's name."""
    return str(uuid.uuid5(DOC_RULE_NAMESPACE, name.strip()))


def looks_like_rule_page(text: str) -> bool:
    """True when ``text`` is a rule documentation page: optional ``---`` front matter, a ``#``
    title, and a ``**Rule type**`` line."""
    lines = text.lstrip("\ufeff").split("\n")
    i = _skip_front_matter(lines, {})
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not _TITLE.match(lines[i]):
        return False
    return any(line.startswith("**Rule type**") for line in lines[i:])


def _skip_front_matter(lines: list[str], out: dict[str, Any]) -> int:
    """Parse simple YAML front matter (scalars and lists of scalars) into ``out``; return the
    index of the first line after it."""
    if not lines or lines[0].strip() != "---":
        return 0
    key: str | None = None
    for i in range(1, len(lines)):
        line = lines[i]
        if line.strip() == "---":
            return i + 1
        item = re.match(r"^\s+-\s+(.*)$", line)
        if item and key is not None:
            out.setdefault(key, [])
            if isinstance(out[key], list):
                out[key].append(item.group(1).strip().strip("\"'"))
            continue
        pair = re.match(r"^([\w.-]+):\s*(.*)$", line)
        if pair:
            key = pair.group(1)
            value = pair.group(2).strip().strip("\"'")
            out[key] = value if value else []
    return 0  # no closing ---: not front matter


class _Page:
    """One pass over the page's lines, collecting the rule mapping and the line of each field."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.data: dict[str, Any] = {}
        self.front: dict[str, Any] = {}
        self.where: dict[str, tuple[int, int | None]] = {}
        self.query_line = 0  # line (1-based) of the query's opening fence
        self.problems: list[tuple[int, str | None, str]] = []

    def parse(self) -> None:
        lines = self.lines
        i = _skip_front_matter(lines, self.front)
        while i < len(lines) and not lines[i].strip():
            i += 1
        title = _TITLE.match(lines[i]) if i < len(lines) else None
        if title is None:
            self.problems.append((i + 1, "name", "expected the rule name as a '# ' title"))
            return
        self.data["name"] = title.group("name").strip()
        self.where["name"] = (i + 1, None)
        if title.group("anchor"):
            self.data["anchor"] = title.group("anchor")
        i = self._description(i + 1)
        while i < len(lines):
            line = lines[i]
            field = _FIELD.match(line)
            section = _SECTION.match(line)
            if field and field.group("label").strip() == "Framework":
                i = self._threat(i, field.group("value"))
            elif field:
                i = self._field(i, field.group("label").strip(), field.group("value").strip())
            elif section:
                i = self._section(i, section.group("title").strip())
            else:
                i += 1

    def _description(self, i: int) -> int:
        start = i
        paragraphs: list[list[str]] = [[]]
        while i < len(self.lines) and not _FIELD.match(self.lines[i]) and not _SECTION.match(self.lines[i]):
            line = self.lines[i].rstrip()
            if line:
                paragraphs[-1].append(line)
            elif paragraphs[-1]:
                paragraphs.append([])
            i += 1
        text = "\n\n".join("\n".join(p) for p in paragraphs if p)
        if text:
            self.data["description"] = text
            first = next(n for n, line in enumerate(self.lines[start:]) if line)
            self.where["description"] = (start + 1 + first, None)
        return i

    def _bullets(self, i: int) -> tuple[list[str], int]:
        """The bullet items following line ``i`` (blank lines allowed before and between)."""
        items: list[str] = []
        j = i + 1
        while j < len(self.lines):
            line = self.lines[j]
            bullet = _BULLET.match(line)
            if bullet:
                items.append(bullet.group("text").strip())
            elif line.strip():
                break
            j += 1
        return items, j

    def _field(self, i: int, label: str, value: str) -> int:
        key = _LABELS.get(label)
        if key is None:
            self.problems.append((i + 1, None, f"unknown field **{label}**; ignored"))
            return i + 1
        self.where[key] = (i + 1, None)
        if key in _LIST_FIELDS:
            if value and value != "None":
                self.data[key] = [value]
                return i + 1
            items, j = self._bullets(i)
            if value != "None":
                self.data[key] = items
            return j
        if value == "None":
            return i + 1
        if key == "from":
            value = value.split()[0] if value.split() else value  # drop the "(Date Math format ...)" note
        if key in _INT_FIELDS and re.fullmatch(r"-?\d+", value):
            self.data[key] = int(value)
        else:
            self.data[key] = value
        return i + 1

    def _section(self, i: int, title: str) -> int:
        key = _SECTIONS.get(title.lower())
        if key is None:
            return i + 1
        j = i + 1
        if key == "query":
            while j < len(self.lines) and not _FENCE.match(self.lines[j]):
                if _SECTION.match(self.lines[j]) or _FIELD.match(self.lines[j]):
                    self.problems.append((i + 1, "query", "expected a fenced code block holding the query"))
                    return j
                j += 1
            if j >= len(self.lines):
                self.problems.append((i + 1, "query", "expected a fenced code block holding the query"))
                return j
            fence = _FENCE.match(self.lines[j])
            assert fence is not None
            closing = fence.group("fence")
            body_start = j + 1
            k = body_start
            while k < len(self.lines) and self.lines[k].strip() != closing:
                k += 1
            self.data["query"] = "\n".join(self.lines[body_start:k])
            self.where["query"] = (body_start + 1, None)
            self.query_line = body_start + 1
            return k + 1
        body: list[str] = []
        while j < len(self.lines):
            line = self.lines[j]
            heading = _SECTION.match(line)
            # The guide may have "## " headings of its own: only a known section ends it.
            if (heading and heading.group("title").strip().lower() in _SECTIONS) or line.startswith(
                "**Framework**"
            ):
                break
            body.append(line)
            j += 1
        self.data[key] = "\n".join(body).strip("\n")
        self.where[key] = (i + 1, None)
        return j

    def _threat(self, i: int, framework: str) -> int:
        name = re.sub(r"(\^?TM\^?|™)$", "", framework.strip()).strip()
        threats: list[dict[str, Any]] = self.data.setdefault("threat", [])
        self.where.setdefault("threat", (i + 1, None))
        target: dict[str, Any] | None = None
        path = ""
        j = i + 1
        while j < len(self.lines):
            line = self.lines[j]
            bullet = _BULLET.match(line)
            if not bullet:
                if line.strip():
                    break
                j += 1
                continue
            text = bullet.group("text").replace("*", "").strip()
            label, _, value = text.partition(":")
            label, value = label.strip(), value.strip()
            if label == "Tactic":
                threats.append({"framework": name, "tactic": {}, "technique": []})
                target = threats[-1]["tactic"]
                path = f"threat[{len(threats) - 1}].tactic"
            elif label == "Technique" and threats:
                threats[-1]["technique"].append({"subtechnique": []})
                target = threats[-1]["technique"][-1]
                path = f"threat[{len(threats) - 1}].technique[{len(threats[-1]['technique']) - 1}]"
            elif label == "Sub-technique" and threats and threats[-1]["technique"]:
                technique = threats[-1]["technique"][-1]
                technique["subtechnique"].append({})
                target = technique["subtechnique"][-1]
                path = (
                    f"threat[{len(threats) - 1}].technique[{len(threats[-1]['technique']) - 1}]"
                    f".subtechnique[{len(technique['subtechnique']) - 1}]"
                )
            elif target is not None and label in ("Name", "ID", "Reference URL"):
                key = {"Name": "name", "ID": "id", "Reference URL": "reference"}[label]
                link = _LINK.match(value)
                target[key] = link.group("url") if link else value
                self.where[f"{path}.{key}"] = (j + 1, None)
                self.where.setdefault(path, (j + 1, None))
            else:
                self.problems.append((j + 1, "threat", f"unexpected line in the framework section: {text!r}"))
            j += 1
        for threat in threats:
            for technique in threat["technique"]:
                if not technique["subtechnique"]:
                    del technique["subtechnique"]
        return j


def load_markdown(file: str, text: str) -> tuple[list[Rule], list[RuleProblem], bool]:
    """Load one documentation page: (rules, problems, looks like a rule page)."""
    text = text.lstrip("\ufeff")
    if not looks_like_rule_page(text):
        message = "not a rule documentation page (expected a '# Name' title and a **Rule type** line)"
        return [], [RuleProblem(file, None, None, message)], False
    page = _Page(text)
    page.parse()
    problems = [
        RuleProblem(file, line, field, message, "error" if field else "warning")
        for line, field, message in page.problems
    ]
    data = page.data
    extra: dict[str, Any] = {}
    if "anchor" in data:
        extra["anchor"] = data.pop("anchor")
    if page.front.get("mapped_pages"):
        extra["mapped_pages"] = page.front["mapped_pages"]
    front_id = page.front.get("rule_id")
    if isinstance(front_id, str) and front_id:
        data["rule_id"] = front_id
        extra["rule_id_source"] = "front matter"
    elif "name" in data:
        data["rule_id"] = derived_rule_id(data["name"])
        extra["rule_id_source"] = "derived from the name"
    where = page.where
    query_line = page.query_line
    origin = Origin(
        file,
        text,
        lambda path: where.get(path),
        (lambda line, column: (query_line + line - 1, column)) if query_line else None,
        where.get("name", (1, 1))[0],
        "markdown",
    )
    rule, found = build_rule(data, origin, extra=extra)
    problems.extend(found)
    if any(p.severity == "error" for p in problems):
        return [], problems, True
    return ([rule] if rule is not None else []), problems, True
