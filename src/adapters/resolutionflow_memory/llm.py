"""An offline, deterministic LLM: scripted troubleshooting for demos and tests, no network.

Everything it writes is labelled as offline (``[offline assistant]``, ``model="offline"``).
The same session state always gives the same output: no randomness, no clock, no I/O.

- The problem domain comes from keywords of the intake and the first messages.
- Guided sessions follow a short per-domain script (two questions, an action, a fork, a
  second action, a resolution suggestion) chosen by the number of answered steps; confidence
  rises with every step (0.25 → 0.45 → 0.6 → 0.75 → 0.85 → 0.92) and never passes 0.95.
  An answer saying it worked ("Done, it worked", "fixed", "yes, resolved") jumps to the
  resolution suggestion; after the script it keeps suggesting to resolve or escalate.
- Chat replies ask questions first, then suggest actions, then offer a fork, each as an
  assistant marker block (`render_markers`), so the marker parser finds them.

For tests of the services, `fail_next_calls` makes the next calls raise an `LLMError`,
optionally part-way through a stream.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final

from resolutionflow_core import documentation
from resolutionflow_core.chat import MessageRole, make_title
from resolutionflow_core.errors import LLMError, LLMUnavailable
from resolutionflow_core.guided import GuidedStep, ProposedStep, StepKind, StepOption
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.markers import (
    Action,
    Fork,
    ForkOption,
    ParsedReply,
    Question,
    parse_markers,
    render_markers,
)
from resolutionflow_core.ports import (
    AssistantReply,
    ReplyCompleted,
    ReplyEvent,
    SessionDescription,
    StepProposal,
    TextDelta,
)
from resolutionflow_core.session import ProblemDomain, Session, SessionType
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
from resolutionflow_core.usage import TokenUsage

MODEL: Final = "offline"
LABEL: Final = "[offline assistant]"
FOOTER: Final = "— Drafted by the offline assistant (scripted, no AI model was used)."

CONFIDENCE_SCHEDULE: Final = (0.25, 0.45, 0.6, 0.75, 0.85, 0.92)
"""Confidence of each scripted step, crossing the tier thresholds 0.4 and 0.8."""

MAX_CONFIDENCE: Final = 0.95
"""The offline assistant is never certain."""

SUMMARY_CHARS: Final = 200
WORDS_PER_DELTA: Final = 4

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
    domain, _ = _domain_hits(text)
    return domain


def _domain_hits(text: str) -> tuple[ProblemDomain, int]:
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
class _Playbook:
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
_PLAYBOOKS: Final[Mapping[ProblemDomain, _Playbook]] = {
    ProblemDomain.NETWORK: _Playbook(
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
    ProblemDomain.EMAIL: _Playbook(
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
    ProblemDomain.IDENTITY: _Playbook(
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
    ProblemDomain.PRINTING: _Playbook(
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
    ProblemDomain.ENDPOINT: _Playbook(
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
    ProblemDomain.SERVER: _Playbook(
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
    ProblemDomain.SECURITY: _Playbook(
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
    ProblemDomain.CLOUD: _Playbook(
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
    ProblemDomain.OTHER: _Playbook(
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


def _script(book: _Playbook) -> tuple[tuple[StepKind, str, tuple[StepOption, ...], str], ...]:
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


# -- the adapter ------------------------------------------------------------------------


@dataclass(slots=True)
class _Failures:
    remaining: int = 0
    error: LLMError | None = None
    after_deltas: int = 0


class OfflineLLM:
    """The `LLM` port without a model: scripted, deterministic, clearly labelled offline.

    ``chunk_delay`` (seconds) slows streamed deltas down for demos; by default a stream only
    yields control between deltas.
    """

    def __init__(self, *, chunk_delay: float = 0.0) -> None:
        self._chunk_delay = chunk_delay
        self._failures = _Failures()
        self._calls: list[str] = []

    @property
    def calls(self) -> tuple[str, ...]:
        """The port methods called so far, in order (``"chat_reply"``, ``"next_step"``...)."""
        return tuple(self._calls)

    def fail_next_calls(
        self, count: int, error: LLMError | None = None, *, after_deltas: int = 0
    ) -> None:
        """Make the next ``count`` calls raise ``error`` (`LLMUnavailable` by default).

        Every async port method counts as a call; a failing stream first yields
        ``after_deltas`` deltas (at most all of them, never the `ReplyCompleted`).
        """
        self._failures = _Failures(
            remaining=count,
            error=error or LLMUnavailable("offline assistant: injected failure"),
            after_deltas=after_deltas,
        )

    # -- the port -------------------------------------------------------------------------

    def system_prompt(self, session_type: SessionType) -> str:
        common = (
            "You are ResolutionFlow's OFFLINE assistant: scripted and deterministic, no AI "
            "model and no network (for demos and tests). You help MSP engineers troubleshoot "
            "their clients' IT problems."
        )
        if session_type is SessionType.GUIDED:
            return (
                f"{common} Guide the engineer one question or action at a time, with a "
                "confidence that rises as the cause narrows, and end with a resolution "
                "suggestion."
            )
        return (
            f"{common} Answer the chat; put questions in [QUESTIONS], suggested actions in "
            "[ACTIONS] and choices in [FORK] blocks of JSON."
        )

    async def chat_reply(self, session: Session) -> AssistantReply:
        self._begin("chat_reply")
        return self._reply(session)

    async def stream_chat_reply(self, session: Session) -> AsyncIterator[ReplyEvent]:
        failure = self._take_failure("stream_chat_reply")
        fail_after = self._failures.after_deltas
        reply = self._reply(session)
        chunks = _chunks(reply.text)
        for index, chunk in enumerate(chunks):
            if failure is not None and index >= fail_after:
                raise failure
            if index:
                await asyncio.sleep(self._chunk_delay)
            yield TextDelta(chunk)
        if failure is not None:
            raise failure
        yield ReplyCompleted(reply)

    async def next_step(self, session: Session) -> StepProposal:
        self._begin("next_step")
        domain, hits = _domain_hits(_problem_text(session))
        kind, content, options, reasoning, position = _next_in_script(session, domain)
        previous = session.steps[-1].confidence if session.steps else 0.0
        scheduled = CONFIDENCE_SCHEDULE[min(position, len(CONFIDENCE_SCHEDULE) - 1)]
        confidence = round(min(MAX_CONFIDENCE, max(scheduled, previous + 0.01)), 2)
        step = ProposedStep(
            kind=kind,
            content=f"{LABEL} {content}",
            options=options,
            reasoning=f"{LABEL} {_PLAYBOOKS[domain].label} script: {reasoning}",
            confidence=confidence,
            matched_flow_id=None if domain is ProblemDomain.OTHER else f"offline-{domain}",
            match_score=None if domain is ProblemDomain.OTHER else min(1.0, 0.5 + 0.1 * hits),
        )
        return StepProposal(
            step, _usage(self.system_prompt(session.session_type), session, step.content)
        )

    async def describe(self, session: Session) -> SessionDescription:
        self._begin("describe")
        text = _problem_text(session, first_only=True) or "Problem not described yet."
        summary = " ".join(text.split())
        if len(summary) > SUMMARY_CHARS:
            summary = make_title(summary, SUMMARY_CHARS)
        return SessionDescription(
            summary=summary,
            domain=detect_domain(_problem_text(session)),
            title=session.title or make_title(summary),
        )

    async def draft_status_update(
        self, session: Session, audience: Audience, length: UpdateLength
    ) -> StatusUpdateDraft:
        self._begin("draft_status_update")
        detailed = length is UpdateLength.DETAILED
        if audience is Audience.TICKET_NOTE:
            return StatusUpdateDraft(
                audience=audience, length=length, body=_ticket_note(session, detailed)
            )
        body = _client_update(session, detailed)
        if audience is Audience.CLIENT:
            return StatusUpdateDraft(audience=audience, length=length, body=f"{body}\n\n{FOOTER}")
        return StatusUpdateDraft(
            audience=audience,
            length=length,
            subject=_email_subject(session),
            body=f"Hello,\n\n{body}\n\nKind regards,\nYour IT support team\n\n{FOOTER}",
        )

    # -- internals ------------------------------------------------------------------------

    def _begin(self, method: str) -> None:
        failure = self._take_failure(method)
        if failure is not None:
            raise failure

    def _take_failure(self, method: str) -> LLMError | None:
        self._calls.append(method)
        if self._failures.remaining <= 0 or self._failures.error is None:
            return None
        self._failures.remaining -= 1
        return self._failures.error.with_traceback(None)  # each raise: a fresh traceback

    def _reply(self, session: Session) -> AssistantReply:
        text = _chat_text(session)
        usage = _usage(self.system_prompt(session.session_type), session, text)
        return AssistantReply(text=text, model=MODEL, usage=usage)


# -- guided -----------------------------------------------------------------------------


def _next_in_script(
    session: Session, domain: ProblemDomain
) -> tuple[StepKind, str, tuple[StepOption, ...], str, int]:
    """The next step's kind, content, options, reasoning, and its position in the schedule."""
    book = _PLAYBOOKS[domain]
    script = _script(book)
    answered = [step for step in session.steps if step.response is not None]
    last = answered[-1] if answered else None
    wrapped_up = any(step.kind is StepKind.RESOLUTION_SUGGESTION for step in answered)
    if not wrapped_up and last is not None and says_it_worked(last.response or ""):
        kind, content, options, _ = script[-1]
        return kind, content, options, "the last answer says it worked: confirm.", len(script)
    if not wrapped_up and len(answered) < len(script):
        kind, content, options, reasoning = script[len(answered)]
        return kind, content, options, reasoning, len(answered)
    return (*_wrap_up(book, last), len(script))


def _wrap_up(
    book: _Playbook, last: GuidedStep | None
) -> tuple[StepKind, str, tuple[StepOption, ...], str]:
    answer = (last.response or "") if last is not None else ""
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


# -- chat -------------------------------------------------------------------------------


def _chat_text(session: Session) -> str:
    user_messages = [m.content for m in session.conversation_messages if m.role is MessageRole.USER]
    last = user_messages[-1] if user_messages else session.intake_text
    turn = max(len(user_messages), 1)
    book = _PLAYBOOKS[detect_domain(_problem_text(session))]
    quote = _quote(last)
    if turn > 1 and says_it_worked(last):
        reply = ParsedReply(
            f'{LABEL} Good news: "{quote}" sounds fixed. Confirm with the user that it works, '
            "then resolve the session with a short summary so the resolution note reaches the "
            "ticket.",
            actions=(
                Action("Confirm with the user", "Have them retry what failed before.", None, "low"),
                Action("Resolve the session", "Summarise the cause and the fix.", None, "low"),
            ),
        )
    elif turn == 1:
        reply = ParsedReply(
            f'{LABEL} Problem area: {book.label}. You wrote: "{quote}". To narrow it down, '
            "answer these first:",
            questions=book.questions,
        )
    elif turn == 2:
        reply = ParsedReply(
            f'{LABEL} Thanks, noted: "{quote}". For this {book.label} problem, start with '
            "these checks, in order:",
            actions=book.actions[:2],
        )
    elif turn == 3:
        reply = ParsedReply(
            f'{LABEL} Noted: "{quote}". Which of these fits best? It decides where we go next:',
            forks=(book.fork,),
        )
    else:
        escalate = Action(
            "Escalate to a senior engineer",
            "If these do not fix it, escalate: the escalation package lists what was tried.",
            None,
            "low",
        )
        reply = ParsedReply(
            f'{LABEL} Noted: "{quote}". The remaining {book.label} checks, then escalate if '
            "it still fails:",
            actions=(*book.actions[2:], escalate),
        )
    return render_markers(reply)


def _quote(message: str, limit: int = 120) -> str:
    """The message on one line, short, with no brackets that could read as a marker tag."""
    flat = " ".join(message.replace("[", "(").replace("]", ")").replace('"', "'").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _chunks(text: str) -> list[str]:
    """``text`` in pieces of a few words, whitespace kept, adding up to exactly ``text``."""
    words = re.findall(r"\s*\S+\s*", text) or [text]
    return ["".join(words[i : i + WORDS_PER_DELTA]) for i in range(0, len(words), WORDS_PER_DELTA)]


# -- shared -----------------------------------------------------------------------------


def _problem_text(session: Session, *, first_only: bool = False) -> str:
    """What the problem was described as: the intake, the ticket, the first user messages."""
    parts = (
        [session.intake_text]
        if session.intake_text
        else [value for value in session.intake_content.values() if isinstance(value, str)][:3]
    )
    if first_only and any(p.strip() for p in parts):
        return " ".join(parts).strip()
    if session.psa_link is not None:
        summary = session.psa_link.snapshot.get("summary")
        if isinstance(summary, str):
            parts.append(summary)
    user_messages = [m.content for m in session.conversation_messages if m.role is MessageRole.USER]
    for message in user_messages[:3]:
        if message not in parts:  # a chat's first message is its intake too
            parts.append(message)
    return " ".join(p for p in parts if p.strip()).strip()


def _usage(system_prompt: str, session: Session, output: str) -> TokenUsage:
    """Plausible token counts (about four characters a token) from the text lengths."""
    context = len(system_prompt) + len(_problem_text(session))
    context += sum(len(m.content) for m in session.conversation_messages)
    context += sum(len(s.content) + len(s.response or "") for s in session.steps)
    return TokenUsage(input_tokens=max(1, context // 4), output_tokens=max(1, len(output) // 4))


# -- status updates ---------------------------------------------------------------------

_STATUS_TECHNICAL: Final = {
    SessionStatus.ACTIVE: "In progress",
    SessionStatus.PAUSED: "On hold",
    SessionStatus.RESOLVED: "Resolved",
    SessionStatus.ESCALATED: "Escalated to a senior engineer",
    SessionStatus.ABANDONED: "Closed without a fix",
}

_STATUS_PLAIN: Final = {
    SessionStatus.ACTIVE: "We are actively working on it.",
    SessionStatus.PAUSED: "Work on it is paused for the moment; we will pick it up again shortly.",
    SessionStatus.RESOLVED: "Good news: it is resolved.",
    SessionStatus.ESCALATED: "We have passed it to a senior engineer for a closer look.",
    SessionStatus.ABANDONED: (
        "We have closed this request for now; let us know if it still affects you."
    ),
}

_NEXT_PLAIN: Final = {
    SessionStatus.ACTIVE: "We will keep you posted as we narrow it down.",
    SessionStatus.PAUSED: "We will update you when work resumes.",
    SessionStatus.RESOLVED: "Please let us know if anything still does not work as expected.",
    SessionStatus.ESCALATED: "The senior engineer will contact you if they need anything.",
    SessionStatus.ABANDONED: "Reply to this message if you would like us to look again.",
}


def _domain_of(session: Session) -> ProblemDomain:
    return session.problem_domain or detect_domain(_problem_text(session))


def _next_technical(session: Session) -> str | None:
    pending = session.pending_step
    if pending is not None:
        return pending.content
    for message in reversed(session.conversation_messages):
        if message.role is MessageRole.ASSISTANT:
            return " ".join(parse_markers(message.content).text.split())[:300] or None
    return None


def _ticket_note(session: Session, detailed: bool) -> str:
    status = _STATUS_TECHNICAL[session.status]
    kind = "guided" if session.session_type is SessionType.GUIDED else "chat"
    unit = "steps" if kind == "guided" else "messages"
    head = f"Status: {status} ({kind} session, {session.step_count} {unit}"
    if session.confidence_score is not None:
        head += f", confidence {session.confidence_score:.0%}, {session.confidence_tier} tier"
    lines = [head + ")"]
    if detailed:
        lines.append(f"Domain: {_domain_of(session)}")
    problem = documentation.problem_statement(session)
    lines.append(f"Problem: {problem if detailed else _short(problem, 160)}")
    found = documentation.findings(session)
    if detailed:
        lines.append("Checked so far:")
        lines.extend(f"- {item}" for item in found or ["Nothing yet."])
    elif found:
        lines.append(f"Latest: {found[-1]}")
    if session.root_cause and detailed:
        lines.append(f"Root cause: {session.root_cause}")
    if session.resolution_summary:
        lines.append(f"Resolution: {session.resolution_summary}")
    if session.escalation_reason:
        lines.append(f"Escalation reason: {session.escalation_reason}")
    upcoming = _next_technical(session)
    if upcoming and not session.is_closed:
        lines.append(f"Next: {upcoming if detailed else _short(upcoming, 160)}")
    if detailed and session.psa_link is not None:
        lines.append(f"PSA: {session.psa_link.provider} ticket {session.psa_link.ticket_id}")
    return "\n".join([*lines, "", FOOTER])


def _client_update(session: Session, detailed: bool) -> str:
    book = _PLAYBOOKS[_domain_of(session)]
    about = _short(session.title or documentation.problem_statement(session), 80)
    first = f'An update on the issue with {book.plain} ("{about}"). {_STATUS_PLAIN[session.status]}'
    paragraphs = [first]
    if session.status is SessionStatus.RESOLVED and session.resolution_summary:
        paragraphs.append(f"What fixed it: {_short(session.resolution_summary, 300)}")
    if detailed:
        checks = len(documentation.findings(session))
        done = (
            f"So far we have worked through {checks} troubleshooting "
            f"step{'s' if checks != 1 else ''}."
            if checks
            else "We have started looking into it."
        )
        paragraphs.append(done)
        paragraphs.append(_NEXT_PLAIN[session.status])
    return "\n\n".join(paragraphs)


def _email_subject(session: Session) -> str:
    about = _short(session.title or documentation.problem_statement(session), 80)
    subject = f"{_STATUS_TECHNICAL[session.status]}: {about}"
    if session.psa_link is not None:
        subject = f"[Ticket #{session.psa_link.ticket_id}] {subject}"
    return subject


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
