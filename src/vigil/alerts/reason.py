"""``kibana.alert.reason``: the one-line summary Kibana writes on every detection alert.

Kibana composes it (``buildReasonMessageUtil``, shared by all rule types) from ten fields of the
event's ``_source``, read as lodash ``get`` reads them (a dotted key first, then nested objects)::

    [<event.category> ]event[ with][ process <process.name>,][ parent process <process.parent.name>,]
    [ file <file.name>,][ source <source.ip>][:<source.port>,][ destination <destination.ip>]
    [:<destination.port>,][ by <user.name>][ on <host.name>] created <severity> alert <rule name>.

A field counts when it is a non-empty string or a non-empty array (printed joined with ``", "``);
``null``, ``""``, ``"-"``, ``["-"]``, ``[]``, and any bare number, boolean or object are left out (a
bare number has no ``length`` in JavaScript, so a numeric ``destination.port`` in ``_source`` never
shows). ``with`` appears when a process, parent process, file, source or destination part does.
The message goes through ICU MessageFormat ``select``, so a value that is exactly the text
``null`` also reads as absent.
"""

from __future__ import annotations

from typing import Any

from vigil.alerts.js import UNDEFINED, is_number, js_join, lodash_get


def _template_value(value: Any) -> str | None:
    """Kibana's ``getFieldTemplateValue``: the text a field contributes, or None."""
    if (
        value is None
        or value is UNDEFINED
        or value is False
        or value == ""
        or (is_number(value) and value == 0)
    ):
        return None
    if is_number(value) and value != value:  # NaN is falsy
        return None
    if isinstance(value, str):
        text = value
        if text == "-":
            return None
    elif isinstance(value, list):
        if not value or (len(value) == 1 and value[0] == "-" and isinstance(value[0], str)):
            return None
        text = js_join(value, ", ")
    else:
        return None  # numbers, true and objects have no length
    # An ICU select keyed "null" takes the null branch for the text "null" too.
    return None if text == "null" else text


def reason_message(rule_name: str, severity: str, source: dict[str, Any] | None) -> str:
    """Kibana's reason message for an alert on ``source`` (an event's ``_source``, or the fields
    the events of a sequence share). Empty when there is no document, as in Kibana."""
    if source is None:
        return ""

    def field(path: str) -> Any:
        return lodash_get(source, path) if source else UNDEFINED

    interest = False

    def of_interest(path: str) -> str | None:
        nonlocal interest
        text = _template_value(field(path))
        if text is not None:
            interest = True
        return text

    # Evaluated in Kibana's order; only the "with" flag depends on it.
    destination_ip = of_interest("destination.ip")
    destination_port = of_interest("destination.port")
    category = _template_value(field("event.category"))
    file_name = of_interest("file.name")
    host = _template_value(field("host.name"))
    process = of_interest("process.name")
    parent = of_interest("process.parent.name")
    source_ip = of_interest("source.ip")
    source_port = of_interest("source.port")
    user = _template_value(field("user.name"))

    parts = [f"{category} event" if category is not None else "event"]
    if interest:
        parts.append(" with")
    if process is not None:
        parts.append(f" process {process},")
    if parent is not None:
        parts.append(f" parent process {parent},")
    if file_name is not None:
        parts.append(f" file {file_name},")
    if source_ip is not None:
        parts.append(f" source {source_ip}")
    if source_port is not None:
        parts.append(f":{source_port},")
    if destination_ip is not None:
        parts.append(f" destination {destination_ip}")
    if destination_port is not None:
        parts.append(f":{destination_port},")
    if user is not None:
        parts.append(f" by {user}")
    if host is not None:
        parts.append(f" on {host}")
    parts.append(f" created {severity} alert {rule_name}.")
    return "".join(parts)
