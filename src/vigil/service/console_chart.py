"""Alerts over time for the console's overview: time ranges, alert times, and the SVG bar chart.

The chart is computed here as plain shapes (bars, labels, ticks, legend) that the overview
template draws as inline SVG: no script and no charting library reach the browser.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low")
RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


def show_time(value: Any, millis: bool = False) -> str:
    """An ISO 8601 time (text or datetime) as people read it, in UTC: ``2024-05-14 08:08:33Z``,
    or with ``millis`` ``2024-05-14 08:08:33.777Z`` (the steps of a sequence are often within
    one second)."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        moment: datetime | None = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = parse_time(str(value))
        if moment is None:
            return str(value)
    assert moment is not None
    moment = moment.astimezone(UTC)
    if millis:
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time as an aware datetime, or None when it is not one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


CHART_WIDTH = 720
CHART_HEIGHT = 220
CHART_LEFT = 40  # room for the count labels
CHART_BOTTOM = 24  # room for the time labels
SEVERITY_COLOURS = {"critical": "#b3261e", "high": "#e46a1a", "medium": "#d9a400", "low": "#4a8fd6"}
_OTHER_COLOUR = "#888888"

_STEPS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(days=1),
    timedelta(days=7),
)


def _step_for(span: timedelta) -> timedelta:
    # The smallest step giving at most 48 bars: readable at the chart's width.
    for step in _STEPS:
        if span / step <= 48:
            return step
    return timedelta(days=max(1, int(span / timedelta(days=48)) + 1))


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // step) * step


def build_chart(alerts: Sequence[Any], span: str, now: datetime) -> dict[str, Any]:
    """Alerts over time (by alert time, ``@timestamp``), stacked by severity, as the shapes of an
    SVG bar chart: ``bars`` (x, y, width, height, colour, title), ``labels``, ``ticks``,
    ``legend`` and ``max``. ``span`` is a key of :data:`RANGES` (ending now) or ``all``."""
    times = [(parse_time(a.created), a.severity or "unknown") for a in alerts]
    dated = [(t, sev) for t, sev in times if t is not None]
    if span == "all":
        if dated:
            start, end = min(t for t, _ in dated), max(t for t, _ in dated)
        else:
            start, end = now - RANGES["24h"], now
        end = max(end, start + timedelta(minutes=1))
    else:
        start, end = now - RANGES[span], now
    step = _step_for(end - start)
    first = _floor(start, step)
    count = int((end - first) // step) + 1
    buckets: list[Counter[str]] = [Counter() for _ in range(count)]
    for moment, sev in dated:
        if first <= moment < first + count * step:
            buckets[int((moment - first) // step)][sev] += 1
    peak = max((sum(b.values()) for b in buckets), default=0)
    scale_max = max(peak, 1)
    plot_w = CHART_WIDTH - CHART_LEFT - 8
    plot_h = CHART_HEIGHT - CHART_BOTTOM - 8
    bar_w = plot_w / count
    order = [*reversed(SEVERITIES), "unknown"]  # low at the bottom, critical on top
    bars = []
    for i, bucket in enumerate(buckets):
        base = float(CHART_HEIGHT - CHART_BOTTOM)
        when = first + i * step
        for sev in order:
            n = bucket.get(sev, 0)
            if not n:
                continue
            height = n / scale_max * plot_h
            base -= height
            bars.append(
                {
                    "x": round(CHART_LEFT + i * bar_w + 1, 2),
                    "y": round(base, 2),
                    "w": round(max(bar_w - 2, 1), 2),
                    "h": round(height, 2),
                    "colour": SEVERITY_COLOURS.get(sev, _OTHER_COLOUR),
                    "severity": sev,
                    "title": f"{show_time(when)}: {n} {sev}",
                }
            )
    label_every = max(1, count // 6)
    labels = [
        {"x": round(CHART_LEFT + i * bar_w, 2), "text": _label(first + i * step, step)}
        for i in range(0, count, label_every)
        # A label needs about 70 px; one starting later would be cut off at the right edge.
        if CHART_LEFT + i * bar_w <= CHART_WIDTH - 70
    ]
    ticks = [
        {"y": round(CHART_HEIGHT - CHART_BOTTOM - v / scale_max * plot_h, 2), "value": v}
        for v in sorted({0, scale_max // 2, scale_max})
    ]
    in_range = sum(sum(b.values()) for b in buckets)
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "baseline": CHART_HEIGHT - CHART_BOTTOM,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "legend": [(sev, SEVERITY_COLOURS[sev]) for sev in SEVERITIES],
        "max": peak,
        "count": in_range,
        "step": _label_step(step),
        "start": start,
        "end": end,
    }


def _label(moment: datetime, step: timedelta) -> str:
    return moment.strftime("%m-%d" if step >= timedelta(days=1) else "%m-%d %H:%M")


def _label_step(step: timedelta) -> str:
    minutes = int(step.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"
