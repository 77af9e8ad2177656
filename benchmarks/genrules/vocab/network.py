"""Network and DNS vocabulary: ports, address ranges, the processes behind events, domains, and
the network and DNS rule themes."""

from __future__ import annotations

from dataclasses import dataclass

from ..mitre import (
    T_EXFIL_ALT,
    T_KERBEROAST,
    T_NONSTANDARD_PORT,
    T_RDP,
    T_REMOTE_SYSTEM,
    T_REPOSITORY,
    T_SMB,
    T_TUNNEL,
    T_WEB_PROTOCOLS,
    T_WEB_SERVICE,
    T_WINRM,
    T_WPAD,
    Mitre,
)
from ..settings import WIN

# Network: gen_ecs.py ports (tcp/445 for its SMB cases, OTHER_PORTS for the rest) and addresses.
HOT_PORTS = (445, 3389, 5985, 1433, 4450, 8080, 135, 3268, 389, 88)
COLD_PORTS = (
    4444,
    1337,
    9001,
    6667,
    5555,
    31337,
    1604,
    2222,
    50050,
    5938,
    6568,
    7070,
    8888,
    9050,
    4899,
    5900,
)
SMB_REMOTE_NETS = ("185.220.101.0/24", "45.33.32.0/24")
COLD_NETS = ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24", "100.64.0.0/10")
PRIVATE_NETS = (
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::1",
    "fe80::/10",
    "fd00::/8",
    "FE80::/10",
)

# Processes that gen_ecs.py runs rarely enough that "this program did X" stays selective (the
# file, registry, network and DNS events of gen_ecs pick their process among the live ones of the
# host); the rarest are listed twice to be drawn twice as often.
RARE_ACTORS = ("PsExec64.exe", "PsExec64.exe", "wermgr.exe", "wermgr.exe", "net.exe", "python.exe")
COLD_ACTORS = (
    "mshta.exe",
    "regsvr32.exe",
    "certutil.exe",
    "bitsadmin.exe",
    "wscript.exe",
    "cscript.exe",
    "msbuild.exe",
    "installutil.exe",
    "cmstp.exe",
    "mimikatz.exe",
    "AnyDesk.exe",
    "rclone.exe",
    "WINWORD.EXE",
    "EXCEL.EXE",
    "winrs.exe",
    "msiexec.exe",
    "curl.exe",
)
COLD_LINUX_ACTORS = ("nc", "ncat", "socat", "bash", "sh", "curl", "wget", "python3", "perl", "busybox")


@dataclass(frozen=True)
class NetTheme:
    """A family of network rules: ports and addresses that gen_ecs writes (``hot_*``) or not."""

    title: str
    what: str
    mitre: Mitre
    hot_ports: tuple[int, ...]
    cold_ports: tuple[int, ...]
    hot_nets: tuple[str, ...] = ()
    os: str = WIN


NETWORK_THEMES: tuple[NetTheme, ...] = (
    NetTheme(
        "SMB Connection by User Process",
        "an outbound SMB connection from a user-mode process",
        T_SMB,
        (445,),
        (139,),
        SMB_REMOTE_NETS,
    ),
    NetTheme(
        "RDP Connection by Unusual Process",
        "a remote desktop connection opened by an unusual process",
        T_RDP,
        (3389,),
        (3388, 3390),
    ),
    NetTheme(
        "WinRM Connection",
        "a Windows Remote Management connection from an unusual process",
        T_WINRM,
        (5985,),
        (5986,),
    ),
    NetTheme(
        "Database Connection by Unusual Process",
        "a connection to a database server port",
        T_REPOSITORY,
        (1433,),
        (1434, 3306, 5432, 1521),
    ),
    NetTheme(
        "Non-Standard Port Connection",
        "an outbound connection to a port rarely used by business software",
        T_NONSTANDARD_PORT,
        (4450, 8080),
        COLD_PORTS,
    ),
    NetTheme(
        "Directory Service Connection",
        "LDAP, Kerberos or RPC connections from a process that does not usually make them",
        T_KERBEROAST,
        (389, 88, 3268, 135),
        (636, 3269, 464),
    ),
    NetTheme(
        "Command and Control Framework Port",
        "a connection to a port used by common command-and-control frameworks",
        T_WEB_PROTOCOLS,
        (),
        COLD_PORTS,
        COLD_NETS,
    ),
    NetTheme(
        "Reverse Shell Connection",
        "a shell or networking utility connecting out",
        T_EXFIL_ALT,
        (),
        COLD_PORTS,
        COLD_NETS,
        "linux",
    ),
)

# DNS: gen_ecs.py's DOMAINS, and names of services abused for command and control.
HOT_DOMAINS = (
    "pypi.org",
    "github.com",
    "cdn.jsdelivr.net",
    "wpad.corp.example",
    "fs01.corp.example",
    "dc01.corp.example",
)
COLD_DOMAINS = (
    "pastebin.com",
    "paste.ee",
    "raw.githubusercontent.com",
    "transfer.sh",
    "api.telegram.org",
    "discord.com",
    "cdn.discordapp.com",
    "mega.nz",
    "*.ngrok.io",
    "*.ngrok-free.app",
    "*.trycloudflare.com",
    "*.duckdns.org",
    "*.no-ip.org",
    "ipinfo.io",
    "api.ipify.org",
    "checkip.amazonaws.com",
    "*.onion",
    "*.serveo.net",
    "file.io",
    "*.workers.dev",
)


@dataclass(frozen=True)
class DnsTheme:
    """A family of DNS rules."""

    title: str
    what: str
    mitre: Mitre
    hot: tuple[str, ...]
    cold: tuple[str, ...]


DNS_THEMES: tuple[DnsTheme, ...] = (
    DnsTheme(
        "Web Service Lookup by Unusual Process",
        "a lookup of a file-sharing, paste or code-hosting service",
        T_WEB_SERVICE,
        HOT_DOMAINS[:3],
        COLD_DOMAINS[:8],
    ),
    DnsTheme(
        "Tunneling Service Lookup",
        "a lookup of a tunnelling or dynamic DNS service",
        T_TUNNEL,
        (),
        COLD_DOMAINS[8:],
    ),
    DnsTheme(
        "WPAD Lookup",
        "a lookup of the proxy auto-discovery name",
        T_WPAD,
        ("wpad.corp.example", "wpad.*"),
        ("wpad", "wpad.local", "isatap.*"),
    ),
    DnsTheme(
        "Internal Host Lookup by Tool",
        "a lookup of internal servers by an administration or script tool",
        T_REMOTE_SYSTEM,
        HOT_DOMAINS[3:],
        ("*.corp.example.local", "_ldap._tcp.dc._msdcs.*", "_kerberos._tcp.*"),
    ),
)
