"""After-sales on the agent's ticket page (both databases): the review, a remedy carried out
from the form once even when the form is sent twice, the refund limit shown as an error, and a
canned reply filling the reply box; in English and Chinese."""

from __future__ import annotations

import re

import pytest
from test_desk_pages import CONFIG, NOW, Desk, desk, make  # noqa: F401 - fixtures used by name

from conftest import table_rows
from patron.core.db import session_scope
from patron.desk import aftersales, routing


@pytest.fixture
def case(desk: Desk) -> Desk:  # noqa: F811
    with session_scope(desk.engine) as s:
        aftersales.set_agent(s, desk.ids["eve"], refund_limit_minor=50_000)
        aftersales.set_policy(s, shop_id=None, category=None, window_days=3650)
        routing.save_canned(
            s, name="sorry", lang="en", body="Dear {customer_name}, about {order}: sorry! {agent}"
        )
    (order,) = table_rows(desk.engine, "SELECT id FROM orders WHERE external_id = 'A1'")[0]
    desk.ids["t"] = make(desk.engine, "Broken", 10, type="refund_only", order_id=order, language="en")
    return desk


def form_key(html: str) -> str:
    match = re.search(r'name="key" value="([^"]+)"', html)
    assert match
    return match.group(1)


@pytest.mark.parametrize(("lang", "words"), [("en", ["After-sales", "left to refund 1,200.00 CNY"]),
                                               ("zh", ["售后处理", "可退金额 1,200.00 CNY"])])  # fmt: skip
def test_a_refund_from_the_ticket_page(case: Desk, lang: str, words: list[str]) -> None:
    agent, url = case.client("eve", lang), f"/tickets/{case.ids['t']}"
    page = agent.get(url).text
    assert [w for w in words if w not in page] == []
    form = {"kind": "refund", "key": form_key(page), "amount": "120.50", "note": "broken"}
    for _ in range(2):  # a double submit
        r = agent.post(f"{url}/remedy", data=form, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, url)
    assert table_rows(case.engine, "SELECT kind, amount_minor FROM ticket_remedies") == [("refund", 12_050)]
    assert table_rows(case.engine, "SELECT type, amount_minor FROM refunds") == [("refund_only", 12_050)]
    page = agent.get(url).text
    assert ("仅退款" if lang == "zh" else "refund") in page[page.index('id="remedies"') :]
    over = agent.post(f"{url}/remedy", data=form | {"key": form_key(page), "amount": "600"})
    assert over.status_code == 403
    assert "remedy_over_limit" in over.text
    assert table_rows(case.engine, "SELECT count(*) FROM ticket_remedies") == [(1,)]
    bad = agent.post(f"{url}/remedy", data=form | {"key": "k2", "amount": "abc"})
    assert (bad.status_code, "remedy_bad_amount" in bad.text) == (400, True)


def test_a_reader_cannot_carry_out_a_remedy(case: Desk) -> None:
    reader = case.client("rita")
    page = reader.get(f"/tickets/{case.ids['t']}").text
    assert 'id="remedy-form"' not in page
    r = reader.post(f"/tickets/{case.ids['t']}/remedy", data={"kind": "repair", "key": "x"})
    assert r.status_code == 403
    assert table_rows(case.engine, "SELECT count(*) FROM ticket_remedies") == [(0,)]


def test_a_canned_reply_fills_the_reply_box(case: Desk) -> None:
    page = case.client("eve").get(f"/tickets/{case.ids['t']}").text
    assert f'href="/tickets/{case.ids["t"]}?canned=sorry#reply-form"' in page
    filled = case.client("eve").get(f"/tickets/{case.ids['t']}?canned=sorry").text
    assert ">Dear Ada, about A1: sorry! Eve Agent</textarea>" in filled
