"""Date math (Kibana's and Elasticsearch's dialects) and rule intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from vigil.errors import RuleError
from vigil.rules.datemath import describe_date_math, parse_date_math, parse_interval

NOW = datetime(2024, 3, 15, 10, 23, 45, 678901, tzinfo=UTC)  # a Friday


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


RESOLVE = [
    # (expression, dialect, round_up, expected)
    ("now", "kibana", False, "2024-03-15T10:23:45.678Z"),
    ("now-9m", "kibana", False, "2024-03-15T10:14:45.678Z"),
    ("now+5m", "kibana", False, "2024-03-15T10:28:45.678Z"),
    ("now-6m", "kibana", False, "2024-03-15T10:17:45.678Z"),
    ("now-1h/h", "kibana", False, "2024-03-15T09:00:00.000Z"),
    ("now-1h/h", "kibana", True, "2024-03-15T09:59:59.999Z"),
    ("now/d", "kibana", False, "2024-03-15T00:00:00.000Z"),
    ("now/d", "kibana", True, "2024-03-15T23:59:59.999Z"),
    ("now-1d/d", "kibana", False, "2024-03-14T00:00:00.000Z"),
    ("now-d", "kibana", False, "2024-03-14T10:23:45.678Z"),
    ("now-1w", "kibana", False, "2024-03-08T10:23:45.678Z"),
    ("now/w", "kibana", False, "2024-03-10T00:00:00.000Z"),  # moment's en locale: Sunday
    ("now/w", "elasticsearch", False, "2024-03-11T00:00:00.000Z"),  # ISO week: Monday
    ("now/w", "kibana", True, "2024-03-16T23:59:59.999Z"),
    ("now/M", "kibana", False, "2024-03-01T00:00:00.000Z"),
    ("now/M", "kibana", True, "2024-03-31T23:59:59.999Z"),
    ("now/y", "kibana", False, "2024-01-01T00:00:00.000Z"),
    ("now-1y", "kibana", False, "2023-03-15T10:23:45.678Z"),
    ("now-500ms", "kibana", False, "2024-03-15T10:23:45.178Z"),
    ("now+555ms/ms", "kibana", False, "2024-03-15T10:23:46.233Z"),
    ("now-0s/s", "kibana", False, "2024-03-15T10:23:45.000Z"),
    ("now-1d/d+8h+50m", "kibana", False, "2024-03-14T08:50:00.000Z"),
    ("now-2H", "elasticsearch", False, "2024-03-15T08:23:45.678Z"),
    ("2024-01-01T00:00:00Z", "kibana", False, "2024-01-01T00:00:00.000Z"),
    ("2024-01-01T00:00:00Z||-1d", "kibana", False, "2023-12-31T00:00:00.000Z"),
    ("2024-01-31T12:00:00Z||+1M", "kibana", False, "2024-02-29T12:00:00.000Z"),
    ("2023-01-31T12:00:00Z||+1M", "kibana", False, "2023-02-28T12:00:00.000Z"),
    ("2024-02-29T00:00:00Z||-1y", "kibana", False, "2023-02-28T00:00:00.000Z"),
    ("2024-03-31T00:00:00Z||-1M", "kibana", False, "2024-02-29T00:00:00.000Z"),
    ("2024-01-01T05:06:07.089+02:00||/h", "kibana", False, "2024-01-01T03:00:00.000Z"),
    ("2024-01-01", "elasticsearch", True, "2024-01-01T23:59:59.999Z"),
    ("2024-01", "elasticsearch", True, "2024-01-31T23:59:59.999Z"),
    ("2024", "elasticsearch", True, "2024-12-31T23:59:59.999Z"),
    ("2024-01-01T10", "elasticsearch", True, "2024-01-01T10:59:59.999Z"),
    ("2024-01-01", "elasticsearch", False, "2024-01-01T00:00:00.000Z"),
    ("2024-01-01", "kibana", True, "2024-01-01T00:00:00.000Z"),
]


@pytest.mark.parametrize(("text", "dialect", "round_up", "expected"), RESOLVE)
def test_resolve(text: str, dialect: str, round_up: bool, expected: str) -> None:
    math = parse_date_math(text, dialect=dialect)  # type: ignore[arg-type]
    assert math.resolve(NOW, round_up=round_up) == at(expected)
    assert math.relative == text.startswith("now")


def test_now_precision_and_zones() -> None:
    now = parse_date_math("now")
    assert now.resolve(NOW, whole_seconds=True) == at("2024-03-15T10:23:45Z")
    naive = NOW.replace(tzinfo=None)
    assert now.resolve(naive) == at("2024-03-15T10:23:45.678Z")
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    assert now.resolve(plus_two) == at("2024-03-15T10:23:45.678Z")
    assert now.resolve(plus_two).tzinfo == UTC


ERRORS = [
    ("", "kibana", "empty date math"),
    (" now", "kibana", "remove the spaces"),
    ("now-9x", "kibana", "unknown unit 'x'"),
    ("now-1H", "kibana", "unknown unit 'H'"),
    ("now-5ms", "elasticsearch", "expected +, - or /"),
    ("now-5min", "kibana", "unknown unit 'min'"),
    ("now/2d", "kibana", "rounding (/) takes a single unit"),
    ("now-", "kibana", "a unit is missing"),
    ("now-0", "kibana", "a unit is missing"),
    ("now*5m", "kibana", "expected +, - or /"),
    ("nowish", "kibana", "expected +, - or /"),
    ("yesterday", "kibana", "cannot read the date 'yesterday'"),
    ("2024-13-01T00:00:00Z||-1d", "kibana", "cannot read the date"),
]


@pytest.mark.parametrize(("text", "dialect", "message"), ERRORS)
def test_bad_date_math(text: str, dialect: str, message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_date_math(text, dialect=dialect)  # type: ignore[arg-type]
    assert message in info.value.message


def test_kibana_h_hint() -> None:
    with pytest.raises(RuleError) as info:
        parse_date_math("now-1H")
    assert info.value.hint is not None and "use 'h'" in info.value.hint


def test_out_of_range() -> None:
    with pytest.raises(RuleError, match="outside the years"):
        parse_date_math("now+10000y").resolve(NOW)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("now-9m", "9 minutes ago"),
        ("now-1h/h", "1 hour ago, rounded to the hour"),
        ("now+1d", "1 day from now"),
    ],
)
def test_describe(text: str, words: str) -> None:
    assert describe_date_math(parse_date_math(text)) == words


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("30s", 30), ("1h", 3600), ("1d", 86400), ("90m", 5400), ("10s", 10)]
)
def test_interval(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["0m", "5", "5M", "1w", "5 m", "-5m", "m", "05m", "", "5ms"])
def test_bad_interval(text: str) -> None:
    with pytest.raises(RuleError, match="bad interval"):
        parse_interval(text)
