"""What the offline assistant knows: problem domains, answer reading and per-domain playbooks.

Pure, deterministic content for `resolutionflow_memory.llm.OfflineLLM`: no session, no
randomness, no clock, no I/O.

- `detect_domain` picks the problem domain from keywords (`DOMAIN_KEYWORDS`, in priority
  order).
- `read_answer` reads an engineer's answer as an `Outcome`: it worked, it still fails, it
  could not be done, a choice to resolve or escalate, or information; `choose_option` finds
  the fork option an answer picks.
- `PLAYBOOKS` holds a `Playbook` per domain: three probing questions (each with the words
  that settle it, so a question the intake already answered is skipped), four general
  actions, a fork whose every option has its own branch of two actions, and the likely
  cause when the first check fixes it; in technical and plain-language wording.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Final, TypeAlias

from resolutionflow_core.markers import Action, Fork, ForkOption, Question
from resolutionflow_core.session import ProblemDomain

# -- domains ----------------------------------------------------------------------------

# In priority order: on a tie the earlier domain wins (a phishing *email* is security, a
# *network* printer is printing, *Exchange* server is email, a *laptop* on VPN is network).
# fmt: off
DOMAIN_KEYWORDS: Final[Mapping[ProblemDomain, tuple[str, ...]]] = {
    ProblemDomain.SECURITY: (
        "phishing", "phish", "malware", "virus", "ransomware", "trojan", "suspicious",
        "compromised", "hacked", "breach", "spoofed", "infected", "edr", "defender alert",
    ),
    ProblemDomain.PRINTING: (
        "printer", "printing", "print", "spooler", "print queue", "toner", "paper jam",
        "scanner", "scan to email", "plotter",
    ),
    ProblemDomain.EMAIL: (
        "outlook", "exchange", "smtp", "mailbox", "email", "e-mail", "mail", "owa", "imap",
        "pop3", "inbox", "ndr", "bounce", "bounced", "calendar", "distribution list",
    ),
    ProblemDomain.IDENTITY: (
        "password", "mfa", "2fa", "locked out", "lockout", "account locked", "azure ad",
        "entra", "active directory", "sso", "login", "log in", "sign in", "sign-in",
        "authenticator", "credentials",
    ),
    ProblemDomain.NETWORK: (
        "vpn", "dns", "wifi", "wi-fi", "wireless", "ping", "dhcp", "ip address", "internet",
        "network", "firewall", "router", "switch", "gateway", "latency", "packet loss",
        "ethernet", "subnet",
    ),
    ProblemDomain.SERVER: (
        "server", "domain controller", "hyper-v", "vmware", "esxi", "file share", "sql",
        "iis", "rds", "remote desktop", "backup", "raid", "windows server",
    ),
    ProblemDomain.CLOUD: (
        "m365", "microsoft 365", "office 365", "o365", "azure", "aws", "sharepoint",
        "onedrive", "teams", "intune", "tenant", "google workspace", "s3", "ec2",
    ),
    ProblemDomain.ENDPOINT: (
        "laptop", "desktop", "pc", "computer", "workstation", "slow", "blue screen", "bsod",
        "crash", "crashes", "freezing", "frozen", "boot", "won't start", "keyboard",
        "monitor", "battery", "windows update", "disk space",
    ),
}
# fmt: on

_KEYWORD_PATTERNS: Final = {
    domain: tuple(re.compile(rf"\b{re.escape(word)}s?\b") for word in words)
    for domain, words in DOMAIN_KEYWORDS.items()
}


def detect_domain(text: str) -> ProblemDomain:
    """The domain whose keywords ``text`` mentions most (earlier domains win ties)."""
    domain, _ = domain_hits(text)
    return domain


def domain_hits(text: str) -> tuple[ProblemDomain, int]:
    """The domain ``text`` mentions most and its keyword hits (`ProblemDomain.OTHER`, 0: none)."""
    lowered = text.lower()
    best, best_hits = ProblemDomain.OTHER, 0
    for domain, patterns in _KEYWORD_PATTERNS.items():
        hits = sum(1 for pattern in patterns if pattern.search(lowered))
        if hits > best_hits:
            best, best_hits = domain, hits
    return best, best_hits


class Outcome(StrEnum):
    """What an engineer's answer says, as the offline assistant reads it."""

    WORKED = "worked"
    FAILED = "failed"
    BLOCKED = "blocked"
    """The step could not be done ("Could not do it")."""
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    CHOICE = "choice"
    """One of the options of a fork."""
    INFORMATION = "information"


_POSITIVE: Final = re.compile(r"\b(worked|works now|working now|fixed|resolved|solved)\b")
_NEGATIVE: Final = re.compile(r"\b(not|no|never|still|fail\w*)\b|n't\b")
_FAILED: Final = re.compile(
    r"\bstill\b|^\W*(done\W+)?(it\W+)?fail\w*|\bfail\w* again\b"
    r"|\bno (change|luck|difference)\b|\bsame (error|problem|issue)\b"
    r"|(\bnot|\bnever|n't)\s+(\w+\s+)?(work|fix|help|resolv|solv|chang)\w*"
)
"""Reports that it still fails; "the test page fails" is information, not a failed fix."""
_BLOCKED: Final = re.compile(
    r"\b(could not|couldn't|cannot|can't|unable to) (do|run|try|access|reach|get)\b|\bskip"
)
_YES: Final = re.compile(r"\W*(yes|yep|yeah|confirmed|correct|indeed|ok|okay|sure)\b")
_RESOLVE: Final = re.compile(r"\s*resolve\b")
"""An answer choosing to resolve ("Resolve the session")."""
_ESCALATE: Final = re.compile(r"\s*escalate\b")
_WORD: Final = re.compile(r"[a-z0-9]{3,}")
_FILLER: Final = frozenset({"the", "and", "but", "for", "not", "one", "all", "too", "was", "are"})


def says_it_worked(answer: str) -> bool:
    """Whether an engineer's answer reports the problem fixed ("Done, it worked")."""
    lowered = answer.lower()
    return bool(_POSITIVE.search(lowered)) and not _NEGATIVE.search(lowered)


def says_yes(answer: str) -> bool:
    """Whether an answer agrees ("yes", "confirmed") without reporting a failure."""
    return bool(_YES.match(answer.lower())) and not says_it_failed(answer)


def says_it_failed(answer: str) -> bool:
    """Whether an answer reports that it still fails ("Done, still failing", "didn't help")."""
    return bool(_FAILED.search(answer.lower()))


def read_answer(answer: str, options: Sequence[str] = ()) -> Outcome:
    """What ``answer`` says; ``options`` are the labels of the fork it answers, if any."""
    return _read_answer(answer, tuple(options))


@lru_cache(maxsize=4096)
def _read_answer(answer: str, options: tuple[str, ...]) -> Outcome:
    """`read_answer`, cached: every chat turn of the offline LLM reads all earlier answers."""
    lowered = answer.lower()
    if options and choose_option(answer, options, exact=True) is not None:
        return Outcome.CHOICE
    if _RESOLVE.match(lowered):
        return Outcome.RESOLVE
    if _ESCALATE.match(lowered):
        return Outcome.ESCALATE
    if _BLOCKED.search(lowered):
        return Outcome.BLOCKED
    if says_it_worked(answer):
        return Outcome.WORKED
    if says_it_failed(answer):
        return Outcome.FAILED
    return Outcome.CHOICE if options else Outcome.INFORMATION


def choose_option(answer: str, options: Sequence[str], *, exact: bool = False) -> int | None:
    """The index of the option ``answer`` picks: its label, its number ("2"), or else (unless
    ``exact``) the option sharing most words with it; `None` if nothing fits."""
    flat = " ".join(answer.lower().split()).strip(" .!")
    for index, label in enumerate(options):
        if flat == label.lower() or flat == str(index + 1) or label.lower() in flat:
            return index
    if exact:
        return None
    words = set(_WORD.findall(flat)) - _FILLER
    overlaps = [len(words & set(_WORD.findall(label.lower()))) for label in options]
    best = max(overlaps, default=0)
    return overlaps.index(best) if best else None


# -- playbooks --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """A question, and the words that settle it when the intake or an answer says them."""

    question: Question
    settled_by: re.Pattern[str] | None = None

    def settled_in(self, text: str) -> bool:
        return self.settled_by is not None and _mentions(self.settled_by, text)


@lru_cache(maxsize=16384)
def _mentions(pattern: re.Pattern[str], text: str) -> bool:
    """Whether ``pattern`` finds ``text`` (lowered). Cached: every chat turn of the offline
    LLM reads the problem and all earlier answers against each open probe again."""
    return bool(pattern.search(text.lower()))


Branch: TypeAlias = tuple[Action, Action]
"""What to try, in order, when a fork option is chosen."""


@dataclass(frozen=True, slots=True)
class Playbook:
    """What the offline assistant knows about one domain."""

    label: str
    """Technical name of the problem area, for engineers."""
    plain: str
    """The same in plain language, for the client."""
    probes: tuple[Probe, Probe, Probe]
    actions: tuple[Action, Action, Action, Action]
    """General actions; the first is the cheapest check, offered before the fork."""
    fork: Fork
    branches: tuple[Branch, Branch, Branch]
    """One branch per fork option, in the fork's order."""
    cause: str
    """The likely cause when the first check fixes it."""

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(probe.question for probe in self.probes)

    def __post_init__(self) -> None:
        if len(self.branches) != len(self.fork.options):
            raise ValueError(f"{self.label}: one branch per fork option")


_Steps: TypeAlias = tuple[Action | str, Action | str]
"""A branch as written in `PLAYBOOKS`: a general action may stand as its title."""


def _playbook(
    label: str,
    plain: str,
    *,
    probes: tuple[Probe, Probe, Probe],
    actions: tuple[Action, Action, Action, Action],
    fork: Fork,
    branches: tuple[_Steps, _Steps, _Steps],
    cause: str,
) -> Playbook:
    """A `Playbook` whose branches may name one of its general ``actions`` by its title
    instead of writing it again."""
    general = {action.title: action for action in actions}

    def branch(steps: _Steps) -> Branch:
        first, second = (general[step] if isinstance(step, str) else step for step in steps)
        return first, second

    first, second, third = (branch(steps) for steps in branches)
    return Playbook(
        label,
        plain,
        probes=probes,
        actions=actions,
        fork=fork,
        branches=(first, second, third),
        cause=cause,
    )


def _probe(text: str, why: str | None, settled_by: str | None) -> Probe:
    pattern = re.compile(settled_by) if settled_by is not None else None
    return Probe(Question(text, why), pattern)


_SCOPE: Final = (
    r"\b(every ?(one|body)|all (the )?(users|staff|devices|pcs|mailboxes|printers)|nobody"
    r"|no ?one|whole (office|site|company|team|tenant|floor)|(company|site|tenant)-wide"
    r"|one user|single user|(only|just) (me|one|him|her|this user|the one)|several (users|people)"
    r"|one mailbox|several mailboxes|shared mailbox|multiple users)\b"
)

# A data table, laid out by hand for reading; a branch names a general action by its title
# rather than writing it again (`_playbook`).
# fmt: off
PLAYBOOKS: Final[Mapping[ProblemDomain, Playbook]] = {
    ProblemDomain.NETWORK: _playbook(
        "network connectivity", "your network connection",
        probes=(
            _probe("Is it one user or device, or everyone at the site?",
                   "Scope separates a device problem from a site, ISP or VPN problem.", _SCOPE),
            _probe("Does it fail on every network (office, home, hotspot) or only on one?",
                   "A failure on one network only points at its DHCP, DNS or firewall.",
                   r"\b(every network|all networks|(only|just) (at|in|on|from) (the )?"
                   r"(office|home|site|hotspot|guest)|(only|just) on (the )?(wi-?fi|ethernet|"
                   r"cable|guest))\b"),
            _probe("What fails exactly: no connection, name resolution, or drops/slowness?",
                   None,
                   r"\b(drops?|dropping|disconnects?|slow\w*|dns|name resolution|resolve|"
                   r"no connection|169\.254|no ip|latency|packet loss)\b"),
        ),
        actions=(
            Action("Check the IP configuration",
                   "Confirm a valid DHCP lease (not 169.254.x.x), the right gateway and DNS.",
                   command="ipconfig /all"),
            Action("Test the gateway, the internet and DNS separately",
                   "Ping the gateway, then 8.8.8.8, then resolve a name: the first failure is "
                   "the broken layer.",
                   command="ping <gateway> && ping 8.8.8.8 && nslookup microsoft.com"),
            Action("Flush DNS and renew the lease",
                   command="ipconfig /flushdns && ipconfig /release && ipconfig /renew"),
            Action("Reconnect the VPN and read its log",
                   "Look for authentication, certificate or phase 2 errors."),
        ),
        fork=Fork("Where does the first test fail?", (
            ForkOption("No valid IP address", "DHCP, the switch port or Wi-Fi association"),
            ForkOption("Names do not resolve", "DNS settings or the DNS server"),
            ForkOption("Only the VPN fails", "VPN client, credentials or the concentrator"),
        )),
        branches=(
            (Action("Renew the lease and check the DHCP scope",
                    "If it stays 169.254.x.x after a renew, check the scope is not full and "
                    "the DHCP server answers.",
                    command="ipconfig /release && ipconfig /renew"),
             Action("Check the switch port or the Wi-Fi association",
                    "Try another port and cable; on Wi-Fi, forget the network and join again.")),
            (Action("Point the device at the right DNS servers",
                    "Use the servers from the DHCP scope (domain controllers or the router), "
                    "not a public resolver.",
                    command="nslookup <internal-name> <dns-server>"),
             Action("Test the DNS server itself",
                    "Query it directly; if it does not answer, restart its DNS service.",
                    command="nslookup microsoft.com <dns-server>", risk="medium")),
            ("Reconnect the VPN and read its log",
             Action("Check the VPN account and certificate",
                    "Confirm the user is in the VPN group, the password is current and the "
                    "certificate has not expired.")),
        ),
        cause="a stale DHCP lease or wrong DNS servers on the device",
    ),
    ProblemDomain.EMAIL: _playbook(
        "email / Outlook", "your email",
        probes=(
            _probe("Does it affect one mailbox or several?",
                   "Several mailboxes point at the service or mail flow, one at the client.",
                   _SCOPE),
            _probe("Does the same mailbox work in Outlook on the web (OWA)?",
                   "If OWA works, the mailbox and the service are fine: the client is left.",
                   r"\b(owa|outlook on the web|webmail|web mail|outlook\.office\.com)\b"),
            _probe("Is there an error text or code (e.g. 0x800CCC0E, an NDR 5.7.x)?", None,
                   r"\b(0x[0-9a-f]{8}|ndr|5\.\d\.\d+|error code|no error)\b"),
        ),
        actions=(
            Action("Test the mailbox in Outlook on the web",
                   "Sign in at outlook.office.com as the user; send and receive a test message."),
            Action("Create a new Outlook profile",
                   "Control Panel → Mail → Show Profiles → Add; make it the default, reopen.",
                   command="outlook.exe /profiles"),
            Action("Trace the message",
                   "In Exchange Online PowerShell, find the message and its delivery status.",
                   command="Get-MessageTrace -RecipientAddress <user@domain>"),
            Action("Rebuild the offline cache",
                   "Close Outlook and rename the .ost file; Outlook downloads the mailbox again."),
        ),
        fork=Fork("What did the Outlook on the web test show?", (
            ForkOption("OWA works, Outlook does not", "The Outlook profile or its cache"),
            ForkOption("OWA fails too", "The mailbox, its licence or the service"),
            ForkOption("Mail is delayed or bounces", "Mail flow: MX, SPF or transport rules"),
        )),
        branches=(
            ("Create a new Outlook profile",
             "Rebuild the offline cache"),
            (Action("Check the licence and the mailbox in the admin center",
                    "Users → the user: an Exchange licence assigned, sign-in allowed, the "
                    "mailbox not full."),
             Action("Check Exchange Online service health",
                    "M365 admin center → Health → Service health → Exchange Online.")),
            ("Trace the message",
             Action("Check MX, SPF and the transport rules",
                    "Look up the domain's MX and SPF records and any transport rule that "
                    "matches the sender.",
                    command="nslookup -type=mx <domain> && nslookup -type=txt <domain>")),
        ),
        cause="the mailbox or the service, since the web test was enough to bring mail back",
    ),
    ProblemDomain.IDENTITY: _playbook(
        "sign-in / identity", "signing in to your account",
        probes=(
            _probe("Is the account locked out, disabled, or is the password just rejected?",
                   "Each state has a different fix and a different owner.",
                   r"\b(locked|lockout|disabled|rejected|expired|wrong password)\b"),
            _probe("Is it an on-premises AD account, a cloud Entra ID account, or synced?",
                   "It decides where the account is unlocked and where the logs are.",
                   r"\b(on-?prem\w*|entra|azure ad|active directory|synced|hybrid|"
                   r"cloud(-only)? account)\b"),
            _probe("Does the MFA prompt reach the user's registered device?", None,
                   r"\b(mfa|prompt|authenticator|push|2fa|code)\b"),
        ),
        actions=(
            Action("Check the account's state",
                   "Look at the lockout, enabled and password-expiry flags.",
                   command="Get-ADUser <user> -Properties LockedOut,Enabled,PasswordExpired"),
            Action("Read the sign-in logs",
                   "Entra admin center → Sign-in logs: the failure code says why (50126 bad "
                   "password, 50053 locked, 50074 MFA required)."),
            Action("Unlock the account and reset the password",
                   "Reset it with the user present; clear old credentials on their devices.",
                   command="Unlock-ADAccount <user>", risk="medium"),
            Action("Re-register the MFA methods",
                   "Require re-registration and have the user set up the authenticator again.",
                   risk="medium"),
        ),
        fork=Fork("What do the sign-in logs say?", (
            ForkOption("Bad password or locked out", "Unlock, reset, clear cached passwords"),
            ForkOption("MFA not completed", "Authenticator or phone number registration"),
            ForkOption("Blocked by Conditional Access", "Policy, location or device state"),
        )),
        branches=(
            ("Unlock the account and reset the password",
             Action("Find the device that keeps the old password",
                    "The lockout event 4740 on the PDC emulator names the device still trying it.",
                    command="Get-WinEvent -FilterHashtable @{LogName='Security';Id=4740}")),
            ("Re-register the MFA methods",
             Action("Check the phone's clock and the authenticator app",
                    "A wrong clock breaks codes; update the app and allow its notifications.")),
            (Action("Read which policy blocked the sign-in",
                    "The sign-in log entry's Conditional Access tab names the policy and the "
                    "condition that failed."),
             Action("Bring the device or the location into policy",
                    "Make the device compliant in Intune or add the trusted location, rather "
                    "than excluding the user.", risk="medium")),
        ),
        cause="a locked or expired account state that the check cleared",
    ),
    ProblemDomain.PRINTING: _playbook(
        "printing", "printing",
        probes=(
            _probe("Is it one user or everyone printing to this printer?",
                   "Everyone points at the printer or the print server, one user at the PC.",
                   _SCOPE),
            _probe("Is the printer online, and does a test page print from its own panel?",
                   "A test page from the panel rules out the hardware.",
                   r"\b(test page|self-test|configuration page)\b"),
            _probe("Is there an error on the printer or a job stuck in the queue?", None,
                   r"\b(error|stuck|jam\w*|queue)\b"),
        ),
        actions=(
            Action("Clear the queue and restart the spooler",
                   command="net stop spooler && del /q %systemroot%\\System32\\spool\\PRINTERS\\*"
                           " && net start spooler"),
            Action("Check the printer on the network",
                   "Ping its IP address, open its web page, check it kept its reserved IP.",
                   command="ping <printer-ip>"),
            Action("Reinstall the printer driver",
                   "Remove the printer and its driver package, then add it again.",
                   command="printui /s /t2", risk="medium"),
            Action("Check the queue on the print server",
                   "Look for stuck jobs and errors in the server's PrintService log."),
        ),
        fork=Fork("What did the checks show?", (
            ForkOption("The printer is unreachable", "Network, IP reservation or power"),
            ForkOption("Jobs stay in the queue", "Spooler or driver"),
            ForkOption("It prints garbage", "Driver or printer language"),
        )),
        branches=(
            ("Check the printer on the network",
             Action("Reserve the printer's IP address and fix the port",
                    "Give it a DHCP reservation and point the printer port at that address.")),
            ("Check the queue on the print server",
             "Reinstall the printer driver"),
            (Action("Switch the driver's printer language",
                    "Change PCL to PostScript (or back) in the printer properties, or use the "
                    "vendor's universal driver."),
             Action("Print a configuration page and update the firmware",
                    "A garbled configuration page means the printer itself: update its "
                    "firmware.")),
        ),
        cause="a stuck job blocking the spooler",
    ),
    ProblemDomain.ENDPOINT: _playbook(
        "workstation / laptop", "your computer",
        probes=(
            _probe("When did it start: after an update, new software or a restart?",
                   "A recent change is the most common cause and the easiest to undo.",
                   r"\b(since|after (the |an? )?(update|upgrade|restart|reboot|install\w*)|"
                   r"yesterday|this morning|last (week|night))\b"),
            _probe("Is it slow all the time or only with certain applications?",
                   "Always slow points at resources or the disk, one app at that app.",
                   r"\b(all the time|always|only (in|with|when)|every app\w*)\b"),
            _probe("Was there a blue screen stop code or an error message?", None,
                   r"\b(blue screen|bsod|stop code|error message|0x[0-9a-f]+|no error)\b"),
        ),
        actions=(
            Action("Check resource usage",
                   "Task Manager: sort by CPU, memory and disk to find what uses them.",
                   command="taskmgr"),
            Action("Repair the system files",
                   command="sfc /scannow && DISM /Online /Cleanup-Image /RestoreHealth"),
            Action("Free disk space and install pending updates",
                   "Keep 15% of the system disk free; install Windows and driver updates."),
            Action("Read the event log",
                   "Look for critical and error events around the time of the problem.",
                   command="eventvwr.msc"),
        ),
        fork=Fork("What does Task Manager show?", (
            ForkOption("The disk is at 100%", "Failing disk, indexing or updates"),
            ForkOption("One process uses the CPU or memory", "That application, or malware"),
            ForkOption("Nothing unusual", "Drivers, startup programs or hardware"),
        )),
        branches=(
            (Action("Check the disk's health",
                    "Read its SMART status: a failing disk is replaced before anything else.",
                    command="wmic diskdrive get model,status"),
             "Free disk space and install pending updates"),
            (Action("End or update the heavy process",
                    "End it, then update or reinstall its application; if you do not know "
                    "it, scan for malware."),
             Action("Scan the computer for malware",
                    "A full scan with the EDR or Microsoft Defender.",
                    command="MpCmdRun -Scan -ScanType 2")),
            (Action("Disable unneeded startup programs",
                    "Task Manager → Startup: disable what is not needed, then restart."),
             Action("Update the drivers and the BIOS",
                    "Use the vendor's update tool: chipset, storage and graphics drivers "
                    "first.")),
        ),
        cause="a runaway process that the check found and stopped",
    ),
    ProblemDomain.SERVER: _playbook(
        "server", "the server",
        probes=(
            _probe("Which server and role (file, domain controller, SQL, RDS)? VM or not?",
                   "The role decides which services and logs to check.",
                   r"\b(file server|domain controller|dc\d*|sql|rds|hyper-v|vmware|esxi|"
                   r"print server|exchange server|vm)\b"),
            _probe("Is the service down for everyone, or only slow?",
                   "Down points at a stopped service or storage, slow at resources.",
                   r"\b(down|slow\w*|unreachable|not responding|stopped|offline)\b"),
            _probe("What changed recently: patches, a restart, storage, certificates?", None,
                   r"\b(patch\w*|update\w*|restart\w*|reboot\w*|certificate\w*|nothing changed)"
                   r"\b"),
        ),
        actions=(
            Action("Find automatic services that are not running",
                   command="Get-Service | Where-Object {$_.StartType -eq 'Automatic' -and "
                           "$_.Status -ne 'Running'}"),
            Action("Check disk space and resources",
                   "A full system or data volume stops services and databases.",
                   command="Get-PSDrive -PSProvider FileSystem"),
            Action("Read the System and Application logs",
                   "Look for service, disk and certificate errors since the problem began.",
                   command="eventvwr.msc"),
            Action("Restart the failed service",
                   "Restart it in a quiet moment; tell users first if it is shared.",
                   command="Restart-Service <name>", risk="medium"),
        ),
        fork=Fork("What did you find?", (
            ForkOption("A service is stopped", "Its dependency, account or licence"),
            ForkOption("A volume is full", "Logs, shadow copies or backups"),
            ForkOption("Everything looks healthy", "Network, DNS or the client side"),
        )),
        branches=(
            ("Restart the failed service",
             Action("Check the service's account and dependencies",
                    "An expired service-account password or a stopped dependency keeps it "
                    "from starting.",
                    command="sc qc <name>")),
            (Action("Free space on the full volume",
                    "Move or delete old logs, shadow copies and local backups; keep 15% free.",
                    command="vssadmin list shadowstorage"),
             Action("Grow the volume",
                    "Extend the virtual disk and the partition if cleaning up is not enough.",
                    risk="medium")),
            (Action("Test the server from a client",
                    "Reach it by name and by address and open the share or service from a "
                    "user's PC.",
                    command="Test-NetConnection <server> -Port <port>"),
             "Read the System and Application logs"),
        ),
        cause="an automatic service that had stopped",
    ),
    ProblemDomain.SECURITY: _playbook(
        "security incident", "the security concern you reported",
        probes=(
            _probe("What happened: a reported phishing email, a click, or a malware alert?",
                   "It decides how urgent containment is.",
                   r"\b(phish\w*|click\w*|malware|alert|ransomware|reported|virus)\b"),
            _probe("Did the user enter credentials or open an attachment?",
                   "Entered credentials mean the account must be treated as compromised.",
                   r"\b(entered|typed|opened|credentials|attachment|did not (enter|open)|"
                   r"nobody interacted)\b"),
            _probe("Which devices and accounts are involved?", None,
                   r"\b(only (the|her|his|their|one) (laptop|pc|device|account)|"
                   r"(laptop|pc|device|workstation) and (the )?account)\b"),
        ),
        actions=(
            Action("Contain: isolate the device",
                   "Isolate it in the EDR console or unplug it from the network.", risk="high"),
            Action("Reset the password and revoke sessions",
                   "Then check the mailbox's inbox rules and the MFA methods.",
                   command="Revoke-MgUserSignInSession -UserId <user>", risk="medium"),
            Action("Purge the message from every mailbox",
                   "Search for it by sender and subject and remove it tenant-wide.",
                   risk="medium"),
            Action("Run a full EDR / antivirus scan of the device"),
        ),
        fork=Fork("What did you find?", (
            ForkOption("Credentials were entered", "Treat the account as compromised"),
            ForkOption("Malware ran or was flagged", "Treat the device as compromised"),
            ForkOption("Reported only, nobody interacted", "Purge and block the sender"),
        )),
        branches=(
            ("Reset the password and revoke sessions",
             Action("Look for rogue inbox rules and forwarding",
                    "Rules or forwarding added since the click mean the mailbox was used.",
                    command="Get-InboxRule -Mailbox <user>")),
            ("Run a full EDR / antivirus scan of the device",
             Action("Reimage the device",
                    "If the scan cannot clean it, wipe and reinstall it from a known-good "
                    "image.", risk="high")),
            ("Purge the message from every mailbox",
             Action("Block the sender and the link",
                    "Add the sender and the URL to the tenant's block list.")),
        ),
        cause="a contained incident: the device was isolated before anything spread",
    ),
    ProblemDomain.CLOUD: _playbook(
        "Microsoft 365 / cloud service", "your Microsoft 365 / cloud services",
        probes=(
            _probe("Which service: an M365 app, SharePoint/OneDrive/Teams, Azure or AWS?",
                   "Each has its own health page and admin portal.",
                   r"\b(sharepoint|onedrive|teams|outlook|excel|word|azure|aws|intune|"
                   r"exchange online)\b"),
            _probe("Is it one user, the whole tenant, or a known outage?",
                   "A tenant-wide problem is usually on the provider's side.",
                   _SCOPE[:-3] + r"|outage)\b"),
            _probe("Is there an error message or a correlation id?", None,
                   r"\b(error|correlation)\b"),
        ),
        actions=(
            Action("Check service health",
                   "M365 admin center → Health → Service health (or the Azure / AWS status)."),
            Action("Check the user's licence and roles",
                   "A missing licence or role shows as access denied or a missing app."),
            Action("Sign out everywhere and clear cached credentials",
                   "Clear the Windows Credential Manager entries, then sign in again."),
            Action("Try a private browser window", "It rules out cookies and extensions."),
        ),
        fork=Fork("What does service health show?", (
            ForkOption("An active incident", "Wait for the provider; tell the client"),
            ForkOption("Healthy, only this user", "Licence, roles or the user's device"),
            ForkOption("Healthy, several users", "Tenant configuration or policies"),
        )),
        branches=(
            (Action("Follow the incident and tell the client",
                    "Subscribe to its updates; send the client the provider's status."),
             Action("Offer a workaround",
                    "The desktop or the web version, or a colleague's shared copy, until the "
                    "provider fixes it.")),
            ("Check the user's licence and roles",
             "Sign out everywhere and clear cached credentials"),
            (Action("Review recent tenant changes",
                    "The audit log: Conditional Access, sharing and licence changes since it "
                    "began."),
             Action("Compare an affected user with a working one",
                    "Group memberships, licences and policies: the difference is the cause.")),
        ),
        cause="a provider-side incident or a stale sign-in that the check cleared",
    ),
    ProblemDomain.OTHER: _playbook(
        "IT", "your IT issue",
        probes=(
            _probe("What exactly is the user trying to do, and what happens instead?",
                   "A precise symptom is the fastest way to the cause.", None),
            _probe("When did it last work, and what changed since?",
                   "Most problems follow a change.",
                   r"\b(since|after|yesterday|last (week|worked|night)|this morning)\b"),
            _probe("How many users are affected?", None, _SCOPE),
        ),
        actions=(
            Action("Reproduce the problem yourself", "Note the exact error and the time."),
            Action("Restart the application or the device"),
            Action("Check the logs and recent changes"),
            Action("Search the vendor's knowledge base for the exact error"),
        ),
        fork=Fork("What did reproducing it show?", (
            ForkOption("I can reproduce it", "It is not specific to the user"),
            ForkOption("Only for this user", "The user's profile, device or permissions"),
            ForkOption("I cannot reproduce it", "Intermittent: gather times and errors"),
        )),
        branches=(
            ("Search the vendor's knowledge base for the exact error",
             Action("Update or reinstall the application",
                    "Install the vendor's latest version, or repair the installation.",
                    risk="medium")),
            (Action("Try a fresh profile",
                    "Sign the user in on another device, or create a new local profile."),
             Action("Compare permissions with a colleague",
                    "Group memberships and file or application permissions.")),
            (Action("Have the user note the time and take a screenshot next time",
                    "An exact time finds the matching log entries."),
             "Check the logs and recent changes"),
        ),
        cause="a local glitch that the first check cleared",
    ),
}
# fmt: on
