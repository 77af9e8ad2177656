"""System channel: what Elastic Agent's ``system.system`` pipeline (and Winlogbeat 8.x) does.

Nothing event-specific. The Agent's ``system.system`` ingest pipeline only sets ``ecs.version``
and ``event.ingested``, and Winlogbeat 8.x has no module for the System channel (its routing
pipeline sends only Security, Sysmon and PowerShell events to a module). So a service install
(7045), a service state change (7036, 7040), a log clear (104) or an Event Log start/stop
(6005/6006) keeps the fields Winlogbeat wrote while reading the log: ``winlog.event_data.*``
(``ServiceName``, ``ImagePath``, ``ServiceType``, ``StartType``, ``AccountName`` for 7045...),
``winlog.user_data`` (104), ``event.code``, ``event.provider``, ``event.action`` (the task name).

That is also what Elastic's prebuilt rules query for these events: ``winlog.event_data.ImagePath``
and friends, never an ECS ``service.*`` or ``file.*`` field. Adding ECS fields here would make
vigil's documents differ from the ones those rules were written against, so this mapping leaves
the document as it is (the common fields come from :func:`vigil.ecs.windows.to_ecs`).
"""

from __future__ import annotations

from typing import Any


def map_system(doc: dict[str, Any]) -> None:
    """Map a Winlogbeat-raw System-channel event in place: nothing event-specific to add.

    The pipeline has no convert steps either, so ``winlog.record_id`` and ``winlog.event_id`` keep
    their raw types. ``doc`` is left untouched; see the module docstring for why.
    """


__all__ = ["map_system"]
