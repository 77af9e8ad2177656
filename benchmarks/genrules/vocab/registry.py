"""Registry vocabulary: the keys and values gen_ecs.py writes, and the registry rule themes."""

from __future__ import annotations

from dataclasses import dataclass

from ..mitre import (
    T_CRED_DUMP,
    T_DISABLE_TOOLS,
    T_FILE_DELETION,
    T_IFEO,
    T_MODIFY_REGISTRY,
    T_OFFICE_STARTUP,
    T_RUN_KEYS,
    T_SERVICE,
    Mitre,
)

# Registry: gen_ecs.py writes these keys and values (its REGISTRY_TEMPLATES).
IFEO = "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options\\*\\"
IFEO_WOW64 = (
    "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options\\*\\"
)
REG_RUN = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\*"
REG_BAM = "HKLM\\SYSTEM\\*ControlSet*\\Services\\bam\\State\\UserSettings\\*"
REG_RECENT = "HKU\\*\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RecentDocs\\*"
REG_DEFENDER = "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Signature Updates\\*"
REG_TCPIP = "HKLM\\SYSTEM\\*ControlSet*\\Services\\Tcpip\\Parameters\\Interfaces\\*\\DhcpIPAddress"
REG_OUTLOOK = "HKU\\*\\Software\\Microsoft\\Office\\*\\Outlook\\Profiles\\*"


@dataclass(frozen=True)
class RegAnchor:
    """A gen_ecs registry event shape: path pattern, value name pattern and data pattern."""

    path: str
    value: str
    data: str


@dataclass(frozen=True)
class RegTheme:
    """A family of registry rules (see :class:`.programs.ProcTheme`)."""

    title: str
    what: str
    mitre: Mitre
    anchors: tuple[RegAnchor, ...]
    paths: tuple[str, ...]
    values: tuple[str, ...]
    data: tuple[str, ...]


REGISTRY_THEMES: tuple[RegTheme, ...] = (
    RegTheme(
        "Run Key Modification",
        "a value written under a Run or RunOnce key so that a program starts at logon",
        T_RUN_KEYS,
        (RegAnchor(REG_RUN, "OneDriveSetup", "*\\AppData\\Local\\Microsoft\\OneDrive\\*"),),
        (
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\RunOnce\\*",
            "HKEY_USERS\\*\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\*",
            "\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\*",
            "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Run\\*",
            "HKU\\*\\Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer\\Run\\*",
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\RunOnceEx\\*",
        ),
        ("Updater", "SecurityHealth*", "*svc*", "Microsoft*Update*"),
        (
            "*\\Users\\Public\\*",
            "*\\AppData\\Roaming\\*.exe*",
            "*powershell*-enc*",
            "*mshta*http*",
            "*rundll32*,*",
            "*\\Temp\\*.exe*",
        ),
    ),
    RegTheme(
        "Service Configuration Change",
        "the configuration of a Windows service changed in the registry",
        T_SERVICE,
        (RegAnchor(REG_BAM, "*\\Tools\\*", "0x*"), RegAnchor(REG_BAM, "*\\rundll32.exe", "0x*")),
        (
            "HKLM\\SYSTEM\\*ControlSet*\\Services\\*\\ImagePath",
            "HKLM\\SYSTEM\\*ControlSet*\\Services\\*\\Parameters\\ServiceDll",
            "HKLM\\SYSTEM\\*ControlSet*\\Services\\*\\FailureCommand",
            "\\REGISTRY\\MACHINE\\SYSTEM\\*ControlSet*\\Services\\*\\Start",
        ),
        ("ImagePath", "ServiceDll", "FailureCommand", "Start"),
        ("*\\Users\\*", "*\\ProgramData\\*.exe*", "*cmd.exe /c*", "*%COMSPEC%*", "*\\Temp\\*"),
    ),
    RegTheme(
        "Defender Configuration Tampering",
        "Microsoft Defender settings changed in the registry by a process that does not own them",
        T_DISABLE_TOOLS,
        (RegAnchor(REG_DEFENDER, "SignaturesLastUpdated", "0x*"),),
        (
            "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\DisableAntiSpyware",
            "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Real-Time Protection\\Disable*",
            "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Exclusions\\Paths\\*",
            "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Features\\TamperProtection",
        ),
        ("DisableAntiSpyware", "DisableRealtimeMonitoring", "TamperProtection", "DisableBehaviorMonitoring"),
        ("0x00000001", "1", "0x00000000", "?:\\*"),
    ),
    RegTheme(
        "Network Configuration Change",
        "network or remote access settings changed in the registry",
        T_MODIFY_REGISTRY,
        (RegAnchor(REG_TCPIP, "DhcpIPAddress", "10.0.*"),),
        (
            "HKLM\\SYSTEM\\*ControlSet*\\Control\\Terminal Server\\fDenyTSConnections",
            "HKLM\\SYSTEM\\*ControlSet*\\Services\\Tcpip\\Parameters\\DataBasePath",
            "HKLM\\SYSTEM\\*ControlSet*\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\*",
            "HKLM\\SYSTEM\\*ControlSet*\\Control\\Terminal Server\\WinStations\\RDP-Tcp\\PortNumber",
        ),
        ("fDenyTSConnections", "DataBasePath", "EnableFirewall", "PortNumber"),
        ("0", "0x00000000", "?:\\Users\\*", "*\\Temp\\*"),
    ),
    RegTheme(
        "Office Application Setting Change",
        "Office or Outlook settings that enable macros, add-ins or home pages changed",
        T_OFFICE_STARTUP,
        (RegAnchor(REG_OUTLOOK, "LastChange", "*"),),
        (
            "HKU\\*\\Software\\Microsoft\\Office\\*\\Outlook\\Security\\Level",
            "HKU\\*\\Software\\Microsoft\\Office\\*\\Word\\Security\\VBAWarnings",
            "HKU\\*\\Software\\Microsoft\\Office test\\Special\\Perf\\*",
            "HKU\\*\\Software\\Microsoft\\Office\\*\\Outlook\\WebView\\*\\URL",
        ),
        ("Level", "VBAWarnings", "URL", "LoadBehavior"),
        ("1", "http*", "*\\AppData\\*.dll"),
    ),
    RegTheme(
        "Explorer History Cleared",
        "Explorer most-recently-used lists changed by a process other than Explorer",
        T_FILE_DELETION,
        (RegAnchor(REG_RECENT, "MRUListEx", "0x*"),),
        (
            "HKU\\*\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\RunMRU\\*",
            "HKU\\*\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\TypedPaths\\*",
            "HKU\\*\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\ComDlg32\\*",
        ),
        ("MRUList", "url*", "a", "b"),
        ("*powershell*", "*cmd*", "*\\\\*"),
    ),
    RegTheme(
        "Image File Execution Options Injection",
        "a debugger or exit monitor registered for a program",
        T_IFEO,
        (),
        (
            IFEO + "Debugger",
            "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SilentProcessExit\\*\\MonitorProcess",
            IFEO_WOW64 + "Debugger",
            IFEO + "GlobalFlag",
        ),
        ("Debugger", "MonitorProcess", "GlobalFlag", "ReportingMode"),
        ("*cmd.exe*", "*\\Users\\*", "512", "0x00000200"),
    ),
    RegTheme(
        "Credential Caching Enabled",
        "a setting that makes Windows keep or expose credentials",
        T_CRED_DUMP,
        (),
        (
            "HKLM\\SYSTEM\\*ControlSet*\\Control\\SecurityProviders\\WDigest\\UseLogonCredential",
            "HKLM\\SYSTEM\\*ControlSet*\\Control\\Lsa\\DisableRestrictedAdmin",
            "HKLM\\SYSTEM\\*ControlSet*\\Control\\Lsa\\RunAsPPL",
            "HKLM\\SYSTEM\\*ControlSet*\\Control\\Lsa\\Security Packages",
        ),
        ("UseLogonCredential", "DisableRestrictedAdmin", "RunAsPPL", "Security Packages"),
        ("1", "0x00000001", "0", "*.dll"),
    ),
    RegTheme(
        "COM Object Hijacking",
        "a COM server registration pointing to a user-writable location",
        T_MODIFY_REGISTRY,
        (),
        (
            "HKU\\*\\Software\\Classes\\CLSID\\*\\InprocServer32\\*",
            "HKU\\*\\Software\\Classes\\CLSID\\*\\LocalServer32\\*",
            "HKLM\\SOFTWARE\\Classes\\CLSID\\*\\InprocServer32\\*",
        ),
        ("", "(Default)", "ThreadingModel"),
        ("*\\AppData\\*", "*\\Users\\Public\\*", "*\\ProgramData\\*.dll", "*scrobj.dll*"),
    ),
)
