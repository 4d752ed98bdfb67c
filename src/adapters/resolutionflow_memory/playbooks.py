"""What the offline assistant knows: problem domains, answer reading and per-domain playbooks.

Pure, deterministic content for `resolutionflow_memory.llm.OfflineLLM`: no session, no
randomness, no clock, no I/O.

- `detect_domain` picks the problem domain from keywords (`DOMAIN_KEYWORDS`, in priority
  order); `says_it_worked` reads an answer as reporting the problem fixed.
- `PLAYBOOKS` holds a `Playbook` per domain: three questions, four actions, a fork and a
  resolution suggestion, in technical and plain-language wording.
- `script_of` lays a playbook out as the guided script (two questions, an action, a fork, a
  second action, a resolution suggestion); `wrap_up` is the step after the script: resolve
  if the last answer says it is fixed, otherwise escalate or resolve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from resolutionflow_core.guided import StepKind, StepOption
from resolutionflow_core.markers import Action, Fork, ForkOption, Question
from resolutionflow_core.session import ProblemDomain

ScriptStep: TypeAlias = tuple[StepKind, str, tuple[StepOption, ...], str]
"""A scripted guided step: its kind, content, options and reasoning."""

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


_POSITIVE: Final = re.compile(r"\b(worked|works now|working now|fixed|resolved|solved)\b")
_NEGATIVE: Final = re.compile(r"\b(not|no|never|still|fail\w*)\b|n't\b")
_RESOLVE: Final = re.compile(r"\s*resolve\b")
"""An answer choosing to resolve ("Resolve the session")."""


def says_it_worked(answer: str) -> bool:
    """Whether an engineer's answer reports the problem fixed ("Done, it worked")."""
    lowered = answer.lower()
    return bool(_POSITIVE.search(lowered)) and not _NEGATIVE.search(lowered)


# -- playbooks --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Playbook:
    """What the offline assistant knows about one domain."""

    label: str
    """Technical name of the problem area, for engineers."""
    plain: str
    """The same in plain language, for the client."""
    questions: tuple[Question, Question, Question]
    actions: tuple[Action, Action, Action, Action]
    fork: Fork
    resolution: str


# A data table, laid out by hand for reading.
# fmt: off
PLAYBOOKS: Final[Mapping[ProblemDomain, Playbook]] = {
    ProblemDomain.NETWORK: Playbook(
        "network connectivity", "your network connection",
        questions=(
            Question("Is it one user or device, or everyone at the site?",
                     "Scope separates a device problem from a site, ISP or VPN problem."),
            Question("Does it fail on every network (office, home, hotspot) or only on one?",
                     "A failure on one network only points at its DHCP, DNS or firewall."),
            Question("What fails exactly: no connection, name resolution, or drops/slowness?"),
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
        resolution="Most likely cause: a stale DHCP lease or wrong DNS servers on the device. "
                   "Renew the lease and flush DNS; if it comes back, correct the DNS servers "
                   "in the site's DHCP scope. Did that resolve it?",
    ),
    ProblemDomain.EMAIL: Playbook(
        "email / Outlook", "your email",
        questions=(
            Question("Does it affect one mailbox or several?",
                     "Several mailboxes point at the service or mail flow, one at the client."),
            Question("Does the same mailbox work in Outlook on the web (OWA)?",
                     "If OWA works, the mailbox and the service are fine: the client is left."),
            Question("Is there an error text or code (e.g. 0x800CCC0E, an NDR 5.7.x)?"),
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
        resolution="Most likely cause: a damaged Outlook profile or offline cache. A new "
                   "profile (and a rebuilt .ost) should bring mail back; remove the old profile "
                   "once it works. Did that resolve it?",
    ),
    ProblemDomain.IDENTITY: Playbook(
        "sign-in / identity", "signing in to your account",
        questions=(
            Question("Is the account locked out, disabled, or is the password just rejected?",
                     "Each state has a different fix and a different owner."),
            Question("Is it an on-premises AD account, a cloud Entra ID account, or synced?",
                     "It decides where the account is unlocked and where the logs are."),
            Question("Does the MFA prompt reach the user's registered device?"),
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
        resolution="Most likely cause: the account locked out after repeated bad passwords, "
                   "often an old password cached on a phone or a mapped drive. Unlock it, reset "
                   "the password and clear stored credentials. Did that resolve it?",
    ),
    ProblemDomain.PRINTING: Playbook(
        "printing", "printing",
        questions=(
            Question("Is it one user or everyone printing to this printer?",
                     "Everyone points at the printer or the print server, one user at the PC."),
            Question("Is the printer online, and does a test page print from its own panel?",
                     "A test page from the panel rules out the hardware."),
            Question("Is there an error on the printer or a job stuck in the queue?"),
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
        resolution="Most likely cause: a stuck job blocking the spooler (or a corrupt driver). "
                   "With the queue cleared and the spooler restarted, printing should work "
                   "again. Did that resolve it?",
    ),
    ProblemDomain.ENDPOINT: Playbook(
        "workstation / laptop", "your computer",
        questions=(
            Question("When did it start: after an update, new software or a restart?",
                     "A recent change is the most common cause and the easiest to undo."),
            Question("Is it slow all the time or only with certain applications?",
                     "Always slow points at resources or the disk, one app at that app."),
            Question("Was there a blue screen stop code or an error message?"),
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
        resolution="Most likely cause: a runaway process or damaged system files. With system "
                   "files repaired and updates installed it should be back to normal. Did that "
                   "resolve it?",
    ),
    ProblemDomain.SERVER: Playbook(
        "server", "the server",
        questions=(
            Question("Which server and role (file, domain controller, SQL, RDS)? VM or not?",
                     "The role decides which services and logs to check."),
            Question("Is the service down for everyone, or only slow?",
                     "Down points at a stopped service or storage, slow at resources."),
            Question("What changed recently: patches, a restart, storage, certificates?"),
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
        resolution="Most likely cause: a stopped service or a full volume on the server. With "
                   "space freed and the service restarted, it should respond again. Did that "
                   "resolve it?",
    ),
    ProblemDomain.SECURITY: Playbook(
        "security incident", "the security concern you reported",
        questions=(
            Question("What happened: a reported phishing email, a click, or a malware alert?",
                     "It decides how urgent containment is."),
            Question("Did the user enter credentials or open an attachment?",
                     "Entered credentials mean the account must be treated as compromised."),
            Question("Which devices and accounts are involved?"),
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
        resolution="Contained: the device is clean, the account secured (password reset, "
                   "sessions revoked, no rogue inbox rules) and the message purged. Did that "
                   "resolve it?",
    ),
    ProblemDomain.CLOUD: Playbook(
        "Microsoft 365 / cloud service", "your Microsoft 365 / cloud services",
        questions=(
            Question("Which service: an M365 app, SharePoint/OneDrive/Teams, Azure or AWS?",
                     "Each has its own health page and admin portal."),
            Question("Is it one user, the whole tenant, or a known outage?",
                     "A tenant-wide problem is usually on the provider's side."),
            Question("Is there an error message or a correlation id?"),
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
        resolution="Most likely cause: the user's licence or a stale cached sign-in. With the "
                   "licence checked and a fresh sign-in, the service should work again. Did "
                   "that resolve it?",
    ),
    ProblemDomain.OTHER: Playbook(
        "IT", "your IT issue",
        questions=(
            Question("What exactly is the user trying to do, and what happens instead?",
                     "A precise symptom is the fastest way to the cause."),
            Question("When did it last work, and what changed since?",
                     "Most problems follow a change."),
            Question("How many users are affected?"),
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
        resolution="The checks so far point at a local problem that a restart and the vendor's "
                   "fix clear. Did that resolve it?",
    ),
}
# fmt: on

# -- the guided script -------------------------------------------------------------------

_DONE_OPTIONS: Final = (
    StepOption(label="Done, it worked"),
    StepOption(label="Done, still failing"),
    StepOption(label="Could not do it", description="Say why in the answer"),
)
_RESOLVED_OPTIONS: Final = (
    StepOption(label="Yes, resolved"),
    StepOption(label="No, still failing"),
)
_WRAP_UP_OPTIONS: Final = (
    StepOption(label="Resolve the session"),
    StepOption(label="Escalate to a senior engineer"),
)


def _action_text(action: Action) -> str:
    parts = [action.title + "."]
    if action.detail:
        parts.append(action.detail)
    if action.command:
        parts.append(f"Run: {action.command}")
    return " ".join(parts)


def script_of(book: Playbook) -> tuple[ScriptStep, ...]:
    """The guided script: kind, content, options and reasoning of each step, in order."""
    first, second, _ = book.questions
    fork_options = tuple(
        StepOption(label=o.label, description=o.description) for o in book.fork.options
    )
    return (
        (StepKind.QUESTION, first.text, (), first.why or "Establish the scope first."),
        (StepKind.QUESTION, second.text, (), second.why or "Narrow down where it fails."),
        (StepKind.ACTION, _action_text(book.actions[0]), _DONE_OPTIONS, "The cheapest check."),
        (StepKind.FORK, book.fork.question, fork_options, "The result decides the branch."),
        (StepKind.ACTION, _action_text(book.actions[1]), _DONE_OPTIONS, "The usual fix."),
        (StepKind.RESOLUTION_SUGGESTION, book.resolution, _RESOLVED_OPTIONS, "Confirm the fix."),
    )


def wrap_up(book: Playbook, answer: str) -> ScriptStep:
    """The step after the script, given the last answer (``""`` if none): resolve or escalate."""
    if says_it_worked(answer) or _RESOLVE.match(answer.lower()):
        content = (
            "Confirmed fixed. Resolve the session with a short summary of the cause and the fix, "
            "so the resolution note goes into the ticket."
        )
        return StepKind.RESOLUTION_SUGGESTION, content, _WRAP_UP_OPTIONS, "it is fixed."
    content = (
        f"The usual {book.label} fixes did not solve it. Escalate to a senior engineer (the "
        "escalation package lists everything tried so far), or resolve the session if you "
        "fixed it another way."
    )
    return StepKind.RESOLUTION_SUGGESTION, content, _WRAP_UP_OPTIONS, "the script is exhausted."
