"""The mapping of the most frequent EVTX records, fused into one straight pass each.

:func:`vigil.ecs.windows.to_ecs` maps any Winlogbeat-raw document through the channel's pipeline
steps, each of which looks up, checks and creates what it needs (``child(doc, "user")``...), as it
must for documents of any origin. A document just built from an EVTX record by
:func:`vigil.sources.evtx.record_to_raw` has a known shape (event data values are non-empty
strings; no ``user``, ``source``, ``file``, ``related``, ``winlog.logon`` yet), so for the most
frequent events the same steps can be written out once, computing each field once (the network
share checks 5140/5145, the bulk of many Security logs), and the other Security events skip the
checks and steps that find nothing to do on such a document.

Each function here is an exact replica of the general mapping for its event on such a document,
with a precondition (the event data keys it is written for, the provider): any other document
goes to the general mapping instead. ``tests/test_evtx_differential.py`` holds the two to the
same output, key order included, on every record of the data sets and on crafted ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.ecs.windows import security_steps as steps
from vigil.ecs.windows.security import _DISPATCH, SECURITY_PROVIDERS, _plain, map_security
from vigil.ecs.windows.security_helpers import java_long_decode
from vigil.ecs.windows.security_tables import CATEGORIZATION

JsonDict = dict[str, Any]
Fused = Callable[[JsonDict, JsonDict, JsonDict], None]

# The event data of the network share events as Windows writes them (5140 has no
# RelativeTargetName and no AccessReason). The fused function handles any subset.
_SHARE_KEYS = frozenset(
    {
        "SubjectUserSid",
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectLogonId",
        "ObjectType",
        "IpAddress",
        "IpPort",
        "ShareName",
        "ShareLocalPath",
        "RelativeTargetName",
        "AccessMask",
        "AccessList",
        "AccessReason",
    }
)

_access_lists = steps._access_lists
_access_masks = steps._access_masks
_remember = steps._remember
_describe_access_list = steps._describe_access_list
_describe_access_mask = steps._describe_access_mask


def _share(doc: JsonDict, winlog: JsonDict, event: JsonDict) -> None:
    """5140, 5145 (a network share or a file in it accessed): what :func:`map_security` does."""
    data = winlog.get("event_data")
    provider = winlog.get("provider_name")
    if (
        type(data) is not dict
        or not data.keys() <= _SHARE_KEYS
        or (provider is not None and provider not in SECURITY_PROVIDERS)
    ):
        map_security(doc)
        return
    categories, types, action = CATEGORIZATION[event["code"]]
    event["category"] = list(categories)
    event["type"] = list(types)
    event["action"] = action
    # decode_values: of its fields only AccessList and AccessMask can be there.
    value = data.get("AccessList")
    if value is not None:
        found = _access_lists.get(value)
        if found is None:
            found = _remember(_access_lists, value, _describe_access_list(value))
        codes, descriptions = found
        if codes:
            data["AccessList"] = list(codes)
        data["AccessListDescription"] = list(descriptions)
    value = data.get("AccessMask")
    if value is not None:
        found = _access_masks.get(value)
        if found is None:
            found = _remember(_access_masks, value, _describe_access_mask(value))
        shown, names = found
        if shown:
            data["AccessMask"] = list(shown)
        if names:
            data["AccessMaskDescription"] = list(names)
    # subject_user: user.* and related.user.
    sid = data.get("SubjectUserSid")
    name = data.get("SubjectUserName")
    domain = data.get("SubjectDomainName")
    related: JsonDict | None = None
    if sid is not None or name is not None:
        user: JsonDict = {"id": sid} if sid is not None else {}
        doc["user"] = user
        if name is not None:
            user["name"] = name
            related = doc["related"] = {"user": [name]}
        if domain is not None:
            user["domain"] = domain
    elif domain is not None:
        doc["user"] = {"domain": domain}
    value = data.get("SubjectLogonId")
    if value is not None:
        winlog["logon"] = {"id": value}
    # common_auth: the client's address and port move to source.*.
    source: JsonDict | None = None
    value = data.get("IpAddress")
    if value is not None and value != "-":
        del data["IpAddress"]
        source = doc["source"] = {"ip": value}
    value = data.get("IpPort")
    if value is not None and value != "-":
        if source is None:
            source = doc["source"] = {}
        port = java_long_decode(value)
        if port is not None:
            source["port"] = port
            del data["IpPort"]
    # source_ip: the address is related too (an IPv4-mapped IPv6 one the long way).
    if source is not None:
        ip = source.get("ip")
        if ip is not None:
            if "::ffff:" in ip:
                steps.source_ip(doc)
            elif related is None:
                doc["related"] = {"ip": [ip]}
            else:
                related["ip"] = [ip]
    # share_file: file.* of the shared folder or file.
    file: JsonDict = {}
    name = data.get("RelativeTargetName")
    if name is not None:
        file["name"] = name
    directory = data.get("ShareLocalPath")
    if directory is not None:
        file["directory"] = directory
        if name is not None:
            file["path"] = f"{directory}\\{name}"
    share = data.get("ShareName")
    if name is not None:
        if share is not None:
            file["target_path"] = f"{share}\\{name}"
        if "." in name:
            file["extension"] = name[name.rfind(".") + 1 :]
    if file:
        doc["file"] = file
    _record_id(winlog)


def _security(doc: JsonDict, winlog: JsonDict, event: JsonDict) -> None:
    """Any other Security event: :func:`map_security` without its checks and the steps that
    find nothing to do on a document fresh from an EVTX record (``event.outcome`` already set
    when the keywords say it, no ``winlog.level`` or ``winlog.time_created``)."""
    data = winlog.get("event_data")
    provider = winlog.get("provider_name")
    if type(data) is not dict or (provider is not None and provider not in SECURITY_PROVIDERS):
        map_security(doc)
        return
    found = _DISPATCH.get(event["code"])
    if found is None:
        _plain(doc, winlog, data)
    else:
        handler, argument = found
        handler(doc, winlog, event, data, argument)
    _record_id(winlog)


def _record_id(winlog: JsonDict) -> None:
    # The Agent's default pipeline: a numeric record id becomes a string.
    value = winlog.get("record_id")
    if type(value) is int or (
        type(value) is not str and isinstance(value, int) and not isinstance(value, bool)
    ):
        winlog["record_id"] = str(value)


#: (lower-cased channel, event.code) -> the fused mapping of that event.
FUSED: dict[tuple[str, str], Fused] = {("security", "5140"): _share, ("security", "5145"): _share}
#: lower-cased channel -> the fused mapping of its other events.
BY_CHANNEL: dict[str, Fused] = {"security": _security}

__all__ = ["BY_CHANNEL", "FUSED"]
