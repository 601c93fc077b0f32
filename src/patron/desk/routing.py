"""Routing new tickets to agents, and canned replies.

**Routing** (``PATRON_DESK_ROUTING``: ``least_loaded`` by default, ``round_robin`` or ``off``)
picks among the active agents with a desk profile who can take the ticket:

1. the ticket's team, when it has one;
2. skills: the ticket's language, shop and type must be in the agent's lists (an empty list
   means any);
3. capacity: fewer open tickets (not resolved or closed) than the agent's capacity;
4. VIP: a customer of the high-value tier goes to a VIP agent when one can take it, else to
   anyone who can.

``least_loaded`` takes the agent with the fewest open tickets (ties: the one who waited longest
since their last ticket); ``round_robin`` the one who waited longest. Nobody able: the ticket
stays unassigned in the queue, and its history says why.

**Canned replies** are named texts per language with placeholders ``{customer_name}``,
``{ticket}``, ``{order}`` and ``{agent}``; an unknown placeholder is refused when the reply is
saved, not when an agent uses it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from patron.core.errors import InvalidInput, NotFound
from patron.desk import repository as repo
from patron.models import AgentProfile, CannedReply, Ticket

STRATEGIES = ("least_loaded", "round_robin", "off")
PLACEHOLDERS = ("customer_name", "ticket", "order", "agent")


def _fits(profile: AgentProfile, ticket: Ticket, shop_code: str | None) -> bool:
    return (
        (ticket.team_id is None or profile.team_id == ticket.team_id)
        and (not profile.languages or ticket.language in profile.languages)
        and (not profile.shops or (shop_code is not None and shop_code in profile.shops))
        and (not profile.types or ticket.type in profile.types)
    )


def choose(
    profiles: list[AgentProfile],
    load: Mapping[int, int],
    ticket: Ticket,
    *,
    shop_code: str | None,
    tier: str | None,
    strategy: str,
) -> AgentProfile | None:
    """The agent to take ``ticket`` (pure: the profiles and their open-ticket counts given)."""
    able = [
        p
        for p in profiles
        if p.active and load.get(p.user_id, 0) < p.capacity and _fits(p, ticket, shop_code)
    ]
    if tier == "high_value" and any(p.vip for p in able):
        able = [p for p in able if p.vip]
    if not able:
        return None

    def waited(p: AgentProfile) -> tuple[float, int]:
        return (p.last_assigned_at.timestamp() if p.last_assigned_at else float("-inf"), p.user_id)

    if strategy == "round_robin":
        return min(able, key=waited)
    return min(able, key=lambda p: (load.get(p.user_id, 0), *waited(p)))


def route(
    session: Session, ticket: Ticket, *, shop_code: str | None, tier: str | None, strategy: str, now: datetime
) -> int | None:
    """Assign ``ticket`` to an agent by ``strategy``; returns the agent's user id or None."""
    if strategy not in STRATEGIES:
        raise InvalidInput(
            f"unknown routing {strategy!r}", code="routing_bad_strategy", data={"allowed": STRATEGIES}
        )
    if strategy == "off":
        return None
    profiles = repo.agent_profiles(session, active_only=True)
    if not profiles:
        return None
    agent = choose(
        profiles,
        repo.open_load(session, [p.user_id for p in profiles]),
        ticket,
        shop_code=shop_code,
        tier=tier,
        strategy=strategy,
    )
    if agent is None:
        return None
    ticket.assignee_id = agent.user_id
    agent.last_assigned_at = now
    return agent.user_id


# -- canned replies ---------------------------------------------------------------------------


def _placeholders(body: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(body) if name is not None}
    except ValueError as e:
        raise InvalidInput(
            f"the reply has a broken placeholder: {e}", code="canned_bad_placeholder"
        ) from None


def save_canned(session: Session, *, name: str, lang: str, body: str) -> CannedReply:
    if lang not in ("zh", "en"):
        raise InvalidInput("a canned reply is in zh or en", code="canned_bad_lang")
    if not name.strip() or not body.strip():
        raise InvalidInput("a canned reply needs a name and a text", code="canned_empty")
    unknown = sorted(_placeholders(body) - set(PLACEHOLDERS))
    if unknown:
        raise InvalidInput(
            f"unknown placeholder {', '.join('{' + u + '}' for u in unknown)}; use "
            + ", ".join("{" + p + "}" for p in PLACEHOLDERS),
            code="canned_bad_placeholder",
            data={"unknown": unknown},
        )
    row = repo.canned_reply(session, name.strip(), lang)
    if row is None:
        row = repo.add(session, CannedReply(name=name.strip(), lang=lang, body=body))
    row.body = body
    return row


def canned_replies(session: Session, lang: str | None = None) -> list[CannedReply]:
    return repo.canned_replies(session, lang)


def render_canned(session: Session, name: str, lang: str, values: Mapping[str, str]) -> str:
    """The reply with its placeholders filled (a missing value becomes empty text)."""
    row = repo.canned_reply(session, name, lang)
    if row is None:
        raise NotFound(f"no canned reply {name!r} in {lang}", code="canned_not_found")
    return row.body.format(**{p: values.get(p, "") for p in PLACEHOLDERS})
