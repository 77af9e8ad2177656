"""The default schema: the types Elastic's ECS index templates give the fields rules use.

Elasticsearch answers by mapping type (``destination.ip`` is an ``ip``, ``destination.port`` a
``long``, ``@timestamp`` a ``date``), so vigil types the well-known ECS fields the same way even when
the events come from plain JSON files. Fields not listed are typed from their JSON values, as
dynamic mapping would.
"""

from __future__ import annotations

from functools import cache

from vigil.ecs.schema import FieldSpec, FieldType, Schema

_IP = """
client.ip client.nat.ip destination.ip destination.nat.ip host.ip observer.ip related.ip server.ip
server.nat.ip source.ip source.nat.ip threat.indicator.ip network.forwarded_ip
"""

_LONG = """
client.port client.bytes client.packets client.nat.port destination.port destination.bytes
destination.packets destination.nat.port server.port server.bytes server.packets source.port
source.bytes source.packets source.nat.port network.bytes network.packets network.iana_number
process.pid process.ppid process.parent.pid process.parent.ppid process.thread.id
process.parent.thread.id process.exit_code process.parent.exit_code process.pgid process.uptime
process.group_leader.pid process.session_leader.pid process.entry_leader.pid
process.parent.group_leader.pid file.size file.inode event.sequence event.severity event.duration
event.risk_score http.response.status_code http.request.bytes http.response.bytes dll.size
winlog.record_id winlog.process.pid winlog.process.thread.id winlog.event_id
host.uptime dns.answers.ttl registry.data.size url.port
"""

_DOUBLE = """
event.risk_score_norm
"""

_BOOLEAN = """
process.interactive process.parent.interactive dll.code_signature.exists
dll.code_signature.trusted file.code_signature.exists file.code_signature.trusted
process.code_signature.exists process.code_signature.trusted
process.parent.code_signature.exists process.parent.code_signature.trusted
"""

_DATE = """
@timestamp event.created event.ingested event.start event.end process.start process.end
process.parent.start file.created file.ctime file.mtime file.accessed registry.data.modified
"""

_ALIASES: dict[str, str] = {}


@cache
def ecs_schema() -> Schema:
    """The default ECS schema (shared, do not mutate)."""
    fields: dict[str, FieldSpec] = {}
    for names, ftype in (
        (_IP, FieldType.IP),
        (_LONG, FieldType.LONG),
        (_DOUBLE, FieldType.DOUBLE),
        (_BOOLEAN, FieldType.BOOLEAN),
        (_DATE, FieldType.DATE),
    ):
        for name in names.split():
            fields[name] = FieldSpec(ftype)
    return Schema(fields=fields, aliases=dict(_ALIASES), name="ecs")
