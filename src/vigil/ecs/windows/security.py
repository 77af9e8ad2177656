"""Security channel: what the Winlogbeat 8.x / Elastic Agent ``system.security`` pipeline does.

:func:`map_security` takes a Winlogbeat-raw Security document (``winlog.event_data`` values are
strings) and applies the steps of the security ingest pipeline, in the pipeline's order, because
later steps read what earlier ones wrote (``user.id`` set from the target account decides whether
the next account lands in ``user.target``; the subject account then overwrites ``user.*`` for the
events that list it). In brief:

* ``event.category``/``type``/``action`` from the event id (``logged-in``, ``created-process``...);
* ``winlog.logon.type`` named, ``winlog.logon.id`` from ``SubjectLogonId`` (or ``TargetLogonId``
  for log-offs), ``winlog.logon.failure.*`` for 4625/4776;
* ``user.*``, ``user.target.*``, ``user.effective.*``, ``group.*``, ``related.user``;
* ``process.*`` (hex pids decoded; for 4688 also the parent, ``args`` and ``command_line``);
* ``source.ip``/``port``/``domain`` from ``IpAddress``/``IpPort``/``WorkstationName`` (``-`` is
  absent), ``related.ip``;
* ``service.*`` (4697, and any event with ``ServiceName``), ``file.*`` for shares (5140/5145);
* descriptive event data the pipeline adds: ``StatusDescription``, ``TicketOptionsDescription``,
  ``TicketEncryptionTypeDescription``, ``NewUACList``, ``AccessListDescription``,
  ``AccessMaskDescription``, ``AuditPolicyChangesDescription``, ``Category``/``SubCategory``...

Event data the pipeline does not consume stays as it came: insertion strings such as ``%%1833``
are not rendered here (newer Winlogbeat versions render them while reading the log; rules
written against older data match the raw form). Where the pipeline would fail on a malformed
value (a pid that is not a number, a ``kv`` part without ``=``), this mapping skips that one
step instead of failing the document. Events of other providers only get the steps the Agent's
``default`` pipeline runs after the standard one. See :mod:`vigil.ecs.windows.security_tables`
for the lookup tables.

How it is organised (for speed; the output is the pipeline's either way): which steps apply to
an event id is worked out once, at import, from the pipeline's id lists below. The most frequent
step combinations (logon, logoff, process creation, privileges, shares...) have a function each
that runs exactly those steps in order; any other id goes through :func:`_standard`, which reads
the same plan flag by flag, and ids without steps of their own only get the common ones. The
steps themselves live in :mod:`vigil.ecs.windows.security_steps`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.ecs.windows import security_steps as steps
from vigil.ecs.windows.security_helpers import (
    JsonDict,
    apply_time_created,
    child,
    related_user,
)
from vigil.ecs.windows.security_sddl import enrich_security_descriptors
from vigil.ecs.windows.security_tables import CATEGORIZATION

#: Providers whose Security-channel events the standard pipeline maps.
SECURITY_PROVIDERS = frozenset({"Microsoft-Windows-Eventlog", "Microsoft-Windows-Security-Auditing"})

# Event ids each pipeline step applies to (the lists in the pipeline's conditions).
# fmt: off
_KERBEROS = frozenset({"4768", "4769", "4770", "4771"})
_LOGON_FAILURE = frozenset({"4625", "4776"})
_SESSION = frozenset({"4778", "4779"})
_TARGET_USER = frozenset({
    "4624", "4625", "4634", "4647", "4648", "4768", "4769", "4770", "4771", "4776", "4964",
})
_GROUP_EVENTS = frozenset({
    "4727", "4728", "4729", "4730", "4731", "4732", "4733", "4734", "4735", "4737", "4744", "4745", "4746",
    "4747", "4748", "4749", "4750", "4751", "4752", "4753", "4754", "4755", "4756", "4757", "4758", "4759",
    "4760", "4761", "4762", "4763", "4764", "4799",
})
_COMPUTER_OBJECT = frozenset({"4741", "4742", "4743"})
_LOGOFF = frozenset({"4634", "4647", "4964"})
_SUBJECT_USER = frozenset({
    "4648", "4657", "4662", "4670", "4672", "4673", "4674", "4688", "4689", "4697", "4698", "4699", "4700",
    "4701", "4702", "4706", "4707", "4713", "4716", "4717", "4718", "4719", "4720", "4722", "4723", "4724",
    "4725", "4726", "4727", "4728", "4729", "4730", "4731", "4732", "4733", "4734", "4735", "4737", "4738",
    "4739", "4740", "4741", "4742", "4743", "4744", "4745", "4746", "4747", "4748", "4749", "4750", "4751",
    "4752", "4753", "4754", "4755", "4756", "4757", "4758", "4759", "4760", "4761", "4762", "4763", "4764",
    "4767", "4781", "4797", "4798", "4799", "4817", "4904", "4905", "4907", "4912", "5136", "5140", "5145",
    "5379", "5380", "5381", "5382",
})
_USER_TARGET = frozenset({
    "4670", "4720", "4722", "4723", "4724", "4725", "4726", "4738", "4740", "4767", "4797", "4798", "4817",
    "4907",
})
_USER_EFFECTIVE = frozenset({"4648", "4688"})
_LOG_CLEARED = frozenset({"1102"})
_COMMON_AUTH = frozenset({
    "1100", "1102", "1104", "1105", "1108", "4624", "4625", "4648", "4670", "4673", "4674", "4689", "4697",
    "4719", "4720", "4722", "4723", "4724", "4725", "4726", "4727", "4728", "4729", "4730", "4731", "4732",
    "4733", "4734", "4735", "4737", "4738", "4740", "4741", "4742", "4743", "4744", "4745", "4746", "4747",
    "4748", "4749", "4750", "4751", "4752", "4753", "4754", "4755", "4756", "4757", "4758", "4759", "4760",
    "4761", "4762", "4763", "4764", "4767", "4768", "4769", "4770", "4771", "4798", "4799", "4817", "4904",
    "4905", "4907", "4912", "5140", "5145",
})
_PROCESS_CREATION = frozenset({"4688"})
_RELATED_SUBJECT = frozenset({"4624", "4648", "4797", "5379", "5380", "5381", "5382"})
_RELATED_TARGET = frozenset({
    "4688", "4720", "4722", "4723", "4724", "4725", "4726", "4738", "4740", "4767", "4797", "4798",
})
_PRIVILEGE_LIST = frozenset({"4672", "4673", "4674", "4741", "4742", "4743"})
_SDDL = frozenset({"4670", "4817", "4907", "4908"})
_SHARES = frozenset({"5140", "5145"})
# fmt: on

# The steps with event id lists, in the order of the plans below (after the categorisation).
_STEP_SETS: dict[str, frozenset[str]] = {
    "kerberos": _KERBEROS, "logon_failure": _LOGON_FAILURE, "session": _SESSION,
    "target_user": _TARGET_USER, "group": _GROUP_EVENTS, "computer": _COMPUTER_OBJECT,
    "logoff": _LOGOFF, "subject": _SUBJECT_USER, "user_target": _USER_TARGET,
    "user_effective": _USER_EFFECTIVE, "log_cleared": _LOG_CLEARED, "common_auth": _COMMON_AUTH,
    "process_creation": _PROCESS_CREATION, "related_subject": _RELATED_SUBJECT,
    "related_target": _RELATED_TARGET, "privileges": _PRIVILEGE_LIST, "sddl": _SDDL, "shares": _SHARES,
}  # fmt: skip

Plan = tuple[Any, ...]
Handler = Callable[[JsonDict, JsonDict, JsonDict, JsonDict, Any], None]


def _plan(code: str) -> Plan:
    """(categorisation or None, then whether each step of _STEP_SETS applies to ``code``)."""
    return (CATEGORIZATION.get(code), *(code in codes for codes in _STEP_SETS.values()))


def _steps(*names: str) -> tuple[bool, ...]:
    """The step flags of a plan that has exactly the named steps."""
    assert set(names) <= set(_STEP_SETS), names
    return tuple(name in names for name in _STEP_SETS)


_OTHER: Any = object()  # the event data of another provider's event: not mapped


def map_security(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw Security event to ECS in place, as the security ingest pipeline does.

    Never raises on odd input: unknown event ids keep their ``winlog.*`` fields and ``event.code``
    and only get the generic steps (outcome, string ids, ``related.ip``). A document without
    ``winlog.provider_name`` is treated as a Security-Auditing event.
    """
    winlog = doc.get("winlog")
    if not isinstance(winlog, dict):
        return
    event = doc.get("event")
    if not isinstance(event, dict):
        event = doc["event"] = {}
    if "outcome" not in event:
        _collection_defaults(event, winlog)
    code = event.get("code")
    if not isinstance(code, str):
        if isinstance(code, int) and not isinstance(code, bool):
            code = event["code"] = str(code)
        else:
            code = ""
    provider = winlog.get("provider_name")
    data = winlog.get("event_data") if provider is None or provider in SECURITY_PROVIDERS else _OTHER
    if isinstance(data, dict):
        found = _DISPATCH.get(code)
        if found is None:
            _plain(doc, winlog, data)
        else:
            handler, argument = found
            handler(doc, winlog, event, data, argument)
        # (the standard steps ended with the source address, the Agent's included)
    else:
        if data is not _OTHER:
            _without_event_data(winlog, event, code, doc)
        source = doc.get("source")
        if isinstance(source, dict):
            steps.agent_source_ip(doc, source)
    # The rest of the Agent's "default" pipeline (which runs after the standard one; geoip aside).
    value = winlog.get("record_id")
    if type(value) is int or (
        type(value) is not str and isinstance(value, int) and not isinstance(value, bool)
    ):
        winlog["record_id"] = str(value)
    value = winlog.get("event_id")
    if type(value) is not str and isinstance(value, int) and not isinstance(value, bool):
        winlog["event_id"] = str(value)
    level = winlog.get("level")
    if level and isinstance(level, str):
        log = doc.get("log")
        if not isinstance(log, dict):
            log = doc["log"] = {}
        log["level"] = level
    if "time_created" in winlog:
        apply_time_created(doc)


def _collection_defaults(event: JsonDict, winlog: JsonDict) -> None:
    # Winlogbeat derives event.outcome from the audit keywords while reading the log; raw
    # documents built from other sources may lack it.
    keywords = winlog.get("keywords")
    if isinstance(keywords, str):
        keywords = [keywords]
    if not isinstance(keywords, list):
        return
    if "Audit Failure" in keywords:
        event["outcome"] = "failure"
    elif "Audit Success" in keywords:
        event["outcome"] = "success"


def _plain(doc: JsonDict, winlog: JsonDict, data: JsonDict) -> None:
    """The steps every event gets: those of an event id without steps of its own (4656, 4658, 4663,
    4690, 4703, 5156, 5158 and any unknown id)."""
    steps.decode_values(doc, winlog, data, False, False)
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _without_event_data(winlog: JsonDict, event: JsonDict, code: str, doc: JsonDict) -> None:
    categorization = CATEGORIZATION.get(code)
    if categorization is not None:
        categories, types, action = categorization
        event["category"] = list(categories)
        event["type"] = list(types)
        event["action"] = action
    if code == "1102":
        steps.subject_from_user_data(doc, winlog)
        user_data = winlog.get("user_data")
        if isinstance(user_data, dict) and "SubjectLogonId" in user_data:
            child(winlog, "logon")["id"] = user_data["SubjectLogonId"]


def _standard(doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, plan: Plan) -> None:
    """The pipeline's steps for an event id that has some of its own, in the pipeline's order."""
    (
        categorization, kerberos, logon_failure, session, target_user, group, computer, logoff, subject,
        user_target, user_effective, log_cleared, common_auth, process_creation, related_subject,
        related_target, privileges, sddl, shares,
    ) = plan  # fmt: skip
    if categorization is not None:
        categories, types, action = categorization
        event["category"] = list(categories)
        event["type"] = list(types)
        event["action"] = action
    steps.decode_values(doc, winlog, data, kerberos, logon_failure)
    if session:
        steps.session(doc, winlog, data)
    if target_user:
        steps.target_user(doc, data)
    if group:
        steps.group_membership(doc, data)
    if computer:
        steps.computer_object(winlog, data)
    if logoff and "TargetLogonId" in data:
        child(winlog, "logon")["id"] = data["TargetLogonId"]
    if subject:
        steps.subject_user(doc, data)
    if user_target:
        steps.copy_account(doc, data, "target", "TargetSid")
    if user_effective:
        steps.copy_account(doc, data, "effective", "TargetUserSid")
    if log_cleared:
        steps.subject_from_user_data(doc, winlog)
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    if log_cleared:
        user_data = winlog.get("user_data")
        if isinstance(user_data, dict) and "SubjectLogonId" in user_data:
            child(winlog, "logon")["id"] = user_data["SubjectLogonId"]
    if common_auth:
        steps.common_auth(doc, data)
    if process_creation:
        steps.process_creation(doc, data)
    # The accounts the event names go to related.user.
    if related_subject:
        name = data.get("SubjectUserName")
        if isinstance(name, str) and name != "-":
            related_user(doc, name)
    if related_target:
        name = data.get("TargetUserName")
        if isinstance(name, str) and name != "-":
            related_user(doc, name)
    if privileges:
        privilege_list = data.get("PrivilegeList")
        if isinstance(privilege_list, str):
            data["PrivilegeList"] = steps.privilege_list(privilege_list)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)
    if sddl:
        enrich_security_descriptors(doc, data)
    if shares:
        steps.share_file(doc, data)


# --------------------------------------------------------------------------- frequent event ids
# The same steps as _standard, written out for the plans of the most frequent events. Each is
# registered under the exact step flags it implements, so it only serves codes with that plan.


def _categorize(event: JsonDict, categorization: Any) -> None:
    if categorization is not None:
        categories, types, action = categorization
        event["category"] = list(categories)
        event["type"] = list(types)
        event["action"] = action


def _categorized(
    doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any
) -> None:
    """An event id with a categorisation but no steps of its own (4610, 4616, 5024, ...)."""
    _categorize(event, categorization)
    _plain(doc, winlog, data)


def _logon(doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any) -> None:
    """4624: the target account logged in; its process and source address; the subject is related."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, False)
    steps.target_user(doc, data)
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    steps.common_auth(doc, data)
    name = data.get("SubjectUserName")
    if isinstance(name, str) and name != "-":
        related_user(doc, name)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _logon_failed(
    doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any
) -> None:
    """4625: a failed logon, with its failure codes described."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, True)
    steps.target_user(doc, data)
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    steps.common_auth(doc, data)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _logoff(doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any) -> None:
    """4634, 4647, 4964: the target account and its logon id."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, False)
    steps.target_user(doc, data)
    if "TargetLogonId" in data:
        child(winlog, "logon")["id"] = data["TargetLogonId"]
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _explicit_logon(
    doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any
) -> None:
    """4648: the subject used the target account's credentials (``user.effective``)."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, False)
    steps.target_user(doc, data)
    steps.subject_user(doc, data)
    steps.copy_account(doc, data, "effective", "TargetUserSid")
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    steps.common_auth(doc, data)
    name = data.get("SubjectUserName")
    if isinstance(name, str) and name != "-":
        related_user(doc, name)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _special_logon(
    doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any
) -> None:
    """4672: the subject's special privileges, as a list."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, False)
    steps.subject_user(doc, data)
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    privilege_list = data.get("PrivilegeList")
    if isinstance(privilege_list, str):
        data["PrivilegeList"] = steps.privilege_list(privilege_list)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _privileged(
    doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any
) -> None:
    """4673, 4674: a privileged service or operation: subject, process, privileges."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, False)
    steps.subject_user(doc, data)
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    steps.common_auth(doc, data)
    privilege_list = data.get("PrivilegeList")
    if isinstance(privilege_list, str):
        data["PrivilegeList"] = steps.privilege_list(privilege_list)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _process_created(
    doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any
) -> None:
    """4688: the creator (subject), the new process's account (``user.effective``) and process."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, False)
    steps.subject_user(doc, data)
    steps.copy_account(doc, data, "effective", "TargetUserSid")
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    steps.process_creation(doc, data)
    name = data.get("TargetUserName")
    if isinstance(name, str) and name != "-":
        related_user(doc, name)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _subject_and_process(
    doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any
) -> None:
    """4689, 4697, 4719, ...: the subject account and the process (moved out of event data)."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, False)
    steps.subject_user(doc, data)
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    steps.common_auth(doc, data)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)


def _share(doc: JsonDict, winlog: JsonDict, event: JsonDict, data: JsonDict, categorization: Any) -> None:
    """5140, 5145: a network share (object) access: subject, client address, ``file.*``."""
    _categorize(event, categorization)
    steps.decode_values(doc, winlog, data, False, False)
    steps.subject_user(doc, data)
    if "SubjectLogonId" in data:
        child(winlog, "logon")["id"] = data["SubjectLogonId"]
    steps.common_auth(doc, data)
    if "OldTargetUserName" in data or "NewTargetUserName" in data:
        steps.renamed_account(doc, data)
    steps.source_ip(doc)
    steps.share_file(doc, data)


_HANDLERS: dict[tuple[bool, ...], Handler] = {
    _steps(): _categorized,
    _steps("target_user", "common_auth", "related_subject"): _logon,
    _steps("logon_failure", "target_user", "common_auth"): _logon_failed,
    _steps("target_user", "logoff"): _logoff,
    _steps("target_user", "subject", "user_effective", "common_auth", "related_subject"): _explicit_logon,
    _steps("subject", "privileges"): _special_logon,
    _steps("subject", "common_auth", "privileges"): _privileged,
    _steps("subject", "user_effective", "process_creation", "related_target"): _process_created,
    _steps("subject", "common_auth"): _subject_and_process,
    _steps("subject", "common_auth", "shares"): _share,
}


def _dispatch(code: str) -> tuple[Handler, Any]:
    plan = _plan(code)
    handler = _HANDLERS.get(plan[1:])
    return (handler, plan[0]) if handler is not None else (_standard, plan)


#: event.code -> (the function mapping its event data, its argument: the categorisation for a
#: handler above, the whole plan for _standard). Codes not listed have no steps of their own.
_DISPATCH: dict[str, tuple[Handler, Any]] = {
    code: _dispatch(code) for code in set(CATEGORIZATION).union(*_STEP_SETS.values())
}


__all__ = ["SECURITY_PROVIDERS", "map_security"]
