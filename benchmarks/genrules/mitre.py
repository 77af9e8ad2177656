"""ATT&CK tactics, and the techniques the generated rules are mapped to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mitre:
    """One ATT&CK mapping: tactic, technique and optional sub-technique, as (id, name) pairs."""

    tactic: tuple[str, str]
    technique: tuple[str, str]
    sub: tuple[str, str] | None = None


EXECUTION = ("TA0002", "Execution")
PERSISTENCE = ("TA0003", "Persistence")
PRIV_ESC = ("TA0004", "Privilege Escalation")
DEFENSE_EVASION = ("TA0005", "Defense Evasion")
CREDENTIAL_ACCESS = ("TA0006", "Credential Access")
DISCOVERY = ("TA0007", "Discovery")
LATERAL_MOVEMENT = ("TA0008", "Lateral Movement")
COLLECTION = ("TA0009", "Collection")
EXFILTRATION = ("TA0010", "Exfiltration")
COMMAND_AND_CONTROL = ("TA0011", "Command and Control")
IMPACT = ("TA0040", "Impact")
INITIAL_ACCESS = ("TA0001", "Initial Access")

T_POWERSHELL = Mitre(EXECUTION, ("T1059", "Command and Scripting Interpreter"), ("T1059.001", "PowerShell"))
T_CMD = Mitre(
    EXECUTION, ("T1059", "Command and Scripting Interpreter"), ("T1059.003", "Windows Command Shell")
)
T_PYTHON = Mitre(EXECUTION, ("T1059", "Command and Scripting Interpreter"), ("T1059.006", "Python"))
T_UNIX_SHELL = Mitre(EXECUTION, ("T1059", "Command and Scripting Interpreter"), ("T1059.004", "Unix Shell"))
T_APPLESCRIPT = Mitre(EXECUTION, ("T1059", "Command and Scripting Interpreter"), ("T1059.002", "AppleScript"))
T_WMI = Mitre(EXECUTION, ("T1047", "Windows Management Instrumentation"))
T_SERVICE_EXEC = Mitre(EXECUTION, ("T1569", "System Services"), ("T1569.002", "Service Execution"))
T_USER_FILE = Mitre(EXECUTION, ("T1204", "User Execution"), ("T1204.002", "Malicious File"))
T_USER_LINK = Mitre(EXECUTION, ("T1204", "User Execution"), ("T1204.001", "Malicious Link"))
T_RUNDLL32 = Mitre(DEFENSE_EVASION, ("T1218", "System Binary Proxy Execution"), ("T1218.011", "Rundll32"))
T_DISABLE_TOOLS = Mitre(
    DEFENSE_EVASION, ("T1562", "Impair Defenses"), ("T1562.001", "Disable or Modify Tools")
)
T_MODIFY_REGISTRY = Mitre(DEFENSE_EVASION, ("T1112", "Modify Registry"))
T_FILE_DELETION = Mitre(DEFENSE_EVASION, ("T1070", "Indicator Removal"), ("T1070.004", "File Deletion"))
T_CLEAR_LOGS = Mitre(
    DEFENSE_EVASION, ("T1070", "Indicator Removal"), ("T1070.001", "Clear Windows Event Logs")
)
T_MASQUERADE = Mitre(
    DEFENSE_EVASION, ("T1036", "Masquerading"), ("T1036.005", "Match Legitimate Name or Location")
)
T_RUN_KEYS = Mitre(
    PERSISTENCE,
    ("T1547", "Boot or Logon Autostart Execution"),
    ("T1547.001", "Registry Run Keys / Startup Folder"),
)
T_SHORTCUT = Mitre(
    PERSISTENCE, ("T1547", "Boot or Logon Autostart Execution"), ("T1547.009", "Shortcut Modification")
)
T_SCHTASK = Mitre(PERSISTENCE, ("T1053", "Scheduled Task/Job"), ("T1053.005", "Scheduled Task"))
T_CRON = Mitre(PERSISTENCE, ("T1053", "Scheduled Task/Job"), ("T1053.003", "Cron"))
T_SERVICE = Mitre(PERSISTENCE, ("T1543", "Create or Modify System Process"), ("T1543.003", "Windows Service"))
T_LAUNCH_AGENT = Mitre(
    PERSISTENCE, ("T1543", "Create or Modify System Process"), ("T1543.001", "Launch Agent")
)
T_SYSTEMD = Mitre(PERSISTENCE, ("T1543", "Create or Modify System Process"), ("T1543.002", "Systemd Service"))
T_SSH_KEYS = Mitre(PERSISTENCE, ("T1098", "Account Manipulation"), ("T1098.004", "SSH Authorized Keys"))
T_OFFICE_STARTUP = Mitre(PERSISTENCE, ("T1137", "Office Application Startup"))
T_IFEO = Mitre(
    PRIV_ESC,
    ("T1546", "Event Triggered Execution"),
    ("T1546.012", "Image File Execution Options Injection"),
)
T_LSASS = Mitre(CREDENTIAL_ACCESS, ("T1003", "OS Credential Dumping"), ("T1003.001", "LSASS Memory"))
T_CRED_DUMP = Mitre(CREDENTIAL_ACCESS, ("T1003", "OS Credential Dumping"))
T_BRUTE_FORCE = Mitre(CREDENTIAL_ACCESS, ("T1110", "Brute Force"), ("T1110.001", "Password Guessing"))
T_KERBEROAST = Mitre(
    CREDENTIAL_ACCESS, ("T1558", "Steal or Forge Kerberos Tickets"), ("T1558.003", "Kerberoasting")
)
T_BROWSER_CREDS = Mitre(
    CREDENTIAL_ACCESS,
    ("T1555", "Credentials from Password Stores"),
    ("T1555.003", "Credentials from Web Browsers"),
)
T_WPAD = Mitre(
    CREDENTIAL_ACCESS,
    ("T1557", "Adversary-in-the-Middle"),
    ("T1557.001", "LLMNR/NBT-NS Poisoning and SMB Relay"),
)
T_DOMAIN_ACCOUNT = Mitre(DISCOVERY, ("T1087", "Account Discovery"), ("T1087.002", "Domain Account"))
T_NET_CONFIG = Mitre(DISCOVERY, ("T1016", "System Network Configuration Discovery"))
T_REMOTE_SYSTEM = Mitre(DISCOVERY, ("T1018", "Remote System Discovery"))
T_SMB = Mitre(LATERAL_MOVEMENT, ("T1021", "Remote Services"), ("T1021.002", "SMB/Windows Admin Shares"))
T_RDP = Mitre(LATERAL_MOVEMENT, ("T1021", "Remote Services"), ("T1021.001", "Remote Desktop Protocol"))
T_WINRM = Mitre(LATERAL_MOVEMENT, ("T1021", "Remote Services"), ("T1021.006", "Windows Remote Management"))
T_TOOL_TRANSFER = Mitre(LATERAL_MOVEMENT, ("T1570", "Lateral Tool Transfer"))
T_REPOSITORY = Mitre(COLLECTION, ("T1213", "Data from Information Repositories"))
T_EXFIL_ALT = Mitre(EXFILTRATION, ("T1048", "Exfiltration Over Alternative Protocol"))
T_INGRESS = Mitre(COMMAND_AND_CONTROL, ("T1105", "Ingress Tool Transfer"))
T_WEB_PROTOCOLS = Mitre(
    COMMAND_AND_CONTROL, ("T1071", "Application Layer Protocol"), ("T1071.001", "Web Protocols")
)
T_NONSTANDARD_PORT = Mitre(COMMAND_AND_CONTROL, ("T1571", "Non-Standard Port"))
T_WEB_SERVICE = Mitre(COMMAND_AND_CONTROL, ("T1102", "Web Service"))
T_TUNNEL = Mitre(COMMAND_AND_CONTROL, ("T1572", "Protocol Tunneling"))
T_RECOVERY = Mitre(IMPACT, ("T1490", "Inhibit System Recovery"))
T_ENCRYPT = Mitre(IMPACT, ("T1486", "Data Encrypted for Impact"))
T_VALID_ACCOUNTS = Mitre(INITIAL_ACCESS, ("T1078", "Valid Accounts"), ("T1078.002", "Domain Accounts"))
T_PHISHING = Mitre(INITIAL_ACCESS, ("T1566", "Phishing"), ("T1566.001", "Spearphishing Attachment"))
