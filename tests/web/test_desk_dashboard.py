"""The service dashboard, the root-cause and CSAT parts of the ticket page, and the customers'
survey page, without a browser, on both databases.

The pages read the clock through ``patron.web.desk.utcnow``, pinned to NOW (Monday 2 March 2026,
17:00 in Shanghai, the instance's zone); the tickets are made through the service at fixed times
before it, so every number on the dashboard is worked out by hand below.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import table_rows, write_csv
from patron.accounts import service as accounts
from patron.api.app import create_app
from patron.core.db import session_scope
from patron.core.settings import Settings
from patron.desk import quality, service
from patron.desk.service import DeskConfig, NewTicket
from patron.ingest.tasks import ImportRequest, run_import
from patron.web import desk as desk_pages

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
CONFIG = DeskConfig()  # Asia/Shanghai, around the clock
HEADER = ["order_id", "customer_external_id", "customer_name", "email", "status", "placed_at", "sku",
          "quantity", "unit_price"]  # fmt: skip
ROWS = [["A1", "ada", "Ada", "ada@x.test", "completed", "2026-02-01 10:00", "S", 1, "1200.00"]]


def ago(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


@dataclass
class World:
    engine: Engine
    app: object
    ids: dict[str, int]

    def client(self, who: str = "eve", lang: str = "en") -> TestClient:
        client = TestClient(self.app)  # type: ignore[arg-type]
        client.get(f"/lang/{lang}")
        if who:
            email = {"eve": "eve@x.test", "rita": "rita@x.test", "mark": "mark@x.test"}[who]
            r = client.post("/login", data={"email": email, "password": "password1"}, follow_redirects=False)
            assert r.status_code == 303, r.text
        return client


@pytest.fixture
def world(
    engine: Engine, shops: object, tmp_path: Path, fast_passwords: None, monkeypatch: pytest.MonkeyPatch
) -> World:
    """Five tickets of the last day and one SLA policy (first response 60 min, resolution 480):

    - t1 Eve's inquiry: opened 300 min ago, replied after 20, resolved after 100; rated 4.
    - t2 Eve's complaint (product, packaging): opened 240 min ago, replied after 40, resolved
      after 140; rated 2 "The box was crushed."
    - t3 nobody's complaint (product, packaging): opened 120 min ago, no reply (missed).
    - t4 Eve's complaint (logistics, carrier_delay): opened 30 min ago.
    - t5 nobody's inquiry from the form, yesterday at 17:00 (both targets missed).
    One corrective action, due yesterday (overdue).
    """
    monkeypatch.setattr(desk_pages, "utcnow", lambda: NOW)
    run_import(
        ImportRequest(kind="orders", path=write_csv(tmp_path / "o.csv", HEADER, ROWS), shop="site"),
        engine=engine,
    )
    ids: dict[str, int] = {}
    with session_scope(engine) as s:
        for key, name, role in (("eve", "Eve Agent", "agent"), ("rita", "Rita Reader", "read_only"),
                                ("mark", "Mark Marketer", "marketer")):  # fmt: skip
            ids[key] = accounts.create_user(
                s, email=f"{key}@x.test", name=name, password="password1", role=role
            ).id
        service.create_policy(
            s, {"name": "standard", "position": 10, "first_response_minutes": 60, "resolution_minutes": 480,
                "warn_before_minutes": 10},
        )  # fmt: skip

        def make(key: str, minutes: int, *, agent: bool, category: str | None = None, cause: str | None = None,
                 **kw: object) -> None:  # fmt: skip
            t = service.create(s, NewTicket(subject=f"Ticket {key}", body="Please help.", **kw),  # type: ignore[arg-type]
                               actor="api", config=CONFIG, now=ago(minutes))  # fmt: skip
            if agent:
                service.assign(
                    s, t.id, assignee_id=ids["eve"], team_id=None, actor="t", config=CONFIG, now=ago(minutes)
                )
            if category:
                service.correct_category(s, t.id, category, actor="t")
            if cause:
                quality.set_root_cause(s, t.id, cause, "t", now=ago(minutes))
            ids[key] = t.id

        make("t1", 300, agent=True)
        make("t2", 240, agent=True, type="complaint", category="product", cause="packaging")
        make("t3", 120, agent=False, type="complaint", category="product", cause="packaging")
        make("t4", 30, agent=True, type="complaint", category="logistics", cause="carrier_delay")
        make("t5", 24 * 60, agent=False, channel="web", requester_name="Wang", requester_email="wang@x.test")
        for key, replied, resolved in (("t1", 280, 200), ("t2", 200, 100)):
            service.reply(
                s,
                ids[key],
                "Sorted.",
                author="Eve",
                author_user_id=ids["eve"],
                config=CONFIG,
                now=ago(replied),
            )
            service.set_status(s, ids[key], "resolved", actor="t", config=CONFIG, now=ago(resolved))
        for key, score, comment in (("t1", 4, "Quick and kind."), ("t2", 2, "The box was crushed.")):
            quality.answer(s, quality.survey_of(s, ids[key]).token, score, comment, now=ago(50))  # type: ignore[union-attr]
        service.scan(s, now=NOW)
        quality.add_action(
            s, description="Stronger cartons", cause="packaging", due_on=date(2026, 3, 1), actor="t"
        )
    settings = Settings(var_dir=tmp_path, database_url="sqlite://", secret_key="k" * 32)
    return World(engine, create_app(settings, engine=engine), ids)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def section(page: str, element_id: str) -> str:
    """The inside of the section with this id."""
    start = page.index(">", page.index(f'id="{element_id}"')) + 1
    return page[start : page.index("</section>", start)]


def rows(fragment: str) -> list[list[str]]:
    body = fragment.split("<tbody>")[1].split("</tbody>")[0]
    return [
        [text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def cards(page: str) -> list[str]:
    block = page[page.index('id="summary"') : page.index('id="volume"')]
    return [text_of(c) for c in re.findall(r'<div class="stat[^"]*" id="card-\w+">(.*?)</div>', block, re.S)]


WORDS = {
    "en": {
        "h1": "Service dashboard",
        "period": "Tickets opened 2026-02-24 to 2026-03-02 (Asia/Shanghai); backlog and actions as of now.",
        "cards": ["Tickets opened 5 0.7 a day", "Backlog 3 still to be worked on, now",
                  "First response in time 50% 2 of 4 met", "Average score 3.00 2 answers of 2 sent",
                  "Open corrective actions 1 1 overdue"],
        "channels": [["API", "4"], ["Support form", "1"]],
        "types": [["Complaint", "3"], ["Inquiry", "2"]],
        "backlog": [["New", "3"], ["Open", "0"], ["Waiting for customer", "0"], ["Waiting for third party", "0"],
                    ["Reopened", "0"]],
        "sla": [["First response", "2", "2", "1", "50%"], ["Resolution", "2", "1", "2", "67%"]],
        "csat": ["Average score 3.00 / 5", "Satisfied (4-5) 50%", "Answers 2 answers of 2 sent", "Response rate 100%"],
        "category": [["Product", "2", "66.7%", "66.7%", ""], ["Delivery", "1", "33.3%", "100.0%", ""]],
        "cause": [["Packaging", "2", "66.7%", "66.7%", ""], ["Carrier delay or loss", "1", "33.3%", "100.0%", ""]],
        "agents": [["Eve Agent", "3", "2", "30 min", "2 h", "0%", "3.00 (2)", "100% (4/4)"]],
    },
    "zh": {
        "h1": "客服服务看板",
        "period": "统计 2026-02-24 至 2026-03-02（Asia/Shanghai）期间新建的工单；积压与改进措施为当前数据。",
        "cards": ["新建工单 5 日均 0.7 个", "待处理 3 当前尚未解决", "首次响应达标率 50% 4 个中达标 2 个",
                  "平均分 3.00 已发送 2 份，回答 2 份", "进行中的改进措施 1 1 项已逾期"],
        "channels": [["API", "4"], ["客服表单", "1"]],
        "types": [["投诉", "3"], ["咨询", "2"]],
        "backlog": [["新建", "3"], ["处理中", "0"], ["等待客户回复", "0"], ["等待第三方", "0"], ["已重新打开", "0"]],
        "sla": [["首次响应", "2", "2", "1", "50%"], ["解决", "2", "1", "2", "67%"]],
        "csat": ["平均分 3.00 / 5", "满意（4-5 分） 50%", "回答数 已发送 2 份，回答 2 份", "回答率 100%"],
        "category": [["商品质量", "2", "66.7%", "66.7%", ""], ["物流配送", "1", "33.3%", "100.0%", ""]],
        "cause": [["包装不当", "2", "66.7%", "66.7%", ""], ["物流延误或丢件", "1", "33.3%", "100.0%", ""]],
        "agents": [["Eve Agent", "3", "2", "30 分钟", "2 小时", "0%", "3.00 (2)", "100% (4/4)"]],
    },
}  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_dashboard_with_its_numbers(world: World, lang: str) -> None:
    words = WORDS[lang]
    r = world.client("eve", lang).get("/desk", params={"days": 7})
    assert r.status_code == 200, r.text
    page = r.text
    assert f"<h1>{words['h1']}</h1>" in page
    assert text_of(page.split('id="period">')[1].split("</p>")[0]) == words["period"]
    assert cards(page) == words["cards"]
    # One bar per day of the seven, yesterday's ticket (t5) and today's four.
    bars = re.findall(r'data-day="([\d-]+)" data-count="(\d+)"', page)
    assert bars == [(f"2026-02-{d}", "0") for d in range(24, 29)] + [("2026-03-01", "1"), ("2026-03-02", "4")]
    assert [r[:2] for r in rows(page.split('id="by-channel"')[1])] == words["channels"]
    assert [r[:2] for r in rows(page.split('id="by-type"')[1])] == words["types"]
    assert [r[:2] for r in rows(section(page, "backlog"))] == words["backlog"]
    assert rows(section(page, "sla")) == words["sla"]
    csat = section(page, "csat")
    dl = [text_of(f"{dt} {dd}") for dt, dd in re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", csat, re.S)]
    assert dl == words["csat"]
    assert [r[:2] for r in rows(csat)] == [
        ["★★★★★", "0"],
        ["★★★★", "1"],
        ["★★★", "0"],
        ["★★", "1"],
        ["★", "0"],
    ]
    assert rows(section(page, "pareto-category")) == words["category"]
    assert rows(section(page, "pareto-root-cause")) == words["cause"]
    # The Pareto chart: bars in order and the cumulative line through 66.7% and 100%.
    chart = section(page, "pareto-category")
    assert re.findall(r'<polyline points="([^"]+)"', chart) == ["12,33.33 36,0.00 "]
    assert rows(section(page, "agents")) == words["agents"]


def test_the_period_can_change_and_the_queue_links_here(world: World) -> None:
    eve = world.client("eve")
    page = eve.get("/desk", params={"days": 30}).text
    assert len(re.findall(r'data-day="', page)) == 30
    assert '<a href="/desk?days=30" class="on">30 days</a>' in page
    assert cards(page)[0] == "Tickets opened 5 0.2 a day"
    queue = eve.get("/tickets").text
    assert '<a href="/desk" id="dashboard-link">Dashboard →</a>' in queue
    assert eve.get("/desk", params={"days": 0}).status_code == 422


def test_who_sees_the_dashboard(world: World) -> None:
    assert world.client("rita").get("/desk").status_code == 200  # read-only: reads tickets
    r = world.client("mark").get("/desk")
    assert (r.status_code, "permission_denied" in r.text) == (403, True)
    r = world.client("").get("/desk", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/desk")


def test_root_cause_and_satisfaction_on_the_ticket_page(world: World) -> None:
    eve, t2 = world.client("eve"), world.ids["t2"]
    page = eve.get(f"/tickets/{t2}").text
    assert text_of(page.split('id="ticket-root-cause">')[1].split("</span>")[0]) == "Root cause: Packaging"
    form = page[
        page.index('id="root-cause-form"') : page.index("</form>", page.index('id="root-cause-form"'))
    ]
    assert re.findall(r'<option value="(\w*)"', form)[:4] == [
        "",
        "supplier_defect",
        "design",
        "wrong_description",
    ]
    assert '<option value="packaging" selected>Packaging</option>' in form
    panel = section(page, "csat-panel")
    assert text_of(panel) == "Satisfaction ★★ ★★★ 2 / 5, answered 2026-03-02 16:10 The box was crushed."
    assert 'id="csat-skip-form"' not in panel  # the survey was sent
    r = eve.post(f"/tickets/{t2}/root-cause", data={"root_cause": "supplier_defect"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/tickets/{t2}")
    assert table_rows(world.engine, f"SELECT root_cause FROM tickets WHERE id = {t2}") == [
        ("supplier_defect",)
    ]
    assert "Root cause set" in eve.get(f"/tickets/{t2}").text  # in the history
    r = eve.post(f"/tickets/{t2}/root-cause", data={"root_cause": "gremlins"})
    assert r.status_code == 400
    assert "<code>root_cause_unknown</code>" in r.text
    # A ticket not resolved yet: the survey will be sent; the agent can switch it off.
    t4 = world.ids["t4"]
    panel = section(world.client("eve", "zh").get(f"/tickets/{t4}").text, "csat-panel")
    assert "工单解决时发送。" in panel
    r = eve.post(f"/tickets/{t4}/csat-skip", data={"skip": "1"}, follow_redirects=False)
    assert r.status_code == 303
    assert "No survey for this ticket." in section(eve.get(f"/tickets/{t4}").text, "csat-panel")
    # A reader sees the result and no forms.
    page = world.client("rita").get(f"/tickets/{t2}").text
    assert 'id="root-cause-form"' not in page
    assert 'id="csat-result"' in page


def test_the_customer_answers_the_survey_once(world: World) -> None:
    t4 = world.ids["t4"]
    with session_scope(world.engine) as s:
        service.set_status(s, t4, "resolved", actor="t", config=CONFIG, now=NOW)
        tracking, token = service.get(s, t4).public_token, quality.survey_of(s, t4).token  # type: ignore[union-attr]
    visitor = world.client("")
    link = visitor.get(f"/support/t/{tracking}").text
    assert (
        text_of(link.split('id="csat-link">')[1].split("</p>")[0])
        == "Your request is resolved: how did we do? Rate our help ★"
    )
    assert f'<a href="/support/csat/{token}">' in link
    page = visitor.get(f"/support/csat/{token}")
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<h1 id="csat-title">How satisfied are you with our help?</h1>' in page.text
    assert re.findall(
        r'<input type="radio" name="score" id="score-(\d)" value="(\d)" required', page.text
    ) == [(str(i), str(i)) for i in range(5, 0, -1)]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    # A score link from the survey mail opens with that score chosen, and records nothing.
    chosen = visitor.get(f"/support/csat/{token}?score=4").text
    assert re.findall(
        r'<input type="radio" name="score" id="score-(\d)" value="\d" required checked', chosen
    ) == ["4"]
    bogus = visitor.get(f"/support/csat/{token}?score=9").text
    assert " required checked" not in bogus
    assert table_rows(world.engine, f"SELECT score FROM csat_surveys WHERE ticket_id = {t4}") == [(None,)]
    # No stars: refused, nothing stored, the comment kept.
    r = visitor.post(f"/support/csat/{token}", data={"comment": "Fast!"})
    assert r.status_code == 400
    assert "Choose from 1 to 5 stars." in r.text
    assert ">Fast!</textarea>" in r.text
    assert table_rows(world.engine, f"SELECT score FROM csat_surveys WHERE ticket_id = {t4}") == [(None,)]
    r = visitor.post(
        f"/support/csat/{token}", data={"score": "5", "comment": "Fast!"}, follow_redirects=False
    )
    assert (r.status_code, r.headers["location"]) == (303, f"/support/csat/{token}")
    thanks = visitor.get(f"/support/csat/{token}").text
    assert "You rated us 5 out of 5." in thanks
    assert 'id="csat-form"' not in thanks
    assert "Thank you: you rated us 5 out of 5." in visitor.get(f"/support/t/{tracking}").text
    # A second answer is refused; the first stays.
    again = visitor.post(f"/support/csat/{token}", data={"score": "1", "comment": "Actually no"})
    assert again.status_code == 409
    assert "This survey was already answered: the first answer counts." in again.text
    assert table_rows(world.engine, f"SELECT score, comment FROM csat_surveys WHERE ticket_id = {t4}") == [
        (5, "Fast!")
    ]
    # The agent sees it on the ticket.
    assert "5 / 5, answered 2026-03-02 17:00 Fast!" in text_of(
        section(world.client("eve").get(f"/tickets/{t4}").text, "csat-panel")
    )


def test_the_survey_page_in_chinese_and_an_unknown_link(world: World) -> None:
    t3 = world.ids["t3"]
    with session_scope(world.engine) as s:
        service.set_status(s, t3, "resolved", actor="t", config=CONFIG, now=NOW)
        token = quality.survey_of(s, t3).token  # type: ignore[union-attr]
    visitor = world.client("", "zh")
    page = visitor.get(f"/support/csat/{token}").text
    assert [
        w
        for w in ("您对本次服务满意吗？", "非常不满意", "非常满意", "提交评价", "还有什么想说的？（选填）")
        if w not in page
    ] == []
    r = visitor.post(f"/support/csat/{token}", data={"score": "9"})
    assert (r.status_code, "请选择 1 到 5 颗星。" in r.text) == (400, True)
    visitor.post(f"/support/csat/{token}", data={"score": "3"})
    assert "您的评分：3 / 5。" in visitor.get(f"/support/csat/{token}").text
    r = visitor.get("/support/csat/not-a-token")
    assert (r.status_code, "链接无效" in r.text) == (404, True)
    r = visitor.post("/support/csat/not-a-token", data={"score": "5"})
    assert r.status_code == 404
