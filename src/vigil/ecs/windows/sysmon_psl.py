"""The registered-domain split of Elasticsearch's ``registered_domain`` ingest processor.

Elasticsearch asks Apache HttpClient's public-suffix matcher (with the Public Suffix List bundled
in its jar, ICANN and private sections alike) for the "domain root" and derives the fields from
it. The matcher walks from the full name towards the last label: an exception rule (``!x``)
returns the current name; a rule for the current name (or a wildcard ``*.rest`` for the next)
stops the walk and returns the previous name, except that a *private* rule returns the current
name itself, which is why ``a.global.ssl.fastly.net`` gets ``global.ssl.fastly.net`` as its
registered domain. A name under an unknown last label yields that label alone, which has no dot,
so Elasticsearch sets nothing.

The list is the copy bundled with the ``publicsuffixlist`` package (a dependency; its data is the
Mozilla Public Suffix List, MPL-2.0), or the file ``$VIGIL_PUBLIC_SUFFIX_LIST`` names. Only the
list's text is used (the package's own matcher is not: it does not follow HttpClient's rules
above). Without a list, every last label counts as a public suffix (the list's implicit ``*``
rule), which is right for ``.com``/``.net``/``.org`` names but not for ``example.co.uk``. Either
way the result can drift from a given Elasticsearch release, whose bundled list has its own date.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache
from pathlib import Path

ICANN, PRIVATE = "icann", "private"


class SuffixList:
    """Rules and exceptions of a Public Suffix List, each with its section."""

    def __init__(self, rules: dict[str, str], exceptions: dict[str, str], *, fallback: bool = False):
        self.rules = rules
        self.exceptions = exceptions
        self.fallback = fallback

    @classmethod
    def parse(cls, text: str) -> SuffixList:
        """Read the list's text format: one rule per line, ``//`` comments, section markers."""
        rules: dict[str, str] = {}
        exceptions: dict[str, str] = {}
        section = ICANN
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                continue
            if line.startswith("//"):
                if "===BEGIN PRIVATE DOMAINS===" in line:
                    section = PRIVATE
                elif "===BEGIN ICANN DOMAINS===" in line:
                    section = ICANN
                continue
            rule = line.split()[0]
            if rule.startswith("."):
                rule = rule[1:]
            if rule.startswith("!"):
                exceptions[rule[1:]] = section
            else:
                rules[rule] = section
        return cls(rules, exceptions)

    def rule(self, name: str) -> str | None:
        """The section of the rule for ``name``, if there is one."""
        if self.fallback:
            return ICANN if name and "." not in name else None
        return self.rules.get(name)


def _to_unicode(segment: str) -> str:
    # Like java.net.IDN.toUnicode: decode punycode labels, leave anything undecodable alone.
    if "xn--" not in segment:
        return segment
    labels = []
    for label in segment.split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError, ValueError):
                label = label[4:].encode("ascii").decode("punycode")
        labels.append(label)
    return ".".join(labels)


def _ascii_lower(text: str) -> str:
    # HttpClient's DnsUtils.normalize lower-cases ASCII letters only.
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _bundled_list() -> str:
    """The path of the list the ``publicsuffixlist`` package ships ("" when it is missing)."""
    try:
        from publicsuffixlist import PSLFILE
    except ImportError:  # pragma: no cover - it is a dependency
        return ""
    return str(PSLFILE)


@lru_cache(maxsize=1)
def suffix_list() -> SuffixList:
    """The Public Suffix List in use (loaded once)."""
    paths = [os.environ.get("VIGIL_PUBLIC_SUFFIX_LIST", ""), _bundled_list()]
    for path in paths:
        if not path:
            continue
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue
        parsed = SuffixList.parse(text)
        if parsed.rules:
            return parsed
    return SuffixList({}, {}, fallback=True)


def domain_root(domain: str, psl: SuffixList | None = None) -> str | None:
    """HttpClient's ``getDomainRoot`` with no expected domain type."""
    psl = psl or suffix_list()
    if domain.startswith("."):
        return None
    segment: str | None = _ascii_lower(domain)
    result: str | None = None
    while segment is not None:
        key = _to_unicode(segment)
        if key in psl.exceptions:
            return segment
        section = psl.rule(key)
        if section is not None:
            return segment if section == PRIVATE else result
        dot = segment.find(".")
        following = segment[dot + 1 :] if dot != -1 else None
        if following is not None:
            wildcard = psl.rule("*." + _to_unicode(following))
            if wildcard is not None:
                return segment if wildcard == PRIVATE else result
        result = segment
        segment = following
    return result


def domain_parts(name: str, psl: SuffixList | None = None) -> dict[str, str]:
    """``domain``/``registered_domain``/``top_level_domain``/``subdomain`` as Elasticsearch sets them."""
    if psl is None:
        return dict(_default_parts(name))
    return _parts(name, psl)


@lru_cache(maxsize=4096)  # DNS names recur; the result is copied out, so the cache stays clean
def _default_parts(name: str) -> tuple[tuple[str, str], ...]:
    return tuple(_parts(name, suffix_list()).items())


def _parts(name: str, psl: SuffixList) -> dict[str, str]:
    root = domain_root(name, psl)
    if root is None:
        bare = name[1:] if name.startswith(".") else name
        if domain_root(bare, psl) is None:
            # The whole name is a public suffix: only domain and top_level_domain are set.
            return {"domain": name, "top_level_domain": name}
        return {}
    if "." not in root:
        return {}
    dot = root.find(".") + 1
    if dot >= len(root):
        return {}
    parts = {"domain": name, "registered_domain": root, "top_level_domain": root[dot:]}
    # Elasticsearch searches the original (not lower-cased) name for ".<root>".
    at = name.rfind("." + root)
    if at > 0:
        parts["subdomain"] = name[:at]
    return parts
