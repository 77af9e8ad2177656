"""Frozen copy of vigil.ecs.windows.common (Sysmon left out; ``channel_mapping`` added)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

Mode = Literal["agent", "winlogbeat"]
DEFAULT_AGENT_VERSION = "8.17.0"
ECS_VERSION = "8.11.0"

Mapper = Callable[[dict[str, Any]], None]

# channel (lower case) -> (Elastic Agent data stream dataset, event.module in Winlogbeat)
_DATASETS: dict[str, tuple[str, str]] = {
    "microsoft-windows-sysmon/operational": ("windows.sysmon_operational", "sysmon"),
    "security": ("system.security", "security"),
    "system": ("system.system", "system"),
    "application": ("system.application", "system"),
    "microsoft-windows-powershell/operational": ("windows.powershell_operational", "powershell"),
    "windows powershell": ("windows.powershell", "powershell"),
    "forwardedevents": ("windows.forwarded", "windows"),
}
_FALLBACK = ("windows.forwarded", "windows")


def dataset_of(channel: str) -> tuple[str, str]:
    """(Agent dataset, Winlogbeat module) for a channel; unknown channels are forwarded events."""
    return _DATASETS.get(channel.lower(), _FALLBACK)


def _mappers() -> dict[str, Mapper]:
    # Imported lazily: each channel's mapping is its own module.
    from _security_reference import powershell, security, system

    return {
        "security": security.map_security,
        "system": system.map_system,
        "microsoft-windows-powershell/operational": powershell.map_powershell_operational,
        "windows powershell": powershell.map_powershell_classic,
    }


_MAPPERS: dict[str, Mapper] | None = None


def _node(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """``doc[key]`` as a dict (created, or replacing a non-object value)."""
    node = doc.get(key)
    if type(node) is not dict:
        node = doc[key] = {}
    return node


def to_ecs(
    raw: dict[str, Any],
    *,
    mode: Mode = "agent",
    agent_version: str = DEFAULT_AGENT_VERSION,
    channel_mapping: bool = True,
) -> dict[str, Any]:
    """Map a Winlogbeat-raw document to ECS in place and return it (see the package docstring).

    ``mode`` picks where the event lands: ``agent`` gives it Elastic Agent's ``data_stream``
    (``logs-windows.sysmon_operational-default``, ``logs-system.security-default``, ...);
    ``winlogbeat`` marks it as Winlogbeat output (``agent.type: winlogbeat``), which lands in
    ``winlogbeat-<version>``. Events of channels without a mapping keep their ``winlog.*``
    fields and ``event.code``: nothing is dropped.
    """
    global _MAPPERS
    winlog = raw.get("winlog")
    if not isinstance(winlog, dict):
        winlog = raw["winlog"] = {}
    channel = str(winlog.get("channel") or "")
    dataset, module = dataset_of(channel)
    event = raw.get("event")
    if not isinstance(event, dict):
        event = raw["event"] = {}
    if "event_id" in winlog and "code" not in event:
        event["code"] = str(winlog["event_id"])
    if winlog.get("provider_name") and "provider" not in event:
        event["provider"] = winlog["provider_name"]
    event.setdefault("kind", "event")
    event.setdefault("module", module)
    host = _node(raw, "host")
    computer = winlog.get("computer_name")
    if computer and "name" not in host:
        host["name"] = computer
    os_ = _node(host, "os")
    os_.setdefault("type", "windows")
    os_.setdefault("family", "windows")
    os_.setdefault("platform", "windows")
    _node(raw, "ecs").setdefault("version", ECS_VERSION)
    agent = _node(raw, "agent")
    if mode == "agent":
        event.setdefault("dataset", dataset)
        raw["data_stream"] = {"type": "logs", "dataset": dataset, "namespace": "default"}
        agent.setdefault("type", "filebeat")
        agent.setdefault("version", agent_version)
        _node(raw, "elastic_agent").setdefault("version", agent_version)
    else:
        raw.pop("data_stream", None)
        agent.setdefault("type", "winlogbeat")
        agent.setdefault("version", agent_version)
    if not channel_mapping:  # reference-only switch: the common fields alone
        return raw
    if _MAPPERS is None:
        _MAPPERS = _mappers()
    mapper = _MAPPERS.get(channel.lower())
    if mapper is not None:
        mapper(raw)
    return raw
