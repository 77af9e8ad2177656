"""Network and DNS rules, and the network and DNS stages of sequences."""

from __future__ import annotations

import random

from ..eql import condition, eql_string, negate, render_event_query
from ..settings import WIN
from ..vocab.network import COLD_NETS, DNS_THEMES, NETWORK_THEMES, PRIVATE_NETS, DnsTheme, NetTheme
from ..vocab.programs import SYS32
from .common import Built, actor_clause, os_clause, pick, with_hot


def network_clauses(
    rng: random.Random, theme: NetTheme, hot: bool, *, stage: bool = False
) -> tuple[list[str], str]:
    """The clauses of a network rule (or stage) of ``theme``; see :func:`.process.process_clauses`."""
    clauses: list[str] = []
    is_hot = hot and bool(theme.hot_ports or theme.hot_nets)
    if rng.random() < 0.5:
        if theme.os == WIN:
            clauses.append(
                rng.choice(
                    (
                        'event.type == "start"',
                        'event.action == "connection_attempted"',
                        'network.direction : ("egress", "outgoing")',
                        'network.transport == "tcp"',
                    )
                )
            )
        else:
            clauses.append(
                rng.choice(
                    (
                        'event.type == "start"',
                        'event.action in ("connection_attempted", "connection_accepted")',
                    )
                )
            )
    if is_hot:
        ports: list[str | int] = []
        if theme.hot_ports:
            ports = [rng.choice(theme.hot_ports)]
            ports += rng.sample(theme.cold_ports, min(len(theme.cold_ports), rng.randint(0, 3)))
            clauses.append(condition(rng, "destination.port", ports))
        if theme.hot_nets and (not ports or rng.random() < 0.4):
            nets = [rng.choice(theme.hot_nets), *rng.sample(COLD_NETS, rng.randint(0, 2))]
            clauses.append("cidrmatch(destination.ip, " + ", ".join(eql_string(n) for n in nets) + ")")
        elif rng.random() < 0.6:
            clauses.append(
                "not cidrmatch(destination.ip, "
                + ", ".join(
                    eql_string(n)
                    for n in pick(rng, ("127.0.0.0/8", "::1", "169.254.0.0/16", "FE80::/10"), 1, 3)
                )
                + ")"
            )
        if 445 in ports and rng.random() < 0.5:
            clauses.append("process.pid != 4")
        clauses.append(actor_clause(rng, True))
        qualifier = f" on Port {ports[0]}" if ports else " to a Known Host"
    else:
        cold_ports: list[str | int] = list(
            rng.sample(theme.cold_ports, min(len(theme.cold_ports), rng.randint(1, 5)))
        )
        clauses.append(condition(rng, "destination.port", cold_ports))
        if theme.os == WIN and rng.random() < 0.5:
            clauses.append(
                "not cidrmatch(destination.ip, "
                + ", ".join(eql_string(n) for n in pick(rng, PRIVATE_NETS, 2, 7))
                + ")"
            )
        elif rng.random() < 0.4:
            clauses.append(
                "cidrmatch(destination.ip, "
                + ", ".join(eql_string(n) for n in pick(rng, COLD_NETS, 1, 3))
                + ")"
            )
        if rng.random() < 0.5:
            clauses.append(actor_clause(rng, rng.random() < 0.5 and theme.os == WIN, theme.os))
        qualifier = f" on Port {cold_ports[0]}"
    if not stage and theme.os == WIN and rng.random() < 0.3:
        clauses.append(
            negate(
                condition(
                    rng,
                    "process.executable",
                    pick(
                        rng,
                        (
                            "?:\\Program Files\\Contoso VPN\\*",
                            "?:\\Program Files (x86)\\Example Monitor\\*.exe",
                            "?:\\Windows\\System32\\Vendor\\*",
                        ),
                        1,
                        2,
                    ),
                )
            )
        )
    return clauses, qualifier


def build_network(rng: random.Random, hot: bool, os_name: str) -> Built:
    """A single-event network rule."""
    themes = tuple(t for t in NETWORK_THEMES if t.os == os_name) or NETWORK_THEMES[:1]
    theme = rng.choice(themes)
    body, qualifier = network_clauses(rng, theme, hot)
    base = [os_clause(os_name)] if os_name != WIN or rng.random() < 0.85 else []
    return Built(
        render_event_query("network", base + body), theme.title, theme.what, theme.mitre, theme.os, qualifier
    )


def dns_clauses(
    rng: random.Random, theme: DnsTheme, hot: bool, *, stage: bool = False
) -> tuple[str, list[str], str]:
    """(category, clauses, qualifier) of a DNS rule or stage. Endpoint and Sysmon DNS events are
    ``network`` events (ECS has no ``dns`` category in practice); some rules say ``dns where``."""
    clauses: list[str] = []
    is_hot = hot and bool(theme.hot)
    category = "network" if is_hot or rng.random() < 0.7 else "dns"
    if category == "network" and rng.random() < 0.5:
        clauses.append(
            rng.choice(
                (
                    'event.action == "lookup_requested"',
                    'event.action in ("lookup_requested", "lookup_result")',
                    "dns.question.name != null",
                )
            )
        )
    if is_hot:
        hot_name = rng.choice(theme.hot)
        clauses.append(condition(rng, "dns.question.name", with_hot(rng, hot_name, theme.cold, (0, 5))))
        clauses.append(actor_clause(rng, True))
    else:
        names = pick(rng, theme.cold, 1, 6)
        fld = rng.choice(("dns.question.name", "dns.question.name", "?dns.question.registered_domain"))
        clauses.append(condition(rng, fld, names))
        hot_name = names[0]
        if rng.random() < 0.5:
            clauses.append(actor_clause(rng, False))
    if not stage and rng.random() < 0.4:
        clauses.append(
            negate(
                condition(
                    rng,
                    "process.executable",
                    pick(
                        rng,
                        ("?:\\Program Files\\*", "?:\\Program Files (x86)\\*", SYS32 + "svchost.exe"),
                        1,
                        3,
                    ),
                )
            )
        )
    return category, clauses, f" for {hot_name.strip('*.')}"


def build_dns(rng: random.Random, hot: bool, os_name: str) -> Built:
    """A single-event DNS rule (Windows)."""
    theme = rng.choice(DNS_THEMES)
    category, body, qualifier = dns_clauses(rng, theme, hot)
    base = [os_clause(WIN)] if rng.random() < 0.9 else []
    return Built(
        render_event_query(category, base + body), theme.title, theme.what, theme.mitre, WIN, qualifier
    )
