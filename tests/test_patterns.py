"""Table-driven tests of vigil.eql.patterns: EQL wildcards and Lucene regular expressions."""

from __future__ import annotations

import re

import pytest

from vigil.eql.patterns import (
    ascii_fold,
    check_regex_length,
    lucene_regex_matcher,
    lucene_regex_to_python,
    lucene_wildcard_matcher,
    wildcard_matcher,
)
from vigil.errors import EqlSemanticError

# --------------------------------------------------------------------------- wildcards

WILDCARDS: list[tuple[list[str], bool, str, bool]] = [
    (["exact"], False, "exact", True),
    (["exact"], False, "Exact", False),
    (["exact"], True, "EXACT", True),
    (["winini*.exe"], False, "wininit.exe", True),
    (["winini*.exe"], False, "wininit.ex", False),
    (["lsass.*"], False, "lsass.exe", True),
    (["*.exe"], False, "cmd.exe", True),
    (["*.exe"], False, "cmd.exe.bak", False),
    (["*regsvr*"], False, "start regsvr32.exe", True),
    (["*"], False, "", True),
    (["**"], False, "anything", True),
    (["1?"], False, "10", True),
    (["1?"], False, "1", False),
    (["1?"], False, "100", False),
    (["winini?.exe", "lsass.e?e"], False, "lsass.exe", True),
    (["a*b*c"], False, "aXbYc", True),
    (["a*b*c"], False, "aXbY", False),
    (["?"], False, "😀", True),  # one code point
    (["*\\MACHINE\\SAM\\*"], False, "HKLM\\MACHINE\\SAM\\x", True),  # backslash is literal
    (["*\\MACHINE\\SAM\\*"], True, "hklm\\machine\\sam\\x", True),
    (["a\\*"], False, "a\\xyz", True),  # "\*" is a backslash then a wildcard, no escape in EQL
    (["a\\*"], False, "a*", False),
    (["a.c"], False, "abc", False),  # regex characters are literal
    (["(x)+"], False, "(x)+", True),
    (["line*"], False, "line1\nline2", True),  # * crosses newlines
    (["É*"], True, "é", False),  # case folding is ASCII-only, as in Elasticsearch
    (["é*"], True, "é", True),
    (["K"], True, "\u212a", False),  # the Kelvin sign is not an ASCII K
    ([], False, "x", False),
]


@pytest.mark.parametrize(("patterns", "insensitive", "value", "expected"), WILDCARDS)
def test_wildcard_matcher(patterns: list[str], insensitive: bool, value: str, expected: bool) -> None:
    assert wildcard_matcher(patterns, insensitive)(value) is expected


def test_wildcard_fast_paths_combine() -> None:
    match = wildcard_matcher(["exact", "pre*", "*suf", "*mid*", "a?c", "x*y*z"], True)
    for value in ("EXACT", "prefix", "thesuf", "in the MIDdle", "abc", "x1y2z"):
        assert match(value), value
    for value in ("exactly", "apre", "sufx", "abbc", "x1y2"):
        assert not match(value), value


def test_ascii_fold() -> None:
    assert ascii_fold("AbC") == "abc"
    assert ascii_fold("ÉCOLE") == "École"
    assert ascii_fold("ÀB") == "Àb"


# --------------------------------------------------------------------------- Lucene regex

REGEXES: list[tuple[str, bool, str, bool]] = [
    (".*?net1[ ]+localgroup.*?", False, "net1  localgroup administrators", True),  # *? is (.*)?
    (".*?net1[ ]+localgroup.*?", True, "NET1 LOCALGROUP", True),
    (".*?net1[ ]+[a-z]{4,15}[ ]+.*?", False, "net1 localgroup x", True),
    ("ab.", False, "abz", True),
    ("ab.", False, "ab\n", True),  # . matches any character including newline
    ("abc?", False, "ab", True),
    ("ab+", False, "abbb", True),
    ("ab*", False, "a", True),
    ("a{2}", False, "aa", True),
    ("a{2,4}", False, "aaaaa", False),
    ("a{2,}", False, "aaaaa", True),
    ("abc|xyz", False, "xyz", True),
    ("abc(def)?", False, "abcd", False),
    ("[abc]", False, "b", True),
    ("[a-c]", False, "d", False),
    ("[-abc]", False, "-", True),
    ("[abc\\-]", False, "-", True),
    ("[^abc]", False, "d", True),
    ("[^abc]", False, "a", False),
    ("[^-abc]", False, "-", False),
    ("#|abc", False, "", False),  # the empty language
    ("#|abc", False, "abc", True),
    ("@", False, "anything at all", True),  # any string
    ('"john@smith.com"', False, "john@smith.com", True),  # quoted literal
    ("\\@", False, "@", True),
    ("\\\\", False, "\\", True),
    ("a\\.b", False, "a.b", True),
    ("a\\.b", False, "axb", False),
    ("foo<1-100>", False, "foo100", True),
    ("foo<1-100>", False, "foo101", False),
    ("foo<1-100>", False, "foo007", True),  # unequal widths: any leading zeros
    ("foo<1-100>", False, "foo0", False),
    ("foo<01-10>", False, "foo05", True),  # equal widths: fixed, zero-padded
    ("foo<01-10>", False, "foo5", False),
    ("<10-1>", False, "5", True),  # bounds are swapped
    ("aaa.+&.+bbb", False, "aaabbb", True),  # intersection
    ("aaa.+&.+bbb", False, "aaab", False),
    ("(a.&.b)c", False, "abc", True),
    ("(a.&.b)c", False, "aac", False),
    ("a~bc", False, "a~bc", True),  # Lucene 10: ~ is not an operator
    ("a~bc", False, "adc", False),
    ("\\d+", False, "0123", True),  # Lucene 10 predefined classes
    ("\\d", False, "٣", False),  # ASCII digits only
    ("\\D", False, "x", True),
    ("\\s", False, "\t", True),
    ("\\s", False, "\f", False),  # \s is [ \t\n\r]
    ("\\S+", False, "abc", True),
    ("\\w+", False, "a_Z9", True),
    ("\\W", False, "-", True),
    ("[\\d.]+", False, "1.2.3", True),
    ("()", False, "", True),
    ("", False, "", True),
    ("", False, "a", False),
    ("*", False, "*", True),  # a leading operator character is a literal
    ("x", False, "xx", False),  # always anchored
    ("^a$", False, "^a$", True),  # no anchors in Lucene: literal characters
    ("abc", True, "ABC", True),
    ("[a-c]+", True, "ABC", False),  # ranges ignore case-insensitivity (Lucene limitation)
    ("[abc]+", True, "ABC", True),  # single characters in a class honour it
    ("[^a]", True, "A", False),
    ('"abc"', True, "AbC", True),
    ("é", True, "É", False),  # ASCII only
    ("a|b||c", False, "|c", True),  # an empty alternative makes | a literal
]


@pytest.mark.parametrize(("pattern", "insensitive", "value", "expected"), REGEXES)
def test_lucene_regex(pattern: str, insensitive: bool, value: str, expected: bool) -> None:
    assert lucene_regex_matcher([pattern], insensitive)(value) is expected


BAD_REGEXES: list[tuple[str, str]] = [
    ("a|", "unexpected end-of-string"),
    ("[abc", "expected ']' at position 4"),
    ("(abc", "expected ')' at position 4"),
    ('"abc', "expected '\"' at position 4"),
    ("a{3,2}", "invalid repetition range(out of order): 3..2"),
    ("a{x}", "integer expected at position 2"),
    ("a{2", "expected '}' at position 3"),
    ("[c-a]", "invalid range: from (99) cannot be > to (97)"),
    ("\\q", "invalid character class \\q"),
    ("\\A", "invalid character class \\A"),
    ("abc\\", "unexpected end-of-string"),
    ("a)", "end-of-string expected at position 1"),
    ("<abc>", "'abc' not found"),
    ("<1-2", "expected '>' at position 4"),
    ("<1->", "interval syntax error"),
    ("<a-b>", "interval syntax error"),
    ("<1-2-3>", "interval syntax error"),
]


@pytest.mark.parametrize(("pattern", "message"), BAD_REGEXES)
def test_invalid_regex(pattern: str, message: str) -> None:
    with pytest.raises(EqlSemanticError) as info:
        lucene_regex_matcher([pattern], False)
    assert message in str(info.value)
    assert pattern in str(info.value)


def test_regex_translation_and_engine_choice() -> None:
    assert lucene_regex_to_python("a.c") == "a.c"
    assert lucene_regex_to_python("a&b") is None  # intersection needs the automaton engine
    translated = lucene_regex_to_python("[ab]", True)
    assert translated is not None
    assert [bool(re.fullmatch(translated, c)) for c in "aAbBc"] == [True, True, True, True, False]
    assert lucene_regex_to_python("#") == "(?!)"


def test_several_regexes_any_matches() -> None:
    match = lucene_regex_matcher(["abc", "x.z", "q+&q"], False)
    assert match("abc") and match("xyz") and match("q")
    assert not match("qq")


def test_regex_length_limit() -> None:
    check_regex_length("a" * 1000)
    with pytest.raises(EqlSemanticError, match="exceeded the allowed maximum of \\[1000\\]"):
        lucene_regex_matcher(["a" * 1001], False)
    assert lucene_regex_matcher(["a" * 1001], False, max_length=None)("a" * 1001)


@pytest.mark.parametrize(
    ("pattern", "insensitive", "value", "expected"),
    [
        ("*abc*", False, "xabcx", True),
        ("*a\\*c*", False, "a*c", True),  # escaped star is literal
        ("*a\\*c*", False, "abc", False),
        ("*A\\Bc", True, "aBC", True),
        ("*A\\Bc", True, "abc", False),  # an escaped letter keeps its case
        ("abc\\", False, "abc\\", True),  # trailing backslash is literal
    ],
)
def test_lucene_wildcard(pattern: str, insensitive: bool, value: str, expected: bool) -> None:
    assert lucene_wildcard_matcher([pattern], insensitive)(value) is expected
