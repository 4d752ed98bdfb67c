"""How sessions look in a terminal: the type badge, statuses, confidence, tables, details.

The plan's visual differentiators: guided sessions are cyan with a route-like mark
(``◆ Guided``), chat sessions violet with a speech mark (``● Chat``); the marks tell them
apart without colour too. Text from people or the assistant is always wrapped in `Text`,
never parsed as rich markup (``[offline assistant]`` is not a style).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from resolutionflow_cli.output import clean
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.delivery import DeliveryState
from resolutionflow_core.guided import ConfidenceTier, StepKind, tier_for
from resolutionflow_core.kinds import SessionType
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.markers import parse_markers

if TYPE_CHECKING:  # what is drawn, named for type checkers (the aggregate is only read)
    from resolutionflow_core.chat import ConversationMessage
    from resolutionflow_core.delivery import Delivery
    from resolutionflow_core.guided import GuidedStep
    from resolutionflow_core.keys import ApiKey
    from resolutionflow_core.listing import SessionSummary
    from resolutionflow_core.markers import ParsedReply
    from resolutionflow_core.session import Session
    from resolutionflow_core.updates import StatusUpdateDraft

TYPE_BADGES: dict[SessionType, tuple[str, str]] = {
    SessionType.GUIDED: ("◆ Guided", "bold cyan"),
    SessionType.CHAT: ("● Chat", "bold violet"),
}

STATUS_STYLES: dict[SessionStatus, str] = {
    SessionStatus.ACTIVE: "bold green",
    SessionStatus.PAUSED: "yellow",
    SessionStatus.RESOLVED: "blue",
    SessionStatus.ESCALATED: "bold red",
    SessionStatus.ABANDONED: "dim",
}

TIER_STYLES: dict[ConfidenceTier, str] = {
    ConfidenceTier.DISCOVERY: "yellow",
    ConfidenceTier.EXPLORING: "cyan",
    ConfidenceTier.GUIDED: "bold green",
}

STEP_KINDS: dict[StepKind, str] = {
    StepKind.QUESTION: "Question",
    StepKind.ACTION: "Action",
    StepKind.RESOLUTION_SUGGESTION: "Resolution suggestion",
    StepKind.FORK: "Fork",
}


# -- small pieces ---------------------------------------------------------------------------


def type_badge(session_type: SessionType) -> Text:
    label, style = TYPE_BADGES[session_type]
    return Text(label, style=style)


def status_text(status: SessionStatus) -> Text:
    return Text(status.value, style=STATUS_STYLES[status])


def confidence_text(score: float | None, *, bar: bool = True) -> Text:
    """``▰▰▰▰▱▱▱▱▱▱ 45% exploring``: the score and its tier, in the tier's colour."""
    if score is None:
        return Text("—", style="dim")
    tier = tier_for(score)
    style = TIER_STYLES[tier]
    text = Text()
    if bar:
        filled = round(score * 10)
        text.append("▰" * filled, style=style).append("▱" * (10 - filled), style="dim")
        text.append(" ")
    text.append(f"{score:.0%} ", style=style).append(tier.value, style=style)
    return text


def moment(value: datetime | None) -> str:
    """A time as the operator reads it: local time, to the minute."""
    return "—" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M")


def ticket_text(provider: str | None, ticket_id: str | None) -> Text:
    if ticket_id is None:
        return Text("—", style="dim")
    return Text(clean(f"{provider} #{ticket_id}"))


# -- lists ----------------------------------------------------------------------------------


OPTIONAL_COLUMNS: tuple[tuple[str, int], ...] = (
    ("OWNER", 100),
    ("STEPS", 100),
    ("CONFIDENCE", 118),
    ("LAST ACTIVITY", 136),
    ("TICKET", 150),
)
"""Columns shown from a console width on: the id, type, status and title always fit."""


def sessions_table(rows: Iterable[SessionSummary], width: int) -> Table:
    """The history in ``width`` columns: on a narrow terminal the optional columns give way,
    the id stays whole and the title is cut with an ellipsis."""
    shown = [name for name, from_width in OPTIONAL_COLUMNS if width >= from_width]
    cells = [_session_cells(row, shown) for row in rows]
    headers = ["ID", "TYPE", "STATUS", "TITLE", *shown]
    widths = [max([len(h)] + [c[i].cell_len for c in cells]) for i, h in enumerate(headers)]
    others = sum(widths) - widths[3] + 2 * (len(headers) - 1)
    table = Table(header_style="bold", box=None, pad_edge=False)
    for header in headers:
        table.add_column(
            Text(header),  # not a str: rich would look it over for markup and :emoji: codes
            no_wrap=True,
            overflow="ellipsis",
            style="dim" if header == "ID" else "",
            justify="right" if header == "STEPS" else "left",
            max_width=max(10, min(60, width - others)) if header == "TITLE" else None,
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    return table


def _session_cells(row: SessionSummary, optional: list[str]) -> list[Text]:
    cells = {
        "OWNER": Text(clean(row.user_id)),
        "STEPS": Text(str(row.step_count)),
        "CONFIDENCE": confidence_text(row.confidence_score, bar=False),
        "LAST ACTIVITY": Text(moment(row.last_activity_at)),
        "TICKET": ticket_text(row.psa_provider, row.psa_ticket_id),
    }
    fixed = [
        Text(str(row.id)),
        type_badge(row.session_type),
        status_text(row.status),
        Text(clean(row.display_title)),
    ]
    return fixed + [cells[name] for name in optional]


def keys_table(keys: Iterable[ApiKey]) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("ID", "KEY", "ACCOUNT", "USER", "ROLE", "LABEL", "CREATED", "STATE"):
        table.add_column(column, no_wrap=column != "LABEL")
    for key in keys:
        state = (
            Text("active", style="green")
            if key.is_active
            else Text(f"revoked {moment(key.revoked_at)}", style="dim")
        )
        table.add_row(
            str(key.id),
            f"rf_{key.prefix}_…",
            Text(clean(key.actor.account_id)),
            Text(clean(key.actor.user_id)),
            key.actor.role.value,
            Text(clean(key.label)),
            moment(key.created_at),
            state,
        )
    return table


# -- one session ----------------------------------------------------------------------------


def session_header(session: Session) -> Table:
    """Who, what, where it stands: the facts of a session as a two-column grid."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    title = session.title or session.problem_summary or "Untitled session"
    grid.add_row("Session", Text.assemble(type_badge(session.session_type), "  ", clean(title)))
    grid.add_row("ID", str(session.id))
    grid.add_row("Status", status_text(session.status))
    grid.add_row("Owner", Text(clean(f"{session.user_id} (account {session.account_id})")))
    if session.problem_summary:
        domain = f" [{session.problem_domain}]" if session.problem_domain else ""
        grid.add_row("Problem", Text(clean(session.problem_summary + domain)))
    if session.session_type is SessionType.GUIDED:
        grid.add_row("Confidence", confidence_text(session.confidence_score))
        if session.matched_flow_id:
            score = f" (match {session.match_score:.0%})" if session.match_score else ""
            grid.add_row("Flow", Text(clean(session.matched_flow_id + score)))
    unit = "step" if session.session_type is SessionType.GUIDED else "message"
    count = f"{session.step_count} {unit}{'' if session.step_count == 1 else 's'}"
    grid.add_row("Activity", f"{count}, last {moment(session.last_activity_at)}")
    grid.add_row("Created", moment(session.created_at))
    for label, value in _closing_facts(session):
        grid.add_row(label, value)
    grid.add_row("PSA ticket", _link_text(session))
    grid.add_row("Version", str(session.version))
    return grid


def _closing_facts(session: Session) -> Iterator[tuple[str, Text]]:
    if session.paused_at:
        yield "Paused", Text(moment(session.paused_at))
    if session.resolved_at:
        yield "Resolved", Text(moment(session.resolved_at))
    if session.resolution_summary:
        yield "Resolution", Text(clean(session.resolution_summary))
    if session.root_cause:
        yield "Root cause", Text(clean(session.root_cause))
    if session.escalated_at:
        yield "Escalated", Text(clean(f"{moment(session.escalated_at)} by {session.escalated_by}"))
    if session.escalation_reason:
        yield "Escalation reason", Text(clean(session.escalation_reason))
    if session.abandoned_at:
        yield "Abandoned", Text(moment(session.abandoned_at))
        reason = session.abandon_reason or "not given"
        yield "Abandon reason", Text(clean(reason), style="" if session.abandon_reason else "dim")


def _link_text(session: Session) -> Text:
    link = session.psa_link
    if link is None:
        return Text("not linked", style="dim")
    text = Text(clean(f"{link.provider} #{link.ticket_id}"))
    summary = link.snapshot.get("summary")
    if isinstance(summary, str) and summary:
        text.append(clean(f" — {summary}"))
    company = link.snapshot.get("company")
    if isinstance(company, str) and company:
        text.append(clean(f" ({company})"))
    text.append(f", linked {moment(link.linked_at)}", style="dim")
    return text


def conversation(messages: Iterable[ConversationMessage]) -> Iterator[RenderableType]:
    for message in messages:
        yield message_block(message)


def message_block(message: ConversationMessage) -> RenderableType:
    """A message with who wrote it; an assistant's with its markers parsed."""
    if message.role is MessageRole.USER:
        head = Text.assemble(("you", "bold"), ("  " + moment(message.created_at), "dim"))
        return Group(head, Padding(Text(clean(message.content)), (0, 0, 1, 2), expand=False))
    head = Text.assemble(("assistant", "bold violet"), ("  " + moment(message.created_at), "dim"))
    parsed = parse_markers(message.content)
    body: list[RenderableType] = [Text(clean(parsed.text))] if parsed.text else []
    body.extend(structure(parsed))
    return Group(head, Padding(Group(*body), (0, 0, 1, 2), expand=False))


def structure(reply: ParsedReply) -> Iterator[RenderableType]:
    """The questions, actions and forks a reply carried, as numbered lists."""
    if reply.questions:
        lines = Text("Questions", style="bold")
        for number, question in enumerate(reply.questions, 1):
            lines.append(clean(f"\n  {number}. {question.text}"))
            if question.why:
                lines.append(clean(f"\n     {question.why}"), style="dim")
        yield lines
    if reply.actions:
        lines = Text("Suggested actions", style="bold")
        for number, action in enumerate(reply.actions, 1):
            lines.append(clean(f"\n  {number}. {action.title}"))
            if action.risk:
                lines.append(clean(f"  [risk: {action.risk}]"), style="dim")
            if action.detail:
                lines.append(clean(f"\n     {action.detail}"), style="dim")
            if action.command:
                lines.append("\n     $ ", style="dim").append(clean(action.command), style="bold")
        yield lines
    for fork in reply.forks:
        lines = Text(clean(fork.question or "Which way?"), style="bold")
        for number, option in enumerate(fork.options, 1):
            lines.append(clean(f"\n  {number}. {option.label}"))
            if option.description:
                lines.append(clean(f" — {option.description}"), style="dim")
        yield lines


def step_block(step: GuidedStep, *, show_reasoning: bool = True) -> RenderableType:
    """A guided step: kind, content, numbered options, confidence, and the answer if given."""
    head = Text.assemble(
        (f"Step {step.number} · {STEP_KINDS[step.kind]}", "bold cyan"),
        "  ",
        confidence_text(step.confidence),
    )
    body: list[RenderableType] = [Text(clean(step.content))]
    if step.options:
        options = Text()
        for number, option in enumerate(step.options, 1):
            options.append(f"{'' if number == 1 else chr(10)}  {number}. ", style="bold")
            options.append(clean(option.label))
            if option.description:
                options.append(clean(f" — {option.description}"), style="dim")
        body.append(options)
    if show_reasoning and step.reasoning:
        body.append(Text(clean(f"Why: {step.reasoning}"), style="dim italic"))
    if step.response is not None:
        body.append(Text.assemble(("Answer: ", "bold"), clean(step.response)))
    return Group(head, Padding(Group(*body), (0, 0, 1, 2), expand=False))


def draft_panel(draft: StatusUpdateDraft) -> Panel:
    body = Text()
    if draft.subject:
        body.append("Subject: ", style="bold").append(clean(draft.subject)).append("\n\n")
    body.append(clean(draft.body))
    title = f"Status update · {draft.audience.value} · {draft.length.value}"
    return Panel(body, title=title, title_align="left", border_style="dim")


DELIVERY_STYLES: dict[DeliveryState, str] = {
    DeliveryState.PENDING: "yellow",
    DeliveryState.DELIVERED: "green",
    DeliveryState.FAILED: "bold red",
}


def deliveries_table(deliveries: Iterable[Delivery]) -> Table:
    """The notes due on the linked ticket and how their delivery stands."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("NOTE", "TICKET", "STATE", "ATTEMPTS", "WHEN", "LAST ERROR"):
        table.add_column(column, no_wrap=column != "LAST ERROR")
    for delivery in deliveries:
        due = delivery.due
        if delivery.state is DeliveryState.DELIVERED:
            at = f"delivered {moment(delivery.delivered_at)}"
        elif delivery.state is DeliveryState.PENDING:
            at = f"next try {moment(delivery.next_attempt_at)}"
        else:
            at = "gave up"
        table.add_row(
            due.note.kind.value,
            Text(clean(f"{due.ticket_provider} #{due.ticket_id}")),
            Text(delivery.state.value, style=DELIVERY_STYLES[delivery.state]),
            str(delivery.attempts),
            at,
            Text(clean(delivery.last_error or ""), style="dim"),
        )
    return table


def document_panel(title: str, text: str) -> Panel:
    return Panel(Text(clean(text)), title=title, title_align="left", border_style="dim")
