"""Routing new tickets to agents (skills, capacity, VIP, least loaded, round robin) and canned
replies; the routing on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine
from test_tickets import T0, shop  # noqa: F401 - the fixture is used by name

from conftest import table_rows
from patron.accounts import service as accounts
from patron.core.db import session_scope
from patron.core.errors import InvalidInput, NotFound
from patron.desk import aftersales, routing, service
from patron.desk.service import DeskConfig, NewTicket
from patron.models import AgentProfile, CustomerScore, ScoreRun, Ticket


def profile(user_id: int, **kw: object) -> AgentProfile:
    values = {"capacity": 5, "languages": [], "shops": [], "types": [], "vip": False, "active": True,
              "team_id": None, "last_assigned_at": None} | kw  # fmt: skip
    return AgentProfile(user_id=user_id, **values)


def pick(
    profiles: list[AgentProfile],
    load: dict[int, int],
    strategy: str = "least_loaded",
    shop_code: str = "site",
    tier: str | None = None,
    **ticket: object,
) -> int | None:
    t = Ticket(**({"language": "zh", "type": "inquiry", "team_id": None} | ticket))
    chosen = routing.choose(profiles, load, t, shop_code=shop_code, tier=tier, strategy=strategy)
    return chosen.user_id if chosen else None


def test_choosing_an_agent() -> None:
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    a, b = profile(1, last_assigned_at=late), profile(2, last_assigned_at=early)
    assert pick([a, b], {1: 1, 2: 3}) == 1  # least loaded
    assert pick([a, b], {1: 2, 2: 2}) == 2  # tie: the one who waited longest
    assert pick([a, b], {1: 0, 2: 3}, "round_robin") == 2  # round robin ignores the load
    assert pick([a, b], {1: 5, 2: 5}) is None  # both full
    english = profile(3, languages=["en"])
    assert pick([english], {}) is None
    assert pick([english], {}, language="en") == 3
    returns = profile(4, types=["return", "exchange"])
    assert pick([returns], {}) is None
    assert pick([returns], {}, type="exchange") == 4
    tmall = profile(5, shops=["tmall"])
    assert pick([tmall], {}) is None
    team = profile(6, team_id=7)
    assert pick([team], {}, team_id=8) is None
    assert pick([team], {}, team_id=7) == 6
    assert pick([profile(7, active=False)], {}) is None


def test_vip_customers_go_to_vip_agents_when_one_can_take_them() -> None:
    vip, other = profile(1, vip=True), profile(2)
    assert pick([vip, other], {1: 4, 2: 0}, tier="high_value") == 1
    assert pick([vip, other], {1: 5, 2: 0}, tier="high_value") == 2  # the VIP agent is full
    assert pick([vip, other], {1: 1, 2: 0}, tier="general") == 2


def test_new_tickets_are_routed_and_the_history_says_so(engine: Engine, shop: dict[str, int]) -> None:  # noqa: F811
    with session_scope(engine) as s:
        eve = accounts.create_user(s, email="eve@x.test", name="Eve", password="password1", role="agent").id
        max_ = accounts.create_user(s, email="max@x.test", name="Max", password="password1", role="agent").id
        aftersales.set_agent(s, eve, capacity=2, vip=True)
        aftersales.set_agent(s, max_, capacity=2)
        run = ScoreRun(
            as_of=date(2026, 3, 1), status="completed", customers=2, reporting_currency="CNY", actor="t"
        )
        s.add(run)
        s.flush()
        s.add(
            CustomerScore(
                run_id=run.id,
                customer_id=shop["ada"],
                orders=1,
                spent_minor=1,
                state="active",
                tier="high_value",
            )
        )
    config = DeskConfig(timezone="UTC")
    assigned = []
    with session_scope(engine) as s:
        for i, customer in enumerate([shop["ada"], None, None, None, None]):
            t = service.create(s, NewTicket(subject=f"q{i}", body="b", customer_id=customer), actor="api",
                               config=config, now=T0 + timedelta(minutes=i))  # fmt: skip
            assigned.append(t.assignee_id)
    # Ada (high value) to the VIP agent Eve; then the least loaded (a tie: who waited longest);
    # nobody once both are full.
    assert assigned == [eve, max_, eve, max_, None]
    events = table_rows(engine, "SELECT data FROM ticket_events WHERE action = 'assigned' ORDER BY id")
    assert len(events) == 4
    with session_scope(engine) as s:
        off = service.create(
            s, NewTicket(subject="x", body="b"), actor="api", config=DeskConfig(routing="off")
        )
        assert off.assignee_id is None
        with pytest.raises(InvalidInput) as err:
            service.create(
                s, NewTicket(subject="x", body="b"), actor="api", config=DeskConfig(routing="random")
            )
        assert err.value.code == "routing_bad_strategy"


def test_canned_replies(engine: Engine) -> None:
    with session_scope(engine) as s:
        routing.save_canned(
            s, name="refund", lang="zh", body="{customer_name}您好，工单 {ticket} 的退款已处理。—{agent}"
        )
        routing.save_canned(
            s, name="refund", lang="en", body="Hi {customer_name}, the refund for {order} is on its way."
        )
        text = routing.render_canned(
            s, "refund", "zh", {"customer_name": "王女士", "ticket": "T-000042", "agent": "Eve"}
        )
        assert text == "王女士您好，工单 T-000042 的退款已处理。—Eve"
        assert routing.render_canned(s, "refund", "en", {"customer_name": "Sam"}) == (
            "Hi Sam, the refund for  is on its way."
        )
        for body, code in (
            ("Hi {name}", "canned_bad_placeholder"),
            ("Hi {", "canned_bad_placeholder"),
            (" ", "canned_empty"),
        ):
            with pytest.raises(InvalidInput) as err:
                routing.save_canned(s, name="x", lang="en", body=body)
            assert err.value.code == code
        with pytest.raises(NotFound):
            routing.render_canned(s, "refund", "fr", {})
        assert [(c.name, c.lang) for c in routing.canned_replies(s)] == [("refund", "en"), ("refund", "zh")]
