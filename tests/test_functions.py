"""Table-driven tests of vigil.eql.functions against Elasticsearch's documented and coded behaviour."""

from __future__ import annotations

import math
from typing import Any

import pytest

from vigil.eql.functions import (
    FUNCTIONS,
    MISSING,
    EqlFunctionError,
    arithmetic,
    call,
    check_arity,
    check_literal_args,
    cidr_contains,
    java_length,
    literal_type,
    lookup_function,
    negate,
    pushdown_matcher,
)
from vigil.errors import DataError, EqlSemanticError

PATH = "C:\\Windows\\System32\\cmd.exe"
DOMAIN = "subdomain.example.com"

CASES: list[tuple[str, list[Any], bool, Any]] = [
    # add / subtract / multiply / divide / modulo (ES docs examples)
    ("add", [4, 5], False, 9),
    ("add", [4, 0.5], False, 4.5),
    ("add", [None, 4], False, None),
    ("add", [4, None], False, None),
    ("subtract", [10.5, 0.5], False, 10.0),
    ("subtract", [-2, -4], False, 2),
    ("multiply", [0.25, 2], False, 0.5),
    ("multiply", [-2, -2], False, 4),
    ("divide", [4, 3], False, 1),
    ("divide", [-7, 2], False, -3),  # truncates toward zero like Java
    ("divide", [7, -2], False, -3),
    ("divide", [0.5, 0.25], False, 2.0),
    ("divide", [4, 0.5], False, 8.0),
    ("divide", [1, 0.0], False, math.inf),
    ("divide", [-1, 0.0], False, -math.inf),
    ("divide", [-(2**63), -1], False, -(2**63)),  # Long.MIN_VALUE / -1 wraps silently
    ("modulo", [10, 6], False, 4),
    ("modulo", [10, -6], False, 4),  # sign of the dividend
    ("modulo", [-10, 6], False, -4),
    ("modulo", [-10, -6], False, -4),
    ("modulo", [10, 0.5], False, 0.0),
    ("modulo", [-7.5, 2], False, -1.5),
    # between
    ("between", [PATH, "System32\\", ".exe"], False, "cmd"),
    ("between", [PATH, "system32\\", ".exe"], False, ""),
    ("between", [PATH, "system32\\", ".exe"], True, "cmd"),
    ("between", [PATH, "\\", "\\", False], False, "Windows"),
    ("between", [PATH, "\\", "\\", True], False, "Windows\\System32"),
    ("between", ["", "System32\\", ".exe"], False, ""),
    ("between", ["", "", ""], False, ""),
    ("between", ["abc", "", "c"], False, "abc"),  # empty left or right gives the source back
    ("between", [None, "a", "b"], False, None),
    ("between", ["System Idle Process", "s", "e", False], False, "t"),
    ("between", ["System Idle Process", "S", "e", True], False, "ystem Idle Proc"),
    ("between", ["System Idle Process", "s", "E"], True, "yst"),
    ("between", ["a😀b", "a", "b"], False, "😀"),
    # cidrMatch
    ("cidrMatch", ["192.168.152.12", "192.168.0.0/16"], False, True),
    ("cidrMatch", ["192.168.152.12", "10.0.0.0/8", "192.168.0.0/16"], False, True),
    ("cidrMatch", ["192.168.152.12", "10.0.0.0/8", "10.128.0.0/9"], False, False),
    ("cidrMatch", ["10.6.48.157", "10.6.48.157/8"], False, True),
    ("cidrMatch", ["10.6.48.157", "0.0.0.0/0"], False, True),
    ("cidrMatch", ["10.6.48.157", "10.6.48.157"], False, True),  # a bare address is an exact match
    ("cidrMatch", ["2001:db8::1", "2001:db8::/32"], False, True),
    ("cidrMatch", ["2001:db9::1", "2001:db8::/32"], False, False),
    ("cidrMatch", ["10.1.2.3", "::/0"], False, True),  # IPv4 seen as ::ffff:10.1.2.3
    ("cidrMatch", ["::ffff:10.1.2.3", "10.0.0.0/8"], False, True),
    ("cidrMatch", [None, "10.0.0.0/8"], False, None),
    # concat
    ("concat", ["process is ", "regsvr32.exe"], False, "process is regsvr32.exe"),
    ("concat", ["regsvr32.exe", " ", 42], False, "regsvr32.exe 42"),
    ("concat", ["regsvr32.exe", " ", 42.5], False, "regsvr32.exe 42.5"),
    ("concat", ["regsvr32.exe", " ", True], False, "regsvr32.exe true"),
    ("concat", [5, ":", "wininit.exe", 3], False, "5:wininit.exe3"),
    ("concat", [1.0, 1e20, 1e-4], False, "1.01.0E201.0E-4"),
    ("concat", ["a", None], False, None),
    ("concat", [None], False, None),
    ("concat", [], False, ""),
    # endsWith / startsWith
    ("endsWith", ["regsvr32.exe", ".exe"], False, True),
    ("endsWith", ["regsvr32.exe", ".EXE"], False, False),
    ("endsWith", ["regsvr32.exe", ".EXE"], True, True),
    ("endsWith", ["", ""], False, True),
    ("endsWith", ["regsvr32.exe", None], False, None),
    ("endsWith", [None, ".exe"], False, None),
    ("startsWith", ["regsvr32.exe", "regsvr32"], False, True),
    ("startsWith", ["regsvr32.exe", "Regsvr32"], False, False),
    ("startsWith", ["regsvr32.exe", "Regsvr32"], True, True),
    ("startsWith", ["explorer.exeaAAAA", "EXPLORER.exe"], True, True),
    ("startsWith", ["ÉCOLE", "éc"], True, True),  # script semantics: Java toLowerCase, full Unicode
    ("startsWith", ["", None], False, None),
    # indexOf
    ("indexOf", [DOMAIN, "d"], False, 3),
    ("indexOf", [DOMAIN, "D"], False, None),
    ("indexOf", [DOMAIN, "D"], True, 3),
    ("indexOf", [DOMAIN, "."], False, 9),
    ("indexOf", [DOMAIN, ".", 9], False, 9),
    ("indexOf", [DOMAIN, ".", 10], False, 17),
    ("indexOf", [DOMAIN, ".", -6], False, 9),
    ("indexOf", ["", ""], False, 0),
    ("indexOf", [DOMAIN, ""], False, 0),
    ("indexOf", [DOMAIN, "", 10], False, 10),
    ("indexOf", [DOMAIN, "", -6], False, 0),
    ("indexOf", [DOMAIN, "", 30], False, 21),  # Java: empty target past the end gives the length
    ("indexOf", [DOMAIN, "z"], False, None),
    ("indexOf", [DOMAIN, ".", 30], False, None),
    ("indexOf", [None, ".", 9], False, None),
    ("indexOf", [DOMAIN, None, 9], False, None),
    ("indexOf", [DOMAIN, ".", None], False, 9),  # a null start is absent, as the processor does it
    ("indexOf", [DOMAIN, ".", 9.7], False, 9),  # Number.intValue truncates
    ("indexOf", ["😀x", "x"], False, 2),  # UTF-16 positions
    ("indexOf", ["explorer.exe", "plore"], True, 2),
    # length
    ("length", ["explorer.exe"], False, 12),
    ("length", ["start explorer.exe"], False, 18),
    ("length", [""], False, 0),
    ("length", [None], False, None),
    ("length", ["😀"], False, 2),  # a surrogate pair counts two
    ("length", ["é"], False, 1),
    # number
    ("number", ["1337"], False, 1337),
    ("number", ["42.5"], False, 42.5),
    ("number", ["deadbeef", 16], False, 3735928559),
    ("number", ["0xdeadbeef"], False, 3735928559),
    ("number", ["0xdeadbeef", 16], False, 3735928559),
    ("number", ["0xdeadbeef", None], False, 3735928559),
    ("number", ["+1337"], False, 1337),
    ("number", ["-1337"], False, -1337),
    ("number", ["  1337  "], False, 1337.0),  # Long.valueOf fails, Double.valueOf trims
    ("number", ["1337", None], False, 1337),
    ("number", [None], False, None),
    ("number", [None, 16], False, None),
    ("number", ["32", 16], False, 50),
    ("number", ["31", 13], False, 40),
    ("number", ["1e3"], False, 1000.0),
    ("number", ["1.5f"], False, 1.5),
    ("number", ["99999999999999999999"], False, 1e20),  # long overflow falls back to double
    ("number", ["-ff", 16], False, -255),
    ("number", ["٣"], False, 3),  # Character.digit accepts any Unicode decimal digit
    # string
    ("string", [42], False, "42"),
    ("string", [42.5], False, "42.5"),
    ("string", [1.0], False, "1.0"),
    ("string", [1e20], False, "1.0E20"),
    ("string", [0.001], False, "0.001"),
    ("string", [1e7], False, "1.0E7"),
    ("string", [-0.0], False, "-0.0"),
    ("string", [math.nan], False, "NaN"),
    ("string", [math.inf], False, "Infinity"),
    ("string", ["regsvr32.exe"], False, "regsvr32.exe"),
    ("string", [True], False, "true"),
    ("string", [False], False, "false"),
    ("string", [None], False, None),
    # stringContains
    ("stringContains", ["start regsvr32.exe", "regsvr32"], False, True),
    ("stringContains", ["start regsvr32.exe", "Regsvr32"], False, False),
    ("stringContains", ["start regsvr32.exe", "Regsvr32"], True, True),
    ("stringContains", ["start regsvr32.exe", "explorer"], False, False),
    ("stringContains", ["", ""], False, False),
    ("stringContains", ["start regsvr32.exe", ""], False, False),
    ("stringContains", [None, "regsvr32"], False, None),
    ("stringContains", ["ABCDEFGHIexplorer.exeJKLMNOP", "explorer.exe"], False, True),
    # substring
    ("substring", ["start regsvr32.exe", 6], False, "regsvr32.exe"),
    ("substring", ["start regsvr32.exe", 0, 5], False, "start"),
    ("substring", ["start regsvr32.exe", 6, 14], False, "regsvr32"),
    ("substring", ["start regsvr32.exe", -4], False, ".exe"),
    ("substring", ["start regsvr32.exe", -4, -1], False, ".ex"),
    ("substring", ["start regsvr32.exe", 14, 6], False, ""),
    ("substring", ["start regsvr32.exe", 100], False, ""),
    ("substring", ["start regsvr32.exe", -100, 3], False, "sta"),
    ("substring", ["start regsvr32.exe", 0, 100], False, "start regsvr32.exe"),
    ("substring", ["explorer.exe", 1, 3], False, "xp"),
    ("substring", ["abc", None], False, "abc"),  # a null start gives the input back
    ("substring", ["", 1, 2], False, ""),
    ("substring", [None, 1], False, None),
    ("substring", ["😀ab", 2], False, "ab"),  # UTF-16 indices
]


@pytest.mark.parametrize(("name", "args", "insensitive", "expected"), CASES)
def test_function_results(name: str, args: list[Any], insensitive: bool, expected: Any) -> None:
    result = call(name, args, insensitive)
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(result, float) and math.isnan(result)
    else:
        assert result == expected
        assert type(result) is type(expected)


ERRORS: list[tuple[str, list[Any], str]] = [
    ("add", [2**63 - 1, 1], "long overflow"),
    ("multiply", [2**62, 4], "long overflow"),
    ("subtract", [-(2**63), 1], "long overflow"),
    ("divide", [1, 0], "/ by zero"),
    ("modulo", [1, 0], "/ by zero"),
    ("add", ["a", 1], "A number is required; received a"),
    ("add", [True, 1], "A number is required; received true"),
    ("number", ["abc"], "Unable to convert [abc] to number of base [10]"),
    ("number", ["0x32", 10], "Unable to convert [0x32] to number of base [10]"),
    ("number", ["12", 99], "Unable to convert [12] to number of base [99]"),
    ("number", ["ffffffffffffffff", 16], "Unable to convert [ffffffffffffffff] to number of base [16]"),
    ("number", ["", None], "Unable to convert [] to number of base [10]"),
    ("number", ["1", 2.0], "An integer base is required; received [2.0]"),
    ("number", [5], "A string/char is required; received [5]"),
    ("length", [5], "A string/char is required; received [5]"),
    ("stringContains", ["abc", None], "A string/char is required; received [null]"),  # elastic#155300
    ("between", ["abc", None, "c"], "A string/char is required; received [null]"),
    ("between", ["abc", "a", "c", None], "A boolean is required; received [null]"),
    ("between", ["abcb", "b", "a", True], "begin 2, end 0, length 4"),  # Java substring throws
    ("cidrMatch", ["10.0.0.1", None], "A string/char is required; received [null]"),
    ("cidrMatch", ["not an ip", "10.0.0.0/8"], "'not an ip' is not an IP string literal."),
    ("cidrMatch", ["10.0.0.1", "10.0.0.0/33"], "Illegal prefix length [33]"),
    ("cidrMatch", ["10.1.2.3", "::ffff:0:0/96"], "CIDR notation is not allowed with IPv6-mapped IPv4"),
    ("substring", ["abc", "1"], "A number is required; received [1]"),
    ("indexOf", ["abc", "b", True], "A number is required; received [true]"),
]


@pytest.mark.parametrize(("name", "args", "message"), ERRORS)
def test_function_errors(name: str, args: list[Any], message: str) -> None:
    with pytest.raises(EqlFunctionError, match=None) as info:
        call(name, args)
    assert message in str(info.value)
    assert isinstance(info.value, DataError)


@pytest.mark.parametrize(
    ("op", "left", "right", "int32", "expected"),
    [
        ("+", 1, 2, False, 3),
        ("+", 1, 2.5, False, 3.5),
        ("/", 83, 2, False, 41),
        ("/", 83, 2.0, False, 41.5),
        ("%", 82, 40, False, 2),
        ("*", 2**40, 2**20, False, 2**60),
        ("/", -(2**31), -1, True, -(2**31)),  # Integer.MIN_VALUE / -1 wraps
        ("%", math.inf, 2, False, math.nan),
        ("%", 5.0, math.inf, False, 5.0),
        ("/", 0.0, 0.0, False, math.nan),
        ("-", None, 1, False, None),
    ],
)
def test_arithmetic(op: str, left: Any, right: Any, int32: bool, expected: Any) -> None:
    result = arithmetic(op, left, right, int32=int32)
    if isinstance(expected, float) and math.isnan(expected):
        assert result is not None and math.isnan(result)
    else:
        assert result == expected


def test_int32_overflow_is_an_error() -> None:
    with pytest.raises(EqlFunctionError, match="integer overflow"):
        arithmetic("+", 2**31 - 1, 1, int32=True)
    assert arithmetic("+", 2**31 - 1, 1) == 2**31


def test_negate() -> None:
    assert negate(5) == -5
    assert negate(-2.5) == 2.5
    assert negate(None) is None
    with pytest.raises(EqlFunctionError, match="long overflow"):
        negate(-(2**63))
    with pytest.raises(EqlFunctionError, match="integer overflow"):
        negate(-(2**31), int32=True)
    with pytest.raises(EqlFunctionError, match="double overflow"):
        negate(5e-324)  # QL's Arithmetics.negate quirk with Double.MIN_VALUE


def test_registry_shape() -> None:
    assert set(FUNCTIONS) == {
        "add", "between", "cidrMatch", "concat", "divide", "endsWith", "indexOf", "length", "modulo",
        "multiply", "number", "startsWith", "string", "stringContains", "substring", "subtract",
    }  # fmt: skip
    insensitive = {name for name, spec in FUNCTIONS.items() if spec.has_insensitive}
    assert insensitive == {"between", "endsWith", "indexOf", "startsWith", "stringContains"}
    assert FUNCTIONS["cidrMatch"].max_args is None and FUNCTIONS["cidrMatch"].kind_of(5) == "string"
    assert FUNCTIONS["concat"].min_args == 0 and FUNCTIONS["concat"].max_args is None
    assert lookup_function("CIDRMATCH") is FUNCTIONS["cidrMatch"]
    assert lookup_function("nope") is None


@pytest.mark.parametrize(
    ("name", "count", "message"),
    [
        ("length", 2, "error building [length]: expects exactly one argument"),
        ("between", 2, "error building [between]: expects three or four arguments"),
        ("cidrmatch", 1, "error building [cidrmatch]: expects at least two arguments"),
        ("indexOf", 4, "error building [indexof]: expects two or three arguments"),
        ("add", 3, "error building [add]: expects exactly two arguments"),
    ],
)
def test_arity(name: str, count: int, message: str) -> None:
    spec = lookup_function(name)
    assert spec is not None
    with pytest.raises(EqlSemanticError) as info:
        check_arity(spec, count)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("name", "args", "types", "message"),
    [
        (
            "length",
            [1],
            None,
            "first argument of [length(1)] must be [string], found value [1] type [integer]",
        ),
        (
            "add",
            ["a", 1],
            None,
            'first argument of [add("a", 1)] must be [numeric], found value ["a"] type [keyword]',
        ),
        ("substring", ["a", 1.5], None, 'second argument of [substring("a", 1.5)] must be [integer]'),
        (
            "between",
            ["a", "b", "c", 1],
            None,
            'fourth argument of [between("a", "b", "c", 1)] must be [boolean]',
        ),
        ("indexOf", ["a", "b", 2**40], None, None),  # a long is an integer type
        ("number", ["1", 2**33], None, None),
        (
            "cidrMatch",
            ["10.0.0.1", "10.0.0.0/8"],
            None,
            'must be [ip], found value ["10.0.0.1"] type [keyword]',
        ),
        ("cidrMatch", [MISSING, "10.0.0.0/8"], ["keyword"], 'first argument of [cidrMatch(?, "10.0.0.0/8")]'),
        ("cidrMatch", [MISSING, "10.0.0.0/8"], ["ip"], None),
        ("cidrMatch", [MISSING, MISSING], ["ip"], "second argument of [cidrMatch(?, ?)] must be a constant"),
        ("cidrMatch", [MISSING, "10.0.0.0/8", "nope"], ["ip"], "'nope' is not an IP string literal."),
        ("cidrMatch", [MISSING, "10.0.0.0/"], ["ip"], "Expected [ip/prefix] but was [10.0.0.0/]"),
        ("cidrMatch", [MISSING, "::ffff:1.2.3.4/8"], ["ip"], "CIDR notation is not allowed with IPv6-mapped"),
        ("cidrMatch", [None, None], None, None),  # null literals pass the verifier
        ("concat", [1, True, None, "x"], None, None),
        ("string", [MISSING], ["ip"], None),
        ("startsWith", [MISSING, "x"], ["long"], 'first argument of [startsWith(?, "x")] must be [string]'),
        ("multiply", [MISSING, 2], ["double"], None),
    ],
)
def test_check_literal_args(name: str, args: list[Any], types: list[str] | None, message: str | None) -> None:
    spec = FUNCTIONS[name]
    if message is None:
        check_literal_args(spec, args, arg_types=types)
        return
    with pytest.raises(EqlSemanticError) as info:
        check_literal_args(spec, args, arg_types=types)
    assert message in str(info.value)


def test_check_literal_args_uses_given_texts() -> None:
    with pytest.raises(EqlSemanticError) as info:
        check_literal_args(
            FUNCTIONS["cidrMatch"], [MISSING, MISSING], source_text="cidrMatch(ip, f)", arg_texts=["ip", "f"]
        )
    assert str(info.value) == "second argument of [cidrMatch(ip, f)] must be a constant, received [f]"


def test_literal_type() -> None:
    assert [literal_type(v) for v in (None, True, 1, 2**31, 1.5, "x")] == [
        "null", "boolean", "integer", "long", "double", "keyword",
    ]  # fmt: skip


def test_cidr_contains_and_java_length() -> None:
    assert cidr_contains("192.168.1.1", ["10.0.0.0/8", "192.168.0.0/16"])
    assert not cidr_contains("192.168.1.1", [])
    assert java_length("a😀") == 3


@pytest.mark.parametrize(
    ("name", "constant", "insensitive", "value", "expected"),
    [
        ("stringContains", "regsvr32", False, "start regsvr32.exe", True),
        ("stringContains", "REGSVR32", True, "start regsvr32.exe", True),
        ("stringContains", "a*b", False, "xaZZbx", True),  # the raw constant is a wildcard pattern
        ("stringContains", "a?c", False, "abc", True),
        ("stringContains", "C:\\Windows", False, "C:\\Windows", False),  # the backslash escapes W
        ("stringContains", "C:\\Windows", False, "C:Windows", True),
        ("stringContains", "É", True, "é", False),  # ASCII-only case folding
        ("endsWith", ".EXE", True, "cmd.exe", True),
        ("endsWith", ".exe", False, "cmd.exe.bak", False),
        ("startsWith", "EXPL", True, "explorer.exe", True),
        ("startsWith", "ÉC", True, "école", False),
        ("startsWith", "a*", False, "abc", False),  # a prefix query has no wildcards
    ],
)
def test_pushdown_matcher(name: str, constant: str, insensitive: bool, value: str, expected: bool) -> None:
    matcher = pushdown_matcher(name, constant, insensitive)
    assert matcher is not None
    assert matcher(value) is expected


def test_pushdown_matcher_none_for_others() -> None:
    assert pushdown_matcher("length", "x", False) is None
    assert pushdown_matcher("unknown", "x", False) is None
