"""The service desk driven by a real browser (headless chromium) against the real app on SQLite
and PostgreSQL: an agent works a ticket from the queue, in English and in Chinese, and a customer
sends the public form from a phone.

The shop is the browser tests' seed (张三, Emily Carter, 李四, John Smith, see conftest.py), scored,
with a handful of tickets opened through the service a little while ago: mixed types, a complaint
the model classified, one that missed its first response, one waiting for the customer. The
SQLite run saves the docs' screenshots.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from test_browser import shoot

from conftest import LiveApp, table_rows
from patron.accounts import service as accounts
from patron.core.db import session_scope
from patron.core.time import utcnow
from patron.desk import service
from patron.desk.service import DeskConfig, NewTicket
from patron.scoring import service as scoring

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AGENT = ("lin@patron.test", "林晓 Lin", "agent-pass-3")
CONFIG = DeskConfig()


def login(page: Page, who: tuple[str, str, str]) -> None:
    email, _, password = who
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("header .who")).to_have_text(who[1])


def customer(engine: Engine, name: str) -> int:
    rows = table_rows(engine, f"SELECT id FROM customers WHERE name = '{name}' AND merged_into_id IS NULL")
    return int(rows[0][0])  # type: ignore[call-overload]


@pytest.fixture
def desk(live_app: LiveApp) -> dict[str, int]:
    """An agent, two SLA policies, the customers scored, and eight tickets of the last hours."""
    engine, now = live_app.engine, utcnow()
    zhang, emily, li, john = (customer(engine, n) for n in ("张三", "Emily Carter", "李四", "John Smith"))
    made: dict[str, int] = {}

    names = {zhang: "张三", emily: "Emily Carter", li: "李四", john: "John Smith"}

    def make(key: str, minutes_ago: int, subject: str, body: str, **kw: object) -> None:
        author = names.get(kw.get("customer_id"), kw.get("requester_name"))  # type: ignore[arg-type]
        with session_scope(engine) as s:
            ticket = service.create(
                s,
                NewTicket(subject=subject, body=body, author_name=author, **kw),  # type: ignore[arg-type]
                actor="customer" if kw.get("channel") == "web" else "api",
                config=CONFIG,
                now=now - timedelta(minutes=minutes_ago),
            )
            made[key] = ticket.id

    with session_scope(engine) as s:
        made["agent"] = accounts.create_user(
            s, email=AGENT[0], name=AGENT[1], password=AGENT[2], role="agent", locale="en"
        ).id
        scoring.analyze(s, as_of=date(2024, 3, 31), currency="CNY", actor="test")
        service.create_policy(
            s,
            {"name": "加急 urgent", "position": 1, "match": {"priority": ["urgent"]}, "first_response_minutes": 30,
             "resolution_minutes": 480, "warn_before_minutes": 10},
        )  # fmt: skip
        service.create_policy(
            s,
            {"name": "标准 standard", "position": 10, "first_response_minutes": 240, "next_response_minutes": 240,
             "resolution_minutes": 1440, "warn_before_minutes": 30},
        )  # fmt: skip
    make("hole", 40, "收到的T恤有破洞", "昨天收到的T恤领口有个破洞，质量太差了，要求换新或者退款。",
         type="complaint", customer_id=zhang, channel="web")  # fmt: skip
    make("twice", 24, "Charged twice for order W4001", "My card was charged twice for the same mug.",
         type="refund_only", priority="urgent", customer_id=john, channel="email")  # fmt: skip
    make("mug", 300, "Where is my mug?", "Ordered in February, still nothing. Tracking shows no update.",
         customer_id=john, channel="email")  # fmt: skip
    make("size", 120, "Return the T-shirt: wrong size", "The T-shirt is too small, I would like to return it.",
         type="return", customer_id=emily, channel="web")  # fmt: skip
    make("scarf", 25, "围巾颜色和图片不一样", "收到的围巾是深蓝色，页面上是灰色，想换成灰色的。",
         type="exchange", customer_id=li, channel="web")  # fmt: skip
    make(
        "socks", 180, "袜子漏发了，请补寄", "订单 W1001 里的袜子没有收到。", type="reship", customer_id=zhang
    )
    make("invoice", 15, "发票怎么开？", "请问公司抬头的增值税发票怎么开？", channel="web",
         requester_name="王小姐", requester_email="wang@example.com")  # fmt: skip
    make("late", 60 * 24, "Delivery came a week late", "The courier was rude and the parcel came a week late.",
         type="complaint", customer_id=emily)  # fmt: skip
    with session_scope(engine) as s:
        at = now - timedelta(minutes=170)
        service.reply(s, made["socks"], "您好，已为您安排补寄，请提供收货地址确认。", author="林晓 Lin",
                      author_user_id=made["agent"], config=CONFIG, now=at)  # fmt: skip
        agent = f"user:{made['agent']}"
        service.set_status(s, made["socks"], "waiting_customer", actor=agent, config=CONFIG, now=at)
        service.reply(s, made["late"], "We are sorry: a voucher is on its way.", author="林晓 Lin",
                      author_user_id=made["agent"], config=CONFIG, now=now - timedelta(hours=20))  # fmt: skip
        service.set_status(
            s, made["late"], "resolved", actor=agent, config=CONFIG, now=now - timedelta(hours=19)
        )
        service.scan(s, now=now)  # "Where is my mug?" missed its first response: breached, raised to high
    return made


QUEUE = {
    "en": {"nav": "Tickets", "h1": "Tickets", "breached": "breached", "paused": "paused", "note": "internal note",
           "open": "Open", "wait": "Wait for customer", "waiting": "Waiting for customer", "sent": "Send"},
    "zh": {"nav": "工单", "h1": "工单", "breached": "已超时", "paused": "已暂停", "note": "内部备注",
           "open": "处理中", "wait": "等待客户", "waiting": "等待客户回复", "sent": "发送"},
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_agent_works_a_ticket_from_the_queue(
    page: Page, live_app: LiveApp, engine: Engine, tmp_path: Path, desk: dict[str, int], lang: str
) -> None:
    words = QUEUE[lang]
    folder = SCREENSHOTS if engine.dialect.name == "sqlite" else tmp_path
    login(page, AGENT)
    if lang == "zh":
        page.click("#lang-switch")
    page.click("#nav-tickets")
    expect(page).to_have_url(f"{live_app.url}/tickets")
    expect(page.locator("h1")).to_have_text(words["h1"])
    rows = page.locator("table.tickets tbody tr")
    # Seven tickets to work on (the resolved complaint is not among them), the urgent one first.
    expect(rows).to_have_count(7)
    expect(rows.first).to_have_attribute("data-ref", f"T-{desk['twice']:06d}")
    mug = page.locator(f"tr[data-ref='T-{desk['mug']:06d}']")
    expect(mug.locator(".sla")).to_have_text(words["breached"])
    expect(mug.locator(".sla")).to_have_class("sla sla-breached")
    expect(rows.first.locator(".sla")).to_have_class("sla sla-warning")  # 30 minutes, warned 10 before
    expect(page.locator(f"tr[data-ref='T-{desk['socks']:06d}'] .sla")).to_have_text(words["paused"])
    expect(page.locator(f"tr[data-ref='T-{desk['scarf']:06d}'] .sla")).to_have_text(re.compile(r"^3 h 3[0-5] min$|^3 小时 3[0-5] 分钟$"))  # fmt: skip
    shoot(page, f"tickets-queue-{lang}.png", folder)

    hole = desk["hole"]
    page.click(f"a:text-is('T-{hole:06d}')")
    expect(page).to_have_url(f"{live_app.url}/tickets/{hole}")
    expect(page.locator("#ticket-subject")).to_have_text("收到的T恤有破洞")
    expect(page.locator("#customer-link")).to_have_text("张三")
    expect(page.locator("#recent-orders tbody tr")).to_have_count(2)
    # An internal note, then a public reply: the ticket opens and its first response is met.
    page.fill(
        "#reply-form textarea",
        "老顾客，优先处理：先换新再取回。" if lang == "zh" else "Loyal customer: replace first.",
    )
    page.check("#reply-form input[name=internal]")
    page.click("#reply-form button[type=submit]")
    expect(page.locator("li.msg-note .msg-body")).to_have_count(1)
    expect(page.locator("li.msg-note .kind")).to_have_text(words["note"])
    expect(page.locator("#reply-form input[name=internal]")).not_to_be_checked()
    page.fill("#reply-form textarea", "非常抱歉！新的T恤今天寄出，破损的那件请不必寄回。")
    page.click("#reply-form button[type=submit]")
    expect(page.locator("li.msg-reply")).to_have_count(1)
    expect(page.locator("#ticket-status")).to_have_text(words["open"])
    page.click(f"#status-form button:text-is('{words['wait']}')")
    expect(page.locator("#ticket-status")).to_have_text(words["waiting"])
    expect(page.locator("#slas tbody tr .sla").first).to_have_class("sla sla-met")
    expect(page.locator("#slas tbody tr .sla").nth(1)).to_have_class("sla sla-paused")
    expect(page.locator("#history li").first).to_contain_text(AGENT[1])
    shoot(page, f"ticket-{lang}.png", folder)
    rows_now = table_rows(
        engine, f"SELECT kind, author_user_id FROM ticket_messages WHERE ticket_id = {hole} ORDER BY id"
    )
    assert rows_now == [("customer", None), ("note", desk["agent"]), ("reply", desk["agent"])]
    assert table_rows(engine, f"SELECT status FROM tickets WHERE id = {hole}") == [("waiting_customer",)]


def test_the_public_form_on_a_phone(phone: Page, live_app: LiveApp, engine: Engine, tmp_path: Path) -> None:
    folder = SCREENSHOTS if engine.dialect.name == "sqlite" else tmp_path
    phone.goto("/support")
    expect(phone.locator("h1")).to_have_text("联系客服")
    phone.fill("#f-name", "王小姐")
    phone.fill("#f-email", "wang@example.com")
    phone.fill("#f-order_number", "W1002")
    phone.select_option("#f-type", "return")
    phone.fill("#f-subject", "帽子尺码偏小，想退货")
    phone.fill("#f-body", "上周收到的帽子戴着太紧，标签还在，想申请退货退款。")
    # Everything fits the screen: nothing to scroll sideways, every field as wide as the form.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    form = phone.locator("#support-form").bounding_box()
    assert form is not None
    assert form["x"] >= 0
    assert form["x"] + form["width"] <= 390
    for field in ("#f-name", "#f-email", "#f-type", "#f-subject", "#f-body"):
        box = phone.locator(field).bounding_box()
        assert box is not None
        assert box["width"] >= form["width"] - 60, field
    phone.locator("#f-body").blur()
    shoot(phone, "support-form-phone-zh.png", folder)
    phone.click("#support-form button[type=submit]")
    expect(phone).to_have_url(re.compile(r"/support/t/[\w-]{40,}$"))
    tid = int(table_rows(engine, "SELECT id FROM tickets")[0][0])  # type: ignore[call-overload]
    expect(phone.locator("#ticket-ref")).to_have_text(f"您的工单 T-{tid:06d}")
    expect(phone.locator("#ticket-status")).to_have_text("已收到")
    expect(phone.locator("#messages .msg-body")).to_have_text(
        ["上周收到的帽子戴着太紧，标签还在，想申请退货退款。"]
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert table_rows(engine, "SELECT channel, type, language, requester_name FROM tickets") == [
        ("web", "return", "zh", "王小姐")
    ]


def test_the_queue_fits_a_phone(page: Page, live_app: LiveApp, desk: dict[str, int]) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, AGENT)
    page.goto("/tickets")
    expect(page.locator("table.tickets tbody tr")).to_have_count(7)
    # Reference, subject, status, priority and the SLA badge fit without sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("main .scroll").evaluate("el => el.scrollWidth <= el.clientWidth")
    expect(page.locator("table.tickets tbody tr").first.locator(".sla")).to_be_in_viewport()
    expect(page.locator("table.tickets th:nth-child(3)")).to_be_hidden()  # the customer: on the ticket page
