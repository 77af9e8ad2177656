"""Table-driven tests of vigil.ecs.values: index-time coercion as Elasticsearch does it."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

import pytest

from vigil.ecs.values import (
    date_field_value,
    format_date,
    format_date_iso,
    format_epoch_millis,
    format_ip,
    ip_sort_key,
    java_double_to_string,
    java_parse_double,
    java_parse_long,
    parse_cidr,
    parse_date,
    parse_ip,
    to_bool,
    to_double,
    to_keyword,
    to_long,
    validate_date_formats,
    version_key,
    zoned_datetime_string,
)
from vigil.errors import DataError

MS = 1_000_000  # nanoseconds per millisecond
S = 1000 * MS
DAY = 86400 * S
T2022 = 1651665600 * S  # 2022-05-04T12:00:00Z

# --------------------------------------------------------------------------- dates

DATES: list[tuple[Any, tuple[str, ...], int | None]] = [
    # default strict_date_optional_time||epoch_millis
    ("2022-05-04T12:00:00.000Z", (), T2022),
    ("2022-05-04T12:00:00.001Z", (), T2022 + MS),
    ("2022-05-04T12:00:00,5Z", (), T2022 + 500 * MS),
    ("2022-05-04T12:00:00.123456789Z", (), T2022 + 123456789),
    ("2022-05-04T12:00:00.1234567891Z", (), None),  # more than 9 fraction digits
    ("2022-05-04T12:00:00Z", (), T2022),
    ("2022-05-04T12:00Z", (), T2022),
    ("2022-05-04T12Z", (), T2022),
    ("2022-05-04T12:00:00", (), T2022),  # no zone: UTC
    ("2022-05-04T14:00:00+02:00", (), T2022),
    ("2022-05-04T14:00:00+0200", (), T2022),
    ("2022-05-04T14:00:00+02", (), T2022),
    ("2022-05-04T10:30:00-01:30", (), T2022),
    ("2022-05-04T12:00:00+02:0", (), None),
    ("2022-05-04T12:00:00+19", (), None),  # beyond +18:00
    ("2022-05-04T12:00:00UTC", (), T2022),
    ("2022-05-04T14:00:00GMT+02:00", (), T2022),
    ("2022-05-04T14:00:00Europe/Paris", (), T2022),  # CEST in May
    ("2022-05-04T12:00:00z", (), None),
    ("2022-05-04T", (), T2022 - 12 * 3600 * S),
    ("2022-05-04", (), T2022 - 12 * 3600 * S),
    ("2022-05", (), 1651363200 * S),
    ("2022", (), 1640995200 * S),  # four digits are a year, not epoch millis
    (2022, (), 1640995200 * S),
    ("1970-01-01T00:00:00.000Z", (), 0),
    ("1969-12-31T23:59:59.999Z", (), -MS),
    ("-0001-01-01T00:00:00Z", (), -62198755200 * S),
    ("2022-02-29", (), None),
    ("2020-02-29", (), 1582934400 * S),
    ("2022-13-01", (), None),
    ("2022-00-01", (), None),
    ("2022-05-04T24:00:00Z", (), None),
    ("2022-05-04T12:60:00Z", (), None),
    ("2022-05-04T12:00:60Z", (), None),
    ("2022-05-04 12:00:00", (), None),
    ("22-05-04", (), None),
    ("", (), None),
    ("1", (), MS),  # epoch millis
    ("10", (), 10 * MS),
    ("102", (), 102 * MS),
    ("-5", (), -5 * MS),
    (1671235200000, (), 1671235200000 * MS),
    ("1671235200000", (), 1671235200000 * MS),
    ("131509374294.365140", (), 131509374294365140),  # millis with a nanosecond fraction
    ("131509374294.", (), 131509374294 * MS),
    ("1.1234567", (), None),  # at most 6 fraction digits of a millisecond
    (1.5, (), 1500000),
    ("1e3", (), None),
    (True, (), None),
    (None, (), None),
    ({"a": 1}, (), None),
    # custom formats
    ("12-12-2022", ("dd-MM-yyyy",), 1670803200 * S),
    ("17-12-2022", ("dd-MM-yyyy",), 1671235200 * S),
    ("2022-12-17", ("yyyy-MM-dd",), 1671235200 * S),
    ("2022-12-17", ("dd-MM-yyyy",), None),
    ("1671235200000", ("dd-MM-yyyy",), None),  # no epoch_millis alternative
    ("1671235200000", ("dd-MM-yyyy||epoch_millis",), 1671235200000 * MS),
    ("1671235200000", ("dd-MM-yyyy", "epoch_millis"), 1671235200000 * MS),
    ("2022-12-17 10:11:12", ("yyyy-MM-dd HH:mm:ss",), 1671235200 * S + 36672 * S),
    ("2022-12-17T10:11:12.5", ("yyyy-MM-dd'T'HH:mm:ss.S",), 1671235200 * S + 36672 * S + 500 * MS),
    ("17/Dec/2022:10:11:12 +0100", ("dd/MMM/yyyy:HH:mm:ss Z",), 1671235200 * S + 33072 * S),
    ("Sat, 17 Dec 2022", ("EEE, dd MMM yyyy",), 1671235200 * S),
    ("Mon, 17 Dec 2022", ("EEE, dd MMM yyyy",), None),  # the day of week must agree
    ("17 December 2022", ("dd MMMM yyyy",), 1671235200 * S),
    ("17 dec 2022", ("dd MMM yyyy",), None),  # text is case-sensitive
    ("2022-12-17T01:02:03PM", ("yyyy-MM-dd'T'hh:mm:ssa",), 1671235200 * S + 46923 * S),
    ("20221217", ("basic_date",), 1671235200 * S),
    ("2022-12-17", ("strict_date",), 1671235200 * S),
    ("2022-12-17T10:11:12", ("strict_date_hour_minute_second",), 1671235200 * S + 36672 * S),
    ("1671235200", ("epoch_second",), 1671235200 * S),
    ("1671235200.5", ("epoch_second",), 1671235200 * S + 500 * MS),
    ("2022-12-17T10:11:12.000Z", ("strict_date_time",), 1671235200 * S + 36672 * S),
    ("2022-12-17T10:11:12.000", ("strict_date_time",), None),  # zone required
    ("2022-12-17", ("strict_date_optional_time_nanos",), 1671235200 * S),
    ("2022-12-17T10", ("strict_date_optional_time_nanos",), None),  # time needs h:m:s
    ("2022-351", ("yyyy-DDD",), 1671235200 * S),
    ("22-12-17", ("yy-MM-dd",), 1671235200 * S),
]


@pytest.mark.parametrize(("value", "formats", "expected"), DATES)
def test_parse_date(value: Any, formats: tuple[str, ...], expected: int | None) -> None:
    assert parse_date(value, formats) == expected


def test_date_field_resolution() -> None:
    assert date_field_value("1970-01-01T00:00:00.0019Z") == MS  # millis resolution floors
    assert date_field_value("1969-12-31T23:59:59.9991Z") == -MS
    assert date_field_value("1970-01-01T00:00:00.0019Z", nanos=True) == 1900000
    assert date_field_value("1969-12-31T23:59:59Z", nanos=True) is None  # before 1970
    assert date_field_value("2262-04-12T00:00:00Z", nanos=True) is None  # beyond a long of nanos
    assert date_field_value("131509374294.365140", nanos=True) == 131509374294365140
    assert date_field_value("nope") is None


def test_unsupported_date_format() -> None:
    with pytest.raises(DataError):
        validate_date_formats(["yyyy-MM-dd G"])
    validate_date_formats(["dd-MM-yyyy||epoch_millis", "strict_date_optional_time"])


@pytest.mark.parametrize(
    ("nanos", "nanos_precision", "expected"),
    [
        (0, False, "1970-01-01T00:00:00.000Z"),
        (0, True, "1970-01-01T00:00:00.000Z"),
        (T2022 + MS, False, "2022-05-04T12:00:00.001Z"),
        (131509374294365140, True, "1974-03-03T02:22:54.29436514Z"),
        (131509374294365140, False, "1974-03-03T02:22:54.294Z"),
        (131509374294365000, True, "1974-03-03T02:22:54.294365Z"),
        (-MS, False, "1969-12-31T23:59:59.999Z"),
        (-62198755200 * S, False, "-0001-01-01T00:00:00.000Z"),
        (253402300800 * S, False, "+10000-01-01T00:00:00.000Z"),
    ],
)
def test_format_date_iso(nanos: int, nanos_precision: bool, expected: str) -> None:
    assert format_date_iso(nanos, nanos_precision) == expected


def test_other_date_printing() -> None:
    assert format_epoch_millis(1671235200000 * MS) == "1671235200000"
    assert format_epoch_millis(131509374294365140) == "131509374294.36514"
    assert format_date(1671235200 * S, ["dd-MM-yyyy"]) == "17-12-2022"
    assert format_date(1671235200 * S, ["yyyy-MM-dd||epoch_millis"]) == "2022-12-17"
    assert format_date(1671235200 * S, ["epoch_millis"]) == "1671235200000"
    assert (
        format_date(1671235200 * S, ["EEE, dd MMM yyyy HH:mm:ss.SSS XXX"])
        == "Sat, 17 Dec 2022 00:00:00.000 Z"
    )
    assert format_date(1671235200 * S) == "2022-12-17T00:00:00.000Z"
    assert format_date(1671235200 * S + 5, ["strict_date_optional_time_nanos"]) == (
        "2022-12-17T00:00:00.000000005Z"
    )
    assert zoned_datetime_string(T2022) == "2022-05-04T12:00Z"
    assert zoned_datetime_string(T2022 + 5 * S) == "2022-05-04T12:00:05Z"
    assert zoned_datetime_string(T2022 + MS) == "2022-05-04T12:00:00.001Z"
    assert zoned_datetime_string(T2022 + 1000) == "2022-05-04T12:00:00.000001Z"
    assert zoned_datetime_string(T2022 + 1) == "2022-05-04T12:00:00.000000001Z"


def test_date_round_trip_over_many_days() -> None:
    for days in range(-800_000, 800_000, 997):
        text = format_date_iso(days * DAY + 1234 * MS)
        assert parse_date(text) == days * DAY + 1234 * MS, text


# --------------------------------------------------------------------------- versions


def test_version_ordering() -> None:
    ordered = [
        "0.9.9",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.0+build",
        "1.2.4-SNAPSHOT",
        "1.5.0",
        "1.11.3",
        "2",
        "2.0",
        "10.0.0",
        "1.0.0.0.1",
    ]
    keys = [version_key(v) for v in ordered]
    assert all(k is not None for k in keys)
    assert sorted(ordered[:-1], key=lambda v: version_key(v) or b"") == ordered[:-1]
    assert (version_key("1.11.3") or b"") > (version_key("1.5.0") or b"")
    assert (version_key("1.2.4-SNAPSHOT") or b"") < (version_key("1.5.0") or b"")


@pytest.mark.parametrize(
    "invalid", ["bad", "1.01.0", "1.0.0-", "1.0.0-01", "v1.0", "1..2", "-1", " 1.0", "1.0.0+"]
)
def test_invalid_versions_sort_after_valid_ones_and_equal_only_themselves(invalid: str) -> None:
    key = version_key(invalid)
    assert key is not None
    assert key > (version_key("999.999.999") or b"")
    assert key == version_key(invalid)
    assert key != version_key(invalid + "x")


def test_version_edge_cases() -> None:
    assert version_key("") == b"\x03"
    assert version_key("1" * 128) is None  # Elasticsearch refuses digit groups of 128+
    assert version_key("1.0.0") != version_key("1.0.0+meta")


# --------------------------------------------------------------------------- ips

IPS: list[tuple[Any, str | None]] = [
    ("10.0.0.1", "10.0.0.1"),
    ("255.255.255.255", "255.255.255.255"),
    ("256.0.0.1", None),
    ("01.2.3.4", None),  # leading zeros are refused
    ("1.2.3", None),
    ("1.2.3.4.5", None),
    ("::1", "::1"),
    ("::", "::"),
    ("2001:0DB8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"),  # leftmost longest run
    ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  # a single zero is not compressed
    ("::ffff:1.2.3.4", "1.2.3.4"),  # IPv4-mapped becomes IPv4
    ("::ffff:0102:0304", "1.2.3.4"),
    ("::1.2.3.4", "::102:304"),  # IPv4-compatible stays IPv6
    ("fe80::1%eth0", None),  # no zone ids
    ("[::1]", None),
    ("1::2::3", None),
    ("1:2:3:4:5:6:7:8:9", None),
    ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
    ("12345::", None),
    ("0000000001::", "1::"),
    ("", None),
    (167772161, None),  # numbers are not ips
    (None, None),
]


@pytest.mark.parametrize(("value", "expected"), IPS)
def test_parse_and_format_ip(value: Any, expected: str | None) -> None:
    parsed = parse_ip(value)
    assert (None if parsed is None else format_ip(parsed)) == expected


def test_ip_sort_key_and_cidr() -> None:
    v4 = parse_ip("1.2.3.4")
    assert v4 is not None
    assert ip_sort_key(v4) == ip_sort_key(ipaddress.IPv6Address("::ffff:1.2.3.4"))
    low, high = parse_cidr("10.0.0.0/8")
    assert low == ip_sort_key(ipaddress.IPv4Address("10.0.0.0"))
    assert high == ip_sort_key(ipaddress.IPv4Address("10.255.255.255"))
    low, high = parse_cidr("2001:db8::/32")
    assert low == ipaddress.IPv6Address("2001:db8::").packed
    assert high == ipaddress.IPv6Address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff").packed
    # Integer.parseInt accepts a leading +
    assert parse_cidr("10.1.2.3/+8")[0] == ip_sort_key(ipaddress.IPv4Address("10.0.0.0"))
    for bad, message in [
        ("10.0.0.0/x", 'For input string: "x"'),
        ("10.0.0.0/-1", "Illegal prefix length [-1]"),
        ("::/129", "Illegal prefix length [129]"),
        ("10.0.0.0/8/8", "Expected [ip/prefix]"),
        ("nope/8", "'nope' is not an IP string literal."),
    ]:
        with pytest.raises(ValueError, match=None) as info:
            parse_cidr(bad)
        assert message in str(info.value)


# --------------------------------------------------------------------------- numbers, booleans, keywords

LONGS: list[tuple[Any, dict[str, Any], int | None]] = [
    (445, {}, 445),
    ("445", {}, 445),
    ("+445", {}, 445),
    ("445.7", {}, 445),  # coerce truncates toward zero
    ("-445.7", {}, -445),
    ("445.7", {"coerce": False}, None),
    ("1e3", {}, 1000),
    ("1.5e1", {}, 15),
    (445.9, {}, 445),
    (-445.9, {}, -445),
    (445.5, {"coerce": False}, None),
    ("9223372036854775807", {}, 2**63 - 1),
    ("9223372036854775808", {}, None),
    ("9223372036854775807.9", {}, 2**63 - 1),
    (2**63, {}, None),
    (" 445", {}, None),
    ("0x10", {}, None),
    ("", {}, None),
    ("abc", {}, None),
    (True, {}, None),
    (None, {}, None),
    (math.nan, {}, None),
    (2**31, {"bits": 32}, None),
    (2**31 - 1, {"bits": 32}, 2**31 - 1),
    ("٤٤٥", {}, 445),  # Java accepts any Unicode decimal digit
]


@pytest.mark.parametrize(("value", "options", "expected"), LONGS)
def test_to_long(value: Any, options: dict[str, Any], expected: int | None) -> None:
    assert to_long(value, **options) == expected


DOUBLES: list[tuple[Any, dict[str, Any], float | None]] = [
    (1.5, {}, 1.5),
    (3, {}, 3.0),
    ("1.5", {}, 1.5),
    (" 1.5 ", {}, 1.5),  # Double.parseDouble trims
    ("1.5f", {}, 1.5),
    ("1e3", {}, 1000.0),
    (".5", {}, 0.5),
    ("5.", {}, 5.0),
    ("0x1p3", {}, 8.0),
    ("NaN", {}, None),  # Elasticsearch refuses non-finite values
    ("Infinity", {}, None),
    ("1e400", {}, None),
    ("abc", {}, None),
    ("1_0", {}, None),
    (True, {}, None),
    ("1.5", {"coerce": False}, None),
    (0.1, {"bits": 32}, 0.10000000149011612),
    (1e39, {"bits": 32}, None),
    (0.1, {"bits": 16}, 0.0999755859375),
]


@pytest.mark.parametrize(("value", "options", "expected"), DOUBLES)
def test_to_double(value: Any, options: dict[str, Any], expected: float | None) -> None:
    assert to_double(value, **options) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("false", False), ("", False), ("True", None),
     ("yes", None), (1, None), (None, None)],
)  # fmt: skip
def test_to_bool(value: Any, expected: bool | None) -> None:
    assert to_bool(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("x", "x"), (445, "445"), (1.5, "1.5"), (True, "true"), (None, None), ([1], None)],
)
def test_to_keyword(value: Any, expected: str | None) -> None:
    assert to_keyword(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, "1.0"), (1e20, "1.0E20"), (1.5e-4, "1.5E-4"), (0.001, "0.001"), (9999999.0, "9999999.0"),
     (1e7, "1.0E7"), (123456789.0, "1.23456789E8"), (-42.5, "-42.5"), (0.1 + 0.2, "0.30000000000000004"),
     (5e-324, "4.9E-324"), (1.7976931348623157e308, "1.7976931348623157E308")],
)  # fmt: skip
def test_java_double_to_string(value: float, expected: str) -> None:
    assert java_double_to_string(value) == expected


def test_java_number_parsing() -> None:
    assert java_parse_long("ff", 16) == 255
    assert java_parse_long("0x10", 16) is None  # Java has no prefixes
    assert java_parse_long("0b1", 2) is None
    assert java_parse_long("-") is None
    assert java_parse_long("z", 36) == 35
    assert java_parse_long("1", 37) is None
    assert java_parse_long("2147483648", bits=32) is None
    assert java_parse_double("-Infinity") == -math.inf
    assert java_parse_double("0x1.8p1d") == 3.0
    assert java_parse_double("0x1.8") is None  # a hex float needs its exponent
    assert java_parse_double("1.0e") is None
