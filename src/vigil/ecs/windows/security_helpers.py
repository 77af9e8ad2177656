"""Small helpers that reproduce the string semantics of Elasticsearch ingest processors.

The Windows ingest pipelines are written in Painless (Java) and use Java's ``Long.decode``,
``String.trim``, ``Character.isWhitespace``, ``String.split`` and the ``append``/``set``
processors. Python's counterparts differ at the edges (``int(x, 0)`` rejects ``"010"``,
``str.strip`` trims Unicode spaces, ``re.split`` keeps trailing empty strings), and those edges
decide whether a field appears, so they are reproduced here. Nothing here raises: a value the
pipeline could not parse yields ``None`` and the caller leaves the field as it was.

Also used by :mod:`vigil.ecs.windows.powershell` (the PowerShell pipelines share the same
processors). The whitespace-based helpers work on precompiled character sets rather than
character by character, and :func:`java_long_decode` remembers the (short) texts it decoded.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from datetime import datetime
from typing import Any

JsonDict = dict[str, Any]

_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1

# Java's Character.isWhitespace: these control characters plus Unicode space separators,
# except the non-breaking ones.
_JAVA_WS_CONTROL = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")
_NON_BREAKING = frozenset("\u00a0\u2007\u202f")
#: Every character ``Character.isWhitespace`` accepts: the controls above, then the space
#: separators (Zs), line (Zl) and paragraph (Zp) separators but the non-breaking ones. Spelled out
#: so nothing scans Unicode at import; a test checks it against :func:`java_is_whitespace`'s rule.
JAVA_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2008\u2009\u200a\u2028\u2029\u205f\u3000"
)
_JAVA_WS_SET = frozenset(JAVA_WHITESPACE)
_JAVA_WS_RUN = re.compile("[" + re.escape(JAVA_WHITESPACE) + "]+")
# String.trim drops every character up to U+0020.
_TRIMMED = "".join(map(chr, range(33)))
_HEX_DIGITS = re.compile("[0-9a-fA-F]+")
_OCTAL_DIGITS = re.compile("[0-7]+")
_MISSING: Any = object()
_LONG_CACHE_CAP = 4096
_long_cache: dict[str, int | None] = {}

# Java regex ``\s`` (without UNICODE_CHARACTER_CLASS) and ``.`` (no DOTALL).
JAVA_REGEX_SPACE = r"[ \t\n\x0b\f\r]"
JAVA_REGEX_DOT = r"[^\n\r\u0085\u2028\u2029]"


def java_long_decode(value: Any) -> int | None:
    """``Long.decode``: sign, then ``0x``/``0X``/``#`` hex, ``0`` octal, else decimal; ``None`` if invalid."""
    if type(value) is str:
        # Pids, ports, masks and logon ids recur: decode each text once.
        found = _long_cache.get(value, _MISSING)
        if found is _MISSING:
            found = _decode_long(value)
            if len(value) <= 32:  # (a longer text is no Java long anyway)
                if len(_long_cache) >= _LONG_CACHE_CAP:
                    _long_cache.clear()
                _long_cache[value] = found
        return found
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    return _decode_long(value)


def _decode_long(value: str) -> int | None:
    if not value:
        return None
    text = value
    negative = False
    if text[0] in "+-":
        negative = text[0] == "-"
        text = text[1:]
    if text[:2] in ("0x", "0X"):
        radix, text = 16, text[2:]
    elif text[:1] == "#":
        radix, text = 16, text[1:]
    elif text[:1] == "0" and len(text) > 1:
        radix, text = 8, text[1:]
    else:
        radix = 10
    # Only ASCII digits count (no Unicode character lower-cases to one), and the text must not
    # be empty or start with a second sign.
    if radix == 10:
        if not (text.isascii() and text.isdigit()):
            return None
    elif (_HEX_DIGITS if radix == 16 else _OCTAL_DIGITS).fullmatch(text) is None:
        return None
    number = int(text, radix)
    number = -number if negative else number
    if number < _LONG_MIN or number > _LONG_MAX:
        return None
    return number


def java_is_whitespace(char: str) -> bool:
    """``Character.isWhitespace`` for one character."""
    if len(char) == 1:
        return char in _JAVA_WS_SET
    if char == " " or char in _JAVA_WS_CONTROL:
        return True
    if char in _NON_BREAKING:
        return False
    return unicodedata.category(char) in ("Zs", "Zl", "Zp")


def java_trim(value: str) -> str:
    """``String.trim``: drop every character up to U+0020 at both ends (and nothing else)."""
    return value.strip(_TRIMMED)


def java_split(pattern: re.Pattern[str], value: str) -> list[str]:
    """``String.split(regex)`` with limit 0, as the ``split`` processor does it.

    No match gives ``[value]``; trailing empty strings are dropped (but not leading ones).
    """
    if pattern.search(value) is None:
        return [value]
    parts = pattern.split(value)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def painless_ws_split(value: str) -> list[str]:
    """The pipeline's ``split`` helper: cut at runs of whitespace after skipping leading ones.

    A trailing run of whitespace leaves a final empty string, which the pipeline keeps.
    """
    return _JAVA_WS_RUN.split(value.lstrip(JAVA_WHITESPACE))


def get_path(doc: JsonDict, dotted: str) -> Any:
    """Value at a dotted path through nested dicts, or ``None``."""
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def child(parent: JsonDict, key: str) -> JsonDict:
    """``parent[key]`` as a dict, created (or replacing a non-dict) when needed."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = {}
        parent[key] = value
    return value


def set_path(doc: JsonDict, dotted: str, value: Any) -> None:
    """Set a dotted path, creating intermediate objects (the ``set`` processor)."""
    parts = dotted.split(".")
    cur = doc
    for part in parts[:-1]:
        cur = child(cur, part)
    cur[parts[-1]] = value


def pop_path(doc: JsonDict, dotted: str) -> Any:
    """Remove a dotted path and return its value (``None`` when absent)."""
    parts = dotted.split(".")
    cur: Any = doc
    for part in parts[:-1]:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    if not isinstance(cur, dict):
        return None
    return cur.pop(parts[-1], None)


def append_unique(container: JsonDict, key: str, value: Any) -> None:
    """The ``append`` processor with ``allow_duplicates: false``.

    A missing field becomes a one-element list and a scalar becomes a list, as in Elasticsearch.
    """
    current = container.get(key)
    if current is None:
        container[key] = [value]
        return
    if not isinstance(current, list):
        current = [current]
        container[key] = current
    if value not in current:
        current.append(value)


def related_user(doc: JsonDict, name: Any) -> None:
    """Add ``name`` to ``related.user`` unless it is already there."""
    if not isinstance(name, str):
        return
    related = doc.get("related")
    if not isinstance(related, dict):
        related = doc["related"] = {}
    users = related.get("user")
    if users is None:
        related["user"] = [name]
        return
    if not isinstance(users, list):
        users = related["user"] = [users]
    if name not in users:
        users.append(name)


def last_path_part(path: str) -> str:
    """What ``splitOnToken("\\\\")[-1]`` gives: the text after the last backslash."""
    return path.rpartition("\\")[2]


def java_string(value: Any) -> str:
    """``String.valueOf`` for the values found in pipeline documents (``null`` for ``None``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    return str(value)


def es_fingerprint_sha1(value: str) -> str:
    """The ``fingerprint`` processor (SHA-1, no salt) over one string field, base64 encoded."""
    digest = hashlib.sha1(b"\x00" + value.encode("utf-8"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


_FRACTION = re.compile(r"(\.\d{1,9})")


def apply_time_created(doc: JsonDict) -> None:
    """The pipelines' ``date`` processor: ``winlog.time_created`` (ISO 8601) to ``@timestamp``.

    The date processor writes ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``: milliseconds and the input's offset
    (``Z`` for UTC). A value that does not parse leaves ``@timestamp`` untouched.
    """
    winlog = doc.get("winlog")
    value = winlog.get("time_created") if isinstance(winlog, dict) else None
    if not isinstance(value, str) or not value:
        return
    text = value.strip()
    match = _FRACTION.search(text)
    if match:  # Windows writes 100 ns ticks (7 digits); Python takes at most 6
        text = text[: match.start()] + match.group(1)[:7] + text[match.end() :]
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return
    millis = when.microsecond // 1000
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}"
    offset = when.utcoffset()
    if offset is None or offset.total_seconds() == 0:
        stamp += "Z"
    else:
        total = int(offset.total_seconds())
        sign = "+" if total >= 0 else "-"
        total = abs(total)
        stamp += f"{sign}{total // 3600:02d}:{(total % 3600) // 60:02d}"
    doc["@timestamp"] = stamp
