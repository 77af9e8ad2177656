"""Query builders, one per rule kind: each takes the rule's random generator, whether the rule is
built around a behaviour of gen_ecs.py ("hot") and the OS, and returns a :class:`~.common.Built`."""

from __future__ import annotations

from .auth import build_authentication
from .files import build_file
from .network import build_dns, build_network
from .process import build_process
from .registry import build_registry
from .sequence import build_sequence

BUILDERS = {
    "process": build_process,
    "file": build_file,
    "registry": build_registry,
    "network": build_network,
    "dns": build_dns,
    "authentication": build_authentication,
    "sequence": build_sequence,
}
