"""The demo shop generator: files, formats, planted faults and the generating model."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from patron.demo.generator import Manifest, generate

FILES = [
    ("products.csv", "products", "patron", None, "utf-8"),
    ("customers_site.csv", "customers", "patron", "site", "utf-8"),
    ("customers_wechat.csv", "customers", "patron", "wechat", "utf-8"),
    ("orders_site.csv", "orders", "patron", "site", "utf-8"),
    ("orders_wechat.csv", "orders", "patron", "wechat", "utf-8"),
    ("taobao_orders.csv", "orders", "taobao_orders", "tmall", "gbk"),
    ("shopify_orders.csv", "orders", "shopify_orders", "shopify", "utf-8"),
    ("taobao_items.csv", "order_items", "taobao_items", "tmall", "gbk"),
    ("refunds_site.csv", "refunds", "patron", None, "utf-8"),
    ("taobao_refunds.csv", "refunds", "taobao_refunds", "tmall", "gbk"),
    ("events.jsonl", "events", "patron", None, "utf-8"),
]

NATIVE_ORDERS = [
    "order_id",
    "line_id",
    "shop",
    "customer_external_id",
    "customer_name",
    "phone",
    "email",
    "status",
    "currency",
    "placed_at",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "shipping",
    "discount",
    "coupon_code",
    "order_total",
    "sku",
    "title",
    "quantity",
    "unit_price",
    "line_total",
    "province",
    "city",
    "district",
    "address",
    "carrier",
    "tracking_no",
    "updated_at",
]
NATIVE_CUSTOMERS = [
    "external_id",
    "shop",
    "name",
    "gender",
    "birthday",
    "phone",
    "email",
    "wechat_unionid",
    "wechat_openid",
    "wechat_appid",
    "country",
    "province",
    "city",
    "district",
    "address",
    "signup_at",
    "tags",
    "updated_at",
]
HEADERS = {
    "products.csv": ["sku", "title", "title_en", "category_path", "brand", "price", "currency", "shop"],
    "customers_site.csv": NATIVE_CUSTOMERS,
    "customers_wechat.csv": NATIVE_CUSTOMERS,
    "orders_site.csv": NATIVE_ORDERS,
    "orders_wechat.csv": NATIVE_ORDERS,
    "taobao_orders.csv": [
        "订单编号",
        "买家会员名",
        "买家应付货款",
        "买家应付邮费",
        "总金额",
        "买家实际支付金额",
        "订单状态",
        "收货人姓名",
        "收货地址",
        "联系手机",
        "订单创建时间",
        "订单付款时间",
        "宝贝标题",
        "宝贝总数量",
        "物流公司",
        "物流单号",
        "店铺名称",
        "订单关闭原因",
    ],
    "taobao_items.csv": [
        "订单编号",
        "标题",
        "价格",
        "购买数量",
        "外部系统编号",
        "商家编码",
        "商品属性",
        "订单状态",
    ],
    "taobao_refunds.csv": [
        "订单编号",
        "退款编号",
        "退款完结时间",
        "买家退款金额",
        "商家编码",
        "宝贝标题",
        "买家会员名称",
        "退款状态",
        "退款原因",
        "售后类型",
    ],
    "shopify_orders.csv": [
        "Name",
        "Email",
        "Financial Status",
        "Paid at",
        "Fulfillment Status",
        "Fulfilled at",
        "Currency",
        "Subtotal",
        "Shipping",
        "Taxes",
        "Total",
        "Discount Code",
        "Discount Amount",
        "Created at",
        "Lineitem quantity",
        "Lineitem name",
        "Lineitem price",
        "Lineitem sku",
        "Billing Name",
        "Billing Phone",
        "Billing City",
        "Billing Province",
        "Billing Country",
        "Phone",
        "Id",
        "Refunded Amount",
    ],
    "refunds_site.csv": [
        "refund_id",
        "order_id",
        "shop",
        "sku",
        "type",
        "reason",
        "amount",
        "currency",
        "status",
        "requested_at",
        "completed_at",
    ],
}
EVENT_KEYS = [
    "event_id",
    "type",
    "occurred_at",
    "shop",
    "customer_external_id",
    "anonymous_id",
    "properties",
]
NATIVE_TS = "%Y-%m-%d %H:%M:%S"
SHOPIFY_TS = "%Y-%m-%d %H:%M:%S %z"
# timestamp format of each file (for recognising the planted bad dates)
DATE_FORMATS = {"shopify_orders.csv": SHOPIFY_TS}
MASKED = re.compile(r"^1\d{2}\*{4}\d{4}$")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, customers=1_500, seed=11)
    return out


def read_text(path: Path, encoding: str) -> str:
    return path.read_bytes().decode(encoding)


def read_csv(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read_text(path, encoding), newline="")))


def truth(shop: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shop / "truth.json").read_text(encoding="utf-8"))
    return data


def money(text: str) -> Decimal:
    return Decimal(text)


def unescape(value: str) -> str:
    return value[2:-1] if value.startswith('="') and value.endswith('"') else value


def unique_rows(rows: list[dict[str, str]]) -> Iterator[dict[str, str]]:
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        key = tuple(row.values())
        if key not in seen:
            seen.add(key)
            yield row


# --------------------------------------------------------------------------------------------
# Files, formats, manifest
# --------------------------------------------------------------------------------------------


def test_same_arguments_give_the_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, customers=600, seed=3)
    generate(b, customers=600, seed=3)
    generate(c, customers=600, seed=4)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "orders_site.csv").read_bytes() != (c / "orders_site.csv").read_bytes()


def test_manifest_lists_shops_and_files_in_import_order(shop: Path) -> None:
    manifest = Manifest.load(shop)
    assert [(f.path, f.kind, f.mapping, f.shop, f.encoding) for f in manifest.files] == FILES
    assert [(s.code, s.platform, s.currency, s.timezone) for s in manifest.shops] == [
        ("tmall", "taobao", "CNY", "Asia/Shanghai"),
        ("site", "own_site", "CNY", "Asia/Shanghai"),
        ("wechat", "wechat_mini", "CNY", "Asia/Shanghai"),
        ("shopify", "shopify", "USD", "America/New_York"),
    ]
    assert all(s.name and s.name_zh for s in manifest.shops)
    assert (manifest.seed, manifest.customers, manifest.start, manifest.days) == (
        11,
        1_500,
        date(2024, 11, 1),
        730,
    )
    assert Manifest.from_json(manifest.to_json()) == manifest
    on_disk = {p.name for p in shop.iterdir()}
    assert on_disk == {f.path for f in manifest.files} | {"manifest.json", "truth.json"}


def test_every_file_has_exactly_the_specified_header(shop: Path) -> None:
    for path, _kind, _mapping, _shop, encoding in FILES:
        if path == "events.jsonl":
            continue
        first = read_text(shop / path, encoding).split("\n", 1)[0].rstrip("\r")
        assert first.split(",") == HEADERS[path], path


def test_taobao_reports_are_gbk_with_crlf_and_excel_escaped_ids(shop: Path) -> None:
    for name in ("taobao_orders.csv", "taobao_items.csv", "taobao_refunds.csv"):
        raw = (shop / name).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        text = raw.decode("gbk")
        assert text.count("\r\n") == text.count("\n") > 10
    orders = read_csv(shop / "taobao_orders.csv", "gbk")
    statuses = {r["订单状态"] for r in orders}
    assert "交易成功" in statuses
    assert statuses <= {
        "交易成功",
        "交易关闭",
        "卖家已发货，等待买家确认",
        "买家已付款，等待卖家发货",
        "等待买家付款",
    }
    escaped = sum(r["订单编号"].startswith('="') for r in orders)
    assert 0.4 < escaped / len(orders) < 0.6
    plain = [unescape(r["订单编号"]) for r in orders if r["订单编号"]]
    assert all(re.fullmatch(r"\d{19}", v) for v in plain)
    address = orders[0]["收货地址"].split(" ")
    assert len(address) == 4
    assert address[0].endswith(("省", "市", "区"))


def test_native_and_shopify_values_are_well_formed(shop: Path) -> None:
    for name in ("orders_site.csv", "orders_wechat.csv"):
        rows = read_csv(shop / name)
        assert {r["status"] for r in rows} <= {
            "pending", "paid", "shipped", "delivered", "completed", "cancelled", "closed",
            "refunded",
        }  # fmt: skip
        assert {"completed", "closed", "cancelled"} <= {r["status"] for r in rows}
        for r in rows:
            assert re.fullmatch(r"\d+\.\d\d", r["order_total"])
            assert r["phone"] == "" or re.fullmatch(r"1[3-9]\d{9}", r["phone"])
    customers = read_csv(shop / "customers_wechat.csv")
    assert all(r["wechat_openid"].startswith("o") and len(r["wechat_openid"]) == 28 for r in customers)
    assert {r["gender"] for r in customers} <= {"male", "female", "unknown"}
    assert any(r["birthday"] == "" for r in customers)
    assert any(r["birthday"] != "" for r in customers)
    shopify = read_csv(shop / "shopify_orders.csv")
    first_rows = [r for r in shopify if r["Financial Status"]]
    assert {r["Currency"] for r in first_rows} == {"USD"}
    assert all(re.fullmatch(r"\+1\d{10}", r["Phone"]) for r in first_rows if r["Phone"])
    later = [r for r in shopify if r["Name"] and not r["Financial Status"]]
    assert later, "multi-line orders exist"
    for r in later:  # order-level fields only on the first line of an order
        assert r["Total"] == r["Currency"] == r["Id"] == r["Billing Name"] == ""
        assert r["Lineitem sku"]
    products = read_csv(shop / "products.csv")
    assert {r["currency"] for r in products if r["shop"] == ""} == {"CNY"}
    assert {r["currency"] for r in products if r["shop"] == "shopify"} == {"USD"}
    assert all(len(r["category_path"].split(" > ")) == 3 for r in products)


# --------------------------------------------------------------------------------------------
# Planted faults are exactly as the truth says
# --------------------------------------------------------------------------------------------


def scan_faults(path: Path, encoding: str, date_format: str) -> dict[str, list[int]]:
    """Find every fault of every kind in a file, by line number (header = line 1)."""
    text = read_text(path, encoding)
    lines = text.splitlines()
    header = next(csv.reader([lines[0]]))
    found: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    checks = {
        "bad_date": {
            "placed_at", "signup_at", "requested_at", "订单创建时间", "退款完结时间", "Created at",
        },
        "unknown_currency": {"currency"},
        "negative_quantity": {"quantity", "宝贝总数量", "购买数量", "Lineitem quantity"},
        "missing_order_id": {"order_id", "订单编号", "Name"},
        "masked_phone": {"联系手机"},
    }  # fmt: skip
    for number, line in enumerate(lines[1:], start=2):
        if line in seen:
            found["duplicate_row"].append(number)
        seen.add(line)
        row = dict(zip(header, next(csv.reader([line])), strict=True))
        for kind, columns in checks.items():
            for col in columns & row.keys():
                value = row[col]
                if kind == "bad_date" and value:
                    try:
                        datetime.strptime(value, date_format)
                    except ValueError:
                        found[kind].append(number)
                elif (
                    (kind == "unknown_currency" and value not in ("CNY", "USD"))
                    or (kind == "negative_quantity" and int(value) < 0)
                    or (kind == "missing_order_id" and value == "")
                    or (kind == "masked_phone" and MASKED.match(value))
                ):
                    found[kind].append(number)
    found["rows"] = [len(lines) - 1]
    return found


def test_fault_table_matches_what_is_in_the_files(shop: Path) -> None:
    table = truth(shop)["files"]
    for path, _kind, _mapping, _shop, encoding in FILES:
        if path == "events.jsonl":
            assert table[path]["faults"] == {}
            continue
        found = scan_faults(shop / path, encoding, DATE_FORMATS.get(path, NATIVE_TS))
        entry = table[path]
        assert entry["rows"] == found.pop("rows")[0], path
        expected = {kind: f["rows"] for kind, f in entry["faults"].items() if f["count"]}
        assert {k: v[:1000] for k, v in found.items()} == expected, path
        for kind, fault in entry["faults"].items():
            assert fault["count"] == len(found.get(kind, [])), (path, kind)
        errors = sum(
            f["count"] for kind, f in entry["faults"].items() if kind not in ("duplicate_row", "masked_phone")
        )
        assert entry["error_rows"] == errors
        rows = entry["rows"]
        if path != "products.csv":
            assert 0 < errors <= max(4, 0.003 * rows), path  # small, but present
    masked = table["taobao_orders.csv"]["faults"]["masked_phone"]["count"]
    assert 0.5 < masked / table["taobao_orders.csv"]["rows"] < 0.7


# --------------------------------------------------------------------------------------------
# Consistency of the business data
# --------------------------------------------------------------------------------------------


def test_cross_shop_customers_share_a_phone_and_nobody_else_does(shop: Path) -> None:
    by_phone: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    names: dict[str, set[str]] = defaultdict(set)

    def add(phone: str, shop_code: str, external_id: str, name: str) -> None:
        if phone and not MASKED.match(phone) and external_id:
            by_phone[phone][shop_code].add(external_id)
            if name:
                names[phone].add(name)

    for code in ("site", "wechat"):
        for r in read_csv(shop / f"customers_{code}.csv"):
            add(r["phone"], code, r["external_id"], r["name"])
        for r in read_csv(shop / f"orders_{code}.csv"):
            add(r["phone"], code, r["customer_external_id"], r["customer_name"])
    for r in read_csv(shop / "taobao_orders.csv", "gbk"):
        add(r["联系手机"], "tmall", r["买家会员名"], r["收货人姓名"])
    for r in read_csv(shop / "shopify_orders.csv"):
        add(r["Phone"], "shopify", r["Email"] or r["Phone"], r["Billing Name"])

    assert all(len(ids) == 1 for shops in by_phone.values() for ids in shops.values())
    shared = [p for p, shops in by_phone.items() if len(shops) >= 2]
    counts = truth(shop)["counts"]
    assert len(shared) == counts["cross_shop_phone_linkable"] > 0
    assert counts["cross_shop_customers"] > counts["cross_shop_phone_linkable"]
    assert all(len(names[p]) == 1 for p in shared)
    assert all("shopify" not in by_phone[p] for p in shared)
    cn_customers = counts["customers"] - counts["accounts"]["shopify"]
    assert 0.06 < counts["cross_shop_customers"] / cn_customers < 0.09


def test_native_order_totals_add_up(shop: Path) -> None:
    for name in ("orders_site.csv", "orders_wechat.csv"):
        orders: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in unique_rows(read_csv(shop / name)):
            orders[r["line_id"].rsplit("-", 1)[0]].append(r)
        assert len(orders) == truth(shop)["counts"]["orders"][name[7:-4]]
        for order_id, lines in orders.items():
            head = lines[0]
            assert all(r["order_id"] in (order_id, "") for r in lines)
            for r in lines:
                assert money(r["line_total"]) == money(r["unit_price"]) * abs(int(r["quantity"]))
                for col in ("order_total", "discount", "shipping", "status"):
                    assert r[col] == head[col]
            goods = sum(money(r["line_total"]) for r in lines)
            total = goods - money(head["discount"]) + money(head["shipping"])
            assert total == money(head["order_total"]), order_id
            assert money(head["discount"]) >= 0


def test_taobao_and_shopify_totals_add_up(shop: Path) -> None:
    items: dict[str, Decimal] = defaultdict(Decimal)
    for r in unique_rows(read_csv(shop / "taobao_items.csv", "gbk")):
        order = unescape(r["外部系统编号"]).rsplit("-", 1)[0]
        items[order] += money(r["价格"]) * abs(int(r["购买数量"]))
    for r in read_csv(shop / "taobao_orders.csv", "gbk"):
        goods, post = money(r["买家应付货款"]), money(r["买家应付邮费"])
        assert money(r["总金额"]) == goods + post
        assert money(r["买家实际支付金额"]) <= goods + post
        if r["订单编号"]:
            assert items[unescape(r["订单编号"])] == goods
    orders: dict[str, list[dict[str, str]]] = defaultdict(list)
    name = ""
    for r in unique_rows(read_csv(shop / "shopify_orders.csv")):
        # a line whose order number was blanked (a planted fault) still follows its order
        name = r["Name"] or ("" if r["Financial Status"] else name)
        orders[name].append(r)
    orders.pop("", None)
    for name, lines in orders.items():
        head = [r for r in lines if r["Financial Status"]]
        if len(head) != 1:
            continue  # the first line lost its order number
        h = head[0]
        goods = sum(money(r["Lineitem price"]) * abs(int(r["Lineitem quantity"])) for r in lines)
        assert money(h["Subtotal"]) == goods - money(h["Discount Amount"]), name
        total = money(h["Subtotal"]) + money(h["Shipping"]) + money(h["Taxes"])
        assert money(h["Total"]) == total, name


def test_refund_amounts_never_exceed_what_was_paid(shop: Path) -> None:
    totals: dict[str, Decimal] = {}
    for name in ("orders_site.csv", "orders_wechat.csv"):
        for r in read_csv(shop / name):
            totals[r["line_id"].rsplit("-", 1)[0]] = money(r["order_total"])
    refunds = read_csv(shop / "refunds_site.csv")
    assert {r["type"] for r in refunds} == {"refund_only", "return_refund", "exchange", "reship"}
    checked = 0
    for r in refunds:
        assert money(r["amount"]) >= 0
        if r["order_id"]:
            assert money(r["amount"]) <= totals[r["order_id"]]
            checked += 1
    assert checked > 20
    paid = {
        unescape(r["订单编号"]): money(r["买家实际支付金额"])
        for r in read_csv(shop / "taobao_orders.csv", "gbk")
        if r["订单编号"]
    }
    tb = read_csv(shop / "taobao_refunds.csv", "gbk")
    assert {r["售后类型"] for r in tb} == {"仅退款", "退货退款", "换货", "补寄"}
    for r in tb:
        if r["订单编号"] and unescape(r["订单编号"]) in paid:
            assert money(r["买家退款金额"]) <= paid[unescape(r["订单编号"])]
    counts = truth(shop)["counts"]
    n_orders = sum(counts["orders"].values())
    assert 0.04 < sum(counts["refunds"].values()) / n_orders < 0.07


def test_events_are_valid_json_lines_with_unique_ids(shop: Path) -> None:
    known: dict[str, set[str]] = {"site": set(), "wechat": set(), "shopify": set()}
    for code in ("site", "wechat"):
        known[code] = {r["external_id"] for r in read_csv(shop / f"customers_{code}.csv")}
    ids: set[str] = set()
    types: set[str] = set()
    previous = None
    n = 0
    with (shop / "events.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            n += 1
            assert list(event) == EVENT_KEYS
            assert event["event_id"] not in ids
            ids.add(event["event_id"])
            types.add(event["type"])
            when = datetime.fromisoformat(event["occurred_at"])
            assert when.utcoffset() in (
                timedelta(hours=8),
                timedelta(hours=-5),
                timedelta(hours=-4),
            )
            assert previous is None or when >= previous  # sorted by time
            previous = when
            assert event["shop"] in known
            customer = event["customer_external_id"]
            if customer is not None and event["shop"] == "shopify":  # e-mail (or phone)
                assert re.fullmatch(r"[a-z.]+\d+@example\.(com|net|org)|\+1\d{10}", customer)
            elif customer is not None:  # prospects browse too: every id has a customer record
                assert customer in known[event["shop"]]
            assert re.fullmatch(r"[0-9a-z]{12}", event["anonymous_id"])
            assert isinstance(event["properties"], dict)
            if event["type"] == "order":
                assert set(event["properties"]) == {"order_id", "value", "currency"}
    assert types == {"product_view", "search", "add_to_cart", "checkout", "order"}
    counts = truth(shop)["counts"]
    assert n == counts["events"]
    assert 2.0 < n / sum(counts["orders"].values()) < 4.0


def test_progress_is_reported_and_bad_arguments_are_refused(tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    generate(tmp_path, customers=200, seed=1, progress=lambda stage, f: seen.append((stage, f)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    assert seen[-1] == ("done", 1.0)
    with pytest.raises(ValueError, match="customers"):
        generate(tmp_path, customers=10)
    with pytest.raises(ValueError, match="days"):
        generate(tmp_path, days=5)


# --------------------------------------------------------------------------------------------
# The generating model
# --------------------------------------------------------------------------------------------


def simulate_repeat_purchases(t: np.ndarray, params: dict[str, float], draws: int) -> np.ndarray:
    """Repeat purchases in (0, T] under BG/NBD, ``draws`` simulations per customer."""
    rng = np.random.default_rng(0)
    shape = (len(t), draws)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], shape)
    p = rng.beta(params["a"], params["b"], shape)
    n = rng.poisson(lam * t[:, None])
    k = rng.geometric(np.clip(p, 1e-12, 1.0))
    out: np.ndarray = np.minimum(n, k)
    return out


@pytest.mark.slow
def test_purchase_counts_and_spend_follow_the_truth(tmp_path: Path) -> None:
    generate(tmp_path, customers=20_000, seed=5)
    facts = truth(tmp_path)
    end = datetime.fromisoformat(facts["end"] + "T00:00:00-05:00")
    financial: dict[str, str] = {}
    created: dict[str, datetime] = {}
    subtotal: dict[str, Decimal] = {}
    customer: dict[str, str] = {}
    for r in read_csv(tmp_path / "shopify_orders.csv"):
        if not r["Name"]:
            continue
        with contextlib.suppress(ValueError):  # a planted bad date
            created.setdefault(r["Name"], datetime.strptime(r["Created at"], SHOPIFY_TS))
        if r["Financial Status"]:
            financial[r["Name"]] = r["Financial Status"]
            subtotal[r["Name"]] = money(r["Subtotal"])
            customer[r["Name"]] = r["Email"] or r["Phone"]
    paid = {"paid", "refunded", "partially_refunded"}
    purchases: dict[str, list[datetime]] = defaultdict(list)
    for name, status in financial.items():
        if status in paid and name in created:
            purchases[customer[name]].append(created[name])
    t = np.array([(end - min(v)).total_seconds() / 86_400 for v in purchases.values()])
    x = np.array([len(v) - 1 for v in purchases.values()], dtype=float)
    assert len(x) > 2_000
    simulated = simulate_repeat_purchases(t, facts["bgnbd"], draws=400)
    se = x.std() / np.sqrt(len(x))
    assert abs(x.mean() - simulated.mean()) < 4 * se
    zero = np.mean(simulated == 0)  # about half never buy again
    assert abs(np.mean(x == 0) - zero) < 4 * np.sqrt(zero * (1 - zero) / len(x))
    # Gamma-Gamma: mean merchandise value of a transaction is p * gamma / (q - 1)
    gg = facts["gamma_gamma"]
    mean_value = gg["p"] * gg["gamma"]["USD"] / (gg["q"] - 1)
    values = [float(subtotal[n]) for n, s in financial.items() if s in paid]
    assert abs(np.mean(values) / mean_value - 1) < 0.1
    counts = facts["counts"]
    assert abs(counts["transactions_per_customer"] - 2.75) < 0.15
    assert abs(counts["prospects"] / counts["customers"] - 0.10) < 0.01
