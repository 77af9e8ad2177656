"""Elastic date math (``now-9m``, ``now-1d/d``, ``2024-01-01T00:00:00Z||+1M``) and rule intervals.

Two parsers read date math in the Elastic stack, and they differ in small ways:

* **Kibana** (``@kbn/datemath``, moment.js) resolves a rule's ``from`` and ``to`` when the rule
  runs. Units: ``y M w d h m s ms`` (no ``H``). Rounding a week goes back to **Sunday** (moment's
  default ``en`` locale). This is the default dialect here.
* **Elasticsearch** (``JavaDateMathParser``) resolves date math inside queries, such as a
  ``range`` filter. Units: ``y M w d h H m s`` (no ``ms``). Rounding a week goes back to
  **Monday**. An anchor without a time of day, rounded up, covers its whole day (or month, year).

Common to both: ``now`` or an ISO 8601 anchor followed by ``||``, then any number of operations
``+N<unit>``, ``-N<unit>`` (``N`` defaults to 1) and ``/<unit>`` (round down, or up to the last
millisecond of the unit when resolving an upper bound). Adding months or years keeps the day of the
month where it exists and clamps it to the month's last day otherwise (Jan 31 + 1M = Feb 28/29).
vigil resolves in UTC, as a Kibana server on UTC does, and at millisecond precision, as JavaScript
and Java dates are.

Kibana's rule intervals (``interval``) are a separate, stricter format: a positive whole number
and one of ``s m h d`` (:func:`parse_interval`).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from vigil.ecs.values import parse_date
from vigil.errors import RuleError

Dialect = Literal["kibana", "elasticsearch"]

_UNITS: dict[str, frozenset[str]] = {
    "kibana": frozenset({"y", "M", "w", "d", "h", "m", "s", "ms"}),
    "elasticsearch": frozenset({"y", "M", "w", "d", "h", "H", "m", "s"}),
}
_UNIT_NAMES = {
    "y": "years",
    "M": "months",
    "w": "weeks",
    "d": "days",
    "h": "hours",
    "H": "hours",
    "m": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
}
_FIXED = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "H": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
_ONE_MS = timedelta(milliseconds=1)
# How precise an ISO anchor is, for rounding an upper bound up (Elasticsearch's roundUp parser
# fills the fields a date leaves out with their largest values).
_ISO_PRECISION = re.compile(
    r"^[+-]?\d{4,}(?P<month>-\d{2})?(?P<day>-\d{2})?(?:T(?P<hour>\d{2})(?P<minute>:?\d{2})?(?P<second>:?\d{2})?)?"
)


@dataclass(frozen=True)
class DateMathOp:
    """One operation: ``+``/``-`` ``amount`` units, or ``/`` (round to the unit)."""

    op: Literal["+", "-", "/"]
    amount: int
    unit: str


@dataclass(frozen=True)
class DateMath:
    """Parsed date math: an anchor (None for ``now``) and the operations applied to it in order."""

    text: str
    anchor: datetime | None
    ops: tuple[DateMathOp, ...] = ()
    dialect: Dialect = "kibana"
    anchor_precision: str = "ms"  # for rounding an absolute upper bound up (Elasticsearch)

    @property
    def relative(self) -> bool:
        """True when the expression starts from ``now``."""
        return self.anchor is None

    def resolve(self, now: datetime, *, round_up: bool = False, whole_seconds: bool = False) -> datetime:
        """The instant this expression names when the clock reads ``now`` (UTC, millisecond
        precision; a naive ``now`` is taken as UTC).

        ``round_up`` resolves an upper bound: ``/d`` then means the last millisecond of the day
        (Kibana's ``roundUp``; Elasticsearch's ``lte``/``gt``). ``whole_seconds`` drops the
        milliseconds of ``now`` first, as recent Kibana versions do by default (``roundMs``).
        """
        if self.anchor is None:
            base = _utc(now)
            base = base.replace(microsecond=0 if whole_seconds else base.microsecond // 1000 * 1000)
        else:
            base = self.anchor
            if round_up and self.dialect == "elasticsearch" and not self.ops:
                base = _end_of(base, self.anchor_precision, self.dialect)
        for op in self.ops:
            if op.op == "/":
                base = (
                    _end_of(base, op.unit, self.dialect)
                    if round_up
                    else _start_of(base, op.unit, self.dialect)
                )
            else:
                base = _add(base, op.amount if op.op == "+" else -op.amount, op.unit)
        return base

    def __str__(self) -> str:
        return self.text


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _add(moment: datetime, amount: int, unit: str) -> datetime:
    if unit in ("y", "M"):
        months = amount * 12 if unit == "y" else amount
        index = moment.year * 12 + (moment.month - 1) + months
        year, month = divmod(index, 12)
        month += 1
        if not 1 <= year <= 9999:
            raise RuleError(f"date math goes outside the years 1 to 9999 ({year})")
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day)
    try:
        return moment + _FIXED[unit] * amount
    except OverflowError:
        raise RuleError("date math goes outside the years 1 to 9999") from None


def _start_of(moment: datetime, unit: str, dialect: Dialect) -> datetime:
    if unit == "ms":
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if unit == "s":
        return moment.replace(microsecond=0)
    if unit == "m":
        return moment.replace(second=0, microsecond=0)
    if unit in ("h", "H"):
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        # Python's weekday(): Monday 0 .. Sunday 6. moment's "en" week starts on Sunday.
        back = day.weekday() if dialect == "elasticsearch" else (day.weekday() + 1) % 7
        return day - timedelta(days=back)
    if unit == "M":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _end_of(moment: datetime, unit: str, dialect: Dialect) -> datetime:
    start = _start_of(moment, unit, dialect)
    if unit in ("y", "M"):
        return _add(start, 1, unit) - _ONE_MS
    return start + _FIXED[unit] - _ONE_MS


def _anchor(text: str, whole: str, formats: tuple[str, ...]) -> tuple[datetime, str]:
    nanos = parse_date(text, formats or ("strict_date_optional_time",))
    if nanos is None:
        expected = " or ".join(formats) if formats else "an ISO 8601 date such as 2024-01-01T00:00:00Z"
        raise RuleError(f"bad date math {whole!r}: cannot read the date {text!r}; expected {expected}")
    millis = nanos // 1_000_000
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    except OverflowError:
        raise RuleError(f"bad date math {whole!r}: the date {text!r} is out of range") from None
    match = _ISO_PRECISION.match(text)
    precision = "ms"
    if match and not formats:
        if match.group("month") is None:
            precision = "y"
        elif match.group("day") is None:
            precision = "M"
        elif match.group("hour") is None:
            precision = "d"
        elif match.group("minute") is None:
            precision = "h"
        elif match.group("second") is None:
            precision = "m"
    return moment, precision


def parse_date_math(text: str, *, dialect: Dialect = "kibana", formats: tuple[str, ...] = ()) -> DateMath:
    """Parse date math; raise :class:`RuleError` naming what is wrong. ``formats`` are the date
    formats an absolute anchor may use (default: ISO 8601)."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("empty date math: expected 'now', 'now-5m' or a date such as 2024-01-01T00:00:00Z")
    if text != text.strip():
        raise RuleError(f"bad date math {text!r}: remove the spaces around it")
    anchor: datetime | None = None
    precision = "ms"
    if text.startswith("now"):
        math = text[3:]
    else:
        head, sep, math = text.partition("||")
        anchor, precision = _anchor(head, text, formats)
        if not sep:
            return DateMath(text, anchor, (), dialect, precision)
    units = _UNITS[dialect]
    ops: list[DateMathOp] = []
    i = 0
    while i < len(math):
        op = math[i]
        if op not in "+-/":
            raise RuleError(
                f"bad date math {text!r}: expected +, - or / at {math[i:]!r}",
                hint="write for example now-9m, now-1h/h or now+5m",
            )
        i += 1
        digits_start = i
        while i < len(math) and math[i].isascii() and math[i].isdigit():
            i += 1
        amount = int(math[digits_start:i]) if i > digits_start else 1
        unit_start = i
        # Kibana reads every letter after the number as the unit ("5min" is the unit "min").
        while i < len(math) and math[i].isascii() and math[i].isalpha():
            i += 1
            if dialect == "elasticsearch":
                break
        unit = math[unit_start:i]
        if not unit:
            raise RuleError(
                f"bad date math {text!r}: a unit is missing after {math[:unit_start]!r}",
                hint=f"units are {', '.join(sorted(units, key=_unit_order))}",
            )
        if unit not in units:
            hint = f"units are {', '.join(sorted(units, key=_unit_order))}"
            if unit == "H" and dialect == "kibana":
                hint = "Kibana's date math has no 'H': use 'h' for hours"
            elif unit == "ms" and dialect == "elasticsearch":
                hint = "Elasticsearch's date math has no 'ms'"
            raise RuleError(f"bad date math {text!r}: unknown unit {unit!r}", hint=hint)
        if op == "/" and amount != 1:
            raise RuleError(
                f"bad date math {text!r}: rounding (/) takes a single unit, such as /d, not /{amount}{unit}"
            )
        ops.append(DateMathOp(op, amount, unit))  # type: ignore[arg-type]
    return DateMath(text, anchor, tuple(ops), dialect, precision)


def _unit_order(unit: str) -> int:
    return ["y", "M", "w", "d", "h", "H", "m", "s", "ms"].index(unit)


def describe_date_math(math: DateMath) -> str:
    """A short English reading of relative date math, e.g. ``9 minutes ago`` (for listings)."""
    if math.anchor is not None or not math.ops:
        return str(math)
    words = []
    for op in math.ops:
        if op.op == "/":
            words.append(f"rounded to the {_UNIT_NAMES[op.unit].rstrip('s')}")
        else:
            name = _UNIT_NAMES[op.unit] if op.amount != 1 else _UNIT_NAMES[op.unit].rstrip("s")
            words.append(f"{op.amount} {name} {'ago' if op.op == '-' else 'from now'}")
    return ", ".join(words)


_INTERVAL = re.compile(r"^([1-9][0-9]*)([smhd])$")
_INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> timedelta:
    """A rule's ``interval`` (Kibana's format: ``30s``, ``5m``, ``1h``, ``1d``) as a timedelta;
    raise :class:`RuleError` otherwise."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if match is None:
        raise RuleError(
            f"bad interval {text!r}: expected a positive whole number followed by s, m, h or d",
            hint="for example 5m (every five minutes) or 1h",
        )
    return timedelta(seconds=int(match.group(1)) * _INTERVAL_UNITS[match.group(2)])
