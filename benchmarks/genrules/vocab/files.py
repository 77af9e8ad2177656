"""File vocabulary: the path shapes gen_ecs.py writes, and the file rule themes."""

from __future__ import annotations

from dataclasses import dataclass

from ..mitre import (
    T_BROWSER_CREDS,
    T_DISABLE_TOOLS,
    T_ENCRYPT,
    T_FILE_DELETION,
    T_INGRESS,
    T_LAUNCH_AGENT,
    T_SCHTASK,
    T_SHORTCUT,
    T_SSH_KEYS,
    T_SYSTEMD,
    T_TOOL_TRANSFER,
    T_USER_FILE,
    Mitre,
)
from ..settings import WIN

# File paths: gen_ecs.py writes these shapes (its FILE_TEMPLATES), matched with wildcards.
TEMP_TMP = "?:\\Users\\*\\AppData\\Local\\Temp\\*.tmp"
DOWNLOAD_PDF = "?:\\Users\\*\\Downloads\\*.pdf"
DOCUMENT_XLSX = "?:\\Users\\*\\Documents\\*.xlsx"
CHROME_CACHE = "?:\\Users\\*\\AppData\\Local\\Google\\Chrome\\User Data\\*\\Cache\\*"
PREFETCH = "?:\\Windows\\Prefetch\\*.pf"
WIN_TEMP_LOG = "?:\\Windows\\Temp\\*.log"
DEFENDER_SCANS = "?:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\*"
RECENT_LNK = "?:\\Users\\*\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\*.lnk"
TASKS_DIR = "?:\\Windows\\System32\\Tasks\\*"


@dataclass(frozen=True)
class FileAnchor:
    """A gen_ecs file event shape: path pattern, file name pattern, extension and the event types
    it comes with (gen_ecs writes creation 60 %, change 25 %, deletion 15 % of file events)."""

    path: str
    name: str
    ext: str
    types: tuple[str, ...] = ("creation", "change", "deletion")


@dataclass(frozen=True)
class FileTheme:
    """A family of file rules (see :class:`.programs.ProcTheme`)."""

    title: str
    what: str
    mitre: Mitre
    anchors: tuple[FileAnchor, ...]
    paths: tuple[str, ...]
    names: tuple[str, ...]
    exts: tuple[str, ...]
    os: str = WIN


WINDOWS_FILE_THEMES: tuple[FileTheme, ...] = (
    FileTheme(
        "Executable Dropped in Temporary Folder",
        "a program or library written to a temporary or public folder",
        T_INGRESS,
        (FileAnchor(TEMP_TMP, "*.tmp", "tmp"), FileAnchor(WIN_TEMP_LOG, "*.log", "log")),
        (
            "?:\\Windows\\Temp\\*.exe",
            "?:\\Users\\*\\AppData\\Local\\Temp\\*.exe",
            "?:\\Users\\Public\\*.dll",
            "?:\\ProgramData\\*.exe",
            "?:\\Windows\\Temp\\*\\*.dll",
            "?:\\Users\\*\\AppData\\Local\\Temp\\7z*\\*.scr",
        ),
        ("*.exe", "*.dll", "*.scr", "*.com", "*.pif", "*.cpl"),
        ("exe", "dll", "scr", "com", "pif", "cpl", "sys"),
    ),
    FileTheme(
        "Startup Folder or Shortcut Persistence",
        "a file or shortcut written where Windows starts it at logon",
        T_SHORTCUT,
        (FileAnchor(RECENT_LNK, "*.lnk", "lnk", ("creation",)),),
        (
            "?:\\Users\\*\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\*",
            "?:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp\\*",
            "?:\\Users\\*\\AppData\\Roaming\\Microsoft\\Internet Explorer\\Quick Launch\\*",
            "?:\\Windows\\System32\\GroupPolicy\\Machine\\Scripts\\Startup\\*",
        ),
        ("*.lnk", "*.url", "*.vbs", "*.bat", "*.cmd", "*.js", "*.ps1"),
        ("lnk", "url", "vbs", "bat", "cmd", "js", "jse", "wsf", "ps1"),
    ),
    FileTheme(
        "Prefetch or Trace Deletion",
        "deletion of execution traces such as prefetch files",
        T_FILE_DELETION,
        (
            FileAnchor(PREFETCH, "PSEXEC64.EXE-*.pf", "pf", ("deletion",)),
            FileAnchor(PREFETCH, "PYTHON.EXE-*.pf", "pf", ("deletion",)),
            FileAnchor(PREFETCH, "NET.EXE-*.pf", "pf", ("deletion", "change")),
            FileAnchor(PREFETCH, "RUNDLL32.EXE-*.pf", "pf", ("deletion",)),
        ),
        (
            "?:\\Windows\\System32\\winevt\\Logs\\*.evtx",
            "?:\\Users\\*\\AppData\\Roaming\\Microsoft\\Windows\\PowerShell\\PSReadLine\\*",
            "?:\\$Recycle.Bin\\*",
            "?:\\Windows\\Prefetch\\MIMIKATZ.EXE-*.pf",
        ),
        ("MIMIKATZ.EXE-*.pf", "PROCDUMP*.EXE-*.pf", "Security.evtx", "*ConsoleHost_history.txt"),
        ("pf", "evtx", "txt"),
    ),
    FileTheme(
        "Scheduled Task File Written",
        "a scheduled task definition written by a process other than the task scheduler",
        T_SCHTASK,
        (FileAnchor(TASKS_DIR, "Schedule Scan", "", ("creation", "change")),),
        (
            "?:\\Windows\\Tasks\\*.job",
            "?:\\Windows\\SysWOW64\\Tasks\\*",
            "?:\\Windows\\System32\\Tasks\\Microsoft\\Windows\\Defrag\\*",
        ),
        ("*.job", "*Updater*", "*Sync*"),
        ("job", "xml"),
    ),
    FileTheme(
        "Document Encryption or Destruction",
        "user documents renamed, encrypted or deleted in a way typical of ransomware",
        T_ENCRYPT,
        (
            FileAnchor(DOCUMENT_XLSX, "Budget *.xlsx", "xlsx", ("deletion",)),
            FileAnchor(DOWNLOAD_PDF, "report_*.pdf", "pdf", ("deletion", "change")),
        ),
        (
            "?:\\Users\\*\\Documents\\*.locked",
            "?:\\Users\\*\\Desktop\\*DECRYPT*",
            "\\\\*\\*\\*.encrypted",
            "?:\\*\\README*.txt",
        ),
        ("*.locked", "*.encrypted", "*.crypt", "*README*.txt", "*DECRYPT*.html", "*.ryk"),
        ("locked", "encrypted", "crypt", "enc", "ryk", "lockbit", "conti"),
    ),
    FileTheme(
        "Defender Scan History Tampering",
        "antivirus scan history or platform files changed by a process that does not own them",
        T_DISABLE_TOOLS,
        (FileAnchor(DEFENDER_SCANS, "*.bin", "bin", ("deletion",)),),
        (
            "?:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\*\\*.dll",
            "?:\\ProgramData\\Microsoft\\Windows Defender\\Definition Updates\\*",
            "?:\\Program Files\\Windows Defender\\*.exe",
        ),
        ("mpengine.dll", "MsMpEng.exe", "*.vdm"),
        ("vdm", "dll"),
    ),
    FileTheme(
        "Browser Credential Store Access",
        "browser profile data (cookies, logins, cache) touched by a non-browser process",
        T_BROWSER_CREDS,
        (FileAnchor(CHROME_CACHE, "f_*", ""),),
        (
            "?:\\Users\\*\\AppData\\Local\\Google\\Chrome\\User Data\\*\\Login Data",
            "?:\\Users\\*\\AppData\\Local\\Microsoft\\Edge\\User Data\\*\\Cookies",
            "?:\\Users\\*\\AppData\\Roaming\\Mozilla\\Firefox\\Profiles\\*\\logins.json",
            "?:\\Users\\*\\AppData\\Roaming\\Mozilla\\Firefox\\Profiles\\*\\key4.db",
        ),
        ("Login Data", "Cookies", "logins.json", "key4.db", "Web Data", "Local State"),
        ("db", "json", "sqlite"),
    ),
    FileTheme(
        "Script File Written to User Folder",
        "a script file written to a downloads, public or temporary folder",
        T_USER_FILE,
        (),
        (
            "?:\\Users\\*\\Downloads\\*.js",
            "?:\\Users\\Public\\*",
            "?:\\Users\\*\\AppData\\Local\\Temp\\*.vbs",
            "?:\\ProgramData\\*.ps1",
            "?:\\Users\\*\\Downloads\\*.hta",
        ),
        ("*.ps1", "*.vbs", "*.js", "*.hta", "*.bat", "*.wsf", "*.jse"),
        ("ps1", "vbs", "js", "hta", "bat", "wsf", "jse", "vbe"),
    ),
    FileTheme(
        "Remote Tool Transfer via Admin Share",
        "a program written through an administrative share",
        T_TOOL_TRANSFER,
        (FileAnchor(WIN_TEMP_LOG, "*.log", "log", ("creation",)),),
        ("?:\\Windows\\*.exe", "?:\\Windows\\PSEXESVC.exe", "\\\\*\\ADMIN$\\*", "\\\\*\\C$\\*.exe"),
        ("PSEXESVC.exe", "*.exe", "*.dll", "*.bat"),
        ("exe", "dll", "bat", "ps1"),
    ),
)

LINUX_FILE_THEMES: tuple[FileTheme, ...] = (
    FileTheme(
        "Persistence File Written",
        "a file written where the system runs it at boot, login or on a schedule",
        T_SYSTEMD,
        (),
        (
            "/etc/cron.d/*",
            "/etc/systemd/system/*.service",
            "/etc/rc.local",
            "/etc/init.d/*",
            "/var/spool/cron/crontabs/*",
            "/etc/ld.so.preload",
            "/home/*/.config/autostart/*.desktop",
        ),
        ("*.service", "*.timer", "rc.local", "ld.so.preload", "*.desktop"),
        ("service", "timer", "desktop", "sh"),
        os="linux",
    ),
    FileTheme(
        "SSH Authorized Keys Modification",
        "an SSH authorized_keys file changed by an unusual process",
        T_SSH_KEYS,
        (),
        ("/root/.ssh/authorized_keys", "/home/*/.ssh/authorized_keys*", "/etc/ssh/sshd_config"),
        ("authorized_keys", "authorized_keys2", "sshd_config"),
        ("",),
        os="linux",
    ),
    FileTheme(
        "Launch Agent or Daemon Created",
        "a launch agent or daemon property list written",
        T_LAUNCH_AGENT,
        (),
        (
            "/Library/LaunchAgents/*.plist",
            "/Library/LaunchDaemons/*.plist",
            "/Users/*/Library/LaunchAgents/*.plist",
        ),
        ("*.plist", "com.apple.*.plist"),
        ("plist",),
        os="macos",
    ),
)
