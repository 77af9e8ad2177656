"""Process vocabulary: the programs and argument variants of gen_ecs.py (anchors), how much the
conditions of a real rule narrow them, and attacker vocabulary shared by the process themes."""

from __future__ import annotations

from dataclasses import dataclass

from ..mitre import Mitre
from ..settings import WIN

# Windows paths as gen_ecs.py writes them (C:\...), matched with "?:" as the corpus does.
SYS32 = "?:\\Windows\\System32\\"


@dataclass(frozen=True)
class ProcAnchor:
    """One concrete process start of gen_ecs.py: a program with one of its argument variants.

    ``args`` are single arguments and ``cmd`` command-line fragments (wildcards) that this variant
    has; ``parent`` is the name of the process gen_ecs starts it from; ``user`` says who runs it
    (``user``: a domain user, ``system``: S-1-5-18, ``service``: S-1-5-19/20).
    """

    name: str
    exe: str
    args: tuple[str, ...]
    cmd: tuple[str, ...]
    parent: str
    user: str = "user"
    pe: str | None = None
    rate: int = 200  # process starts of this variant per 100,000 gen_ecs events (measured)


PS_EXE = SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
PS_ARGS = ("-NoProfile", "-File")
A_POWERSHELL = (
    ProcAnchor(
        "powershell.exe",
        PS_EXE,
        PS_ARGS,
        ("*inventory.ps1*", "*\\Scripts\\*.ps1*"),
        "explorer.exe",
        pe="PowerShell.EXE",
        rate=214,
    ),
    ProcAnchor(
        "powershell.exe",
        PS_EXE,
        ("-NoLogo",),
        ("*Get-Service*", "*Where-Object*"),
        "explorer.exe",
        pe="PowerShell.EXE",
        rate=232,
    ),
    ProcAnchor(
        "powershell.exe",
        PS_EXE,
        ("-Command",),
        ("*Test-NetConnection*", "*-Port 445*"),
        "explorer.exe",
        pe="PowerShell.EXE",
        rate=460,
    ),
)
CMD_EXE = SYS32 + "cmd.exe"
A_CMD = (
    ProcAnchor(
        "cmd.exe",
        CMD_EXE,
        ("use", "Z:"),
        ("*net use Z:*", "*\\\\fs01.corp.example\\*"),
        "explorer.exe",
        rate=324,
    ),
    ProcAnchor("cmd.exe", CMD_EXE, ("ipconfig", "/all"), ("*ipconfig /all*",), "explorer.exe", rate=280),
    ProcAnchor("cmd.exe", CMD_EXE, ("dir",), ("*/c dir *", "*\\Documents*"), "explorer.exe", rate=250),
)
A_NET = (
    ProcAnchor(
        "net.exe", SYS32 + "net.exe", ("use",), ("*\\\\fs01.corp.example\\public*",), "cmd.exe", rate=123
    ),
    ProcAnchor("net.exe", SYS32 + "net.exe", ("view",), ("*view \\\\fs02*",), "cmd.exe", rate=112),
    ProcAnchor("net.exe", SYS32 + "net.exe", ("user", "/domain"), ("*user /domain*",), "cmd.exe", rate=131),
)
RUNDLL32 = SYS32 + "rundll32.exe"
A_RUNDLL32 = (
    ProcAnchor(
        "rundll32.exe",
        RUNDLL32,
        ("*shell32.dll,SHCreateLocalServerRunDll",),
        ("*SHCreateLocalServerRunDll*",),
        "svchost.exe",
        rate=367,
    ),
    ProcAnchor(
        "rundll32.exe",
        RUNDLL32,
        ("*PcaSvc.dll,PcaPatchSdbTask",),
        ("*PcaPatchSdbTask*", "*PcaSvc.dll*"),
        "svchost.exe",
        rate=391,
    ),
)
PSEXEC = "?:\\Tools\\Sysinternals\\PsExec64.exe"
A_PSEXEC = (
    ProcAnchor(
        "PsExec64.exe", PSEXEC, ("-s", "hostname"), ("*\\\\srv-app02*",), "cmd.exe", pe="psexec.exe", rate=99
    ),
    ProcAnchor(
        "PsExec64.exe",
        PSEXEC,
        ("-accepteula", "ipconfig"),
        ("*-accepteula*", "*\\\\10.0.20.14*"),
        "cmd.exe",
        pe="psexec.exe",
        rate=82,
    ),
)
PYTHON = "?:\\Program Files\\Python3*\\python.exe"
A_PYTHON = (
    ProcAnchor(
        "python.exe",
        PYTHON,
        ("pip", "install", "--upgrade"),
        ("*pip install*",),
        "cmd.exe",
        pe="python.exe",
        rate=181,
    ),
    ProcAnchor(
        "python.exe",
        PYTHON,
        ("--dest",),
        ("*sync_reports.py*", "*\\\\fs01\\reports*"),
        "cmd.exe",
        pe="python.exe",
        rate=189,
    ),
)
A_WMI = (
    ProcAnchor(
        "WmiPrvSE.exe",
        SYS32 + "wbem\\WmiPrvSE.exe",
        ("-secured",),
        ("*-secured -Embedding*",),
        "svchost.exe",
        "service",
        rate=437,
    ),
)
MPCMDRUN = "?:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\*\\MpCmdRun.exe"
A_MPCMDRUN = (
    ProcAnchor("MpCmdRun.exe", MPCMDRUN, ("-wdenable",), ("*-wdenable*",), "MsMpEng.exe", "system", rate=270),
    ProcAnchor(
        "MpCmdRun.exe",
        MPCMDRUN,
        ("SignaturesUpdateService", "-UnmanagedUpdate"),
        ("*-ScheduleJob*",),
        "MsMpEng.exe",
        "system",
        rate=250,
    ),
)
A_TASKS = (
    ProcAnchor(
        "taskhostw.exe",
        SYS32 + "taskhostw.exe",
        ("Install", "$(Arg0)"),
        ("*Install $(Arg0)*",),
        "svchost.exe",
        rate=357,
    ),
    ProcAnchor(
        "wermgr.exe",
        SYS32 + "wermgr.exe",
        ("-upload",),
        ("*wermgr.exe -upload*",),
        "svchost.exe",
        "system",
        rate=158,
    ),
)
A_CONSOLE = (
    ProcAnchor(
        "conhost.exe", SYS32 + "conhost.exe", ("-ForceV1",), ("*0xffffffff -ForceV1*",), "cmd.exe", rate=832
    ),
    ProcAnchor(
        "notepad.exe",
        SYS32 + "notepad.exe",
        ("*\\Desktop\\notes.txt",),
        ("*\\Desktop\\*.txt*",),
        "explorer.exe",
        rate=250,
    ),
)
A_APPDATA = (
    ProcAnchor(
        "Teams.exe",
        "?:\\Users\\*\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
        ("--system-initiated",),
        ("*--system-initiated*",),
        "explorer.exe",
        pe="Teams.exe",
        rate=442,
    ),
    ProcAnchor(
        "OneDrive.exe",
        "?:\\Users\\*\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe",
        ("/background",),
        ("*OneDrive.exe* /background*",),
        "explorer.exe",
        pe="OneDrive.exe",
        rate=507,
    ),
)
A_SEARCH = (
    ProcAnchor(
        "backgroundTaskHost.exe",
        SYS32 + "backgroundTaskHost.exe",
        ("-ServerName:BackgroundTaskHost.WebAccountProvider",),
        ("*WebAccountProvider*",),
        "svchost.exe",
        rate=493,
    ),
)
# How much a condition typical of a real rule narrows a gen_ecs process start (measured): started
# by explorer.exe instead of its usual parent (gen_ecs falls back to explorer.exe when the parent
# program is not running), a user program running as SYSTEM (servers), Elastic Endpoint only.
NARROWING = {"parent": 0.2, "system": 0.2, "endpoint": 0.5}
# A hot process rule adds narrowing conditions until it expects at most this many matches per
# 100,000 events.
HOT_PROCESS_BUDGET = 20


@dataclass(frozen=True)
class ProcTheme:
    """A family of process rules: what they are about, their ATT&CK mapping, the gen_ecs
    behaviours that can make them fire (``anchors``) and the attacker vocabulary of the rest."""

    title: str
    what: str
    mitre: Mitre
    anchors: tuple[ProcAnchor, ...]
    names: tuple[str, ...]
    args: tuple[str, ...]
    cmd: tuple[str, ...]
    parents: tuple[str, ...]
    exes: tuple[str, ...] = ()
    pe: tuple[str, ...] = ()
    os: str = WIN


OFFICE_PARENTS = ("WINWORD.EXE", "EXCEL.EXE", "POWERPNT.EXE", "MSACCESS.EXE", "MSPUB.EXE", "VISIO.EXE")
SERVER_PARENTS = (
    "w3wp.exe",
    "sqlservr.exe",
    "httpd.exe",
    "nginx.exe",
    "tomcat*.exe",
    "java.exe",
    "php-cgi.exe",
)
SCRIPT_PARENTS = ("mshta.exe", "wscript.exe", "cscript.exe", "regsvr32.exe", "rundll32.exe")
ODD_EXES = (
    "?:\\Users\\Public\\*",
    "?:\\Windows\\Temp\\*.exe",
    "?:\\PerfLogs\\*",
    "?:\\$Recycle.Bin\\*",
    "?:\\Windows\\Tasks\\*",
    "?:\\Users\\*\\AppData\\Roaming\\*.exe",
    "?:\\Users\\*\\AppData\\Local\\Temp\\*.exe",
    "?:\\Windows\\debug\\*",
    "\\Device\\HarddiskVolume*\\Windows\\Temp\\*",
    "?:\\Intel\\*",
)
