"""The tuned string helpers of the Security/PowerShell mappings against their frozen originals.

:mod:`test_windows_differential` compares whole documents; these compare the rewritten building
blocks directly, on generated inputs that reach their edges (signs, radix prefixes, non-ASCII
digits, every kind of Java whitespace, quotes), and check that the value caches stay bounded.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from _security_reference import powershell as ref_powershell
from _security_reference import security as ref_security
from _security_reference import security_helpers as ref_helpers
from vigil.ecs.windows import powershell, security_helpers, security_steps
from vigil.ecs.windows.security import map_security

SPACES = " \t\n\x0b\x0c\r\x1c\x1f\x85\u00a0\u1680\u2003\u2007\u2028\u202f\u3000"
DIGITS = "0123456789abcdefABCDEF\u0663\u00b2"


def texts(alphabet: str, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, max_size=max_size)


def test_java_whitespace_set_is_character_is_whitespace() -> None:
    expected = {chr(c) for c in range(sys.maxunicode + 1) if ref_helpers.java_is_whitespace(chr(c))}
    assert set(security_helpers.JAVA_WHITESPACE) == expected
    assert len(security_helpers.JAVA_WHITESPACE) == len(expected)


@settings(max_examples=600)
@given(st.one_of(texts(DIGITS + "+-#xX_ 0", 12), st.text(max_size=12)))
def test_java_long_decode(text: str) -> None:
    assert security_helpers.java_long_decode(text) == ref_helpers.java_long_decode(text)
    # twice: the second answer comes from the cache
    assert security_helpers.java_long_decode(text) == ref_helpers.java_long_decode(text)


@given(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(st.integers()))
)
def test_java_long_decode_of_other_values(value: Any) -> None:
    result = security_helpers.java_long_decode(value)
    expected = ref_helpers.java_long_decode(value)
    assert result == expected and type(result) is type(expected)


@given(st.text(alphabet=SPACES + "\x00\x01ab", max_size=20))
def test_java_trim(text: str) -> None:
    assert security_helpers.java_trim(text) == ref_helpers.java_trim(text)


@given(texts(SPACES + "ab%1"))
def test_painless_ws_split(text: str) -> None:
    assert security_helpers.painless_ws_split(text) == ref_helpers.painless_ws_split(text)


@given(st.text(alphabet="ab\\", max_size=12))
def test_last_path_part(path: str) -> None:
    assert security_helpers.last_path_part(path) == ref_helpers.last_path_part(path)


@settings(max_examples=600)
@given(texts(SPACES + 'ab"\\=', 30))
def test_4688_command_line_split(command_line: str) -> None:
    assert security_steps.split_4688_command_line(command_line) == ref_security._split_4688_command_line(
        command_line
    )


@given(st.text(alphabet="ab\n\t\\=", max_size=20), st.sampled_from(["\n", "\n\t", "\\"]))
def test_powershell_lines(text: str, separator: str) -> None:
    pattern = re.compile(re.escape(separator))
    assert powershell._lines(text, separator) == ref_helpers.java_split(pattern, text)


@given(st.dictionaries(texts(SPACES + "ab", 6), st.integers(), max_size=6))
def test_powershell_key_squeeze(data: dict[str, int]) -> None:
    squeezed = powershell._squeeze_keys(data)
    expected = {ref_powershell._JAVA_SPACE.sub("", str(k)): v for k, v in data.items()}
    assert squeezed == expected and list(squeezed) == list(expected)


@given(st.text(alphabet=" \n\tab=\r", max_size=30), st.sampled_from([" \n\t", "\n\t"]))
def test_powershell_kv(text: str, trim: str) -> None:
    separator = "\n" if trim == " \n\t" else "\n\t"
    parts = powershell._context_parts if trim == " \n\t" else powershell._classic_parts
    ours: dict[str, Any] = {"a": "x"}
    ref: dict[str, Any] = {"a": "x"}
    powershell._kv(ours, text, separator, parts)
    ref_powershell._kv(ref, text, re.compile(re.escape(separator)), trim)
    assert ours == ref and list(ours) == list(ref)


def test_caches_stay_bounded_and_right() -> None:
    """More distinct values than a cache holds: it empties and refills, results stay the same."""
    count = security_steps._CACHE_CAP + 500
    for i in range(count):
        data = {
            "SubjectUserName": "alice",
            "SubjectLogonId": "0x3e7",
            "AccessMask": hex(i),
            "AccessList": f"%%{1536 + i % 40}\n\t\t\t\t%%{4416 + i % 9} {i}",
            "Direction": f"%%{14592 + i % 3} {i}",
            "NewProcessName": f"C:\\x\\p{i}.exe",
            "CommandLine": f'p{i}.exe "a b" c{i}',
            "ProcessId": hex(i + 10),
        }
        for code in ("4656", "4688"):
            ours = {"event": {"code": code}, "winlog": {"event_data": dict(data)}}
            ref = {"event": {"code": code}, "winlog": {"event_data": dict(data)}}
            map_security(ours)
            ref_security.map_security(ref)
            assert ours == ref
    caches = (
        security_steps._access_lists,
        security_steps._access_masks,
        security_steps._table_texts,
        security_steps._command_lines,
        security_steps._path_names,
        security_helpers._long_cache,
    )
    for cache in caches:
        assert 0 < len(cache) <= security_steps._CACHE_CAP


def test_long_values_are_mapped_but_not_remembered() -> None:
    command_line = "p.exe " + "a" * (security_steps._CACHED_MAX_CHARS + 10)
    payload = "\n".join(['ParameterBinding(Get-Item): name="Path"; value="x"'] * 200)
    assert len(payload) > powershell._CACHED_BLOCK_MAX_CHARS
    sec = {"event": {"code": "4688"}, "winlog": {"event_data": {"CommandLine": command_line}}}
    ps = {"winlog": {"event_id": "4103", "event_data": {"Payload": payload}}}
    map_security(sec)
    powershell.map_powershell_operational(ps)
    assert sec["process"]["args"] == ["p.exe", "a" * (security_steps._CACHED_MAX_CHARS + 10)]
    assert len(ps["powershell"]["command"]["invocation_details"]) == 200
    assert command_line not in security_steps._command_lines
    assert payload not in powershell._payloads[powershell._DETAIL_OPERATIONAL]
