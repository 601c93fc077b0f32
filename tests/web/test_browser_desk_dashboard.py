"""The service dashboard and the customers' survey page in a real browser (headless chromium)
against the real app, on SQLite only: they read what the service wrote, which the other tests
check on both databases; this one looks at the page, saves the docs' screenshots and checks the
survey on a phone.

A realistic month: the browser tests' seed shop (张三, Emily Carter, 李四, John Smith, see
conftest.py), three agents and about five tickets a day for 30 days from every channel, a fifth
of them complaints with their categories and root causes, most answered and resolved in a few
hours (some late), three in four surveys answered, and a few corrective actions. The tickets are
made through the service at times before now, drawn from a seeded generator.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from test_browser_desk import login, shoot

from conftest import LiveApp, table_rows
from patron.accounts import service as accounts
from patron.core.db import session_scope
from patron.core.time import local, utcnow, zone
from patron.desk import quality, service
from patron.desk.service import DeskConfig, NewTicket

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CONFIG = DeskConfig()
AGENTS = (
    ("lin@patron.test", "林晓 Lin", "agent-pass-3"),
    ("fang@patron.test", "王芳 Wang Fang", "agent-pass-4"),
    ("sam@patron.test", "Sam Carter", "agent-pass-5"),
)
SUBJECTS = {
    "inquiry": [
        "发票怎么开？",
        "Do you ship to Hong Kong?",
        "会员积分怎么用？",
        "Size chart for the T-shirt?",
    ],
    "return": ["T恤尺码偏小，想退货", "Return the mug: wrong colour"],
    "exchange": ["围巾想换成灰色", "Exchange for a larger size"],
    "refund_only": ["Charged twice", "优惠券没有抵扣，申请退差价"],
    "reship": ["袜子漏发了，请补寄"],
}
COMPLAINTS = [  # (subject, category, root cause): the month's complaints come from this mix
    ("收到的T恤有破洞", "product", "supplier_defect"),
    ("Seam came apart after one wash", "product", "supplier_defect"),
    ("颜色和图片差别很大", "product", "wrong_description"),
    ("Mug arrived in pieces", "logistics", "packaging"),
    ("快递一周还没到", "logistics", "carrier_delay"),
    ("Parcel left in the rain, box crushed", "logistics", "carrier_damage"),
    ("发错了尺码", "logistics", "warehouse_error"),
    ("客服态度很差", "service", "agent_error"),
    ("活动价没有生效", "promotion", "promotion_setup"),
    ("Price went down the day after I bought", "price", "policy_gap"),
]
CAUSE_WEIGHTS = [6, 4, 2, 3, 3, 1, 2, 1, 1, 1]


@pytest.fixture
def month(live_app: LiveApp) -> dict[str, object]:
    engine, now = live_app.engine, utcnow()
    rnd = random.Random(20260302)
    customers = [
        int(c) for (c,) in table_rows(engine, "SELECT id FROM customers WHERE merged_into_id IS NULL")
    ]  # type: ignore[call-overload]
    orders = [(int(o), int(c)) for o, c in table_rows(engine, "SELECT id, customer_id FROM orders")]  # type: ignore[call-overload]
    with session_scope(engine) as s:
        agents = [
            accounts.create_user(s, email=e, name=n, password=p, role="agent", locale="en").id
            for e, n, p in AGENTS
        ]
        service.create_policy(
            s, {"name": "加急 urgent", "position": 1, "match": {"priority": ["urgent"]}, "first_response_minutes": 30,
                "resolution_minutes": 480, "warn_before_minutes": 10},
        )  # fmt: skip
        service.create_policy(
            s, {"name": "标准 standard", "position": 10, "first_response_minutes": 240, "next_response_minutes": 240,
                "resolution_minutes": 1440, "warn_before_minutes": 30},
        )  # fmt: skip
    made: list[tuple[int, str, str | None, str | None]] = []  # (id, type, category, cause)
    channels = ["web"] * 4 + ["email"] * 3 + ["marketplace"] * 2 + ["api", "agent"]
    types = (
        ["inquiry"] * 7
        + ["return"] * 3
        + ["exchange"] * 2
        + ["refund_only"] * 2
        + ["reship"]
        + ["complaint"] * 4
    )
    # Every ticket inside the dashboard's 30 local days (the instance's zone), today's before now.
    midnight = datetime.combine(local(now, "Asia/Shanghai").date(), time(), zone("Asia/Shanghai"))  # type: ignore[union-attr]
    for days_ago in range(29, -1, -1):
        for _ in range(rnd.choice([3, 4, 5, 5, 6, 7]) if days_ago else 4):
            if days_ago:
                opened = midnight - timedelta(days=days_ago, minutes=-rnd.randint(8 * 60, 22 * 60))
            else:
                opened = midnight + (now - midnight) * rnd.uniform(0.3, 0.99)
            kind = rnd.choice(types)
            order_id, customer_id = (
                rnd.choice(orders) if rnd.random() < 0.7 else (None, rnd.choice(customers))
            )
            subject, category, cause = (
                rnd.choices(COMPLAINTS, CAUSE_WEIGHTS)[0]
                if kind == "complaint"
                else (rnd.choice(SUBJECTS[kind]), None, None)
            )
            agent = (
                rnd.choice(agents) if days_ago or rnd.random() < 0.5 else None
            )  # today's: half not taken yet
            with session_scope(engine) as s:
                t = service.create(
                    s,
                    NewTicket(subject=subject, body=subject, type=kind, channel=rnd.choice(channels),
                              customer_id=customer_id, order_id=order_id),
                    actor="api", config=CONFIG, now=opened,
                )  # fmt: skip
                if agent is not None:
                    service.assign(
                        s, t.id, assignee_id=agent, team_id=None, actor="lead", config=CONFIG, now=opened
                    )
                made.append((t.id, kind, category, cause))
                # Most are answered within hours (a few late) and resolved; recent ones still open.
                age = (now - opened).total_seconds() / 60
                first = rnd.choice([15, 30, 45, 60, 90, 120, 180, 200, 300, 420])
                if agent is None or first >= age:
                    continue
                service.reply(s, t.id, "您好，已收到，正在处理。", author="agent", author_user_id=agent, config=CONFIG,
                              now=opened + timedelta(minutes=first))  # fmt: skip
                done = first + rnd.choice([30, 60, 120, 180, 240, 480, 600, 900, 1300, 2000])
                if done >= age or rnd.random() < 0.05:
                    continue
                service.set_status(s, t.id, "resolved", actor=f"user:{agent}", config=CONFIG,
                                   now=opened + timedelta(minutes=done))  # fmt: skip
                if done + 600 < age and rnd.random() < 0.08:  # the customer was not satisfied: reopened
                    back = opened + timedelta(minutes=done + 300)
                    service.customer_message(
                        s, t, "问题还是没有解决。", author="customer", config=CONFIG, now=back
                    )
                    service.reply(s, t.id, "抱歉，已重新处理。", author="agent", author_user_id=agent, config=CONFIG,
                                  now=back + timedelta(minutes=60))  # fmt: skip
                    service.set_status(s, t.id, "resolved", actor=f"user:{agent}", config=CONFIG,
                                       now=back + timedelta(minutes=240))  # fmt: skip
                    done += 540
                survey = quality.survey_of(s, t.id)
                if survey is not None and done + 90 < age and rnd.random() < 0.75:
                    score = rnd.choices(
                        [5, 4, 3, 2, 1], [45, 25, 12, 10, 8] if kind != "complaint" else [20, 20, 25, 20, 15]
                    )[0]
                    quality.answer(s, survey.token, score, None, now=opened + timedelta(minutes=done + 90))
    with session_scope(engine) as s:  # the categories last: the classifier retrains once, not per complaint
        for tid, kind, category, cause in made:
            if kind == "complaint":
                service.correct_category(s, tid, str(category), actor="lead")
                if service.get(s, tid).status == "resolved":  # found out by the time it was resolved
                    quality.set_root_cause(s, tid, cause, "lead")
        service.scan(s, now=now)
        for description, cause, due, owner in (
            ("Inspect every T-shirt batch at receiving", "supplier_defect", -3, agents[0]),
            ("双层纸箱包装马克杯", "packaging", 5, agents[1]),
            ("Carrier review with the courier's account manager", "carrier_delay", 12, agents[2]),
        ):
            quality.add_action(s, description=description, cause=cause, owner_user_id=owner,
                               due_on=(now + timedelta(days=due)).date(), actor="lead")  # fmt: skip
    return {"tickets": len(made), "agents": agents}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_service_dashboard(
    page: Page, live_app: LiveApp, month: dict[str, object], lang: str, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, AGENTS[0])
    if lang == "zh":
        page.click("#lang-switch")
    page.goto("/tickets")
    page.click("#dashboard-link")
    expect(page).to_have_url(f"{live_app.url}/desk")
    expect(page.locator("h1")).to_have_text("Service dashboard" if lang == "en" else "客服服务看板")
    expect(page.locator("svg.volume rect")).to_have_count(30)
    total = page.locator("#card-opened strong").inner_text()
    assert int(total.replace(",", "")) == month["tickets"]
    expect(page.locator("#agents tbody tr")).to_have_count(3)
    expect(page.locator("#pareto-category tbody tr").first).to_have_class("vital")
    expect(page.locator("#pareto-root-cause svg.pareto rect").first).to_be_visible()
    # The root causes' cumulative share ends at 100%.
    expect(page.locator("#pareto-root-cause tbody tr td:nth-child(4)").last).to_have_text("100.0%")
    # The docs keep the SQLite run's pictures; the PostgreSQL run renders the same page to tmp.
    folder = SCREENSHOTS if live_app.engine.dialect.name == "sqlite" else tmp_path
    shoot(page, f"desk-dashboard-{lang}.png", folder)
    # On a phone: nothing to scroll sideways but the agents' table in its own box.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # A rated complaint's page: its root cause chosen in the select, the customer's stars.
    page.set_viewport_size({"width": 1280, "height": 900})
    rated = table_rows(
        live_app.engine,
        "SELECT t.id, t.root_cause, c.score FROM tickets t JOIN csat_surveys c ON c.ticket_id = t.id "
        "WHERE t.type = 'complaint' AND c.score IS NOT NULL AND t.root_cause IS NOT NULL ORDER BY t.id LIMIT 1",
    )[0]
    page.goto(f"/tickets/{rated[0]}")
    expect(page.locator("#root-cause-form select")).to_have_value(str(rated[1]))
    expect(page.locator("#csat-result")).to_contain_text(f"{rated[2]} / 5")
    shoot(page, f"ticket-rated-{lang}.png", tmp_path)


def test_a_customer_rates_the_help_on_a_phone(
    phone: Page, live_app: LiveApp, engine: Engine, tmp_path: Path
) -> None:
    with session_scope(engine) as s:
        t = service.create(s, NewTicket(subject="帽子尺码偏小，想退货", body="帽子戴着太紧。", type="return",
                                        requester_name="王小姐", requester_email="wang@example.com"),
                           actor="customer", config=CONFIG)  # fmt: skip
        service.reply(s, t.id, "已为您办理退货。", author="林晓", author_user_id=None, config=CONFIG)
        service.set_status(s, t.id, "resolved", actor="t", config=CONFIG)
        tracking = t.public_token
    phone.goto(f"/support/t/{tracking}")
    phone.click("#csat-link a")
    expect(phone).to_have_url(re.compile(r"/support/csat/[\w-]{40,}$"))
    expect(phone.locator("h1")).to_have_text("您对本次服务满意吗？")
    stars = phone.locator("label.star")
    expect(stars).to_have_count(5)
    for i in range(5):  # big enough to tap
        box = stars.nth(i).bounding_box()
        assert box is not None
        assert box["width"] >= 44
        assert box["height"] >= 44
    phone.locator("label[for=score-4]").tap()
    expect(phone.locator("#score-4")).to_be_checked()
    phone.fill("#f-comment", "处理很快，谢谢！")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(phone, "csat-phone-zh.png", tmp_path)
    phone.click("#csat-form button[type=submit]")
    expect(phone.locator("#csat-score")).to_have_text("您的评分：4 / 5。")
    assert table_rows(engine, "SELECT score, comment FROM csat_surveys") == [(4, "处理很快，谢谢！")]
