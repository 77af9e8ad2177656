"""Fields every Windows event gets, the channel dispatch, and the index an event lands in."""

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
    from vigil.ecs.windows import powershell, security, sysmon, system

    return {
        "microsoft-windows-sysmon/operational": sysmon.map_sysmon,
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
    raw: dict[str, Any], *, mode: Mode = "agent", agent_version: str = DEFAULT_AGENT_VERSION
) -> dict[str, Any]:
    """Map a Winlogbeat-raw document to ECS in place and return it (see the package docstring).

    ``mode`` picks where the event lands: ``agent`` gives it Elastic Agent's ``data_stream``
    (``logs-windows.sysmon_operational-default``, ``logs-system.security-default``, ...);
    ``winlogbeat`` marks it as Winlogbeat output (``agent.type: winlogbeat``), which lands in
    ``winlogbeat-<version>``. Events of channels without a mapping keep their ``winlog.*``
    fields and ``event.code``: nothing is dropped.

    A document the EVTX reader has just handed out (:data:`FRESH`) is mapped the short way, to
    the same result; it must come here unchanged.
    """
    global _MAPPERS
    if raw is FRESH.doc:
        FRESH.doc = None
        return _map_fresh(raw, mode, agent_version)
    winlog = raw.get("winlog")
    if not isinstance(winlog, dict):
        winlog = raw["winlog"] = {}
    value = winlog.get("channel")
    route = _routes.get(value) if type(value) is str else None
    if route is None:
        route = _route(value)
    dataset, module, channel = route
    event = raw.get("event")
    if not isinstance(event, dict):
        event = raw["event"] = {}
    if "event_id" in winlog and "code" not in event:
        event["code"] = str(winlog["event_id"])
    if winlog.get("provider_name") and "provider" not in event:
        event["provider"] = winlog["provider_name"]
    event.setdefault("kind", "event")
    event.setdefault("module", module)
    # The objects below are usually absent: built as literals, else filled in as they are.
    host = raw.get("host")
    if type(host) is not dict:
        host = raw["host"] = {}
    computer = winlog.get("computer_name")
    if computer and "name" not in host:
        host["name"] = computer
    os_ = host.get("os")
    if type(os_) is not dict:
        host["os"] = {"type": "windows", "family": "windows", "platform": "windows"}
    else:
        os_.setdefault("type", "windows")
        os_.setdefault("family", "windows")
        os_.setdefault("platform", "windows")
    node = raw.get("ecs")
    if type(node) is not dict:
        raw["ecs"] = {"version": ECS_VERSION}
    else:
        node.setdefault("version", ECS_VERSION)
    agent = raw.get("agent")
    if mode == "agent":
        event.setdefault("dataset", dataset)
        if type(agent) is not dict:
            raw["agent"] = {"type": "filebeat", "version": agent_version}
        else:
            agent.setdefault("type", "filebeat")
            agent.setdefault("version", agent_version)
        raw["data_stream"] = {"type": "logs", "dataset": dataset, "namespace": "default"}
        node = raw.get("elastic_agent")
        if type(node) is not dict:
            raw["elastic_agent"] = {"version": agent_version}
        else:
            node.setdefault("version", agent_version)
    else:
        if type(agent) is not dict:
            raw["agent"] = {"type": "winlogbeat", "version": agent_version}
        else:
            agent.setdefault("type", "winlogbeat")
            agent.setdefault("version", agent_version)
        raw.pop("data_stream", None)
    if _MAPPERS is None:
        _MAPPERS = _mappers()
    mapper = _MAPPERS.get(channel)
    if mapper is not None:
        mapper(raw)
    return raw


class _Fresh:
    """The document :func:`vigil.sources.evtx.evtx_documents` has just handed out, if any."""

    __slots__ = ("doc",)

    def __init__(self) -> None:
        self.doc: dict[str, Any] | None = None


#: A document built by :func:`vigil.sources.evtx.record_to_raw` and handed out by the EVTX reader
#: is registered here until it is mapped: its shape is known, so :func:`to_ecs` maps it the
#: short way (:func:`_map_fresh`), with the same result. Any other document (a copy of it too)
#: goes the general way.
FRESH = _Fresh()
_Fused = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], None]
_FUSED: dict[tuple[str, str], _Fused] | None = None
_FUSED_BY_CHANNEL: dict[str, _Fused] = {}


def _map_fresh(raw: dict[str, Any], mode: Mode, agent_version: str) -> dict[str, Any]:
    """:func:`to_ecs` of a document just built from an EVTX record (see :data:`FRESH`).

    Such a document has ``event`` (``code``, ``kind``, ``provider``), ``winlog`` (``channel``,
    ``event_id``...), ``host.name`` exactly when ``winlog.computer_name`` is set, and none of the
    fields the common step adds; what the general way would find, it sets directly.
    """
    global _MAPPERS, _FUSED
    winlog = raw["winlog"]
    value = winlog["channel"]
    route = _routes.get(value)
    if route is None:
        route = _route(value)
    dataset, module, channel = route
    event = raw["event"]
    event["module"] = module
    host = raw.get("host")
    if host is None:
        raw["host"] = {"os": {"type": "windows", "family": "windows", "platform": "windows"}}
    else:
        host["os"] = {"type": "windows", "family": "windows", "platform": "windows"}
    raw["ecs"] = {"version": ECS_VERSION}
    if mode == "agent":
        event["dataset"] = dataset
        raw["agent"] = {"type": "filebeat", "version": agent_version}
        raw["data_stream"] = {"type": "logs", "dataset": dataset, "namespace": "default"}
        raw["elastic_agent"] = {"version": agent_version}
    else:
        raw["agent"] = {"type": "winlogbeat", "version": agent_version}
    if _FUSED is None:
        from vigil.ecs.windows.evtx_fused import BY_CHANNEL, FUSED

        _FUSED = FUSED
        _FUSED_BY_CHANNEL.update(BY_CHANNEL)
    fused = _FUSED.get((channel, event["code"])) or _FUSED_BY_CHANNEL.get(channel)
    if fused is not None:
        fused(raw, winlog, event)
        return raw
    if _MAPPERS is None:
        _MAPPERS = _mappers()
    mapper = _MAPPERS.get(channel)
    if mapper is not None:
        mapper(raw)
    return raw


# channel value -> (Agent dataset, Winlogbeat module, lower-cased channel); bounded.
_routes: dict[str, tuple[str, str, str]] = {}


def _route(value: Any) -> tuple[str, str, str]:
    channel = str(value or "")
    route = (*dataset_of(channel), channel.lower())
    if type(value) is str:
        if len(_routes) >= 1024:
            _routes.clear()
        _routes[value] = route
    return route
