import re
from pathlib import Path
import pytest
from conftest import ADMIN, HEADER, write_csv
from test_browser import login, upload_rows, fill_upload

OUT = Path("/tmp/shots")


@pytest.mark.browser
def test_scratch(page, live_app, engine, tmp_path):
    if engine.dialect.name != "sqlite":
        pytest.skip("x")
    OUT.mkdir(exist_ok=True)
    for lang in ("en", "zh"):
        page.context.clear_cookies()
        page.goto(f"/lang/{lang}?next=/login")
        page.goto("/login")
        page.fill("input[name=email]", "x@y.z")
        page.fill("input[name=password]", "wrongwrong")
        page.click("button[type=submit]")
        page.screenshot(path=str(OUT / f"login-{lang}.png"), full_page=True)
        login(page, ADMIN)
        page.goto(f"/lang/{lang}?next=/")
        page.screenshot(path=str(OUT / f"overview-{lang}.png"), full_page=True)
        path = write_csv(tmp_path / f"f-{lang}.csv", HEADER, upload_rows())
        fill_upload(page, path, dry_run=True)
        page.click("#upload-form button[type=submit]")
        page.screenshot(path=str(OUT / f"dry-{lang}.png"), full_page=True)
        fill_upload(page, path, dry_run=False)
        page.click("#upload-form button[type=submit]")
        page.wait_for_url(re.compile(r"/imports/\d+$"))
        page.locator("#run-status").filter(has_text=re.compile("completed|已完成")).wait_for()
        page.screenshot(path=str(OUT / f"run-{lang}.png"), full_page=True)
        page.goto("/customers/999")
        page.screenshot(path=str(OUT / f"error-{lang}.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/imports")
        page.screenshot(path=str(OUT / f"imports-phone-{lang}.png"), full_page=True)
        page.goto("/customers/1")
        page.screenshot(path=str(OUT / f"c360-phone-{lang}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
