"""Points for imported orders on both databases: the program's rules over real imported orders
(products with categories, two shops, two currencies), in bulk and one by one, idempotent,
locked through the return window counted from the order, with caps counted across orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from test_ledger import run, state

from conftest import table_rows, utc, write_csv
from patron.commerce import service as commerce
from patron.core.db import session_scope
from patron.core.errors import InvalidInput
from patron.ingest.tasks import ImportRequest, run_import
from patron.loyalty import earning, ledger, membership, service

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
PRODUCTS = [["TEA1", "龙井", "服饰 > 茶 > 绿茶"], ["MUG1", "马克杯", "家居 > 杯子"]]
HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip
ORDERS = [
    # Ada: tea and a mug on 1 March (older than the 7-day window: active at once), tea on 8 March.
    ["A1", "ada", "Ada", "ada@x.test", "completed", "2026-03-01 10:00", "TEA1", 2, "100.00"],
    ["A1", "ada", "Ada", "ada@x.test", "completed", "2026-03-01 10:00", "MUG1", 1, "35.50"],
    ["A2", "ada", "Ada", "ada@x.test", "paid", "2026-03-08 10:00", "TEA1", 1, "300.00"],
    # Bob: a pending order earns nothing yet; a cancelled one never.
    ["B1", "bob", "Bob", "bob@x.test", "pending", "2026-03-09 10:00", "MUG1", 1, "35.50"],
    ["B2", "bob", "Bob", "bob@x.test", "cancelled", "2026-03-09 11:00", "MUG1", 1, "35.50"],
    ["B3", "bob", "Bob", "bob@x.test", "completed", "2026-03-09 12:00", "MUG1", 1, "0.80"],
]


@pytest.fixture
def shop(engine: Engine, shops: object, tmp_path: Path) -> dict[str, int]:
    """Ada and Bob, their orders in shop ``site``; program ``club`` with 1 point per yuan and
    double points on tea (a stop rule capped at 500 points a month, before the standard rule)."""
    products = write_csv(tmp_path / "p.csv", ["sku", "title", "category_path"], PRODUCTS)
    run_import(ImportRequest(kind="products", path=products, mapping="patron_products"), engine=engine)
    orders = write_csv(tmp_path / "o.csv", HEADER, ORDERS)
    run_import(ImportRequest(kind="orders", path=orders, shop="site"), engine=engine)
    with session_scope(engine) as s:
        club = service.create_program(s, {"code": "club", "name": "Club", "expiry": "end_of_next_year",
                                          "lock_days": 7, "timezone": "Asia/Shanghai"})  # fmt: skip
        earning.add_rule(s, club, {"name": "tea x2", "kind": "spend", "points": 2, "categories": ["绿茶"],
                                   "cap": 500, "cap_period": "month", "stop": True, "position": 1})  # fmt: skip
        earning.add_rule(s, club, {"name": "standard", "kind": "spend", "points": 1, "currency": "CNY",
                                   "position": 2})  # fmt: skip
    return {str(n): int(i) for n, i in table_rows(engine, "SELECT name, id FROM customers")}  # type: ignore[call-overload]


def credit(engine: Engine, now: datetime = NOW, **kw: Any) -> list[earning.Page]:
    with session_scope(engine) as s:
        return list(earning.earn_orders(s, service.program(s, "club"), now=now, **kw))


def test_orders_earn_by_the_rules_once(engine: Engine, shop: dict[str, int]) -> None:
    [page] = credit(engine)
    # A1: tea 200.00 -> 400 (tea x2 stops the chain; the mug line does not count for it);
    # A2: tea 300.00 -> the cap leaves 100 of 600, and the stop rule gave points: 100 only;
    # B3: 0.80 yuan -> 0 points (recorded, not evaluated again); B1 pending, B2 cancelled: not read.
    assert (page.orders, page.credited, page.points, page.nothing, page.before) == (3, 2, 500, 1, 0)
    ops = table_rows(engine, "SELECT key, points, source_ref FROM points_operations ORDER BY id")
    ids = dict(table_rows(engine, "SELECT external_id, id FROM orders"))
    assert ops == [(f"order:{ids['A1']}", 400, "A1"), (f"order:{ids['A2']}", 100, "A2"),
                   (f"order:{ids['B3']}", 0, "B3")]  # fmt: skip
    # A1 is older than the return window: active; A2 (8 March) is locked until 15 March 10:00.
    assert state(engine, shop["Ada"]) == (
        {"active": 400, "locked": 100, "debt": 0, "growth": 500},
        [(400, 400, "active"), (100, 100, "locked")],
    )
    assert table_rows(engine, "SELECT rule, points FROM points_awards ORDER BY id") == [
        ("tea x2", 400), ("tea x2", 100)
    ]  # fmt: skip
    [(unlock,)] = table_rows(engine, "SELECT unlock_at FROM points_lots WHERE state = 'locked'")
    assert utc(unlock) == "2026-03-15 02:00:00"  # 10:00 in Shanghai, where the shop sells
    # Again: everything was credited; nothing changes.
    [again] = credit(engine, NOW + timedelta(hours=1))
    assert (again.orders, again.credited, again.before) == (3, 0, 3)
    assert table_rows(engine, "SELECT COUNT(*) FROM points_entries") == [(2,)]


def test_a_replayed_request_gets_the_bulk_answer(engine: Engine, shop: dict[str, int]) -> None:
    credit(engine)
    a1 = int(table_rows(engine, "SELECT id FROM orders WHERE external_id = 'A1'")[0][0])  # type: ignore[call-overload]
    with session_scope(engine) as s:
        out = ledger.earn(s, service.program(s, "club"), shop["Ada"], 400, key=f"order:{a1}", source="order",
                          source_ref="A1", lock=True, now=NOW + timedelta(days=1))  # fmt: skip
    assert out.replayed is True
    # Credited in bulk, answered when first asked: the entries it wrote, the balance as it stands.
    assert out.result["balance"] == {"active": 400, "locked": 100, "debt": 0, "growth": 500}
    assert [(e["kind"], e["active"]) for e in out.result["entries"]] == [("earn", 400)]
    [(lot_id,)] = table_rows(engine, "SELECT id FROM points_lots WHERE source_ref = 'A1'")
    assert out.result["lot"] == lot_id
    with session_scope(engine) as s:
        again = ledger.earn(s, service.program(s, "club"), shop["Ada"], 400, key=f"order:{a1}", source="order",
                            source_ref="A1", lock=True, now=NOW + timedelta(days=2))  # fmt: skip
    assert again.result == out.result  # from then on, the same answer every time


def test_pages_and_the_one_by_one_path_agree(engine: Engine, shop: dict[str, int]) -> None:
    # Ada owes points (a debt): her orders go one by one through the ledger and repay it.
    with session_scope(engine) as s:
        club = service.program(s, "club")
        ledger.earn(s, club, shop["Ada"], 50, source="review", key="r", now=NOW - timedelta(days=20))
        ledger.adjust(s, club, shop["Ada"], -80, reason="fraud", allow_debt=True, actor="user:1", key="a",
                      now=NOW - timedelta(days=19))  # fmt: skip
    pages = credit(engine, page=1)
    assert [p.orders for p in pages] == [1, 1, 1]
    assert sum(p.points for p in pages) == 500
    balance, lots = state(engine, shop["Ada"])
    # 400 active from A1 repays the 30 of debt; A2's 100 stay locked.
    assert balance == {"active": 370, "locked": 100, "debt": 0, "growth": 550}
    assert lots == [(400, 370, "active"), (100, 100, "locked")]


def test_a_bad_rule_is_refused(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        club = service.program(s, "club")
        for values in (
            {"name": "standard", "kind": "spend", "points": 1},  # the name is taken
            {"name": "x", "kind": "spending", "points": 1},
            {"name": "y", "kind": "review", "points": 5, "categories": ["绿茶"]},
        ):
            with pytest.raises(InvalidInput) as err:
                earning.add_rule(s, club, values)
            assert err.value.code == "loyalty_bad_rule"


def test_a_member_s_tier_multiplies_their_points(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        vip = service.create_program(
            s, {"code": "vip", "name": "VIP", "lock_days": 0, "timezone": "Asia/Shanghai"}
        )
        membership.set_policy(s, vip, {"review": "anniversary", "tiers": [
            {"code": "member", "name_en": "Member", "name_zh": "会员", "rank": 0, "threshold": 0},
            {"code": "gold", "name_en": "Gold", "name_zh": "金卡", "rank": 1, "threshold": 100},
        ]})  # fmt: skip
        earning.add_rule(
            s, vip, {"name": "standard", "kind": "spend", "points": 1, "tier_multipliers": {"gold": 1.5}}
        )
        ledger.earn(s, vip, shop["Ada"], 150, source="review", key="rv", now=NOW)  # Ada is gold now
    with session_scope(engine) as s:
        [page] = earning.earn_orders(s, service.program(s, "vip"), now=NOW)
    # A1: 235.50 yuan -> 235 x 1.5 = 352 (rounded down); A2: 300 -> 450; Bob (no tier): 0.80 -> 0.
    assert (page.credited, page.points) == (2, 802)
    rows = table_rows(engine, "SELECT o.source_ref, o.points FROM points_operations o JOIN loyalty_programs p "
                              "ON p.id = o.program_id WHERE p.code = 'vip' AND o.source = 'order' ORDER BY o.id")  # fmt: skip
    assert rows == [("A1", 352), ("A2", 450), ("B3", 0)]


SPEND_TIERS: dict[str, Any] = {"basis": "spend", "review": "anniversary", "tiers": [
    {"code": "member", "name_en": "Member", "name_zh": "会员", "rank": 0, "threshold": 0},
    {"code": "silver", "name_en": "Silver", "name_zh": "银卡", "rank": 1, "threshold": 20_000},
    {"code": "gold", "name_en": "Gold", "name_zh": "金卡", "rank": 2, "threshold": 50_000, "retain": 40_000},
]}  # fmt: skip


def test_tiers_on_rolling_12_month_spend(engine: Engine, shop: dict[str, int]) -> None:
    """Spend in minor units of the program's currency, valid orders only, less refunds, in the
    last 365 days: Ada 235.50 + 300.00 yuan is gold; Bob's 0.80 (his pending and cancelled
    orders do not count) keeps him a member; a refund of 200 yuan leaves Ada below gold's
    retain at her review a year on."""
    with session_scope(engine) as s:
        club = service.program(s, "club")
        membership.set_policy(s, club, SPEND_TIERS)
        assert club.tier_policy is not None
        assert club.tier_policy["basis"] == "spend"
        for page in earning.earn_orders(s, club, now=NOW):
            membership.refresh(s, club, at=NOW, account_ids=page.members)
    assert table_rows(
        engine, "SELECT c.name, m.to_tier, m.reason, m.value FROM tier_moves m JOIN points_accounts a "
                "ON a.id = m.account_id JOIN customers c ON c.id = a.customer_id ORDER BY c.name"
    ) == [("Ada", "gold", "joined", 53_550), ("Bob", "member", "joined", 80)]  # fmt: skip
    [(order_id,)] = table_rows(engine, "SELECT id FROM orders WHERE external_id = 'A2'")
    with session_scope(engine) as s:
        commerce.record_refund(s, shop_id=1, external_id="R1", order_id=order_id, customer_id=shop["Ada"],
                               type="refund", status="completed", amount_minor=20_000, currency="CNY",
                               reason=None, at=NOW)  # fmt: skip
        club = service.program(s, "club")
        [ada] = [m for m in service.memberships(s, shop["Ada"], at=NOW) if m.program.code == "club"]
        assert ada.progress is not None
        assert (ada.progress.value, ada.progress.to_retain) == (33_550, 6_450)
        # The review a year after joining: the orders of March 2026 are out of the window by then.
        # Bob's review keeps him in the lowest tier: his next review moves, no move is recorded.
        assert membership.refresh(s, club, at=NOW + timedelta(days=366)) == 1
    assert table_rows(engine, "SELECT to_tier, reason, value FROM tier_moves ORDER BY id")[2:] == [
        ("member", "downgraded", 0)
    ]  # fmt: skip
    [(review,)] = table_rows(engine, "SELECT tier_review_at FROM points_accounts a JOIN customers c "
                                     "ON c.id = a.customer_id WHERE c.name = 'Bob'")  # fmt: skip
    assert utc(review) == "2028-03-10 04:00:00"


def test_a_tier_policy_is_checked_whole(engine: Engine, shop: dict[str, int]) -> None:
    with session_scope(engine) as s:
        club = service.program(s, "club")
        for bad, message in (
            ({**SPEND_TIERS, "basis": "visits"}, "the tier basis is growth or spend, not 'visits'"),
            ({**SPEND_TIERS, "reviewing": "yearly"}, "unknown tier policy fields: reviewing"),
            ({"review": "anniversary"}, "a tier policy needs a list of tiers"),
            (
                {**SPEND_TIERS, "tiers": ["gold"]},
                "each tier is an object with code, name_en, name_zh, rank, threshold (retain, benefits)",
            ),
        ):
            with pytest.raises(InvalidInput) as err:
                membership.set_policy(s, club, bad)
            assert (err.value.code, err.value.message) == ("loyalty_bad_tiers", message)
        assert club.tier_policy is None


def refund(engine: Engine, ext: str, order: str, amount: int, status: str, at: datetime) -> None:
    with session_scope(engine) as s:
        o = next(x for x in commerce.latest_orders(s) if x.external_id == order)
        commerce.record_refund(s, shop_id=o.shop_id, external_id=ext, order_id=o.id, customer_id=o.customer_id,
                               type="refund_only", status=status, amount_minor=amount, currency="CNY", reason=None,
                               at=at)  # fmt: skip


def claw(engine: Engine, at: datetime) -> int:
    with session_scope(engine) as s:
        return sum(earning.claw_back_refunds(s, service.program(s, "club"), now=at))


def test_refunds_take_back_the_points_of_the_amount_refunded(engine: Engine, shop: dict[str, int]) -> None:
    credit(engine)  # A1 (235.50 yuan) earned 400 active; A2 (300.00) 100 locked
    refund(engine, "R1", "A2", 15_000, "completed", NOW)  # half of A2: 50 of its 100
    refund(engine, "R2", "A1", 5_000, "rejected", NOW)  # rejected: never anything
    refund(engine, "R3", "A1", 11_775, "approved", NOW)  # half of A1, not paid back yet: waits
    refund(engine, "R4", "A2", 15_000, "completed", NOW + timedelta(hours=2))  # not asked for yet
    refund(engine, "R5", "B3", 80, "completed", NOW)  # B3 earned nothing
    assert claw(engine, NOW + timedelta(hours=1)) == 50
    assert state(engine, shop["Ada"]) == (
        {"active": 400, "locked": 50, "debt": 0, "growth": 450},
        [(400, 400, "active"), (100, 50, "locked")],
    )
    assert claw(engine, NOW + timedelta(hours=1)) == 0  # run again: nothing
    with engine.begin() as conn:  # R3's money went back
        conn.execute(text("UPDATE refunds SET status = 'completed' WHERE external_id = 'R3'"))
    assert claw(engine, NOW + timedelta(hours=1)) == 200  # half of A1's 400
    # A clawback made by hand over the API counts: the job never takes the same points twice.
    run(engine, "clawback", shop["Ada"], 100, order_ref="A1", key="by-hand", now=NOW + timedelta(hours=1))
    refund(engine, "R7", "A1", 2_355, "completed", NOW)  # 60 % refunded in all: 240 owed, 300 taken
    assert claw(engine, NOW + timedelta(hours=2)) == 0
    assert claw(engine, NOW + timedelta(hours=3)) == 50  # R4: the rest of A2
    refund(engine, "R6", "A2", 30_000, "completed", NOW)  # more than was paid: nothing left to take
    assert claw(engine, NOW + timedelta(hours=4)) == 0
    keys = table_rows(engine, "SELECT key, points FROM points_operations WHERE kind = 'clawback' ORDER BY id")
    ids = dict(table_rows(engine, "SELECT external_id, id FROM refunds"))
    assert keys == [(f"refund:{ids['R1']}", 50), (f"refund:{ids['R3']}", 200), ("by-hand", 100),
                    (f"refund:{ids['R4']}", 50)]  # fmt: skip
    assert state(engine, shop["Ada"])[0] == {"active": 100, "locked": 0, "debt": 0, "growth": 100}
