"""The member card of the customer 360 page in a real browser, in English and Chinese, on SQLite
and PostgreSQL: balances, tier and progress (to the next tier and to 保级), the lots in spending
order with their expiry, and the points history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from test_browser import SCREENSHOTS, customer_id, login, rows_of, shoot

from conftest import ADMIN, READER, LiveApp
from patron.core.db import session_scope
from patron.core.time import local, utcnow
from patron.loyalty import ledger, membership, service

pytestmark = pytest.mark.browser
TIERS = {
    "tiers": [
        {"code": "member", "name_en": "Member", "name_zh": "普通会员", "rank": 0, "threshold": 0},
        {
            "code": "silver",
            "name_en": "Silver",
            "name_zh": "银卡",
            "rank": 1,
            "threshold": 1000,
            "retain": 800,
        },
        {"code": "gold", "name_en": "Gold", "name_zh": "金卡", "rank": 2, "threshold": 5000, "retain": 4000},
    ],
    "review": "anniversary",
}
WORDS = {
    "en": {"h2": "Loyalty", "tier": "Silver", "next": "3,500 more growth value to Gold",
           "retain": "This tier is kept at the review on", "active": "Active", "locked": "Locked",
           "review": "Review", "order": "Order", "redeemed": "Redeemed", "joined": "Joined as: Silver"},
    "zh": {"h2": "会员积分", "tier": "银卡", "next": "再获得 3,500 成长值即可升级为金卡",
           "retain": "已满足保级条件", "active": "可用", "locked": "冻结", "review": "评价", "order": "订单",
           "redeemed": "兑换", "joined": "入会等级: 银卡"},
}  # fmt: skip


@pytest.fixture
def member(live_app: LiveApp) -> int:
    """张三 in program club: 1,200 points for a review 40 days ago, 200 spent yesterday, 300 for an
    order two days ago still locked (7-day return window); silver with 1,500 growth value."""
    zhang = customer_id(live_app.engine, "张三")
    now = utcnow()
    with session_scope(live_app.engine) as s:
        club = service.create_program(s, {"code": "club", "name": "Patron Club", "lock_days": 7,
                                          "timezone": "Asia/Shanghai"})  # fmt: skip
        membership.set_policy(s, club, TIERS)
        ledger.earn(s, club, zhang, 1200, source="review", key="r", now=now - timedelta(days=40))
        ledger.redeem(s, club, zhang, 200, key="gift", now=now - timedelta(days=1))
        ledger.earn(
            s, club, zhang, 300, source="order", source_ref="A1", key="o", now=now - timedelta(days=2)
        )
    return zhang


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_member_card(
    page: Page, live_app: LiveApp, engine: Engine, tmp_path: Path, member: int, lang: str
) -> None:
    words = WORDS[lang]
    folder = SCREENSHOTS if engine.dialect.name == "sqlite" else tmp_path
    login(page, ADMIN)
    if lang == "zh":
        page.click("#lang-switch")
    page.goto(f"/customers/{member}")
    card = page.locator("#loyalty-club")
    expect(card.locator("h2")).to_contain_text(words["h2"])
    expect(card.locator("#member-tier")).to_have_text(words["tier"])
    expect(card.locator("#points-active")).to_have_text("1,000")
    expect(card.locator("#points-locked")).to_have_text("300")
    expect(card.locator("#points-growth")).to_have_text("1,500")
    expect(card.locator("#points-debt")).to_have_count(0)
    expect(card.locator("#tier-next")).to_have_text(words["next"])
    expect(card.locator("#tier-retain")).to_contain_text(words["retain"])
    expect(card.locator("#tier-progress .bar")).to_have_attribute("aria-valuenow", "30")  # 1,500 of 5,000
    lots = rows_of(page, "#points-lots")
    # Both lots expire at the end of next year; the review's came first, so it is spent first.
    expires = local(utcnow(), "Asia/Shanghai").year + 1  # type: ignore[union-attr]
    unlock = (local(utcnow() - timedelta(days=2) + timedelta(days=7), "Asia/Shanghai")).strftime("%Y-%m-%d")  # type: ignore[union-attr]
    assert [row[:3] for row in lots] == [
        [words["review"], "1,200", "1,000"],
        [f"{words['order']} A1", "300", "300"],
    ]
    assert lots[0][3] == words["active"]
    assert lots[1][3].startswith(words["locked"])
    assert unlock in lots[1][3]
    assert all(row[4] == f"{expires}-12-31" for row in lots)
    history = card.locator("#points-history")
    expect(history).to_contain_text(f"{words['redeemed']} -200")
    expect(history.locator("li.tier-move")).to_contain_text(words["joined"])
    shoot(page, f"loyalty-member-{lang}.png", folder)


def test_a_reader_sees_the_card_and_a_stranger_to_the_program_has_none(
    page: Page, live_app: LiveApp, member: int
) -> None:
    login(page, READER)
    page.goto(f"/customers/{member}")
    expect(page.locator("#loyalty-club #points-active")).to_have_text("1,000")
    page.goto(f"/customers/{customer_id(live_app.engine, '李四')}")
    expect(page.locator("#profile h2")).to_be_visible()
    expect(page.locator("section.loyalty")).to_have_count(0)
