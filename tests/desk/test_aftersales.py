"""After-sales on both databases: the review against the return policy, remedies with their
commerce records, idempotency (also under concurrency), the refund limit and the window."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from test_tickets import T0, UTC_DESK, shop  # noqa: F401 - the fixture is used by name

from conftest import table_rows
from patron.accounts import service as accounts
from patron.core.db import session_scope
from patron.core.errors import Conflict, InvalidInput, PermissionDenied
from patron.desk import aftersales, service
from patron.desk.aftersales import Decision
from patron.desk.service import NewTicket


@pytest.fixture
def case(engine: Engine, shop: dict[str, int]) -> dict[str, int]:  # noqa: F811
    """Ada's broken 1,200.00 CNY order (placed 29 days before T0) and an agent allowed 500.00."""
    with session_scope(engine) as s:
        ticket = service.create(
            s, NewTicket(subject="破了", body="收到就是坏的", type="return", order_id=shop["ada_order"]),
            actor="api", config=UTC_DESK, now=T0,
        )  # fmt: skip
        agent = accounts.create_user(s, email="eve@x.test", name="Eve", password="password1", role="agent")
        aftersales.set_agent(s, agent.id, refund_limit_minor=50_000)
        return {"ticket": ticket.id, "agent": agent.id, **shop}


def act(
    engine: Engine, case: dict[str, int], decision: Decision, *, unlimited: bool = False
) -> tuple[int, bool]:
    with session_scope(engine) as s:
        ticket = service.live(s, case["ticket"])
        remedy, new = aftersales.carry_out(
            s, ticket, decision, actor="Eve", actor_user_id=case["agent"], unlimited=unlimited, now=T0
        )
        return remedy.id, new


def refunds(engine: Engine) -> list[tuple[object, ...]]:
    return table_rows(engine, "SELECT external_id, type, status, amount_minor FROM refunds ORDER BY id")


def test_the_review_follows_the_most_specific_policy(engine: Engine, case: dict[str, int]) -> None:
    with session_scope(engine) as s:
        first = aftersales.review(s, service.get(s, case["ticket"]), now=T0)
        assert (first.policy_id, first.window_days, first.days_since, first.within_window) == (
            None,
            7,
            29,
            False,
        )
        assert (first.order_total_minor, first.refunded_minor, first.refundable_minor) == (
            120_000,
            0,
            120_000,
        )
        site = table_rows(engine, "SELECT shop_id FROM orders WHERE external_id = 'A1'")[0][0]
        aftersales.set_policy(s, shop_id=None, category=None, window_days=15)
        aftersales.set_policy(s, shop_id=site, category=None, window_days=30, requires_proof=True)  # type: ignore[arg-type]
        second = aftersales.review(s, service.get(s, case["ticket"]), now=T0)
        assert (second.window_days, second.requires_proof, second.within_window) == (30, True, True)
        assert (
            aftersales.review(s, service.get(s, case["ticket"]), now=T0 + timedelta(days=2)).within_window
            is False
        )
        with pytest.raises(InvalidInput) as err:
            aftersales.set_policy(s, shop_id=None, category=None, window_days=-1)
        assert err.value.code == "return_policy_bad_window"


def test_a_refund_is_recorded_once_with_its_commerce_record(engine: Engine, case: dict[str, int]) -> None:
    with session_scope(engine) as s:
        aftersales.set_policy(s, shop_id=None, category=None, window_days=30)
    refund = Decision("refund", "r-1", 30_000, "broken on arrival")
    first = act(engine, case, refund)
    assert first[1] is True
    assert act(engine, case, refund) == (first[0], False)  # the same key: nothing happens again
    assert refunds(engine) == [(f"patron-remedy-{first[0]}", "refund_only", "approved", 30_000)]
    with pytest.raises(Conflict) as reused:
        act(engine, case, Decision("refund", "r-1", 40_000, "broken on arrival"))
    assert reused.value.code == "remedy_key_reused"
    with pytest.raises(PermissionDenied) as over:
        act(engine, case, Decision("refund", "r-2", 60_000))  # the agent's limit is 500.00
    assert over.value.code == "remedy_over_limit"
    with pytest.raises(Conflict) as too_much:
        act(engine, case, Decision("refund", "r-3", 100_000), unlimited=True)  # 900.00 left
    assert (too_much.value.code, too_much.value.data) == (
        "remedy_over_refundable",
        {"refundable_minor": 90_000},
    )
    assert act(engine, case, Decision("refund", "r-4", 90_000), unlimited=True)[1] is True
    assert [r[3] for r in refunds(engine)] == [30_000, 90_000]
    events = table_rows(
        engine, f"SELECT data FROM ticket_events WHERE action = 'remedy' AND ticket_id = {case['ticket']}"
    )
    assert len(events) == 2


def test_the_return_window_and_the_kinds(engine: Engine, case: dict[str, int]) -> None:
    with pytest.raises(Conflict) as late:
        act(engine, case, Decision("return", "k1", 10_000))
    assert (late.value.code, late.value.data) == (
        "remedy_outside_window",
        {"days_since": 29, "window_days": 7},
    )
    with pytest.raises(InvalidInput) as why:
        act(engine, case, Decision("return", "k1", 10_000, override_window=True))
    assert why.value.code == "remedy_needs_note"
    act(engine, case, Decision("return", "k1", 10_000, "VIP, manager approved", override_window=True))
    for bad, code in ((Decision("exchange", "k2", 500), "remedy_bad_amount"), (Decision("coupon", "k2"), "remedy_bad_amount"),
                      (Decision("gift", "k2"), "remedy_bad_kind"), (Decision("repair", ""), "remedy_bad_key")):  # fmt: skip
        with pytest.raises(InvalidInput) as err:
            act(engine, case, bad)
        assert err.value.code == code
    act(engine, case, Decision("reship", "k3"))
    act(engine, case, Decision("repair", "k4"))
    act(engine, case, Decision("coupon", "k5", 2_000, "sorry"))
    assert [r[1:] for r in refunds(engine)] == [
        ("return_refund", "requested", 10_000),
        ("reship", "approved", 0),
    ]
    with session_scope(engine) as s:
        made = aftersales.remedies_of(s, case["ticket"])
        assert [(m.kind, m.amount_minor, m.refund_id is not None) for m in made] == [
            ("return", 10_000, True), ("reship", 0, True), ("repair", 0, False), ("coupon", 2_000, False)
        ]  # fmt: skip
        code = made[3].coupon_code or ""
        assert code.startswith("PTN-")
        assert len(code) == 14
    with session_scope(engine) as s:
        inquiry = service.create(s, NewTicket(subject="q", body="b"), actor="api", config=UTC_DESK)
        with pytest.raises(InvalidInput) as no_order:
            aftersales.carry_out(
                s, inquiry, Decision("refund", "x", 100), actor="a", actor_user_id=None, unlimited=True
            )
        assert no_order.value.code == "remedy_needs_order"


def test_the_same_remedy_sent_at_once_is_carried_out_once(engine: Engine, case: dict[str, int]) -> None:
    with session_scope(engine) as s:
        aftersales.set_policy(s, shop_id=None, category=None, window_days=30)
    decision = Decision("refund", "double-click", 12_300)

    def send(_: int) -> tuple[int, bool] | str:
        try:
            return act(engine, case, decision)
        except Exception as e:  # reported: the test says which
            return repr(e)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(16)))
    assert all(not isinstance(r, str) for r in results), results
    assert len({r[0] for r in results}) == 1  # type: ignore[index]
    assert sum(1 for r in results if r[1]) == 1  # type: ignore[index]
    assert refunds(engine) == [(f"patron-remedy-{results[0][0]}", "refund_only", "approved", 12_300)]  # type: ignore[index]


def test_a_remedy_rolled_back_with_its_transaction_leaves_nothing(
    engine: Engine, case: dict[str, int]
) -> None:
    """The remedy's savepoint nests inside the request's transaction on SQLite too."""

    def failing_request() -> None:
        with session_scope(engine) as s:
            ticket = service.live(s, case["ticket"])
            decision = Decision("repair", "r")
            aftersales.carry_out(s, ticket, decision, actor="Eve", actor_user_id=case["agent"], now=T0)
            raise RuntimeError("the request failed after the remedy")

    with pytest.raises(RuntimeError):
        failing_request()
    assert table_rows(engine, "SELECT count(*) FROM ticket_remedies") == [(0,)]
