"""Windows event logs to ECS, the way Elastic maps them.

The input is a Winlogbeat 8.x *raw* document: ``@timestamp``, ``winlog.*`` (channel, provider,
event_id, record_id, computer_name, event_data, user_data, process, user, ...), ``event.code``,
``event.provider``, ``event.kind``, ``host.name``, ``log.level`` and maybe ``message``. Every
source is turned into that shape first (EVTX records, NXLog flat JSON, Winlogbeat 8.x output:
see :mod:`vigil.sources.winlog`). :func:`to_ecs` then does what Elasticsearch's ingest pipelines
for Winlogbeat and Elastic Agent's ``windows``/``system`` integrations do: common fields, then the
channel's mapping (Sysmon, Security, System, PowerShell), then the index the event would land in.
"""

from vigil.ecs.windows.common import DEFAULT_AGENT_VERSION, Mode, dataset_of, to_ecs

__all__ = ["DEFAULT_AGENT_VERSION", "Mode", "dataset_of", "to_ecs"]
