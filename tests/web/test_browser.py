"""The web UI driven by a real browser (headless chromium) against the real app on SQLite and PostgreSQL.

Data comes in through the real importer (see ``seeded`` in conftest.py): 张三 (two orders, phone
13812345678), Emily Carter (email), 李四 and John Smith.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, text

from conftest import ADMIN, HEADER, READER, LiveApp, order_row, write_csv
from patron.core.db import session_scope
from patron.scoring import service as scoring

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def login(page: Page, who: tuple[str, str, str], password: str | None = None) -> None:
    email, _, right = who
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password or right)
    page.click("button[type=submit]")


def rows_of(page: Page, selector: str) -> list[list[str]]:
    """The visible text of every body row of a table, cell by cell."""
    return page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim()))"
    )


def scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def customer_id(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT id FROM customers WHERE name = :n AND merged_into_id IS NULL"),
                {"n": name},
            ).scalar_one()
        )


# -- 1. login -----------------------------------------------------------------------------------


def test_login_wrong_password_then_right_one(page: Page, live_app: LiveApp) -> None:
    page.goto("/customers")
    expect(page).to_have_url(re.compile(r"/login\?next=/customers$"))

    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
        login(page, ADMIN, password="not-the-password")
    assert answer.value.status == 401
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.locator("input[name=email]")).to_have_value(ADMIN[0])
    expect(page.locator("header .who")).to_have_count(0)

    login(page, ADMIN)
    expect(page).to_have_url(f"{live_app.url}/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("header .who")).to_have_text("Ada Admin")
    expect(page.locator(".cards .stat strong")).to_have_text(["4", "1", "0"])  # people, imports, bad rows

    page.click("header button:has-text('Log out')")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/customers")
    expect(page).to_have_url(re.compile(r"/login\?next=/customers$"))


def test_login_returns_to_the_page_asked_for(page: Page, live_app: LiveApp) -> None:
    page.goto("/imports")
    expect(page).to_have_url(re.compile(r"/login\?next=/imports$"))
    page.fill("input[name=email]", "  ADMIN@patron.test ")
    page.fill("input[name=password]", ADMIN[2])
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_app.url}/imports")
    expect(page.locator("h1")).to_have_text("Imports")


# -- 2. search and the 360 page ---------------------------------------------------------------


def test_search_by_phone_with_spaces_and_open_360(page: Page, live_app: LiveApp) -> None:
    login(page, ADMIN)
    page.fill("form.search input[name=q]", "138 1234 5678")
    page.click("form.search button")
    expect(page).to_have_url(re.compile(r"/customers\?q=138\+1234\+5678$"))
    expect(page.locator("#result-count")).to_have_text("1 customers")
    zhang = customer_id(live_app.engine, "张三")
    assert rows_of(page, "table.customers") == [
        [str(zhang), "张三", "+8613812345678", "—", "—", "2", "239.00 CNY", "2024-03-03 15:30"]
    ]

    page.click("table.customers a:has-text('张三')")
    expect(page).to_have_url(f"{live_app.url}/customers/{zhang}")
    expect(page.locator("#customer-name")).to_have_text(f"张三 #{zhang}")
    expect(page.locator("#profile dd").first).to_have_text("+8613812345678")
    expect(page.locator("#identities table")).to_be_visible()
    assert rows_of(page, "#identities table") == [
        ["Shop customer ID site", "c-zhang", "merge key"],
        ["Phone", "+8613812345678", "merge key"],
    ]
    expect(page.locator("#orders table")).to_be_visible()
    expect(page.locator("#orders h2")).to_have_text("Orders 2")
    assert rows_of(page, "#orders table") == [
        ["W1002", "site", "delivered", "30.00 CNY", "2024-03-03 15:30", "帽子 × 1 30.00 CNY"],
        [
            "W1001",
            "site",
            "completed",
            "209.00 CNY",
            "2024-01-05 10:00",
            "T恤 × 2 199.00 CNY\n袜子 × 1 0.00 CNY",
        ],
    ]
    expect(page.locator("#timeline")).to_be_visible()
    expect(page.locator("#timeline ol.timeline li")).to_have_text(
        [
            "2024-03-03 15:30 order W1002 delivered · 30.00 CNY",
            "2024-01-05 10:00 order W1001 completed · 209.00 CNY",
        ]
    )
    expect(page.locator(".note")).to_have_count(0)  # an admin sees everything unmasked


def test_search_by_upper_case_email(page: Page, live_app: LiveApp) -> None:
    login(page, ADMIN)
    page.goto("/customers")
    expect(page.locator("#result-count")).to_have_text("4 customers")
    page.fill(".filters input[name=q]", "EMILY.CARTER@EXAMPLE.COM")
    page.click(".filters button")
    expect(page.locator("#result-count")).to_have_text("1 customers")
    emily = customer_id(live_app.engine, "Emily Carter")
    assert rows_of(page, "table.customers") == [
        [
            str(emily),
            "Emily Carter",
            "—",
            "emily.carter@example.com",
            "—",
            "1",
            "45.00 CNY",
            "2024-02-01 09:30",
        ]
    ]
    page.click(f"table.customers a[href='/customers/{emily}'] >> nth=0")
    expect(page.locator("#customer-name")).to_have_text(f"Emily Carter #{emily}")
    assert rows_of(page, "#identities table") == [
        ["Email", "emily.carter@example.com", "merge key"],
        ["Shop customer ID site", "c-emily", "merge key"],
    ]
    assert rows_of(page, "#orders table") == [
        ["W2001", "site", "shipped", "45.00 CNY", "2024-02-01 09:30", "T-shirt × 1 50.00 CNY"]
    ]


def test_search_without_match_says_so(page: Page, live_app: LiveApp) -> None:
    login(page, ADMIN)
    page.goto("/customers?q=13700000000")
    expect(page.locator("#result-count")).to_have_text("0 customers")
    expect(page.locator(".empty")).to_have_text("No customer matches.")
    expect(page.locator("table.customers")).to_have_count(0)


# -- 3. language ------------------------------------------------------------------------------


def test_switch_to_chinese_and_back(page: Page, live_app: LiveApp) -> None:
    zhang = customer_id(live_app.engine, "张三")
    login(page, ADMIN)
    page.goto(f"/customers/{zhang}")
    expect(page.locator("#lang-switch")).to_have_text("中文")
    expect(page.locator("#profile h2")).to_have_text("Profile")

    page.click("#lang-switch")
    expect(page).to_have_url(f"{live_app.url}/customers/{zhang}")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#profile h2")).to_have_text("基本信息")
    expect(page.locator("#identities h2")).to_have_text("身份标识")
    expect(page.locator("#orders h2")).to_have_text("订单 2")
    expect(page.locator("#timeline h2")).to_have_text("时间线")
    expect(page.locator("#orders th").nth(3)).to_have_text("金额")
    expect(page.locator("#orders .badge")).to_have_text(["已签收", "已完成"])
    expect(page.locator("#identities td:first-child")).to_have_text(["店铺客户 ID site", "手机号"])
    expect(page.locator("#timeline ol.timeline li")).to_have_text(
        [
            "2024-03-03 15:30 下单 W1002 已签收 · 30.00 CNY",
            "2024-01-05 10:00 下单 W1001 已完成 · 209.00 CNY",
        ]
    )
    expect(page.locator("#refunds .empty")).to_have_text("无。")
    expect(page.locator("#lang-switch")).to_have_text("English")

    # The choice is a cookie: it holds on every page until switched back.
    page.click("header nav a[href='/customers']")
    expect(page.locator("h1")).to_have_text("客户")
    expect(page.locator("#result-count")).to_have_text("共 4 位客户")
    page.click("header nav a[href='/imports']")
    expect(page.locator("h1")).to_have_text("数据导入")
    page.goto("/customers?q=138+1234+5678")
    expect(page.locator("#result-count")).to_have_text("共 1 位客户")

    # Switching keeps the page and its query string.
    page.click("#lang-switch")
    expect(page).to_have_url(f"{live_app.url}/customers?q=138+1234+5678")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#result-count")).to_have_text("1 customers")
    page.goto(f"/customers/{zhang}")
    expect(page.locator("#profile h2")).to_have_text("Profile")
    expect(page.locator("#timeline h2")).to_have_text("Timeline")


# -- 4. imports -------------------------------------------------------------------------------


def upload_rows() -> list[list[object]]:
    return [
        order_row(
            "U1",
            "c-wang",
            "王五",
            phone="13700001234",
            placed_at="2024-04-01 10:00:00",
            total="66.00",
            unit_price="66.00",
            line_total="66.00",
        ),
        order_row("U2", "c-bad1", "坏日期", placed_at="2024-02-30 10:00:00"),
        order_row("U3", "c-bad2", "坏币种", currency="XYZ"),
        order_row("U4", "c-bad3", "Negative Nancy", email="nancy@example.com", quantity="-1"),
        order_row(
            "U5",
            "c-amy",
            "Amy Lee",
            email="amy@example.com",
            placed_at="2024-04-02 11:00:00",
            total="20.00",
            unit_price="20.00",
            line_total="20.00",
        ),
    ]


EXPECTED_ERRORS = [
    ["3", "placed_at", "bad_datetime", "2024-02-30 10:00:00"],
    ["4", "currency", "unknown_currency", "XYZ"],
    ["5", "quantity", "out_of_range", "-1"],
]


def fill_upload(page: Page, path: Path, *, dry_run: bool) -> None:
    page.goto("/imports")
    page.select_option("#kind", "orders")
    page.select_option("#mapping", "")
    page.select_option("#shop", "site")
    page.select_option("select[name=policy]", "keep")
    page.set_input_files("#file", str(path))
    if dry_run:
        page.check("input[name=dry_run]")


def test_upload_with_bad_rows_quarantines_them(page: Page, live_app: LiveApp, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "april orders.csv", HEADER, upload_rows())
    login(page, ADMIN)
    fill_upload(page, path, dry_run=False)
    page.click("#upload-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/imports/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#run-status")).to_have_text("completed", timeout=10_000)
    expect(page.locator("h1")).to_contain_text(f"Import #{run_id}")
    expect(page.locator("#quarantined-count")).to_have_text("3")
    expect(page.locator("main p.muted").first).to_contain_text("april orders.csv")
    expect(page.locator("#quarantine h2")).to_have_text("Quarantine 3")
    assert [row[:4] for row in rows_of(page, "#quarantine table")] == EXPECTED_ERRORS
    expect(page.locator("a.chip")).to_have_text(["bad_datetime 1", "out_of_range 1", "unknown_currency 1"])

    # Filtering by error code through the chips.
    page.click("a.chip:has-text('unknown_currency')")
    expect(page).to_have_url(re.compile(rf"/imports/{run_id}\?code=unknown_currency$"))
    assert [row[:4] for row in rows_of(page, "#quarantine table")] == [EXPECTED_ERRORS[1]]

    engine = live_app.engine
    assert scalar(engine, "SELECT count(*) FROM orders WHERE external_id IN ('U1', 'U5')") == 2
    assert scalar(engine, "SELECT count(*) FROM orders WHERE external_id IN ('U2', 'U3', 'U4')") == 0
    assert scalar(engine, f"SELECT count(*) FROM quarantine_rows WHERE import_run_id = {run_id}") == 3
    assert len(list((live_app.var_dir / "uploads").iterdir())) == 1

    # The run shows up in the history with its counts.
    page.click("header nav a[href='/imports']")
    history = rows_of(page, "table")
    assert history[0][:9] == [
        str(run_id),
        "Orders",
        "april orders.csv",
        "completed",
        "5",
        "2",
        "0",
        "0",
        "3",
    ]


def test_dry_run_reports_errors_and_writes_nothing(page: Page, live_app: LiveApp, tmp_path: Path) -> None:
    engine = live_app.engine
    counts = (
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM customers), "
        "(SELECT count(*) FROM import_runs), (SELECT count(*) FROM quarantine_rows)"
    )
    with engine.connect() as conn:
        before = tuple(conn.execute(text(counts)).one())
    path = write_csv(tmp_path / "check-only.csv", HEADER, upload_rows())
    login(page, ADMIN)
    fill_upload(page, path, dry_run=True)
    page.click("#upload-form button[type=submit]")

    expect(page).to_have_url(f"{live_app.url}/imports")
    result = page.locator("#dry-result")
    expect(result.locator("h2")).to_have_text("Dry run result: nothing was written")
    expect(result.locator("p").first).to_have_text(
        "Rows 5 · Inserted 2 · Updated 0 · Unchanged 0 · Quarantined 3"
    )
    assert [row[:4] for row in rows_of(page, "#dry-result table")] == EXPECTED_ERRORS
    # The history still holds only the seed import.
    assert [row[2] for row in rows_of(page, "main > .scroll table")] == ["seed-orders.csv"]

    with engine.connect() as conn:
        assert tuple(conn.execute(text(counts)).one()) == before
    assert scalar(engine, "SELECT count(*) FROM orders WHERE external_id IN ('U1', 'U5')") == 0


def test_read_only_user_cannot_upload(page: Page, live_app: LiveApp) -> None:
    login(page, READER)
    page.goto("/imports")
    expect(page.locator("h1")).to_have_text("Imports")
    expect(page.locator("#upload-form")).to_have_count(0)


# -- 5. masking -------------------------------------------------------------------------------


def test_read_only_user_sees_masked_phones(page: Page, live_app: LiveApp) -> None:
    zhang = customer_id(live_app.engine, "张三")
    login(page, READER)
    expect(page.locator("header .who")).to_have_text("Rita Reader")
    page.goto("/customers")
    listed = {row[1]: row[2:4] for row in rows_of(page, "table.customers")}
    assert listed == {
        "张三": ["138****5678", "—"],
        "Emily Carter": ["—", "e***@example.com"],
        "李四": ["139****1111", "—"],
        "John Smith": ["—", "j***@example.com"],
    }
    assert "13812345678" not in page.content()

    page.goto(f"/customers/{zhang}")
    expect(page.locator(".note")).to_have_text("Phone and email are masked for your role.")
    expect(page.locator("#profile dd").first).to_have_text("138****5678")
    assert rows_of(page, "#identities table") == [
        ["Shop customer ID site", "c-zhang", "merge key"],
        ["Phone", "138****5678", "merge key"],
    ]
    assert "13812345678" not in page.content()


def test_admin_sees_full_phone(page: Page, live_app: LiveApp) -> None:
    zhang = customer_id(live_app.engine, "张三")
    login(page, ADMIN)
    page.goto("/customers")
    listed = {row[1]: row[2:4] for row in rows_of(page, "table.customers")}
    assert listed["张三"] == ["+8613812345678", "—"]
    assert listed["Emily Carter"] == ["—", "emily.carter@example.com"]
    page.goto(f"/customers/{zhang}")
    expect(page.locator("#profile dd").first).to_have_text("+8613812345678")
    expect(page.locator(".note")).to_have_count(0)


# -- 6. screenshots for the docs and the phone layout ------------------------------------------


def shoot(page: Page, name: str, folder: Path = SCREENSHOTS) -> None:
    """A full-page PNG for the docs, the same bytes on every run: no hover, fonts loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=str(folder / name), full_page=True, animations="disabled")
    assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_screenshots_of_the_360_page(page: Page, live_app: LiveApp, engine: Engine, tmp_path: Path) -> None:
    # The docs keep the SQLite run's pictures; the PostgreSQL run renders the same page to tmp.
    folder = SCREENSHOTS if engine.dialect.name == "sqlite" else tmp_path
    zhang = customer_id(live_app.engine, "张三")
    login(page, ADMIN)
    page.goto(f"/customers/{zhang}")
    expect(page.locator("#scores")).to_contain_text("No scores yet")
    with session_scope(live_app.engine) as s:
        scoring.analyze(s, as_of=date(2024, 3, 31), currency="CNY", actor="test")
    page.goto(f"/customers/{zhang}")
    expect(page.locator("#profile h2")).to_have_text("Profile")
    expect(page.locator("#scores h2")).to_contain_text("as of 2024-03-31")
    expect(page.locator("#scores .explanation")).to_contain_text("days ago")
    shoot(page, "customer-360-en.png", folder)
    page.click("#lang-switch")
    expect(page.locator("#profile h2")).to_have_text("基本信息")
    expect(page.locator("#scores .explanation")).to_contain_text("天前")
    shoot(page, "customer-360-zh.png", folder)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_customer_list_fits_a_phone(page: Page, live_app: LiveApp, engine: Engine, lang: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, ADMIN)
    if lang == "zh":
        page.click("#lang-switch")
    page.goto("/customers")
    names = page.locator("table.customers tbody tr td:nth-child(2)")
    expect(names).to_have_count(4)
    for i in range(4):
        expect(names.nth(i)).to_be_in_viewport()
    # Nothing sticks out sideways: the page itself never scrolls horizontally.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # ... and the table needs no sideways scrolling either: every shown column fits.
    assert page.locator("main .scroll").evaluate("el => el.scrollWidth <= el.clientWidth")
    for selector in ("header.top", "form.filters", "table.customers"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0, (selector, box)
        assert box["x"] + box["width"] <= 390, (selector, box)
    if engine.dialect.name == "sqlite":
        shoot(page, f"customers-phone-{lang}.png")


def test_analytics_page_runs_and_shows_the_scores(page: Page, live_app: LiveApp) -> None:
    login(page, ADMIN)
    page.goto("/analytics")
    expect(page.locator("#no-run")).to_be_visible()
    page.click("#run-analysis")
    expect(page.locator("#run-info")).to_contain_text("customers")
    expect(page.locator("#rfm-grid table.heat tbody tr")).to_have_count(5)
    expect(page.locator("#segments tbody tr").first).to_be_visible()
    # Every customer in the tables links to their 360 page.
    first = page.locator("#top-clv tbody a").first
    if first.count():
        href = first.get_attribute("href")
        assert href is not None
        assert re.fullmatch(r"/customers/\d+", href)
    # The KPI cards carry a bar per month of the last 12, drawn inline.
    expect(page.locator("#kpis svg.spark")).to_have_count(4)
    expect(page.locator("#kpis svg.spark").first.locator("rect")).to_have_count(12)
    for block in ("#tier-movements", "#clv-dist", "#cohorts", "#slicer"):
        expect(page.locator(block)).to_be_visible()
    # A number drills down to exactly the customers behind it, and the filter can be removed.
    link = page.locator("#segments tbody a").first
    count = int(link.inner_text().replace(",", ""))
    segment = (link.get_attribute("href") or "").split("segment=")[1]
    link.click()
    expect(page).to_have_url(re.compile(rf"/customers\?segment={segment}$"))
    expect(page.locator("#drill .chip")).to_contain_text("From analytics: Segment:")
    expect(page.locator("#result-count")).to_have_text(f"{count} customers")
    expect(page.locator("table.customers tbody tr")).to_have_count(count)
    page.click("#drill a.chip-x")
    expect(page.locator("#drill")).to_have_count(0)
    expect(page.locator("table.customers tbody tr")).to_have_count(4)


def test_analytics_of_two_runs_slices_and_drills_into_a_cohort(
    page: Page, live_app: LiveApp, engine: Engine, tmp_path: Path
) -> None:
    # The docs' pictures of this page come from the demo shop (docs/screenshots/take.py).
    folder = tmp_path
    for day in (date(2024, 2, 29), date(2024, 3, 31)):
        with session_scope(live_app.engine) as s:
            scoring.analyze(s, as_of=day, currency="CNY", actor="test")
    login(page, ADMIN)
    page.goto("/analytics")
    expect(page.locator("#run-info")).to_contain_text("Scores as of 2024-03-31")
    # The 12 months to 2024-03-31 hold all five purchases: 209.00 + 30.00 + 45.00 + 88.00 + 12.50.
    revenue = page.locator("#kpis .stat").first
    expect(revenue.locator("strong")).to_have_text("384.50 CNY")
    expect(revenue.locator("rect.now title")).to_have_text("2024-03: 30.00 CNY")
    expect(page.locator("#tier-movements h2")).to_have_text("Tier moves since 2024-02-29")
    assert rows_of(page, "#cohorts") == [
        ["2024-01", "1", "100%", "0%", "100%"],
        ["2024-02", "3", "100%", "0%", ""],
    ]
    shoot(page, "analytics-en.png", folder)
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("客户分析")
    expect(page.locator("#cohorts h2")).to_have_text("按首购月份的留存")
    shoot(page, "analytics-zh.png", folder)
    page.click("#lang-switch")
    # The slicer narrows the cards to one shop (all of the seed's orders are the own site's).
    page.select_option("#slice", "shop:site")
    page.click("#slicer button")
    expect(page).to_have_url(re.compile(r"/analytics\?slice=shop%3Asite$"))
    expect(revenue.locator("strong")).to_have_text("384.50 CNY")
    # The February cohort's size lists exactly its three customers.
    page.locator("#cohorts tbody tr").nth(1).locator("a").first.click()
    expect(page).to_have_url(re.compile(r"/customers\?cohort=2024-02$"))
    expect(page.locator("#drill .chip")).to_contain_text("First purchase in 2024-02")
    names = page.locator("table.customers tbody tr td:nth-child(2)")
    expect(names).to_have_text(["John Smith", "李四", "Emily Carter"])
    page.click("#drill a.chip-x")
    expect(page.locator("table.customers tbody tr")).to_have_count(4)


def test_read_only_user_cannot_run_an_analysis(page: Page, live_app: LiveApp) -> None:
    login(page, READER)
    page.goto("/analytics")
    expect(page.locator("#run-analysis")).to_have_count(0)
    status = page.evaluate("fetch('/analytics/run', {method: 'POST'}).then(r => r.status)")
    assert status == 403
    with live_app.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM score_runs")).scalar_one() == 0
