"""The loyalty pages in a real browser, in English and Chinese, on SQLite and PostgreSQL: an
administrator creates a program, adds and switches off an earning rule, sets the tiers and fills
the rewards catalog through the forms (a refused form keeps what was typed and says why); the
report shows the liability, the monthly flows and the tiers; a reward taken for a customer from
their 360 page, with its coupon, and refused beyond the member's limit with nothing spent; a
reader sees the pages without any form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from test_browser import SCREENSHOTS, login, rows_of, scalar, shoot
from test_browser_loyalty import TIERS, member

from conftest import ADMIN, READER, LiveApp
from patron.core.db import session_scope
from patron.loyalty import membership, rewards, service

__all__ = ["member"]
pytestmark = pytest.mark.browser
BENEFITS = {"silver": {"points_multiplier": 1.2}, "gold": {"points_multiplier": 1.5, "free_shipping": True,
                                                          "priority_service": "high"}}  # fmt: skip
TIERED = {**TIERS, "tiers": [{**t, "benefits": BENEFITS.get(t["code"], {})} for t in TIERS["tiers"]]}
WORDS = {
    "en": {"title": "Loyalty programs", "none": "No loyalty program yet.", "rules": "Earning rules",
           "no_rules": "No earning rule", "per": "1 points per 1.00 CNY spent", "off": "Off",
           "bad_rule": "The rule is not valid.", "bad_tiers": "The tiers are not valid.", "silver": "Silver",
           "basis": "On the growth value of the last 12 months", "coupon": "Coupon", "unlimited": "unlimited",
           "taken": "Reward taken: coupon", "limit": "as often as allowed: nothing was spent",
           "cancelled": "cancelled"},
    "zh": {"title": "会员积分计划", "none": "还没有积分计划。", "rules": "积分规则", "no_rules": "还没有积分规则",
           "per": "每消费 1.00 CNY 得 1 积分", "off": "停用", "bad_rule": "规则无效。",
           "bad_tiers": "会员等级设置无效。", "silver": "银卡", "basis": "按近 12 个月成长值",
           "coupon": "优惠券", "unlimited": "不限", "taken": "兑换成功：券码", "limit": "已达到每人兑换上限",
           "cancelled": "已取消"},
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_administrator_configures_a_program(
    page: Page, live_app: LiveApp, engine: Engine, lang: str
) -> None:
    words = WORDS[lang]
    login(page, ADMIN)
    if lang == "zh":
        page.click("#lang-switch")
    page.click("#nav-loyalty")
    expect(page.locator("h1")).to_have_text(words["title"])
    expect(page.locator("#no-programs")).to_have_text(words["none"])
    page.fill("#program-code", "club")
    page.fill("#program-name", "Patron Club")
    page.click("#create-program")
    expect(page.locator("#tab-rules")).to_have_class("on")
    expect(page.locator("#no-rules")).to_contain_text(words["no_rules"])
    # A rule whose tier multiplier does not read tier=factor is refused; the form keeps its values.
    page.fill("#rule-name", "standard")
    page.fill("#rule-points", "1")
    page.fill("input[name=multipliers]", "gold")
    page.click("#add-rule")
    expect(page.locator("#action-error")).to_contain_text(words["bad_rule"])
    expect(page.locator("#rule-name")).to_have_value("standard")
    assert scalar(engine, "SELECT COUNT(*) FROM loyalty_rules") == 0
    page.fill("input[name=multipliers]", "gold=1.5")
    page.click("#add-rule")
    [rule] = rows_of(page, "#rules")
    assert rule[1] == "standard"
    assert rule[2].startswith(words["per"])
    [(rule_id,)] = [(scalar(engine, "SELECT id FROM loyalty_rules"),)]
    page.click(f"#switch-{rule_id}")
    expect(page.locator(f"#rule-{rule_id} td").last).to_have_text(words["off"])
    assert scalar(engine, "SELECT active FROM loyalty_rules") in (False, 0)
    # Tiers: bad JSON is refused and kept; the example, edited, is saved and placed by the job.
    page.click("#tab-tiers")
    page.fill("#tiers-json", '{"tiers": [')
    page.click("#save-tiers")
    expect(page.locator("#action-error")).to_contain_text(words["bad_tiers"])
    expect(page.locator("#tiers-json")).to_have_value('{"tiers": [')
    page.fill("#tiers-json", json.dumps(TIERS, ensure_ascii=False))
    page.click("#save-tiers")
    expect(page.locator("#tier-basis")).to_contain_text(words["basis"])
    assert [row[:3] for row in rows_of(page, "#tiers")] == [
        [("金卡" if lang == "zh" else "Gold") + " gold", "5,000", "4,000"],
        [words["silver"] + " silver", "1,000", "800"],
        [("普通会员" if lang == "zh" else "Member") + " member", "0", "0"],
    ]
    assert scalar(engine, "SELECT COUNT(*) FROM jobs WHERE name = 'loyalty.tiers'") == 1
    # Rewards: a coupon worth 10 yuan for 250 points.
    page.click("#tab-rewards")
    page.fill("#reward-code", "c10")
    page.fill("#reward-name-en", "10 yuan off")
    page.fill("#reward-name-zh", "10元优惠券")
    page.fill("#reward-cost", "250")
    page.fill("#reward-value", "10")
    page.click("#add-reward")
    [reward] = rows_of(page, "#catalog")
    name = "10元优惠券" if lang == "zh" else "10 yuan off"
    assert reward == [f"{name} C10", words["coupon"], "250", "10.00 CNY", words["unlimited"], "—"]
    page.click("#nav-loyalty")
    [program] = rows_of(page, "#programs")
    assert program[0] == "Patron Club club"
    assert program[3:] == ["0", "0", "0", "0.00 CNY"]


@pytest.fixture
def club(live_app: LiveApp, member: int) -> int:
    """The member of ``test_browser_loyalty`` (张三, silver, 1,000 points to spend, 300 locked),
    tiers with benefits, and a coupon anyone may take once."""
    with session_scope(live_app.engine) as s:
        club = service.program(s, "club")
        membership.set_policy(s, club, TIERED)
        rewards.add_reward(s, club, {"code": "C10", "name_en": "10 yuan off", "name_zh": "10元优惠券",
                                     "kind": "coupon", "cost_points": 250, "value_minor": 1000,
                                     "currency": "CNY", "per_customer_limit": 1})  # fmt: skip
    return member


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_program_report(
    page: Page, live_app: LiveApp, engine: Engine, tmp_path: Path, club: int, lang: str
) -> None:
    folder = SCREENSHOTS if engine.dialect.name == "sqlite" else tmp_path
    login(page, ADMIN)
    if lang == "zh":
        page.click("#lang-switch")
    page.goto("/loyalty/club")
    expect(page.locator("#tab-report")).to_have_class("on")
    expect(page.locator("#liability-active")).to_have_text("1,000")
    expect(page.locator("#liability-money")).to_have_text("13.00 CNY")  # 1,300 points at 0.01
    months = rows_of(page, "#flows")
    assert sum(int(m[1].replace(",", "")) for m in months) == 1500
    assert sum(int(m[2].replace(",", "")) for m in months) == 200
    expect(page.locator("#rate-total")).to_have_text("13.3%")  # 200 / 1,500
    assert rows_of(page, "#tier-distribution table") == [["银卡" if lang == "zh" else "Silver", "1"]]
    shoot(page, f"loyalty-report-{lang}.png", folder)
    page.click("#tab-tiers")
    expect(page.locator("#tier-silver td").last).to_have_text("1")
    expect(page.locator("#tier-gold td").nth(3)).to_contain_text("✓")
    shoot(page, f"loyalty-tiers-{lang}.png", folder)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_reward_taken_from_the_customer_page(
    page: Page, live_app: LiveApp, engine: Engine, tmp_path: Path, club: int, lang: str
) -> None:
    words = WORDS[lang]
    login(page, ADMIN)
    if lang == "zh":
        page.click("#lang-switch")
    page.goto(f"/customers/{club}")
    card = page.locator("#loyalty-club")
    expect(card.locator("#member-benefits")).to_contain_text("1.2")  # silver's points multiplier
    card.locator("#reward-choice").select_option("C10")
    card.locator("#take").click()
    expect(card.locator("#reward-taken")).to_contain_text(words["taken"])
    coupon = scalar(engine, "SELECT coupon_code FROM loyalty_reward_redemptions")
    expect(card.locator("#reward-taken")).to_contain_text(str(coupon))
    expect(card.locator("#rewards-taken")).to_contain_text(str(coupon))
    expect(card.locator("#points-active")).to_have_text("750")
    shoot(page, f"loyalty-reward-{lang}.png", SCREENSHOTS if engine.dialect.name == "sqlite" else tmp_path)
    # Once per member: the second is refused and nothing is spent.
    card.locator("#take").click()
    expect(card.locator("#reward-error")).to_contain_text(words["limit"])
    expect(card.locator("#points-active")).to_have_text("750")
    assert scalar(engine, "SELECT COUNT(*) FROM loyalty_reward_redemptions") == 1
    assert scalar(engine, "SELECT SUM(active) FROM points_accounts") == 750
    # Cancelled: the points come back, the coupon is void, and the member may take it again.
    card.locator(f"#coupon-{coupon} button.cancel-reward").click()
    expect(card.locator("#reward-cancelled")).to_contain_text(str(coupon))
    expect(card.locator("#points-active")).to_have_text("1,000")
    expect(card.locator(f"#coupon-{coupon} .badge")).to_have_text(words["cancelled"])
    expect(card.locator(f"#coupon-{coupon} button")).to_have_count(0)
    card.locator("#take").click()
    expect(card.locator("#points-active")).to_have_text("750")
    assert scalar(engine, "SELECT COUNT(*) FROM loyalty_reward_redemptions WHERE cancelled_at IS NULL") == 1


def test_a_reader_sees_the_pages_without_forms(
    page: Page, live_app: LiveApp, engine: Engine, club: int
) -> None:
    login(page, READER)
    page.goto("/loyalty")
    expect(page.locator("#programs")).to_be_visible()
    expect(page.locator("#new-program")).to_have_count(0)
    for tab, form in (("rules", "#new-rule"), ("tiers", "#edit-tiers"), ("rewards", "#new-reward")):
        page.goto(f"/loyalty/club?tab={tab}")
        expect(page.locator("#program-tabs")).to_be_visible()
        expect(page.locator(form)).to_have_count(0)
    page.goto(f"/customers/{club}")
    expect(page.locator("#loyalty-club #points-active")).to_have_text("1,000")
    expect(page.locator("#take-reward")).to_have_count(0)
    # A form posted anyway is refused: the page says so and nothing changes.
    response = page.request.post("/loyalty/club/rewards", form={"reward_code": "X", "name_en": "X",
                                                                 "name_zh": "X", "cost_points": "1"})  # fmt: skip
    assert response.status == 403
    assert scalar(engine, "SELECT COUNT(*) FROM loyalty_rewards") == 1
