"""Take the docs screenshots of the Analytics and Loyalty pages from the demo shop (not the test shop).

What it does, all in a temporary directory that is removed at the end (also on failure):

1. builds the demo shop with the real CLI, ``patron demo --customers 3000 --seed 7 --no-serve``,
   into a fresh SQLite database (``PATRON_VAR_DIR`` / ``PATRON_DATABASE_URL`` point into the
   temporary directory; no other ``PATRON_*`` variable or ``.env`` file is read);
2. starts ``patron serve --no-worker`` on a free loopback port and waits until it answers;
3. with Playwright driving Debian's chromium (headless, 1280 px wide, full-page shots with
   animations disabled) logs in as the demo admin and saves into ``docs/screenshots/``:

   * ``analytics-en.png`` and ``analytics-zh.png`` -- the Analytics page;
   * ``customer-360-scored-en.png`` and ``-zh.png`` -- the 360 page of a customer from the
     "most valuable customers" list who has several orders;
   * ``customers-drilldown-en.png`` -- the customer list behind one cell of the RFM grid;
   * ``loyalty-demo-report-en.png`` and ``-zh.png`` -- the demo loyalty program's report (two
     years of points issued, redeemed and expired, members by tier);

4. stops the server.

Run it from the repository root (it needs ``chromium`` and the ``fonts-noto-cjk`` fonts, see
``make install-browser``)::

    .venv/bin/python docs/screenshots/take.py                  # 30-45 s
    .venv/bin/python docs/screenshots/take.py --keep           # keep the temp dir (logs, database)
    .venv/bin/python docs/screenshots/take.py --out /tmp/shots # somewhere else than docs/screenshots

It stops at the first error page, failed login or missing block instead of saving a broken picture.

The demo data are deterministic for the seed, but the demo scores "as of today", so the dates and
some numbers in the pictures move with the day they are taken.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Page, Response, sync_playwright

from patron.demo.load import DEMO_ADMIN  # the demo's admin login: (email, password)

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CUSTOMERS, SEED = 3000, 7
MIN_ORDERS = 3  # "several orders" for the 360 page's customer


def log(message: str) -> None:
    print(f"[take.py {time.strftime('%H:%M:%S')}] {message}", flush=True)


def patron_cli() -> str:
    """The ``patron`` next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "patron"
    found = str(beside) if beside.exists() else shutil.which("patron")
    if not found:
        sys.exit("take.py: no `patron` command; run it with the project's .venv/bin/python")
    return found


def clean_env(tmp: Path) -> dict[str, str]:
    """This process's environment without any PATRON_* setting, plus a fresh SQLite database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATRON_")}
    var = tmp / "var"
    var.mkdir(parents=True, exist_ok=True)
    env.update(
        PATRON_VAR_DIR=str(var),
        PATRON_DATABASE_URL=f"sqlite:///{(var / 'patron.db').as_posix()}",
        PATRON_DEFAULT_LOCALE="en",
        NO_COLOR="1",
        COLUMNS="200",
    )
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_demo(cli: str, tmp: Path, env: dict[str, str]) -> None:
    out = tmp / "demo.log"
    cmd = [cli, "demo", "--customers", str(CUSTOMERS), "--seed", str(SEED), "--no-serve"]
    cmd += ["--directory", str(tmp / "demo")]
    log(f"building the demo shop: {' '.join(cmd[1:])}")
    with out.open("w") as sink:
        # cwd=tmp: no .env file of the checkout is read. The command is ours, not user input.
        done = subprocess.run(  # noqa: S603
            cmd, cwd=tmp, env=env, stdout=sink, stderr=subprocess.STDOUT, check=False
        )
    text = out.read_text(errors="replace")
    if done.returncode != 0:
        sys.exit(f"take.py: `patron demo` failed ({done.returncode}):\n{text[-4000:]}")
    for line in text.splitlines():
        if re.search(r"^(scored|note) ", line):
            log(f"  {line.strip()}")


@contextmanager
def server(cli: str, tmp: Path, env: dict[str, str]) -> Iterator[str]:
    """``patron serve --no-worker`` on a free loopback port; stopped on the way out, whatever happens."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"]
    log(f"starting {' '.join(cmd[1:])}")
    with (tmp / "serve.log").open("w") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own command line
            cmd, cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"`patron serve` exited ({proc.returncode}):\n{tail(tmp / 'serve.log')}"
                    )
                with contextlib.suppress(httpx.HTTPError):  # not listening yet
                    if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"`patron serve` did not answer on {url}:\n{tail(tmp / 'serve.log')}")
                time.sleep(0.2)
            log(f"serving on {url}")
            yield url
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            log("server stopped")


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def visit(page: Page, path: str) -> None:
    checked(page, page.goto(path), path)


def checked(page: Page, response: Response | None, what: str) -> None:
    """Fail on an error status or Patron's error page, so a broken page never becomes a picture."""
    status = response.status if response else 0
    if not status or status >= 400 or page.locator("p.error[role=alert]").count():
        raise RuntimeError(f"{what}: HTTP {status} or an error page at {page.url}")


def shoot(page: Page, path: Path) -> None:
    """A full-page PNG: no hover, fonts loaded, animations stopped."""
    page.mouse.move(0, 0)
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    if path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"{path} is not a PNG")
    log(f"saved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


def switch_language(page: Page, lang: str) -> None:
    """Click the header's language link (it returns to the same page) until ``lang`` is on."""
    want = "zh-CN" if lang == "zh" else "en"
    if page.locator("html").get_attribute("lang") != want:
        with page.expect_navigation():
            page.click("#lang-switch")
        if page.locator("html").get_attribute("lang") != want:
            raise RuntimeError(f"the language switch did not turn on {lang}")


def valuable_customer(page: Page) -> str:
    """The first customer of the analytics page's "most valuable" list with several orders."""
    links = page.locator("#top-clv tbody tr td:first-child a")
    hrefs = [h for h in links.evaluate_all("els => els.map(e => e.getAttribute('href'))") if h]
    if not hrefs:
        raise RuntimeError("the analytics page lists no valuable customers (#top-clv)")
    for href in hrefs[:15]:
        visit(page, href)
        orders = int(page.locator(".cards .stat strong").first.inner_text().replace(",", ""))
        if orders >= MIN_ORDERS:
            log(f"360 page: {href} ({orders} orders)")
            return href
    log(f"no customer among the first 15 has {MIN_ORDERS}+ orders; using {hrefs[0]}")
    return hrefs[0]


def rfm_cell(page: Page) -> str:
    """An RFM cell's drill-down link: the champions' corner (R5 F5) when it has customers, else
    the most populated cell."""
    cells = page.locator("#rfm-grid td a")
    hrefs = cells.evaluate_all("els => els.map(e => [e.getAttribute('href'), e.innerText.replace(/,/g, '')])")
    if not hrefs:
        raise RuntimeError("the RFM grid has no cell links")
    for href, _ in hrefs:
        if "r=5" in href and "f=5" in href:
            return str(href)
    return str(max(hrefs, key=lambda pair: int(pair[1] or 0))[0])


def take(url: str, out: Path) -> None:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing (make install-browser)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(base_url=url, locale="en-US", viewport={"width": 1280, "height": 900})
            ctx.set_default_timeout(60_000)
            page = ctx.new_page()
            # Log in as the demo admin.
            visit(page, "/login")
            page.fill("input[name=email]", DEMO_ADMIN[0])
            page.fill("input[name=password]", DEMO_ADMIN[1])
            with page.expect_navigation() as nav:
                page.click("button[type=submit]")
            checked(page, nav.value, "login")
            if "/login" in page.url:
                raise RuntimeError(f"could not log in as {DEMO_ADMIN[0]}")

            # Analytics, English then Chinese.
            visit(page, "/analytics")
            switch_language(page, "en")
            if page.locator("#no-run").count():
                raise RuntimeError("the analytics page has no scoring run")
            log(f"analytics: {page.locator('#run-info').inner_text()}")
            shoot(page, out / "analytics-en.png")
            switch_language(page, "zh")
            shoot(page, out / "analytics-zh.png")
            switch_language(page, "en")

            # A valuable customer's 360 page, English then Chinese.
            drill = rfm_cell(page)
            customer = valuable_customer(page)
            visit(page, customer)
            shoot(page, out / "customer-360-scored-en.png")
            switch_language(page, "zh")
            shoot(page, out / "customer-360-scored-zh.png")
            switch_language(page, "en")

            # The customer list behind one RFM cell.
            log(f"drill-down: {drill}")
            visit(page, drill)
            if not page.locator("#drill").count():
                raise RuntimeError(f"{drill} shows no drill-down chip")
            shoot(page, out / "customers-drilldown-en.png")

            # The demo's loyalty program: two years of points issued, redeemed and expired.
            visit(page, "/loyalty/club")
            if not page.locator("#flows").count():
                raise RuntimeError("the loyalty report shows no points flows (#flows)")
            shoot(page, out / "loyalty-demo-report-en.png")
            switch_language(page, "zh")
            shoot(page, out / "loyalty-demo-report-zh.png")
            switch_language(page, "en")
            ctx.close()
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the PNGs (default: here)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    cli = patron_cli()
    tmp = Path(tempfile.mkdtemp(prefix="patron-screenshots-"))
    try:
        env = clean_env(tmp)
        build_demo(cli, tmp, env)
        log(f"demo built in {time.monotonic() - started:.0f} s")
        with server(cli, tmp, env) as url:
            take(url, args.out.resolve())
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
