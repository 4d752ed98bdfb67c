"""The offline assistant as a troubleshooting partner: it follows the fork chosen, skips what
is already known, reacts to failures, never repeats itself and stays labelled offline."""

from __future__ import annotations

import asyncio
import copy
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolutionflow_core.chat import MessageRole
from resolutionflow_core.guided import ConfidenceTier, StepKind, tier_for
from resolutionflow_core.markers import Action, parse_markers
from resolutionflow_core.ports import StepProposal
from resolutionflow_core.session import ProblemDomain, Session
from resolutionflow_memory.llm import LABEL, MAX_CONFIDENCE, OfflineLLM
from resolutionflow_memory.playbooks import (
    PLAYBOOKS,
    Outcome,
    choose_option,
    read_answer,
    says_it_failed,
)
from tests.sessions import chat_session, guided_session

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
STILL_FAILING = "Done, still failing"
WORKED = "Done, it worked"

INTAKES = {
    ProblemDomain.NETWORK: "The VPN drops every ten minutes for remote users",
    ProblemDomain.EMAIL: "Outlook keeps asking for the password",
    ProblemDomain.IDENTITY: "User cannot sign in, the password is rejected",
    ProblemDomain.PRINTING: "The office printer is offline",
    ProblemDomain.ENDPOINT: "Laptop is very slow",
    ProblemDomain.SERVER: "The file server does not answer",
    ProblemDomain.SECURITY: "User clicked a phishing link",
    ProblemDomain.CLOUD: "SharePoint does not load",
    ProblemDomain.OTHER: "The coffee machine app shows a weird error",
}

FAILURE_REPORTS = (STILL_FAILING, "No, still failing", "didn't work", "It is not fixed", "no luck")
OTHER_ANSWERS = (
    WORKED,
    "Yes, resolved",
    "Could not do it",
    "Keep troubleshooting",
    "Resolve the session",
    "Escalate to a senior engineer",
    "Everyone at the site",
    "Only one user, since Monday",
    "ok",
)


def guided(text: str = INTAKES[ProblemDomain.PRINTING]) -> Session:
    return guided_session(text, n=1, user="eve", now=NOW)


def chat(first_message: str = INTAKES[ProblemDomain.EMAIL]) -> Session:
    return chat_session(first_message, n=2, user="eve", now=NOW)


async def propose(llm: OfflineLLM, session: Session) -> StepProposal:
    """The next step, added to the session (pending)."""
    proposal = await llm.next_step(session)
    session.add_step(proposal.step, now=NOW + timedelta(minutes=session.step_count))
    return proposal


def answer(session: Session, response: str) -> None:
    session.answer_step(response, now=NOW + timedelta(minutes=session.step_count), by="eve")


async def walk(session: Session, answers: list[str]) -> list[StepProposal]:
    """Propose and answer one step per answer, then propose the next (left pending)."""
    llm = OfflineLLM()
    proposals = []
    for response in answers:
        proposals.append(await propose(llm, session))
        answer(session, response)
    proposals.append(await propose(llm, session))
    return proposals


async def walk_to_fork(session: Session) -> StepProposal:
    """Answer questions with facts and actions with a failure until a fork is proposed."""
    llm = OfflineLLM()
    for _ in range(6):
        proposal = await propose(llm, session)
        if proposal.step.kind is StepKind.FORK:
            return proposal
        answer(session, STILL_FAILING if proposal.step.kind is StepKind.ACTION else "ok")
    raise AssertionError("no fork within six steps")


async def reply(llm: OfflineLLM, session: Session, message: str | None = None) -> str:
    """The assistant's reply (stored) to ``message`` (stored first), or to the first message."""
    if message is not None:
        session.add_message(MessageRole.USER, message, now=NOW, by="eve")
    text = (await llm.chat_reply(session)).text
    session.add_message(MessageRole.ASSISTANT, text, now=NOW, by=None)
    return text


async def converse(session: Session, messages: list[str]) -> list[str]:
    llm = OfflineLLM()
    replies = [await reply(llm, session)]
    for message in messages:
        replies.append(await reply(llm, session, message))
    return replies


def content(proposal: StepProposal) -> str:
    return proposal.step.content.removeprefix(LABEL).strip()


# -- reading answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        (STILL_FAILING, Outcome.FAILED),
        ("No, still failing", Outcome.FAILED),
        ("didn't work", Outcome.FAILED),
        ("It is not fixed", Outcome.FAILED),
        ("no change at all", Outcome.FAILED),
        (WORKED, Outcome.WORKED),
        ("Yes, resolved", Outcome.WORKED),
        ("Could not do it", Outcome.BLOCKED),
        ("Resolve the session", Outcome.RESOLVE),
        ("Escalate to a senior engineer", Outcome.ESCALATE),
        ("No, the test page fails too", Outcome.INFORMATION),
        ("Everyone at the site", Outcome.INFORMATION),
    ],
)
def test_answers_are_read_as_what_they_report(text: str, outcome: Outcome) -> None:
    assert read_answer(text) is outcome


def test_a_fork_answer_naming_an_option_is_a_choice_even_when_it_sounds_negative() -> None:
    options = ("No valid IP address", "Names do not resolve", "Only the VPN fails")

    assert read_answer("Names do not resolve", options) is Outcome.CHOICE
    assert read_answer("2", options) is Outcome.CHOICE
    assert choose_option("names do not resolve.", options) == 1
    assert choose_option("3", options) == 2
    assert choose_option("it looks like the VPN", options) == 2
    assert choose_option("no idea", options) is None


def test_a_branch_naming_a_general_action_by_its_title_gets_that_very_action() -> None:
    email = PLAYBOOKS[ProblemDomain.EMAIL]
    profile, cache, trace = email.actions[1], email.actions[3], email.actions[2]

    assert email.branches[0] == (profile, cache)
    assert email.branches[2][0] == trace
    assert trace.command == "Get-MessageTrace -RecipientAddress <user@domain>"
    assert all(
        isinstance(action, Action)
        for playbook in PLAYBOOKS.values()
        for branch in playbook.branches
        for action in branch
    )


# -- guided: what it asks ---------------------------------------------------------------


async def test_it_does_not_ask_the_scope_the_intake_already_gives() -> None:
    unknown = await walk(guided("The office printer is offline"), [])
    settled = await walk(guided("The office printer is offline for everyone"), [])

    assert content(unknown[0]) == "Is it one user or everyone printing to this printer?"
    assert content(settled[0]) == (
        "Is the printer online, and does a test page print from its own panel?"
    )
    assert "one user or everyone" in (settled[0].step.reasoning or "")
    assert (unknown[0].step.confidence, settled[0].step.confidence) == (0.25, 0.35)


async def test_an_answer_that_settles_the_next_question_skips_it() -> None:
    asked = await walk(guided("Outlook keeps asking for the password"), ["Only one mailbox"])
    skipped = await walk(
        guided("Outlook keeps asking for the password"), ["One mailbox, and OWA works fine"]
    )

    assert content(asked[1]) == "Does the same mailbox work in Outlook on the web (OWA)?"
    assert skipped[1].step.kind is StepKind.ACTION
    assert not any("OWA" in content(p) for p in skipped[1:] if p.step.kind is StepKind.QUESTION)


async def test_when_the_intake_says_it_all_the_first_step_is_an_action() -> None:
    session = guided("The VPN drops every ten minutes for everyone, only at the office")

    first = (await walk(session, []))[0]

    assert first.step.kind is StepKind.ACTION
    assert content(first).startswith("Check the IP configuration.")
    assert first.step.confidence == 0.55


# -- guided: the fork -------------------------------------------------------------------


@pytest.mark.parametrize("domain", list(ProblemDomain))
async def test_each_fork_option_leads_to_its_own_next_step(domain: ProblemDomain) -> None:
    book = PLAYBOOKS[domain]
    session = guided(INTAKES[domain])
    fork = await walk_to_fork(session)
    assert [o.label for o in fork.step.options] == [o.label for o in book.fork.options]

    next_steps = []
    for option, branch in zip(book.fork.options, book.branches, strict=True):
        chosen = copy.deepcopy(session)
        answer(chosen, option.label)
        step = (await OfflineLLM().next_step(chosen)).step
        next_steps.append(step.content)
        assert step.kind is StepKind.ACTION
        fresh = [a for a in branch if a.title not in [s.content for s in session.steps]]
        assert any(action.title in step.content for action in fresh), step.content
        assert f'"{option.label}"' in step.content

    assert len(set(next_steps)) == len(next_steps)


async def test_the_printing_fork_no_longer_always_leads_to_the_network_check() -> None:
    session = guided("The office printer is offline for everyone")
    await walk(session, ["The test page prints fine", STILL_FAILING])
    assert session.steps[-1].kind is StepKind.FORK

    answer(session, "It prints garbage")
    garbage = await OfflineLLM().next_step(session)

    assert "Check the printer on the network" not in garbage.step.content
    assert "Switch the driver's printer language" in garbage.step.content


# -- guided: failure --------------------------------------------------------------------


async def test_a_failure_is_never_answered_with_should_work_again() -> None:
    for domain, intake in INTAKES.items():
        proposals = await walk(guided(intake), ["ok", "ok", *[STILL_FAILING] * 8])
        for proposal in proposals[3:]:
            assert "should work again" not in proposal.step.content, domain
            assert "worked" not in proposal.step.content, domain
            assert "Yes, resolved" not in [o.label for o in proposal.step.options], domain


async def test_failed_fixes_lower_confidence_then_another_branch_then_escalation() -> None:
    session = guided("The office printer is offline for everyone")
    answers = ["The test page prints fine", STILL_FAILING, "Jobs stay in the queue"]
    proposals = await walk(session, [*answers, STILL_FAILING, STILL_FAILING, STILL_FAILING])
    queue_check, driver, other_branch, escalation = proposals[3:]

    assert content(queue_check).startswith('"Jobs stay in the queue" points at spooler')
    assert "Check the queue on the print server" in content(queue_check)
    assert content(driver) == (
        "That did not fix it. Next: Reinstall the printer driver. Remove the printer and its "
        "driver package, then add it again. Run: printui /s /t2"
    )
    assert content(other_branch).startswith(
        'That did not fix it, so try another branch, "The printer is unreachable": '
        "Check the printer on the network."
    )
    confidences = [p.step.confidence for p in (queue_check, driver, other_branch, escalation)]
    assert confidences == sorted(confidences, reverse=True)
    assert len(set(confidences)) == 4
    assert escalation.step.kind is StepKind.RESOLUTION_SUGGESTION
    assert [o.label for o in escalation.step.options][:2] == [
        "Escalate to a senior engineer",
        "Keep troubleshooting",
    ]
    assert content(escalation).startswith(
        '4 fixes did not solve it ("Clear the queue and restart the spooler"; '
        '"Check the queue on the print server"; "Reinstall the printer driver"; '
        '"Check the printer on the network").'
    )
    assert 'with the reason "printing: still failing after' in content(escalation)


async def test_keep_troubleshooting_after_the_escalation_suggestion_goes_on_with_new_checks() -> (
    None
):
    session = guided("The office printer is offline for everyone")
    answers = ["Test page prints", STILL_FAILING, "Jobs stay in the queue", *[STILL_FAILING] * 3]
    proposals = await walk(session, [*answers, "Keep troubleshooting"])

    after = proposals[-1]
    assert after.step.kind is StepKind.ACTION
    assert "Reserve the printer's IP address" in after.step.content


async def test_a_rejected_fix_confirmation_lowers_confidence_and_tries_something_else() -> None:
    session = guided("The office printer is offline for everyone")
    proposals = await walk(session, ["Test page prints", WORKED, "No, still failing"])
    confirmation, after = proposals[2], proposals[3]

    assert confirmation.step.kind is StepKind.RESOLUTION_SUGGESTION
    assert after.step.kind is StepKind.FORK
    assert content(after).startswith("That did not fix it.")
    assert after.step.confidence < confirmation.step.confidence


# -- guided: success --------------------------------------------------------------------


async def test_a_fix_that_worked_is_confirmed_in_the_guided_tier_then_resolved() -> None:
    session = guided("The office printer is offline for everyone")
    answers = ["Test page prints", STILL_FAILING, "Jobs stay in the queue", WORKED]
    proposals = await walk(session, [*answers, "Yes, resolved"])
    confirmation, wrap_up = proposals[4], proposals[5]

    confidences = [p.step.confidence for p in proposals]
    assert confidences == [0.35, 0.55, 0.45, 0.65, 0.85, 0.95]
    assert tier_for(confirmation.step.confidence) is ConfidenceTier.GUIDED
    assert content(confirmation).startswith(
        '"Check the queue on the print server" worked. Most likely cause: spooler or driver.'
    )
    assert content(confirmation).endswith("Did that resolve it?")
    assert content(wrap_up).startswith("Confirmed fixed. Resolve the session")
    assert wrap_up.step.confidence <= MAX_CONFIDENCE


async def test_choosing_to_escalate_says_how_with_the_reason() -> None:
    session = guided("The office printer is offline for everyone")
    answers = ["Test page prints", STILL_FAILING, "Jobs stay in the queue", *[STILL_FAILING] * 3]
    proposals = await walk(session, [*answers, "Escalate to a senior engineer"])

    assert content(proposals[-1]).startswith(
        'Escalate the session now with the reason "printing: still failing after'
    )
    assert proposals[-1].step.confidence == proposals[-2].step.confidence


# -- chat -------------------------------------------------------------------------------


async def test_a_chat_asks_only_the_questions_the_first_message_leaves_open() -> None:
    replies = await converse(chat("Outlook asks everyone in the office for the password"), [])

    asked = [q.text for q in parse_markers(replies[0]).questions]
    assert asked == [
        "Does the same mailbox work in Outlook on the web (OWA)?",
        "Is there an error text or code (e.g. 0x800CCC0E, an NDR 5.7.x)?",
    ]
    assert "already answers 1 usual question" in replies[0]


async def test_a_chat_goes_questions_checks_fork_then_the_chosen_branch() -> None:
    replies = await converse(chat(), ["One mailbox", "Did both, still failing", "OWA fails too"])
    parsed = [parse_markers(text) for text in replies]

    assert [len(p.questions) for p in parsed] == [3, 0, 0, 0]
    assert [a.title for a in parsed[1].actions] == [
        "Test the mailbox in Outlook on the web",
        "Create a new Outlook profile",
    ]
    assert "The first checks did not fix it." in parsed[2].text
    assert len(parsed[2].forks) == 1
    assert [a.title for a in parsed[3].actions] == [
        "Check the licence and the mailbox in the admin center",
        "Check Exchange Online service health",
    ]
    assert "points at the mailbox, its licence or the service" in parsed[3].text


async def test_a_chat_from_the_fourth_turn_on_never_repeats_and_ends_in_escalation() -> None:
    replies = await converse(chat(), ["One mailbox", *[STILL_FAILING] * 9])
    parsed = [parse_markers(text) for text in replies]

    assert len(set(replies)) == len(replies)
    titles = [[a.title for a in p.actions] for p in parsed]
    assert any("Escalate to a senior engineer" in t for t in titles)
    escalation = next(
        p
        for p in parsed
        if "Escalate to a senior engineer" in p.text
        or any(a.title == "Escalate to a senior engineer" for a in p.actions)
    )
    assert "did not solve it" in escalation.text
    assert 'with the reason "email / Outlook: still failing after' in escalation.text
    for text in replies[1:]:
        assert "sounds fixed" not in text
        assert "should work again" not in text


async def test_a_chat_message_saying_it_worked_gets_a_suggestion_to_resolve() -> None:
    replies = await converse(chat(), ["One mailbox", "Recreated the profile, it worked!"])

    parsed = parse_markers(replies[-1])
    assert "sounds fixed" in parsed.text
    assert "Most likely cause" in parsed.text
    assert [a.title for a in parsed.actions] == ["Confirm with the user", "Resolve the session"]


# -- properties over random conversations -----------------------------------------------

ANSWER = st.one_of(
    st.sampled_from(FAILURE_REPORTS),
    st.sampled_from(OTHER_ANSWERS),
    st.text(st.characters(blacklist_characters="\x00"), min_size=1, max_size=40).filter(str.strip),
)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _guided_conversation(data: st.DataObject) -> tuple[Session, list[StepProposal]]:
    intake = data.draw(st.sampled_from(sorted(INTAKES.values())), label="intake")
    session, llm = guided(intake), OfflineLLM()
    proposals = []
    for _ in range(data.draw(st.integers(1, 24), label="steps")):
        proposal = asyncio.run(propose(llm, session))
        proposals.append(proposal)
        labels = [o.label for o in proposal.step.options]
        choices = st.sampled_from(labels) if labels else ANSWER
        answer(session, data.draw(st.one_of(choices, ANSWER), label="answer"))
    proposals.append(asyncio.run(propose(llm, session)))
    return session, proposals


@PROPERTY
@given(st.data())
def test_a_guided_conversation_never_repeats_a_step(data: st.DataObject) -> None:
    _, proposals = _guided_conversation(data)

    contents = [p.step.content for p in proposals]
    assert len(set(contents)) == len(contents)
    assert all(text.startswith(LABEL) for text in contents)
    assert all((p.step.reasoning or "").startswith(LABEL) for p in proposals)
    assert all(0 < p.step.confidence <= MAX_CONFIDENCE for p in proposals)


@PROPERTY
@given(st.data())
def test_confidence_never_rises_after_a_reported_failure(data: st.DataObject) -> None:
    session, _ = _guided_conversation(data)

    for step, following in itertools.pairwise(session.steps):
        if step.response is not None and says_it_failed(step.response):
            if (
                step.kind is StepKind.FORK
                and choose_option(step.response, [o.label for o in step.options], exact=True)
                is not None
            ):
                continue  # a fork option that sounds negative ("Names do not resolve")
            assert following.confidence <= step.confidence, (step.response, step.content)


@PROPERTY
@given(st.data())
def test_a_chosen_fork_option_changes_the_next_step(data: st.DataObject) -> None:
    domain = data.draw(st.sampled_from(list(ProblemDomain)), label="domain")
    session = guided(INTAKES[domain])
    llm = OfflineLLM()
    for _ in range(8):
        proposal = asyncio.run(propose(llm, session))
        if proposal.step.kind is StepKind.FORK:
            break
        answer(session, data.draw(st.sampled_from(["ok", STILL_FAILING, "Could not do it"])))
    else:
        raise AssertionError("no fork within eight steps")
    first, second = data.draw(
        st.lists(
            st.integers(0, len(proposal.step.options) - 1), min_size=2, max_size=2, unique=True
        ),
        label="options",
    )

    def after(index: int) -> str:
        chosen = copy.deepcopy(session)
        answer(chosen, proposal.step.options[index].label)
        return asyncio.run(OfflineLLM().next_step(chosen)).step.content

    assert after(first) != after(second)


@PROPERTY
@given(st.data())
def test_a_chat_never_repeats_a_reply_and_follows_the_chosen_fork(data: st.DataObject) -> None:
    domain = data.draw(st.sampled_from(list(ProblemDomain)), label="domain")
    session, llm = chat(INTAKES[domain]), OfflineLLM()
    replies = [asyncio.run(reply(llm, session))]
    for _ in range(data.draw(st.integers(1, 14), label="turns")):
        forks = parse_markers(replies[-1]).forks
        labels = [o.label for o in forks[0].options] if forks else []
        choices = st.sampled_from(labels) if labels else ANSWER
        message = data.draw(st.one_of(choices, ANSWER), label="message")
        if forks:
            alternative = copy.deepcopy(session)
            other = (
                next(label for label in labels if label != message) if message in labels else None
            )
        replies.append(asyncio.run(reply(llm, session, message)))
        if forks and other is not None:
            assert asyncio.run(reply(llm, alternative, other)) != replies[-1]

    assert len(set(replies)) == len(replies)
    for text in replies:
        parsed = parse_markers(text)
        assert text.startswith(LABEL)
        assert parsed.has_structure is True
        assert "[ACTIONS]" not in parsed.text
        assert "[FORK]" not in parsed.text


async def test_choosing_to_escalate_after_the_fix_was_confirmed_still_says_how() -> None:
    session = guided("The office printer is offline for everyone")
    proposals = await walk(
        session, ["Test page prints", WORKED, "Yes, resolved", "Escalate to a senior engineer"]
    )

    assert content(proposals[3]).startswith("Confirmed fixed.")
    assert content(proposals[4]).startswith(
        'Escalate the session now with the reason "printing: needs a senior engineer after 4 steps"'
    )


async def test_a_chat_fork_answered_by_number_follows_that_option_then_a_yes_wraps_up() -> None:
    first = "The VPN drops every ten minutes for everyone, only at the office"
    replies = await converse(chat(first), ["Did both, still failing", "2", "That fixed it", "yes"])
    parsed = [parse_markers(text) for text in replies]

    assert not parsed[0].questions  # the first message settles all three questions
    assert parsed[0].actions[0].title == "Check the IP configuration"
    assert parsed[2].text.startswith(
        '[offline assistant] "Names do not resolve": that points at DNS settings'
    )
    assert parsed[2].actions[0].title == "Point the device at the right DNS servers"
    assert "Most likely cause: DNS settings or the DNS server." in parsed[3].text
    assert [a.title for a in parsed[4].actions] == ["Write the resolution summary"]
