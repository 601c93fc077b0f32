"""Demo shop generator: a realistic Chinese + cross-border multi-shop store, written as import files.

``generate(out_dir, customers=20_000, seed=7)`` writes a complete demo data set to ``out_dir``:
products, customers, orders and order lines, refunds and tracking events for four shops
(Tmall, an own web shop, a WeChat mini-program and a cross-border Shopify store), each in the
format that shop really exports (Taobao 订单报表 / 宝贝报表 / 退款报表 in GBK with CRLF, Shopify's
orders export, Patron's native CSV and JSON lines), plus ``truth.json`` (the generating
parameters, counts and an exact table of the data-quality faults planted in every file) and
``manifest.json`` (shops and files in import order; see :class:`Manifest`).

The module is pure (numpy + polars + stdlib) and deterministic: the same arguments give the same
bytes. It is vectorised throughout; a million customers take well under two minutes on two cores.

Generating model (the ground truth written to ``truth.json``):

* Each customer who buys is a BG/NBD customer (Fader, Hardie & Lee 2005, "Counting Your
  Customers the Easy Way", Marketing Science 24(2)), time unit one day: purchase rate
  ``lambda ~ Gamma(r, alpha)`` (shape r, rate alpha), dropout probability
  ``p ~ Beta(a, b)``; after the first purchase, repeat purchases follow a Poisson process with
  rate lambda and after each repeat purchase the customer drops out with probability p. First
  purchases are spread over the period (uniform plus the 38 / 618 / 99 / 双11 / 双12 campaign
  peaks, which do not disturb the model because it conditions on each customer's own start).
  The continuous purchase times keep their day; the time of day is redrawn from a diurnal
  profile, so models fitted on data summarised by day (same-day purchases merged) see exactly
  the generated days.
* Spend per transaction follows the Gamma-Gamma model (Fader & Hardie 2013, "The Gamma-Gamma
  Model of Monetary Value"): ``nu ~ Gamma(q, gamma)`` per customer (rate gamma, in the shop
  currency's major unit), value ``z ~ Gamma(p, nu)``. The value is the order's merchandise
  value after discounts, without shipping and taxes: ``order_total - shipping`` (native),
  ``买家实际支付金额 - 买家应付邮费`` (Taobao), ``Subtotal`` (Shopify). It is exact to the fen/cent:
  lines are chosen at or just above the value and the difference is the order's discount.
* The BG/NBD transactions are the orders that were paid; extra orders that were never paid or
  were cancelled (``closed`` / ``cancelled`` / ``pending``, 交易关闭 / 等待买家付款,
  ``voided`` / ``pending``) are added on top and are not transactions. Refunds do not remove a
  transaction (a fully refunded native order has status ``refunded``).
* About 10% of customers never order (prospects: customer records and browsing events only).
  About 8% of the Chinese customers have accounts in two Chinese shops (same phone, different
  external ids); Taobao masks the phone of about 60% of its buyers (``138****5678``): those are
  known by their buyer nick only, and their cross-shop pairs cannot be linked (``truth.json``
  counts the pairs that share a visible phone).

Planted data-quality faults (about 0.2% of rows; never two on one row), listed per file in
``truth.json`` under ``files`` with their count and line numbers (header = line 1, at most 1000):
``duplicate_row`` (a line repeated right after itself: not an error, re-import idempotence must
absorb it), ``bad_date`` (``2024-02-30 10:00:00``, ``not a date``...), ``unknown_currency``
(``XYZ``, native files), ``negative_quantity`` (the quantity's sign flipped, amounts untouched),
``missing_order_id`` (empty) and ``masked_phone`` (Taobao's ``138****5678``: not an error either,
but such a buyer can only be linked by the buyer nick). ``error_rows`` counts the rows an importer
should quarantine.

Conventions of the files: native timestamps are naive ``YYYY-MM-DD HH:MM:SS`` in the shop's time
zone (Asia/Shanghai for the Chinese shops); Shopify times carry their UTC offset
(``2024-01-05 12:00:00 -0500``); events carry ISO 8601 with offset. Money is written in major
units with two decimals. The period runs from ``start`` 00:00 to ``start + days`` 00:00 local
time, the moment of the export. ``products.csv`` lists every SKU for all shops (``shop`` empty,
CNY price) and, for the SKUs the Shopify store sells, a Shopify row with the USD price.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "BGNBD_TRUTH",
    "EVENT_KEYS",
    "GAMMA_GAMMA_TRUTH",
    "HEADERS",
    "SHOPS",
    "DataFile",
    "Manifest",
    "Shop",
    "generate",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
ProgressFn = Callable[[str, float], None]

FORMAT_VERSION: Final = 1

# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shop:
    """One shop of the demo store."""

    code: str
    name: str
    name_zh: str
    platform: str  # taobao | own_site | wechat_mini | shopify
    currency: str
    timezone: str


@dataclass(frozen=True)
class DataFile:
    """One generated file, relative to the output directory."""

    path: str
    kind: str  # products | customers | orders | order_items | refunds | events
    mapping: str  # patron | taobao_orders | taobao_items | taobao_refunds | shopify_orders
    shop: str | None  # None: the rows name their shop (or apply to all shops)
    encoding: str  # utf-8 | gbk


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` holds: the shops and the files in the order to import them."""

    shops: tuple[Shop, ...]
    files: tuple[DataFile, ...]
    seed: int
    customers: int
    start: date
    days: int
    truth: str = "truth.json"
    version: int = FORMAT_VERSION

    @property
    def end(self) -> date:
        """The export moment (00:00 local time of this day); the period is ``[start, end)``."""
        return self.start + timedelta(days=self.days)

    def shop(self, code: str) -> Shop:
        for shop in self.shops:
            if shop.code == code:
                return shop
        raise KeyError(code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "generator": "patron.demo.generator",
            "seed": self.seed,
            "customers": self.customers,
            "start": self.start.isoformat(),
            "days": self.days,
            "end": self.end.isoformat(),
            "truth": self.truth,
            "shops": [
                {
                    "code": s.code,
                    "name": s.name,
                    "name_zh": s.name_zh,
                    "platform": s.platform,
                    "currency": s.currency,
                    "timezone": s.timezone,
                }
                for s in self.shops
            ],
            "files": [
                {
                    "path": f.path,
                    "kind": f.kind,
                    "mapping": f.mapping,
                    "shop": f.shop,
                    "encoding": f.encoding,
                }
                for f in self.files
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            shops=tuple(
                Shop(
                    code=str(s["code"]),
                    name=str(s["name"]),
                    name_zh=str(s["name_zh"]),
                    platform=str(s["platform"]),
                    currency=str(s["currency"]),
                    timezone=str(s["timezone"]),
                )
                for s in data["shops"]
            ),
            files=tuple(
                DataFile(
                    path=str(f["path"]),
                    kind=str(f["kind"]),
                    mapping=str(f["mapping"]),
                    shop=None if f.get("shop") is None else str(f["shop"]),
                    encoding=str(f["encoding"]),
                )
                for f in data["files"]
            ),
            seed=int(data["seed"]),
            customers=int(data["customers"]),
            start=date.fromisoformat(str(data["start"])),
            days=int(data["days"]),
            truth=str(data.get("truth", "truth.json")),
            version=int(data.get("version", FORMAT_VERSION)),
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read ``manifest.json`` (or the manifest of a directory)."""
        path = Path(path)
        if path.is_dir():
            path = path / "manifest.json"
        return cls.from_json(path.read_text(encoding="utf-8"))


SHOPS: Final[tuple[Shop, ...]] = (
    Shop("tmall", "Patron Demo Tmall Store", "Patron演示天猫旗舰店", "taobao", "CNY", "Asia/Shanghai"),
    Shop("site", "Patron Demo Web Shop", "Patron演示官方商城", "own_site", "CNY", "Asia/Shanghai"),
    Shop("wechat", "Patron Demo Mini-Program", "Patron演示微信小程序", "wechat_mini", "CNY", "Asia/Shanghai"),
    Shop("shopify", "Patron Demo Global Store", "Patron演示海外独立站", "shopify", "USD", "America/New_York"),
)
TMALL: Final = 0
SITE: Final = 1
WECHAT: Final = 2
SHOPIFY: Final = 3
_CN_SHOPS: Final = (TMALL, SITE, WECHAT)

# --------------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------------

BGNBD_TRUTH: Final[dict[str, float]] = {"r": 0.25, "alpha": 17.0, "a": 0.8, "b": 2.5}
GAMMA_GAMMA_TRUTH: Final[dict[str, float]] = {"p": 6.0, "q": 4.0}
_GG_GAMMA: Final[dict[str, float]] = {"CNY": 75.0, "USD": 20.0}  # mean order 150 CNY / 40 USD

_PROSPECT_SHARE: Final = 0.10
_HOME_WEIGHTS_BUYERS: Final = (0.45, 0.20, 0.20, 0.15)  # tmall, site, wechat, shopify
_HOME_WEIGHTS_PROSPECTS: Final = (0.0, 0.45, 0.45, 0.10)
_CROSS_SHOP_SHARE: Final = 0.08  # of the Chinese customers
_TAOBAO_MASKED_SHARE: Final = 0.60
_CLOSED_SHARE: Final = 0.02  # unpaid orders closed, per transaction
_CANCELLED_SHARE: Final = 0.015  # paid then cancelled before shipping, per transaction
_PENDING_SHARE: Final = 0.003  # unpaid at the export moment, per transaction
_REFUND_SHARE: Final = 0.06  # of all orders
_COUPON_SHARE: Final = 0.10
_DUPLICATE_RATE: Final = 0.001
_FAULT_RATE: Final = 0.0005  # per fault kind; at most four error kinds per file

_DAY: Final = 86_400
_NA: Final = np.iinfo(np.int64).min  # missing timestamp
_EPOCH: Final = datetime(1970, 1, 1)  # noqa: DTZ001 - naive local times on purpose
_TS_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

# --------------------------------------------------------------------------------------------
# Built-in reference tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Top:
    code: str
    zh: str
    en: str
    weight: float
    subs: tuple[tuple[str, str, tuple[tuple[str, str, int], ...]], ...]
    adjectives: tuple[tuple[str, str], ...]
    variants: tuple[tuple[str, str], ...]
    variant_attr: str


_COLORS: Final = (("黑色", "Black"), ("白色", "White"), ("灰色", "Grey"), ("蓝色", "Blue"))
_CATEGORIES: Final[tuple[_Top, ...]] = (
    _Top(
        "AP", "服饰", "Apparel", 0.18,
        (
            ("上衣", "Tops", (
                ("T恤", "T-shirt", 79), ("衬衫", "Shirt", 139), ("卫衣", "Hoodie", 179),
            )),
            ("裤装", "Bottoms", (
                ("牛仔裤", "Jeans", 199), ("休闲裤", "Chinos", 159), ("短裤", "Shorts", 89),
            )),
            ("外套", "Outerwear", (("羽绒服", "Down jacket", 599), ("风衣", "Trench coat", 429))),
        ),
        (("经典", "Classic"), ("纯棉", "Cotton"), ("宽松", "Relaxed"), ("修身", "Slim"), ("新款", "New")),
        (("白色", "White"), ("黑色", "Black"), ("藏青", "Navy"), ("灰色", "Grey"), ("卡其", "Khaki")),
        "颜色分类",
    ),
    _Top(
        "SH", "鞋靴", "Shoes", 0.08,
        (
            ("运动鞋", "Sneakers", (
                ("跑步鞋", "Running shoes", 399), ("板鞋", "Skate shoes", 269),
            )),
            ("休闲鞋", "Casual shoes", (
                ("帆布鞋", "Canvas shoes", 129), ("乐福鞋", "Loafers", 329),
            )),
            ("靴子", "Boots", (("马丁靴", "Ankle boots", 359),)),
        ),
        (("轻便", "Light"), ("透气", "Breathable"), ("防滑", "Non-slip"), ("经典", "Classic")),
        (("38码", "EU 38"), ("39码", "EU 39"), ("40码", "EU 40"), ("41码", "EU 41"), ("42码", "EU 42")),
        "尺码",
    ),
    _Top(
        "BE", "美妆", "Beauty", 0.12,
        (
            ("护肤", "Skincare", (
                ("面霜", "Face cream", 219), ("精华", "Serum", 329), ("面膜", "Sheet masks", 89),
            )),
            ("彩妆", "Makeup", (
                ("口红", "Lipstick", 159), ("粉底液", "Foundation", 219),
                ("眼影", "Eyeshadow", 129),
            )),
        ),
        (("补水", "Hydrating"), ("修护", "Repair"), ("温和", "Gentle"), ("持久", "Long-lasting")),
        (("30ml", "30 ml"), ("50ml", "50 ml"), ("小样", "Travel size"), ("正装", "Full size")),
        "规格",
    ),
    _Top(
        "PC", "个护", "Personal care", 0.07,
        (
            ("洗护", "Hair care", (("洗发水", "Shampoo", 59), ("护发素", "Conditioner", 49))),
            ("口腔", "Oral care", (
                ("牙膏", "Toothpaste", 25), ("电动牙刷", "Electric toothbrush", 199),
            )),
            ("身体护理", "Body care", (("沐浴露", "Body wash", 45),)),
        ),
        (("清爽", "Fresh"), ("无硅油", "Silicone-free"), ("植物", "Botanical"), ("家庭装", "Family")),
        (("400ml", "400 ml"), ("750ml", "750 ml"), ("2支装", "2-pack"), ("3支装", "3-pack")),
        "规格",
    ),
    _Top(
        "FD", "食品", "Food", 0.12,
        (
            ("零食", "Snacks", (
                ("坚果", "Mixed nuts", 69), ("饼干", "Biscuits", 29), ("牛肉干", "Beef jerky", 59),
            )),
            ("茶饮", "Tea & coffee", (
                ("绿茶", "Green tea", 139), ("咖啡豆", "Coffee beans", 99),
                ("花茶", "Flower tea", 49),
            )),
        ),
        (("每日", "Daily"), ("原味", "Original"), ("有机", "Organic"), ("礼盒", "Gift")),
        (("250g", "250 g"), ("500g", "500 g"), ("1kg", "1 kg"), ("礼盒装", "Gift box")),
        "净含量",
    ),
    _Top(
        "MB", "母婴", "Mother & baby", 0.07,
        (
            ("尿裤湿巾", "Diapers & wipes", (
                ("纸尿裤", "Diapers", 139), ("湿巾", "Baby wipes", 39),
            )),
            ("喂养", "Feeding", (("婴儿奶粉", "Infant formula", 299), ("奶瓶", "Baby bottle", 89))),
            ("玩具", "Toys", (("积木", "Building blocks", 169), ("毛绒玩具", "Plush toy", 79))),
        ),
        (("婴儿", "Baby"), ("柔软", "Soft"), ("安全", "Safe"), ("益智", "Educational")),
        (("S码", "S"), ("M码", "M"), ("L码", "L"), ("XL码", "XL")),
        "规格",
    ),
    _Top(
        "HM", "家居", "Home", 0.08,
        (
            ("床品", "Bedding", (
                ("四件套", "Bedding set", 329), ("枕头", "Pillow", 99), ("被子", "Duvet", 259),
            )),
            ("收纳", "Storage", (("收纳盒", "Storage box", 39), ("衣架", "Hangers", 29))),
        ),
        (("北欧", "Nordic"), ("简约", "Minimal"), ("加厚", "Thick"), ("家用", "Home")),
        (("米白", "Ivory"), ("浅灰", "Light grey"), ("雾蓝", "Misty blue"), ("豆绿", "Sage")),
        "颜色分类",
    ),
    _Top(
        "KT", "厨具", "Kitchen", 0.06,
        (
            ("锅具", "Cookware", (("炒锅", "Wok", 229), ("汤锅", "Stockpot", 189))),
            ("餐具", "Tableware", (
                ("碗碟套装", "Dinnerware set", 129), ("保温杯", "Vacuum flask", 99),
                ("筷子", "Chopsticks", 29),
            )),
        ),
        (("不粘", "Non-stick"), ("不锈钢", "Stainless"), ("陶瓷", "Ceramic"), ("轻量", "Light")),
        (("小号", "Small"), ("中号", "Medium"), ("大号", "Large")),
        "规格",
    ),
    _Top(
        "EL", "数码", "Electronics", 0.10,
        (
            ("手机配件", "Phone accessories", (
                ("手机壳", "Phone case", 39), ("充电器", "Charger", 79), ("数据线", "Cable", 29),
                ("充电宝", "Power bank", 129),
            )),
            ("音频", "Audio", (("蓝牙耳机", "Bluetooth earbuds", 299), ("音箱", "Speaker", 399))),
            ("智能设备", "Smart devices", (
                ("智能手表", "Smartwatch", 899), ("手环", "Fitness band", 229),
            )),
        ),
        (("快充", "Fast-charge"), ("无线", "Wireless"), ("降噪", "Noise-cancelling"), ("便携", "Portable")),
        (*_COLORS, ("银色", "Silver")),
        "颜色分类",
    ),
    _Top(
        "HA", "家电", "Appliances", 0.05,
        (
            ("厨房电器", "Kitchen appliances", (
                ("电饭煲", "Rice cooker", 399), ("空气炸锅", "Air fryer", 349),
                ("破壁机", "Blender", 599),
            )),
            ("生活电器", "Home appliances", (
                ("吸尘器", "Vacuum cleaner", 999), ("电风扇", "Fan", 199),
                ("加湿器", "Humidifier", 159),
            )),
        ),
        (("智能", "Smart"), ("家用", "Home"), ("静音", "Quiet"), ("多功能", "Multi-function")),
        (("标准版", "Standard"), ("升级版", "Plus"), ("Pro版", "Pro")),
        "规格",
    ),
    _Top(
        "SP", "运动户外", "Sports & outdoors", 0.07,
        (
            ("健身", "Fitness", (
                ("瑜伽垫", "Yoga mat", 89), ("哑铃", "Dumbbells", 159), ("跳绳", "Jump rope", 29),
            )),
            ("户外", "Outdoor", (
                ("帐篷", "Tent", 459), ("登山包", "Hiking backpack", 279),
                ("冲锋衣", "Rain jacket", 499),
            )),
        ),
        (("专业", "Pro"), ("轻量", "Ultralight"), ("防水", "Waterproof"), ("耐磨", "Durable")),
        (("黑色", "Black"), ("军绿", "Olive"), ("橙色", "Orange"), ("灰色", "Grey")),
        "颜色分类",
    ),
)  # fmt: skip

_BRANDS: Final = (
    ("山岚", "Shanlan"), ("素居", "Suju"), ("简然", "Jianran"), ("木槿", "Mujin"),
    ("青禾", "Qinghe"), ("云朵", "Yunduo"), ("拾光", "Shiguang"), ("悦己", "Yueji"),
    ("本味", "Benwei"), ("星河", "Xinghe"), ("初心", "Chuxin"), ("栖木", "Qimu"),
    ("半夏", "Banxia"), ("知白", "Zhibai"), ("鹿野", "Luye"), ("晴川", "Qingchuan"),
)  # fmt: skip

_SURNAMES: Final = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"),
    ("林", "lin"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"),
    ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
    ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("袁", "yuan"),
    ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai"), ("余", "yu"), ("杜", "du"),
    ("叶", "ye"), ("程", "cheng"), ("苏", "su"), ("魏", "wei"), ("吕", "lv"), ("丁", "ding"),
    ("任", "ren"), ("沈", "shen"), ("姚", "yao"), ("卢", "lu"), ("姜", "jiang"), ("崔", "cui"),
    ("钟", "zhong"), ("谭", "tan"), ("陆", "lu"), ("汪", "wang"), ("范", "fan"), ("金", "jin"),
    ("石", "shi"), ("廖", "liao"), ("贾", "jia"), ("夏", "xia"), ("韦", "wei"), ("付", "fu"),
    ("方", "fang"), ("白", "bai"), ("邹", "zou"), ("孟", "meng"), ("熊", "xiong"), ("秦", "qin"),
    ("邱", "qiu"), ("江", "jiang"), ("尹", "yin"), ("薛", "xue"), ("闫", "yan"), ("段", "duan"),
    ("雷", "lei"), ("侯", "hou"), ("龙", "long"), ("史", "shi"), ("陶", "tao"), ("黎", "li"),
    ("贺", "he"), ("顾", "gu"), ("毛", "mao"), ("郝", "hao"), ("龚", "gong"), ("邵", "shao"),
    ("万", "wan"), ("钱", "qian"), ("严", "yan"), ("武", "wu"), ("戴", "dai"), ("莫", "mo"),
    ("孔", "kong"), ("向", "xiang"), ("汤", "tang"), ("欧阳", "ouyang"), ("上官", "shangguan"),
)  # fmt: skip
_GIVEN_FEMALE: Final = "芳娜敏静丽艳娟霞秀玲婷雪慧莹倩琳欣怡悦佳雨梦思涵诗晨萱颖洁蕾嘉妍琪璐瑶薇月兰"
_GIVEN_MALE: Final = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰博阳泽睿轩航然哲"

_EN_FEMALE: Final = (
    "Emma", "Olivia", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper", "Evelyn",
    "Abigail", "Emily", "Ella", "Elizabeth", "Camila", "Luna", "Sofia", "Avery", "Mila", "Aria",
    "Scarlett", "Penelope", "Layla", "Chloe", "Victoria", "Madison", "Eleanor", "Grace", "Nora",
    "Riley", "Zoey", "Hannah", "Hazel", "Lily", "Ellie", "Violet", "Lillian", "Zoe", "Stella",
    "Aurora", "Natalie", "Leah", "Audrey", "Lucy", "Bella",
)  # fmt: skip
_EN_MALE: Final = (
    "Liam", "Noah", "Oliver", "Elijah", "William", "James", "Benjamin", "Lucas", "Henry",
    "Alexander", "Mason", "Michael", "Ethan", "Daniel", "Jacob", "Logan", "Jackson", "Levi",
    "Sebastian", "Mateo", "Jack", "Owen", "Theodore", "Aiden", "Samuel", "Joseph", "John", "David",
    "Wyatt", "Matthew", "Luke", "Asher", "Carter", "Julian", "Grayson", "Leo", "Jayden", "Gabriel",
    "Isaac", "Lincoln", "Anthony", "Hudson", "Dylan", "Ezra", "Thomas", "Charles", "Christopher",
)  # fmt: skip
_EN_LAST: Final = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
    "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Chen", "Wang", "Kim", "Patel", "Cohen", "Murphy", "Rossi",
)  # fmt: skip

# province, weight, ((city, (district, ...)), ...)
_PROVINCES: Final[tuple[tuple[str, float, tuple[tuple[str, tuple[str, ...]], ...]], ...]] = (
    ("北京市", 4.0, (("北京市", ("朝阳区", "海淀区", "东城区", "丰台区")),)),
    ("上海市", 5.0, (("上海市", ("浦东新区", "徐汇区", "静安区", "闵行区")),)),
    ("天津市", 1.5, (("天津市", ("和平区", "南开区", "滨海新区")),)),
    ("重庆市", 2.0, (("重庆市", ("渝中区", "江北区", "沙坪坝区")),)),
    ("广东省", 12.0, (
        ("广州市", ("天河区", "越秀区", "海珠区")), ("深圳市", ("南山区", "福田区", "宝安区")),
        ("佛山市", ("禅城区", "南海区", "顺德区")),
    )),
    ("浙江省", 9.0, (
        ("杭州市", ("西湖区", "上城区", "余杭区", "滨江区")), ("宁波市", ("鄞州区", "海曙区")),
        ("温州市", ("鹿城区", "瓯海区")),
    )),
    ("江苏省", 9.0, (
        ("南京市", ("鼓楼区", "玄武区", "江宁区")), ("苏州市", ("姑苏区", "吴中区", "虎丘区")),
        ("无锡市", ("梁溪区", "滨湖区")),
    )),
    ("山东省", 6.0, (("济南市", ("历下区", "市中区")), ("青岛市", ("市南区", "崂山区", "黄岛区")))),
    ("河南省", 5.0, (("郑州市", ("金水区", "二七区", "中原区")), ("洛阳市", ("西工区", "洛龙区")))),
    ("河北省", 4.0, (("石家庄市", ("长安区", "桥西区")), ("唐山市", ("路北区", "路南区")))),
    ("四川省", 6.0, (("成都市", ("武侯区", "锦江区", "青羊区")), ("绵阳市", ("涪城区", "游仙区")))),
    ("湖北省", 4.5, (
        ("武汉市", ("武昌区", "洪山区", "江汉区")), ("宜昌市", ("西陵区", "伍家岗区")),
    )),
    ("湖南省", 4.0, (("长沙市", ("岳麓区", "芙蓉区", "天心区")), ("株洲市", ("天元区", "芦淞区")))),
    ("福建省", 4.0, (("福州市", ("鼓楼区", "台江区")), ("厦门市", ("思明区", "湖里区")))),
    ("安徽省", 3.5, (("合肥市", ("蜀山区", "包河区", "庐阳区")), ("芜湖市", ("镜湖区", "弋江区")))),
    ("江西省", 2.5, (
        ("南昌市", ("东湖区", "西湖区", "青山湖区")), ("赣州市", ("章贡区", "南康区")),
    )),
    ("陕西省", 3.0, (("西安市", ("雁塔区", "碑林区", "未央区")), ("宝鸡市", ("渭滨区", "金台区")))),
    ("辽宁省", 3.0, (
        ("沈阳市", ("和平区", "沈河区", "浑南区")), ("大连市", ("中山区", "沙河口区")),
    )),
    ("吉林省", 1.5, (("长春市", ("朝阳区", "南关区")), ("吉林市", ("船营区", "昌邑区")))),
    ("黑龙江省", 1.8, (
        ("哈尔滨市", ("南岗区", "道里区", "香坊区")), ("大庆市", ("萨尔图区", "让胡路区")),
    )),
    ("山西省", 2.0, (("太原市", ("小店区", "迎泽区")), ("大同市", ("平城区", "云冈区")))),
    ("广西壮族自治区", 2.5, (("南宁市", ("青秀区", "兴宁区")), ("桂林市", ("象山区", "秀峰区")))),
    ("云南省", 2.2, (("昆明市", ("五华区", "盘龙区", "官渡区")), ("大理白族自治州", ("大理市",)))),
    ("贵州省", 1.6, (
        ("贵阳市", ("南明区", "云岩区", "观山湖区")), ("遵义市", ("红花岗区", "汇川区")),
    )),
    ("海南省", 0.8, (("海口市", ("美兰区", "龙华区")), ("三亚市", ("吉阳区", "天涯区")))),
    ("甘肃省", 1.0, (("兰州市", ("城关区", "七里河区")), ("天水市", ("秦州区", "麦积区")))),
    ("内蒙古自治区", 1.2, (
        ("呼和浩特市", ("新城区", "赛罕区")), ("包头市", ("昆都仑区", "青山区")),
    )),
    ("新疆维吾尔自治区", 1.0, (
        ("乌鲁木齐市", ("天山区", "沙依巴克区")), ("克拉玛依市", ("克拉玛依区",)),
    )),
    ("宁夏回族自治区", 0.5, (("银川市", ("兴庆区", "金凤区")),)),
    ("青海省", 0.4, (("西宁市", ("城东区", "城西区")),)),
    ("西藏自治区", 0.2, (("拉萨市", ("城关区", "堆龙德庆区")),)),
)  # fmt: skip
_STREETS: Final = (
    "人民路", "解放路", "中山路", "建设路", "文三路", "长江路", "黄河路", "和平路", "新华路",
    "胜利路", "青年路", "滨江大道", "学府路", "科技路", "体育路", "花园路", "幸福路", "朝阳路",
    "光明路", "东风路", "工业路", "世纪大道", "迎宾路", "湖滨路",
)  # fmt: skip

# state code, state, sales tax (basis points), weight, ((city, area code), ...)
_US_STATES: Final[tuple[tuple[str, str, int, float, tuple[tuple[str, str], ...]], ...]] = (
    ("CA", "California", 825, 12.0, (
        ("Los Angeles", "213"), ("San Francisco", "415"), ("San Diego", "619"), ("San Jose", "408"),
    )),
    ("NY", "New York", 888, 7.0, (("New York", "212"), ("Brooklyn", "718"), ("Buffalo", "716"))),
    ("TX", "Texas", 825, 9.0, (("Houston", "713"), ("Austin", "512"), ("Dallas", "214"))),
    ("FL", "Florida", 700, 6.0, (("Miami", "305"), ("Orlando", "407"), ("Tampa", "813"))),
    ("WA", "Washington", 1010, 3.0, (("Seattle", "206"), ("Tacoma", "253"))),
    ("IL", "Illinois", 1025, 4.0, (("Chicago", "312"), ("Naperville", "630"))),
    ("MA", "Massachusetts", 625, 2.5, (("Boston", "617"), ("Cambridge", "617"))),
    ("NJ", "New Jersey", 663, 3.0, (("Newark", "973"), ("Jersey City", "201"))),
    ("PA", "Pennsylvania", 600, 4.0, (("Philadelphia", "215"), ("Pittsburgh", "412"))),
    ("GA", "Georgia", 735, 3.0, (("Atlanta", "404"), ("Savannah", "912"))),
    ("OR", "Oregon", 0, 1.5, (("Portland", "503"), ("Eugene", "541"))),
    ("CO", "Colorado", 770, 2.0, (("Denver", "303"), ("Boulder", "720"))),
    ("AZ", "Arizona", 840, 2.2, (("Phoenix", "602"), ("Tucson", "520"))),
    ("NC", "North Carolina", 698, 3.0, (("Charlotte", "704"), ("Raleigh", "919"))),
    ("MI", "Michigan", 600, 3.0, (("Detroit", "313"), ("Ann Arbor", "734"))),
    ("VA", "Virginia", 575, 2.6, (("Richmond", "804"), ("Arlington", "703"))),
    ("OH", "Ohio", 723, 3.5, (("Columbus", "614"), ("Cleveland", "216"))),
    ("MN", "Minnesota", 749, 1.7, (("Minneapolis", "612"), ("Saint Paul", "651"))),
    ("NV", "Nevada", 823, 1.0, (("Las Vegas", "702"), ("Reno", "775"))),
    ("HI", "Hawaii", 444, 0.5, (("Honolulu", "808"),)),
)  # fmt: skip
_US_STREETS: Final = (
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset",
    "Lincoln",
)  # fmt: skip
_US_SUFFIX: Final = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln")

_CN_MOBILE_PREFIXES: Final = (
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158,
    159, 166, 170, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
    191, 193, 195, 198, 199,
)  # fmt: skip
_NICK_WORDS: Final = (
    "xiaomei", "sunny", "快乐小鱼", "阳光男孩", "momo", "lucky", "小熊猫", "橘子汽水", "大白兔",
    "奶茶控", "星星点灯", "夏天的风", "candy", "木子", "小确幸", "jerry", "老猫", "吃货一枚",
)  # fmt: skip
_CUSTOMER_TAGS: Final = ("VIP", "新客", "老客", "双11", "高价值", "价格敏感", "母婴人群", "学生")
_CARRIERS: Final = (
    ("顺丰速运", "SF"), ("中通快递", "75"), ("圆通速递", "YT"), ("韵达快递", "43"),
    ("申通快递", "77"), ("京东物流", "JDVA"), ("邮政EMS", "98"), ("极兔速递", "JT"),
)  # fmt: skip
_CARRIER_WEIGHTS: Final = (0.2, 0.2, 0.15, 0.12, 0.1, 0.1, 0.05, 0.08)
_COUPONS_CNY: Final = (
    ("NEW10", 1000), ("VIP20", 2000), ("SAVE30", 3000), ("DOUBLE11", 5000), ("618GO", 3000),
    ("WELCOME5", 500), ("FANS15", 1500), ("BDAY50", 5000),
)  # fmt: skip
_COUPONS_USD: Final = (("WELCOME10", 1000), ("SAVE5", 500), ("VIP15", 1500), ("BFCM20", 2000))
_HOUR_WEIGHTS: Final = (
    1.6, 0.9, 0.5, 0.3, 0.2, 0.25, 0.5, 1.2, 2.4, 3.6, 4.4, 4.4,
    4.0, 4.2, 4.5, 4.5, 4.2, 4.0, 4.2, 5.0, 5.8, 6.4, 6.0, 3.6,
)  # fmt: skip
_CAMPAIGN_DAYS: Final = ((3, 8), (6, 18), (9, 9), (11, 11), (12, 12))

# native status codes
_PENDING, _PAID, _SHIPPED, _DELIVERED, _COMPLETED, _CANCELLED, _CLOSED, _REFUNDED = range(8)
_STATUS_NATIVE: Final = (
    "pending", "paid", "shipped", "delivered", "completed", "cancelled", "closed", "refunded",
)  # fmt: skip
_STATUS_TAOBAO: Final = (
    "等待买家付款",
    "买家已付款，等待卖家发货",
    "卖家已发货，等待买家确认",
    "卖家已发货，等待买家确认",
    "交易成功",
    "交易关闭",
    "交易关闭",
    "交易成功",
)
# order kinds
_K_TX, _K_CLOSED, _K_CANCELLED, _K_PENDING = range(4)
_CLOSE_REASONS_UNPAID: Final = ("超时未付款", "买家不想买了", "拍错了/订单信息有误")
_CLOSE_REASONS_PAID: Final = ("买家不想买了", "卖家缺货", "地址填错了")

_REFUND_TYPES: Final = ("refund_only", "return_refund", "exchange", "reship")
_REFUND_TYPES_ZH: Final = ("仅退款", "退货退款", "换货", "补寄")
_REFUND_TYPE_WEIGHTS: Final = (0.40, 0.45, 0.10, 0.05)
_REFUND_REASONS: Final = (
    ("未收到货", "商品破损", "少件/漏发", "不想要了"),
    ("七天无理由退换货", "尺码不合适", "质量问题", "与商品描述不符"),
    ("尺码不合适", "颜色不喜欢", "质量问题"),
    ("少件/漏发", "快递丢件", "商品破损"),
)
_R_PENDING, _R_APPROVED, _R_COMPLETED, _R_REJECTED, _R_CANCELLED = range(5)
_REFUND_STATUS: Final = ("pending", "approved", "completed", "rejected", "cancelled")
_REFUND_STATUS_ZH: Final = (
    "买家已经申请退款，等待卖家同意",
    "卖家已经同意退款，等待买家退货",
    "退款成功",
    "卖家拒绝退款",
    "退款关闭",
)

_EVENT_TYPES: Final = ("product_view", "search", "add_to_cart", "checkout", "order")
_EV_VIEW, _EV_SEARCH, _EV_CART, _EV_CHECKOUT, _EV_ORDER = range(5)

_BAD_DATES: Final = (
    "2024-02-30 10:00:00",
    "not a date",
    "2025-13-01 08:00:00",
    "2025-06-31 12:30:00",
    "2025-02-29 09:15:00",
)

_OPENID_CHARS: Final = np.frombuffer(
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_", dtype=np.uint8
)
_BASE36: Final = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
_ANON_LEN: Final = 12  # short strings are stored inline by polars: much faster to gather
_WECHAT_APPID: Final = "wx5f8d2c1a9b3e7046"

# exact headers of every file
NATIVE_PRODUCT_COLUMNS: Final = (
    "sku", "title", "title_en", "category_path", "brand", "price", "currency", "shop",
)  # fmt: skip
NATIVE_CUSTOMER_COLUMNS: Final = (
    "external_id", "shop", "name", "gender", "birthday", "phone", "email", "wechat_unionid",
    "wechat_openid", "wechat_appid", "country", "province", "city", "district", "address",
    "signup_at", "tags", "updated_at",
)  # fmt: skip
NATIVE_ORDER_COLUMNS: Final = (
    "order_id", "line_id", "shop", "customer_external_id", "customer_name", "phone", "email",
    "status", "currency", "placed_at", "paid_at", "shipped_at", "delivered_at", "shipping",
    "discount", "coupon_code", "order_total", "sku", "title", "quantity", "unit_price",
    "line_total", "province", "city", "district", "address", "carrier", "tracking_no",
    "updated_at",
)  # fmt: skip
NATIVE_REFUND_COLUMNS: Final = (
    "refund_id", "order_id", "shop", "sku", "type", "reason", "amount", "currency", "status",
    "requested_at", "completed_at",
)  # fmt: skip
TAOBAO_ORDER_COLUMNS: Final = (
    "订单编号", "买家会员名", "买家应付货款", "买家应付邮费", "总金额", "买家实际支付金额", "订单状态",
    "收货人姓名", "收货地址", "联系手机", "订单创建时间", "订单付款时间", "宝贝标题", "宝贝总数量",
    "物流公司", "物流单号", "店铺名称", "订单关闭原因",
)  # fmt: skip
TAOBAO_ITEM_COLUMNS: Final = (
    "订单编号", "标题", "价格", "购买数量", "外部系统编号", "商家编码", "商品属性", "订单状态",
)  # fmt: skip
TAOBAO_REFUND_COLUMNS: Final = (
    "订单编号", "退款编号", "退款完结时间", "买家退款金额", "商家编码", "宝贝标题", "买家会员名称",
    "退款状态", "退款原因", "售后类型",
)  # fmt: skip
SHOPIFY_ORDER_COLUMNS: Final = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem sku",
    "Billing Name", "Billing Phone", "Billing City", "Billing Province", "Billing Country",
    "Phone", "Id", "Refunded Amount",
)  # fmt: skip
EVENT_KEYS: Final = (
    "event_id", "type", "occurred_at", "shop", "customer_external_id", "anonymous_id",
    "properties",
)  # fmt: skip
HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "products.csv": NATIVE_PRODUCT_COLUMNS,
    "customers_site.csv": NATIVE_CUSTOMER_COLUMNS,
    "customers_wechat.csv": NATIVE_CUSTOMER_COLUMNS,
    "orders_site.csv": NATIVE_ORDER_COLUMNS,
    "orders_wechat.csv": NATIVE_ORDER_COLUMNS,
    "taobao_orders.csv": TAOBAO_ORDER_COLUMNS,
    "shopify_orders.csv": SHOPIFY_ORDER_COLUMNS,
    "taobao_items.csv": TAOBAO_ITEM_COLUMNS,
    "refunds_site.csv": NATIVE_REFUND_COLUMNS,
    "taobao_refunds.csv": TAOBAO_REFUND_COLUMNS,
}

# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


def _choice(
    rng: np.random.Generator, weights: Sequence[float] | npt.NDArray[np.floating[Any]], n: int
) -> I64:
    """``n`` indices drawn with the given (unnormalised) weights."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    idx = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(idx, len(cdf) - 1).astype(np.int64)


class _Sampler:
    """Fast weighted sampling of many indices: a table of 2**20 slots filled in proportion to
    the weights (largest remainders), indexed by uniform integers."""

    SIZE: Final = 1 << 20

    def __init__(self, weights: F64) -> None:
        share = np.asarray(weights, dtype=np.float64) / float(np.sum(weights)) * self.SIZE
        counts = np.floor(share).astype(np.int64)
        short = self.SIZE - int(counts.sum())
        if short > 0:
            counts[np.argsort(-(share - counts), kind="stable")[:short]] += 1
        self.table = np.repeat(np.arange(len(counts), dtype=np.int64), counts)

    def __call__(self, rng: np.random.Generator, n: int) -> I64:
        out: I64 = self.table[rng.integers(0, self.SIZE, n)]
        return out


def _group_starts(counts: I64) -> I64:
    starts = np.zeros(len(counts), dtype=np.int64)
    if len(counts) > 1:
        np.cumsum(counts[:-1], out=starts[1:])
    return starts


def _rank_in_group(counts: I64) -> I64:
    """0, 1, ..., c-1 for each group of ``counts`` (groups laid out one after the other)."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_group_starts(counts), counts)


def _rand_str(
    rng: np.random.Generator,
    n: int,
    length: int,
    alphabet: npt.NDArray[np.uint8],
    prefix: bytes = b"",
) -> pl.Series:
    """``n`` random strings: ``prefix`` + ``length`` characters from ``alphabet``."""
    if n == 0:
        return pl.Series([], dtype=pl.String)
    width = len(prefix) + length
    raw = np.empty((n, width), dtype=np.uint8)
    raw[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    raw[:, len(prefix) :] = alphabet[rng.integers(0, len(alphabet), size=(n, length), dtype=np.uint8)]
    return pl.Series(raw.view(f"S{width}").ravel()).cast(pl.String)


def _lookup(values: Sequence[str], idx: I64) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(pl.Series(idx, dtype=pl.Int64))


def _take(values: Sequence[str] | pl.Series, col: str) -> pl.Expr:
    """Expression: ``values[col]`` for an integer index column."""
    series = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.String)
    return pl.lit(series).gather(pl.col(col))


def _strs(values: I64, width: int = 0) -> pl.Series:
    s = pl.Series(values).cast(pl.String)
    return s.str.zfill(width) if width else s


_CENTS: Final = pl.Series([f"{i:02d}" for i in range(100)], dtype=pl.String)


def _money(col: pl.Expr) -> pl.Expr:
    """Non-negative integer minor units to ``"199.00"`` (null stays null)."""
    return pl.concat_str([(col // 100).cast(pl.String), pl.lit("."), pl.lit(_CENTS).gather(col % 100)])


@functools.cache
def _hms_table(sep: str) -> pl.Series:
    return pl.Series(
        [f"{sep}{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)],
        dtype=pl.String,
    )


class _Clock:
    """Fast timestamp formatting with lookup tables (strftime is the bottleneck at 1M).

    Times are int64 seconds since the start of the period (``_NA`` = missing)."""

    def __init__(self, start: date, days: int) -> None:
        self.start = start
        self.days = days
        self.base = (start - date(1970, 1, 1)).days * _DAY
        self.pad = 3 * 366  # days before the start the table covers
        first = start - timedelta(days=self.pad)
        self.dates = pl.Series(
            [(first + timedelta(days=i)).isoformat() for i in range(self.pad + days + 2)] + [None],
            dtype=pl.String,
        )
        self._null = len(self.dates) - 1
        years = range(start.year - 4, start.year + days // 365 + 3)
        bounds_utc: list[int] = []
        bounds_local: list[int] = []
        for y in years:
            march = date(y, 3, 1)
            dst_on = march + timedelta(days=(6 - march.weekday()) % 7 + 7)  # 2nd Sunday
            nov = date(y, 11, 1)
            dst_off = nov + timedelta(days=(6 - nov.weekday()) % 7)  # 1st Sunday
            on = (dst_on - start).days * _DAY
            off = (dst_off - start).days * _DAY
            bounds_utc += [on + 7 * 3600, off + 6 * 3600]  # 02:00 EST, 02:00 EDT
            bounds_local += [on + 3 * 3600, off + 2 * 3600]
        self._dst_utc = np.asarray(bounds_utc, dtype=np.int64)
        self._dst_local = np.asarray(bounds_local, dtype=np.int64)

    @functools.cached_property
    def yymmdd(self) -> pl.Series:
        first = self.start - timedelta(days=self.pad)
        return pl.Series(
            [(first + timedelta(days=i)).strftime("%y%m%d") for i in range(len(self.dates) - 1)] + [None],
            dtype=pl.String,
        )

    def _day_index(self, col: pl.Expr) -> pl.Expr:
        day = (col // _DAY + self.pad).clip(0, self._null - 1)
        return pl.when(col == _NA).then(pl.lit(self._null, dtype=pl.Int64)).otherwise(day)

    def ts(self, col: pl.Expr, sep: str = " ") -> pl.Expr:
        """``YYYY-MM-DD HH:MM:SS`` (or with ``sep`` = ``"T"``)."""
        return pl.concat_str(
            [pl.lit(self.dates).gather(self._day_index(col)), pl.lit(_hms_table(sep)).gather(col % _DAY)]
        )

    # America/New_York (US rules since 2007: 2nd Sunday of March to 1st Sunday of November)
    def ny_dst_at_utc(self, utc: I64) -> Mask:
        """Daylight saving time at these UTC instants (seconds since the start, UTC clock)."""
        out: Mask = np.searchsorted(self._dst_utc, utc, side="right") % 2 == 1
        return out

    def ny_local_to_utc(self, local: I64) -> I64:
        """Naive New York times to the UTC clock (ambiguous: earliest; nonexistent: +1 hour)."""
        dst = np.searchsorted(self._dst_local, local, side="right") % 2 == 1
        out: I64 = local + np.where(dst, 4 * 3600, 5 * 3600)
        return out

    def ny_local(self, utc: I64) -> tuple[I64, I64]:
        """New York local seconds and offset index (0: -05:00, 1: -04:00); ``_NA`` stays."""
        dst = self.ny_dst_at_utc(utc)
        local = np.where(utc == _NA, _NA, utc - np.where(dst, 4 * 3600, 5 * 3600))
        return local.astype(np.int64), dst.astype(np.int64)

    def shopify_ts(self, local: pl.Expr, dst: pl.Expr) -> pl.Expr:
        """``2024-01-05 12:00:00 -0500``."""
        return pl.concat_str([self.ts(local), pl.lit(pl.Series([" -0500", " -0400"])).gather(dst)])


class _Reporter:
    def __init__(self, fn: ProgressFn | None) -> None:
        self._fn = fn

    def __call__(self, stage: str, fraction: float) -> None:
        if self._fn is not None:
            self._fn(stage, min(1.0, max(0.0, fraction)))


# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------


@dataclass
class _PriceIndex:
    """SKUs sorted by (group, price) and by price, for picking an item at a target price."""

    sku: I64
    price: I64
    key: I64
    g_start: I64
    g_end: I64
    all_sku: I64
    all_price: I64


@dataclass
class _Catalog:
    n: int
    sku: pl.Series
    title: pl.Series
    title_en: pl.Series
    path: pl.Series
    brand: pl.Series
    attrs: pl.Series
    leaf: I64
    group: I64
    pop: F64
    price_cny: I64
    price_usd: I64  # 0 = not sold on Shopify
    group_weights: F64
    leaf_zh: tuple[str, ...]
    leaf_en: tuple[str, ...]
    cny: _PriceIndex
    usd: _PriceIndex


_KEY: Final = 1_000_000_000


def _price_index(sku_ids: I64, group: I64, price: I64, n_groups: int) -> _PriceIndex:
    order = np.lexsort((price, group))
    s_sku = sku_ids[order]
    s_group = group[order]
    s_price = price[order]
    g = np.arange(n_groups, dtype=np.int64)
    g_start = np.searchsorted(s_group, g, side="left").astype(np.int64)
    g_end = np.searchsorted(s_group, g, side="right").astype(np.int64)
    by_price = np.argsort(price, kind="stable")
    return _PriceIndex(
        sku=s_sku,
        price=s_price,
        key=s_group * _KEY + s_price,
        g_start=g_start,
        g_end=g_end,
        all_sku=sku_ids[by_price],
        all_price=price[by_price],
    )


def _n_products(customers: int) -> int:
    if customers <= 20_000:
        return 2_000
    return int(min(5_000, round(2_000 + 3_000 * math.log(customers / 20_000) / math.log(50))))


def _build_catalog(rng: np.random.Generator, n: int) -> _Catalog:
    leaf_top: list[int] = []
    leaf_zh: list[str] = []
    leaf_en: list[str] = []
    leaf_path: list[str] = []
    leaf_median: list[float] = []
    for t, top in enumerate(_CATEGORIES):
        for sub_zh, _sub_en, leaves in top.subs:
            for zh, en, median in leaves:
                leaf_top.append(t)
                leaf_zh.append(zh)
                leaf_en.append(en)
                leaf_path.append(f"{top.zh} > {sub_zh} > {zh}")
                leaf_median.append(float(median))
    tops = np.asarray(leaf_top, dtype=np.int64)
    leaf = np.sort(rng.integers(0, len(leaf_zh), n).astype(np.int64))
    group = tops[leaf]
    medians = np.asarray(leaf_median)[leaf]
    yuan = np.maximum(3, np.rint(medians * np.exp(rng.normal(0.0, 0.5, n)))).astype(np.int64)
    price_cny = yuan * 100 - np.where(rng.random(n) < 0.4, 10, 0)
    on_shopify = rng.random(n) < 0.45
    half_dollars = np.maximum(6, np.rint(price_cny / 100 / 7.1 * 1.2 * 2)).astype(np.int64)
    price_usd = np.where(on_shopify, half_dollars * 50 - 1, 0).astype(np.int64)
    pop = 1.0 / (rng.permutation(n).astype(np.float64) + 1.0) ** 0.9

    brand = rng.integers(0, len(_BRANDS), n).astype(np.int64)
    adj = rng.integers(0, 64, n).astype(np.int64)
    var = rng.integers(0, 64, n).astype(np.int64)
    adj_zh, adj_en, var_zh, var_en, attr_name = [], [], [], [], []
    for t_idx, a_idx, v_idx in zip(group.tolist(), adj.tolist(), var.tolist(), strict=True):
        top = _CATEGORIES[t_idx]
        a = top.adjectives[a_idx % len(top.adjectives)]
        v = top.variants[v_idx % len(top.variants)]
        adj_zh.append(a[0])
        adj_en.append(a[1])
        var_zh.append(v[0])
        var_en.append(v[1])
        attr_name.append(top.variant_attr)
    codes = _lookup([c.code for c in _CATEGORIES], group)
    frame = pl.DataFrame(
        {
            "code": codes,
            "num": pl.Series(np.arange(n, dtype=np.int64) + 100_001),
            "brand_zh": _lookup([b[0] for b in _BRANDS], brand),
            "brand_en": _lookup([b[1] for b in _BRANDS], brand),
            "adj_zh": adj_zh,
            "adj_en": adj_en,
            "var_zh": var_zh,
            "var_en": var_en,
            "attr": attr_name,
            "leaf_zh": _lookup(leaf_zh, leaf),
            "leaf_en": _lookup(leaf_en, leaf),
            "path": _lookup(leaf_path, leaf),
        }
    ).select(
        sku=pl.concat_str([pl.col("code"), pl.col("num").cast(pl.String)]),
        title=pl.concat_str(
            [
                pl.col("brand_zh"),
                pl.lit(" "),
                pl.col("adj_zh"),
                pl.col("leaf_zh"),
                pl.lit(" "),
                pl.col("var_zh"),
            ]
        ),
        title_en=pl.concat_str(
            [
                pl.col("brand_en"),
                pl.lit(" "),
                pl.col("adj_en"),
                pl.lit(" "),
                pl.col("leaf_en"),
                pl.lit(" - "),
                pl.col("var_en"),
            ]
        ),
        path=pl.col("path"),
        brand=pl.col("brand_zh"),
        attrs=pl.concat_str([pl.col("attr"), pl.lit(":"), pl.col("var_zh")]),
    )
    ids = np.arange(n, dtype=np.int64)
    n_groups = len(_CATEGORIES)
    usd_ids = ids[on_shopify]
    return _Catalog(
        n=n,
        sku=frame["sku"],
        title=frame["title"],
        title_en=frame["title_en"],
        path=frame["path"],
        brand=frame["brand"],
        attrs=frame["attrs"],
        leaf=leaf,
        group=group,
        pop=pop,
        price_cny=price_cny,
        price_usd=price_usd,
        group_weights=np.asarray([c.weight for c in _CATEGORIES]),
        leaf_zh=tuple(leaf_zh),
        leaf_en=tuple(leaf_en),
        cny=_price_index(ids, group, price_cny, n_groups),
        usd=_price_index(usd_ids, group[usd_ids], price_usd[usd_ids], n_groups),
    )


_WINDOW: Final = 5
_CLOSENESS: Final = 12


def _pick(rng: np.random.Generator, idx: _PriceIndex, pop: F64, group: I64, target: I64) -> I64:
    """For each line, an SKU of ``group`` priced at or just above ``target``: two candidates
    among the next ``_WINDOW`` prices, one kept with odds popularity x closeness. Outside the
    group's price range the whole catalogue is used (a target above every price keeps the
    dearest items; the caller raises the quantity)."""
    n = len(target)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    n_grouped = len(idx.sku)
    total = len(idx.all_sku)
    skus = np.concatenate([idx.sku, idx.all_sku])
    prices = np.concatenate([idx.price, idx.all_price])
    g_start = idx.g_start[group]
    g_end = idx.g_end[group]
    pos = np.searchsorted(idx.key, group * _KEY + target, side="left")
    g_min = idx.price[np.minimum(g_start, n_grouped - 1)]
    in_group = (g_end > g_start) & (pos < g_end) & (g_min * 2 <= target * 3)
    gpos = np.minimum(np.searchsorted(idx.all_price, target, side="left"), total - 1)
    gpos = np.minimum(gpos, max(0, total - _WINDOW)) + n_grouped
    lo = np.where(in_group, pos, gpos)
    span = np.minimum(np.where(in_group, g_end, n_grouped + total) - lo, _WINDOW)
    u = rng.random((3, n))
    c1 = lo + (u[0] * u[0] * span).astype(np.int64)  # favours the nearest price
    c2 = lo + (u[1] * span).astype(np.int64)
    s1, s2 = skus[c1], skus[c2]
    r1 = target / np.maximum(prices[c1], target)
    r2 = target / np.maximum(prices[c2], target)
    w1 = pop[s1] * r1**_CLOSENESS
    w2 = pop[s2] * r2**_CLOSENESS
    out: I64 = np.where(u[2] * (w1 + w2) < w1, s1, s2).astype(np.int64)
    return out


# --------------------------------------------------------------------------------------------
# People, purchases, accounts
# --------------------------------------------------------------------------------------------


@dataclass
class _People:
    n: int
    home: I64
    prospect: Mask
    us: Mask
    t0: F64  # first purchase (buyers) or signup (prospects), days since start
    gender: I64  # 0 male, 1 female, 2 unknown
    fav_group: I64
    nu: F64  # Gamma-Gamma rate per person (shop currency, major units)


def _campaign_offsets(start: date, days: int) -> F64:
    out = []
    for year in range(start.year, (start + timedelta(days=days)).year + 1):
        for month, day in _CAMPAIGN_DAYS:
            offset = (date(year, month, day) - start).days
            if 0 <= offset < days:
                out.append(float(offset))
    return np.asarray(out, dtype=np.float64)


def _build_people(rng: np.random.Generator, n: int, start: date, days: int, groups: F64) -> _People:
    prospect = rng.random(n) < _PROSPECT_SHARE
    home = np.where(
        prospect,
        _choice(rng, _HOME_WEIGHTS_PROSPECTS, n),
        _choice(rng, _HOME_WEIGHTS_BUYERS, n),
    ).astype(np.int64)
    us = home == SHOPIFY
    t0 = rng.random(n) * days
    peaks = _campaign_offsets(start, days)
    if len(peaks):
        at_peak = rng.random(n) < 0.2
        peak = peaks[rng.integers(0, len(peaks), n)] + rng.uniform(-2.0, 1.0, n)
        t0 = np.where(at_peak, np.clip(peak, 0.0, np.nextafter(days, 0)), t0)
    gender = np.where(us, _choice(rng, (0.48, 0.48, 0.04), n), _choice(rng, (0.40, 0.55, 0.05), n))
    fav_group = _choice(rng, groups, n)
    gamma = np.where(us, _GG_GAMMA["USD"], _GG_GAMMA["CNY"])
    nu = rng.gamma(GAMMA_GAMMA_TRUTH["q"], 1.0, n) / gamma
    return _People(n, home, prospect, us, t0, gender.astype(np.int64), fav_group, nu)


def _diurnal_seconds(rng: np.random.Generator, n: int) -> I64:
    hour = _choice(rng, _HOUR_WEIGHTS, n)
    return hour * 3600 + rng.integers(0, 3600, n)


@dataclass
class _Tx:
    person: I64  # sorted by person, then time
    secs: I64  # seconds since the start, local time
    count: I64  # transactions per person


def _simulate_purchases(rng: np.random.Generator, people: _People, days: int) -> _Tx:
    """BG/NBD purchase times: first purchase at t0, then the first min(N(T), K) points of a
    Poisson process on (t0, days], K ~ Geometric(p) repeat purchases before dropping out.

    The first x of N uniform order statistics on (0, T) are S_k / S_(N+1) with S the partial
    sums of standard exponentials, and S_(N+1) = S_x + Gamma(N + 1 - x)."""
    buyers = np.flatnonzero(~people.prospect).astype(np.int64)
    nb = len(buyers)
    r, alpha = BGNBD_TRUTH["r"], BGNBD_TRUTH["alpha"]
    a, b = BGNBD_TRUTH["a"], BGNBD_TRUTH["b"]
    lam = rng.gamma(r, 1.0 / alpha, nb)
    p = np.clip(rng.beta(a, b, nb), 1e-12, 1.0)
    t0 = people.t0[buyers]
    big_t = days - t0
    n_pts = rng.poisson(lam * big_t).astype(np.int64)
    k_max = rng.geometric(p).astype(np.int64)
    x = np.minimum(n_pts, k_max)
    g = rng.gamma((n_pts - x + 1).astype(np.float64))
    e = rng.standard_exponential(int(x.sum()))
    owner = np.repeat(np.arange(nb, dtype=np.int64), x)
    prefix = np.concatenate([[0.0], np.cumsum(e)])
    starts = _group_starts(x)
    s_k = prefix[1:] - prefix[starts][owner]
    s_x = prefix[starts + x] - prefix[starts]
    u = s_k / (s_x + g)[owner]
    t_rep = t0[owner] + u * big_t[owner]
    person = np.concatenate([buyers, buyers[owner]])
    t_all = np.concatenate([t0, t_rep])
    day = np.minimum(np.floor(t_all), days - 1).astype(np.int64)
    secs = day * _DAY + _diurnal_seconds(rng, len(day))
    order = np.argsort(person * (days * _DAY + 1) + secs, kind="stable")
    person = person[order]
    secs = secs[order]
    count = np.bincount(person, minlength=people.n).astype(np.int64)
    return _Tx(person=person, secs=secs, count=count)


@dataclass
class _Accounts:
    n: int
    person: I64
    shop: I64
    signup: I64  # seconds since start
    cross_people: I64  # persons with a second account
    tx_account: I64  # per transaction


def _build_accounts(rng: np.random.Generator, people: _People, tx: _Tx, days: int) -> _Accounts:
    n = people.n
    cn = ~people.us
    candidates = np.flatnonzero(cn & (tx.count >= 2)).astype(np.int64)
    target = round(_CROSS_SHOP_SHARE * int(cn.sum()))
    k = min(target, len(candidates))
    cross = np.sort(rng.choice(candidates, size=k, replace=False)).astype(np.int64)
    home = people.home[cross]
    u = rng.random(k)
    second = np.where(
        home == TMALL,
        np.where(u < 0.5, SITE, WECHAT),
        np.where(home == SITE, np.where(u < 0.6, TMALL, WECHAT), np.where(u < 0.6, TMALL, SITE)),
    ).astype(np.int64)
    acc_person = np.concatenate([np.arange(n, dtype=np.int64), cross])
    acc_shop = np.concatenate([people.home, second])
    second_acc = np.full(n, -1, dtype=np.int64)
    second_acc[cross] = n + np.arange(k, dtype=np.int64)

    # transactions: non-first ones of cross-shop people go to the second shop with p = 0.4,
    # and one random non-first transaction always does
    tx_account = tx.person.copy()
    starts = _group_starts(tx.count)
    rank = _rank_in_group(tx.count)
    is_cross_tx = second_acc[tx.person] >= 0
    move = is_cross_tx & (rank > 0) & (rng.random(len(rank)) < 0.4)
    forced = starts[cross] + 1 + np.floor(rng.random(k) * (tx.count[cross] - 1)).astype(np.int64)
    move[forced] = True
    tx_account[move] = second_acc[tx.person[move]]

    # signup: shortly before the first order in that shop (prospects: uniform in the period)
    n_acc = n + k
    first = np.full(n_acc, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, tx_account, tx.secs)
    lead = (rng.exponential(3.0, n_acc) * _DAY).astype(np.int64)
    prospect_signup = (people.t0 * _DAY).astype(np.int64)
    signup = np.where(
        first < np.iinfo(np.int64).max,
        first - lead,
        np.concatenate([prospect_signup, np.zeros(k, dtype=np.int64)]),
    )
    signup = np.minimum(signup, days * _DAY - 1)
    return _Accounts(n_acc, acc_person, acc_shop, signup.astype(np.int64), cross, tx_account)


# --------------------------------------------------------------------------------------------
# Orders, lines, refunds
# --------------------------------------------------------------------------------------------


@dataclass
class _Orders:
    n: int
    account: I64
    person: I64
    shop: I64
    kind: I64
    placed: I64
    paid: I64
    shipped: I64
    delivered: I64
    completed: I64
    closed_at: I64
    status: I64
    z: I64  # merchandise value after discounts (minor units)
    coupon: I64  # coupon index or -1
    coupon_value: I64
    close_reason: I64
    carrier: I64
    # filled by _build_lines
    line_start: I64
    n_lines: I64
    gross: I64  # sum of line totals
    discount: I64
    shipping: I64
    tax: I64
    total: I64
    updated: I64


def _build_orders(rng: np.random.Generator, people: _People, acc: _Accounts, tx: _Tx, days: int) -> _Orders:
    end = days * _DAY
    n_tx = len(tx.secs)
    n_closed = round(_CLOSED_SHARE * n_tx)
    n_cancel = round(_CANCELLED_SHARE * n_tx)
    n_pending = round(_PENDING_SHARE * n_tx)
    n_extra = n_closed + n_cancel + n_pending
    src = rng.integers(0, max(n_tx, 1), n_extra) if n_tx else np.zeros(0, dtype=np.int64)
    kind_extra = np.repeat(
        np.asarray([_K_CLOSED, _K_CANCELLED, _K_PENDING], dtype=np.int64),
        [n_closed, n_cancel, n_pending],
    )
    before = tx.secs[src] - rng.integers(600, 3 * _DAY, n_extra)
    after = tx.secs[src] + rng.integers(600, 3 * _DAY, n_extra)
    t_extra = np.where(before >= 0, before, np.minimum(after, end - 3600))
    t_extra = np.where(kind_extra == _K_PENDING, end - rng.integers(60, 36 * 3600, n_extra), t_extra)

    account = np.concatenate([acc.tx_account, acc.tx_account[src]])
    placed = np.concatenate([tx.secs, t_extra]).astype(np.int64)
    kind = np.concatenate([np.full(n_tx, _K_TX, dtype=np.int64), kind_extra])
    order = np.argsort(placed, kind="stable")
    account, placed, kind = account[order], placed[order], kind[order]
    n = len(placed)
    person = acc.person[account]
    shop = acc.shop[account]
    us = shop == SHOPIFY

    paying = (kind == _K_TX) | (kind == _K_CANCELLED)
    pay_delay = np.minimum(np.exp(rng.normal(4.2, 1.0, n)), 1800).astype(np.int64)
    paid = np.where(paying, np.minimum(placed + pay_delay, np.maximum(placed, end - 1)), _NA)
    ship_delay = np.where(us, rng.integers(12 * 3600, 96 * 3600, n), rng.integers(2 * 3600, 60 * 3600, n))
    transit = np.where(us, rng.integers(5 * _DAY, 15 * _DAY, n), rng.integers(_DAY, 5 * _DAY, n))
    confirm = np.where(us, 0, rng.integers(_DAY // 2, 8 * _DAY, n))
    is_tx = kind == _K_TX
    shipped = np.where(is_tx, paid + ship_delay, _NA)
    delivered = np.where(is_tx, shipped + transit, _NA)
    completed = np.where(is_tx, delivered + confirm, _NA)
    shipped = np.where(shipped < end, shipped, _NA)
    delivered = np.where((shipped != _NA) & (delivered < end), delivered, _NA)
    completed = np.where((delivered != _NA) & (completed < end), completed, _NA)
    closed_at = np.where(
        kind == _K_CLOSED,
        placed + rng.integers(60, 1800, n),
        np.where(kind == _K_CANCELLED, paid + rng.integers(600, 12 * 3600, n), _NA),
    )
    closed_at = np.where(closed_at == _NA, _NA, np.minimum(closed_at, end - 1))

    status = np.full(n, _PENDING, dtype=np.int64)
    status[kind == _K_CLOSED] = _CLOSED
    status[kind == _K_CANCELLED] = _CANCELLED
    status[is_tx] = _PAID
    status[is_tx & (shipped != _NA)] = _SHIPPED
    status[is_tx & (delivered != _NA)] = _DELIVERED
    status[is_tx & (completed != _NA)] = _COMPLETED

    z = np.maximum(1, np.rint(rng.gamma(GAMMA_GAMMA_TRUTH["p"], 1.0, n) / people.nu[person] * 100))
    z = z.astype(np.int64)
    has_coupon = rng.random(n) < _COUPON_SHARE
    coupon_cny = rng.integers(0, len(_COUPONS_CNY), n)
    coupon_usd = rng.integers(0, len(_COUPONS_USD), n)
    coupon = np.where(has_coupon, np.where(us, coupon_usd, coupon_cny), -1).astype(np.int64)
    face = np.where(
        us,
        np.asarray([c[1] for c in _COUPONS_USD])[coupon_usd],
        np.asarray([c[1] for c in _COUPONS_CNY])[coupon_cny],
    )
    cap = (z * 3 // 10) // 100 * 100
    coupon_value = np.where(has_coupon, np.maximum(100, np.minimum(face, cap)), 0).astype(np.int64)
    close_reason = np.where(
        kind == _K_CANCELLED,
        rng.integers(0, len(_CLOSE_REASONS_PAID), n),
        rng.integers(0, len(_CLOSE_REASONS_UNPAID), n),
    ).astype(np.int64)
    carrier = _choice(rng, _CARRIER_WEIGHTS, n)
    zeros = np.zeros(n, dtype=np.int64)
    return _Orders(
        n=n, account=account, person=person, shop=shop, kind=kind, placed=placed, paid=paid,
        shipped=shipped, delivered=delivered, completed=completed, closed_at=closed_at,
        status=status, z=z, coupon=coupon, coupon_value=coupon_value,
        close_reason=close_reason, carrier=carrier, line_start=zeros, n_lines=zeros,
        gross=zeros, discount=zeros, shipping=zeros, tax=zeros, total=zeros, updated=zeros,
    )  # fmt: skip


@dataclass
class _Lines:
    n: int
    order: I64  # sorted by order, then position
    sku: I64
    qty: I64
    price: I64
    total: I64


def _build_lines(rng: np.random.Generator, cat: _Catalog, people: _People, o: _Orders) -> _Lines:
    n_lines = 1 + _choice(rng, (0.66, 0.22, 0.08, 0.03, 0.01), o.n)
    line_order = np.repeat(np.arange(o.n, dtype=np.int64), n_lines)
    pos = _rank_in_group(n_lines)
    n = len(line_order)
    first_group = np.where(
        rng.random(o.n) < 0.7, people.fav_group[o.person], _choice(rng, cat.group_weights, o.n)
    )
    other_group = np.where(rng.random(n) < 0.6, first_group[line_order], _choice(rng, cat.group_weights, n))
    group = np.where(pos == 0, first_group[line_order], other_group).astype(np.int64)
    qty = 1 + _choice(rng, (0.85, 0.11, 0.04), n)
    share = rng.gamma(2.0, 1.0, n)
    share /= np.bincount(line_order, weights=share, minlength=o.n)[line_order]
    gross_target = (o.z + o.coupon_value)[line_order]
    target = np.maximum(1, np.ceil(gross_target * share / qty)).astype(np.int64)

    us = o.shop[line_order] == SHOPIFY
    sku = np.zeros(n, dtype=np.int64)
    sku[~us] = _pick(rng, cat.cny, cat.pop, group[~us], target[~us])
    sku[us] = _pick(rng, cat.usd, cat.pop, group[us], target[us])
    price = np.where(us, cat.price_usd[sku], cat.price_cny[sku]).astype(np.int64)
    qty = np.maximum(qty, -(-(qty * target) // price))

    # one line per SKU within an order (quantities merged into the first occurrence)
    first_of = np.arange(n, dtype=np.int64)
    for d in range(4, 0, -1):
        same = np.zeros(n, dtype=bool)
        same[d:] = (pos[d:] >= d) & (sku[d:] == sku[:-d])
        fresh = same & (first_of == np.arange(n))
        first_of[fresh] = np.flatnonzero(fresh) - d
    dup = first_of != np.arange(n)
    qty = qty.copy()
    np.add.at(qty, first_of[dup], qty[dup])
    keep = ~dup
    line_order, sku, qty, price = line_order[keep], sku[keep], qty[keep], price[keep]
    n = len(line_order)
    counts = np.bincount(line_order, minlength=o.n).astype(np.int64)
    line_start = _group_starts(counts)
    total = price * qty
    gross = np.add.reduceat(total, line_start) if n else np.zeros(o.n, dtype=np.int64)
    # safety net: the lines must cover value + coupon (they do by construction)
    deficit = o.z + o.coupon_value - gross
    fix = np.flatnonzero(deficit > 0)
    if len(fix):
        li = line_start[fix]
        qty[li] += -(-deficit[fix] // price[li])
        total = price * qty
        gross = np.add.reduceat(total, line_start)
    o.line_start = line_start
    o.n_lines = counts
    o.gross = gross.astype(np.int64)
    o.discount = (gross - o.z).astype(np.int64)

    us_o = o.shop == SHOPIFY
    ship_cny = np.asarray([0, 600, 800, 1000], dtype=np.int64)[_choice(rng, (0.5, 0.2, 0.15, 0.15), o.n)]
    ship_usd = np.asarray([0, 499, 799], dtype=np.int64)[_choice(rng, (0.3, 0.5, 0.2), o.n)]
    o.shipping = np.where(
        us_o, np.where(o.z >= 5000, 0, ship_usd), np.where(o.z >= 9900, 0, ship_cny)
    ).astype(np.int64)
    return _Lines(n=n, order=line_order, sku=sku, qty=qty, price=price, total=total)


@dataclass
class _Refunds:
    n: int
    order: I64  # sorted by requested time
    line: I64
    type: I64
    reason: I64
    amount: I64
    status: I64
    requested: I64
    completed: I64


def _build_refunds(rng: np.random.Generator, o: _Orders, lines: _Lines, days: int) -> _Refunds:
    end = days * _DAY
    eligible = np.flatnonzero((o.kind == _K_TX) & (o.delivered != _NA) & (o.delivered < end - 3600))
    k = min(round(_REFUND_SHARE * o.n), len(eligible))
    order = np.sort(rng.choice(eligible, size=k, replace=False)).astype(np.int64)
    rtype = _choice(rng, _REFUND_TYPE_WEIGHTS, k)
    line = o.line_start[order] + np.floor(rng.random(k) * o.n_lines[order]).astype(np.int64)
    net = lines.total[line] * o.z[order] // o.gross[order]  # the line's share of the value
    partial = np.maximum(1, np.floor(net * rng.uniform(0.1, 1.0, k))).astype(np.int64)
    full = rng.random(k) < 0.8
    amount = np.where(rtype == 1, np.where(full, net, partial), np.where(rtype == 0, partial, 0)).astype(
        np.int64
    )
    n_reasons = np.asarray([len(r) for r in _REFUND_REASONS], dtype=np.int64)
    reason = np.floor(rng.random(k) * n_reasons[rtype]).astype(np.int64)
    requested = o.delivered[order] + rng.integers(-_DAY // 2, 7 * _DAY, k)
    requested = np.maximum(requested, o.shipped[order] + 3600)
    late = requested >= end
    requested = np.where(
        late,
        o.delivered[order] + (rng.random(k) * (end - 1 - o.delivered[order])).astype(np.int64),
        requested,
    )
    completed = requested + rng.integers(_DAY // 5, 6 * _DAY, k)
    done = completed < end
    outcome = _choice(rng, (0.85, 0.10, 0.05), k)
    status = np.where(
        done,
        np.asarray([_R_COMPLETED, _R_REJECTED, _R_CANCELLED])[outcome],
        np.where(rng.random(k) < 0.5, _R_PENDING, _R_APPROVED),
    ).astype(np.int64)
    completed = np.where(done, completed, _NA)
    srt = np.lexsort((order, requested))
    return _Refunds(
        k, order[srt], line[srt], rtype[srt], reason[srt], amount[srt], status[srt],
        requested[srt].astype(np.int64), completed[srt].astype(np.int64),
    )  # fmt: skip


def _finish_orders(o: _Orders, r: _Refunds, tax_bp: I64, days: int) -> None:
    """Taxes (Shopify), totals, the ``refunded`` status and ``updated_at``."""
    end = days * _DAY
    o.tax = np.where(o.shop == SHOPIFY, (o.z * tax_bp + 5_000) // 10_000, 0).astype(np.int64)
    o.total = (o.z + o.shipping + o.tax).astype(np.int64)
    fully = (r.status == _R_COMPLETED) & (r.type <= 1) & (r.amount == o.z[r.order])
    o.status[r.order[fully]] = _REFUNDED
    upd = o.placed.copy()
    for col in (o.paid, o.shipped, o.delivered, o.completed, o.closed_at):
        upd = np.where(col != _NA, np.maximum(upd, col), upd)
    ref_time = np.where(r.completed != _NA, r.completed, r.requested)
    np.maximum.at(upd, r.order, ref_time)
    o.updated = np.minimum(upd, end - 1).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Identity text (names, phones, e-mails, addresses, external ids)
# --------------------------------------------------------------------------------------------


@dataclass
class _Geo:
    cn_province: tuple[str, ...]
    cn_city: tuple[str, ...]
    cn_district: tuple[str, ...]
    cn_weight: F64
    us_state: tuple[str, ...]
    us_city: tuple[str, ...]
    us_area: tuple[str, ...]
    us_tax: I64
    us_weight: F64


def _geo() -> _Geo:
    prov, city, dist, w = [], [], [], []
    for p, weight, cities in _PROVINCES:
        for c, districts in cities:
            for d in districts:
                prov.append(p)
                city.append(c)
                dist.append(d)
                w.append(weight / len(cities) / len(districts))
    st, uc, ua, tax, uw = [], [], [], [], []
    for code, _name, bp, weight, ucities in _US_STATES:
        for c, area in ucities:
            st.append(code)
            uc.append(c)
            ua.append(area)
            tax.append(bp)
            uw.append(weight / len(ucities))
    return _Geo(
        tuple(prov), tuple(city), tuple(dist), np.asarray(w), tuple(st), tuple(uc), tuple(ua),
        np.asarray(tax, dtype=np.int64), np.asarray(uw),
    )  # fmt: skip


@dataclass
class _Text:
    """Per-account identity strings (row i = account i) and per-account geo indices."""

    frame: pl.DataFrame
    region: I64  # CN district index or US city index
    masked: Mask  # Taobao shows a masked phone


def _build_text(
    rng: np.random.Generator, people: _People, acc: _Accounts, geo: _Geo, base: int, days: int
) -> _Text:
    n = people.n
    us = people.us
    female = people.gender == 1
    male = people.gender == 0
    # names
    sur = _choice(rng, 1.0 / (np.arange(len(_SURNAMES)) + 3.0), n)
    g_pool = np.where(female, 0, np.where(male, 1, 2))
    pools = (_GIVEN_FEMALE, _GIVEN_MALE, _GIVEN_FEMALE + _GIVEN_MALE)
    g1 = np.floor(rng.random(n) * np.asarray([len(p) for p in pools])[g_pool]).astype(np.int64)
    g2 = np.floor(rng.random(n) * np.asarray([len(p) for p in pools])[g_pool]).astype(np.int64)
    flat = "".join(pools)
    offs = np.asarray([0, len(pools[0]), len(pools[0]) + len(pools[1])], dtype=np.int64)[g_pool]
    two = rng.random(n) < 0.65
    chars = list(flat)
    en_first_f = rng.integers(0, len(_EN_FEMALE), n)
    en_first_m = rng.integers(0, len(_EN_MALE), n)
    en_first = np.where(female | (~male & (rng.random(n) < 0.5)), en_first_f, len(_EN_FEMALE) + en_first_m)
    en_last = rng.integers(0, len(_EN_LAST), n).astype(np.int64)
    first_names = list(_EN_FEMALE) + list(_EN_MALE)
    # phones (unique per person)
    cn_phone = np.asarray(_CN_MOBILE_PREFIXES, dtype=np.int64)[
        rng.integers(0, len(_CN_MOBILE_PREFIXES), n)
    ] * 100_000_000 + rng.integers(0, 100_000_000, n)
    cn_phone = _dedupe_phones(rng, cn_phone, ~us)
    region_cn = _choice(rng, geo.cn_weight, n)
    region_us = _choice(rng, geo.us_weight, n)
    region = np.where(us, region_us, region_cn).astype(np.int64)
    area = np.asarray([int(a) for a in geo.us_area], dtype=np.int64)[region_us]
    us_phone = area * 10_000_000 + rng.integers(2_000_000, 10_000_000, n)
    us_phone = _dedupe_phones(rng, us_phone, us)
    uniq = rng.permutation(n).astype(np.int64) + 10_000
    domain = rng.integers(0, 3, n)
    birthday_days = (
        (base // _DAY)
        + days // 2
        - np.clip(np.rint(rng.normal(33.0, 9.0, n) * 365.25), 18 * 365, 70 * 365).astype(np.int64)
        + rng.integers(0, 365, n)
    )
    has_birthday = rng.random(n) < 0.75
    street = rng.integers(0, len(_STREETS), n)
    number = rng.integers(1, 400, n)
    building = rng.random(n) < 0.6
    bld = rng.integers(1, 30, n)
    unit = rng.integers(1, 6, n)
    room = rng.integers(1, 33, n) * 100 + rng.integers(1, 5, n)
    us_street = rng.integers(0, len(_US_STREETS), n)
    us_suffix = rng.integers(0, len(_US_SUFFIX), n)
    tag_a = rng.integers(0, len(_CUSTOMER_TAGS), n)
    tag_b = rng.integers(0, len(_CUSTOMER_TAGS), n)
    n_tags = _choice(rng, (0.7, 0.2, 0.1), n)
    unionid = _rand_str(rng, n, 27, _OPENID_CHARS, b"o")

    cn_name_expr = pl.concat_str(
        [pl.col("sur"), pl.col("g1"), pl.when(pl.col("two")).then(pl.col("g2")).otherwise(pl.lit(""))]
    )
    person = pl.DataFrame(
        {
            "us": us,
            "sur": _lookup([s[0] for s in _SURNAMES], sur),
            "sur_py": _lookup([s[1] for s in _SURNAMES], sur),
            "g1": _lookup(chars, offs + g1),
            "g2": _lookup(chars, offs + g2),
            "two": two,
            "first": _lookup(first_names, en_first.astype(np.int64)),
            "last": _lookup(_EN_LAST, en_last),
            "gender": _lookup(("male", "female", "unknown"), people.gender),
            "bday": pl.Series(np.where(has_birthday, birthday_days, _NA)),
            "cn_phone": pl.Series(cn_phone).cast(pl.String),
            "us_phone": pl.Series(us_phone).cast(pl.String),
            "uniq": pl.Series(uniq).cast(pl.String),
            "domain": _lookup(("example.com", "example.net", "example.org"), domain),
            "province": _lookup(geo.cn_province, region_cn),
            "city": _lookup(geo.cn_city, region_cn),
            "district": _lookup(geo.cn_district, region_cn),
            "state": _lookup(geo.us_state, region_us),
            "us_city": _lookup(geo.us_city, region_us),
            "street": _lookup(_STREETS, street),
            "number": pl.Series(number).cast(pl.String),
            "building": building,
            "bld": pl.Series(bld).cast(pl.String),
            "unit": pl.Series(unit).cast(pl.String),
            "room": pl.Series(room).cast(pl.String),
            "us_street": _lookup(_US_STREETS, us_street),
            "us_suffix": _lookup(_US_SUFFIX, us_suffix),
            "tag_a": _lookup(_CUSTOMER_TAGS, tag_a),
            "tag_b": _lookup(_CUSTOMER_TAGS, tag_b),
            "n_tags": pl.Series(n_tags),
            "unionid": unionid,
        }
    ).select(
        name=pl.when(pl.col("us"))
        .then(pl.concat_str([pl.col("first"), pl.lit(" "), pl.col("last")]))
        .otherwise(cn_name_expr),
        gender=pl.col("gender"),
        birthday=pl.when(pl.col("bday") != _NA)
        .then(pl.from_epoch(pl.col("bday"), time_unit="d").dt.strftime("%Y-%m-%d"))
        .otherwise(pl.lit(None, dtype=pl.String)),
        phone=pl.when(pl.col("us"))
        .then(pl.concat_str([pl.lit("+1"), pl.col("us_phone")]))
        .otherwise(pl.col("cn_phone")),
        phone_masked=pl.concat_str(
            [pl.col("cn_phone").str.slice(0, 3), pl.lit("****"), pl.col("cn_phone").str.slice(7, 4)]
        ),
        email=pl.concat_str(
            [
                pl.when(pl.col("us"))
                .then(
                    pl.concat_str(
                        [pl.col("first").str.to_lowercase(), pl.lit("."), pl.col("last").str.to_lowercase()]
                    )
                )
                .otherwise(pl.col("sur_py")),
                pl.col("uniq"),
                pl.lit("@"),
                pl.col("domain"),
            ]
        ),
        unionid=pl.when(pl.col("us")).then(pl.lit(None, dtype=pl.String)).otherwise(pl.col("unionid")),
        country=pl.when(pl.col("us")).then(pl.lit("US")).otherwise(pl.lit("CN")),
        province=pl.when(pl.col("us")).then(pl.col("state")).otherwise(pl.col("province")),
        city=pl.when(pl.col("us")).then(pl.col("us_city")).otherwise(pl.col("city")),
        district=pl.when(pl.col("us")).then(pl.lit(None, dtype=pl.String)).otherwise(pl.col("district")),
        address=pl.when(pl.col("us"))
        .then(
            pl.concat_str(
                [pl.col("number"), pl.lit(" "), pl.col("us_street"), pl.lit(" "), pl.col("us_suffix")]
            )
        )
        .otherwise(
            pl.concat_str(
                [
                    pl.col("street"),
                    pl.col("number"),
                    pl.lit("号"),
                    pl.when(pl.col("building"))
                    .then(
                        pl.concat_str(
                            [
                                pl.col("bld"),
                                pl.lit("栋"),
                                pl.col("unit"),
                                pl.lit("单元"),
                                pl.col("room"),
                                pl.lit("室"),
                            ]
                        )
                    )
                    .otherwise(pl.lit("")),
                ]
            )
        ),
        tags=pl.when(pl.col("n_tags") == 0)
        .then(pl.lit(None, dtype=pl.String))
        .when((pl.col("n_tags") == 1) | (pl.col("tag_a") == pl.col("tag_b")))
        .then(pl.col("tag_a"))
        .otherwise(pl.concat_str([pl.col("tag_a"), pl.lit(";"), pl.col("tag_b")])),
    )

    # accounts: person text + shop-specific identity and field presence
    k = acc.n
    frame = person[pl.Series(acc.person)] if k else person.clear()
    shop = acc.shop
    cross_acc = np.zeros(k, dtype=bool)
    cross_acc[acc.person[n:]] = True  # primary accounts of cross-shop people
    cross_acc[n:] = True
    ext_seq = np.zeros(k, dtype=np.int64)
    for s in (SITE, WECHAT):
        members = np.flatnonzero(shop == s)
        ext_seq[members] = rng.permutation(len(members)) + 10_000_001
    nick_word = rng.integers(0, len(_NICK_WORDS), k)
    nick_tb = rng.random(k) < 0.5
    nick_num = rng.permutation(k).astype(np.int64) + 1_000_000
    openid = _rand_str(rng, k, 27, _OPENID_CHARS, b"o")
    anon = _rand_str(rng, k, _ANON_LEN, _BASE36)
    u = rng.random((k, 4))
    has_email = np.select(
        [shop == SITE, shop == WECHAT, shop == SHOPIFY],
        [u[:, 0] < 0.35, u[:, 0] < 0.05, u[:, 0] < 0.95],
        False,
    )
    has_phone = np.select(
        [shop == SITE, shop == WECHAT, shop == SHOPIFY],
        [u[:, 1] < 0.97, u[:, 1] < 0.80, ~has_email | (u[:, 1] < 0.5)],
        True,
    ) | (cross_acc & (shop != SHOPIFY))
    has_union = np.select([shop == SITE, shop == WECHAT], [u[:, 2] < 0.2, u[:, 2] < 0.85], False)
    has_name = np.select([shop == WECHAT], [u[:, 3] < 0.7], True)
    masked = (shop == TMALL) & (rng.random(k) < _TAOBAO_MASKED_SHARE)
    frame = frame.with_columns(
        shop_i=pl.Series(shop),
        ext_seq=pl.Series(ext_seq),
        nick_word=_lookup(_NICK_WORDS, nick_word),
        nick_tb=pl.Series(nick_tb),
        nick_num=pl.Series(nick_num),
        openid=openid,
        anon=anon,
        has_email=pl.Series(has_email),
        has_phone=pl.Series(has_phone),
        has_union=pl.Series(has_union),
        has_name=pl.Series(has_name),
        masked=pl.Series(masked),
    ).with_columns(
        email=pl.when(pl.col("has_email")).then(pl.col("email")),
        phone=pl.when(pl.col("has_phone")).then(pl.col("phone")),
        unionid=pl.when(pl.col("has_union")).then(pl.col("unionid")),
        name=pl.when(pl.col("has_name")).then(pl.col("name")),
        openid=pl.when(pl.col("shop_i") == WECHAT).then(pl.col("openid")),
        nick=pl.when(pl.col("nick_tb"))
        .then(pl.concat_str([pl.lit("tb"), pl.col("nick_num").cast(pl.String)]))
        .otherwise(pl.concat_str([pl.col("nick_word"), pl.col("nick_num").cast(pl.String)])),
        tb_phone=pl.when(pl.col("masked")).then(pl.col("phone_masked")).otherwise(pl.col("phone")),
    ).with_columns(
        ext=pl.when(pl.col("shop_i") == SITE)
        .then(pl.concat_str([pl.lit("S"), pl.col("ext_seq").cast(pl.String)]))
        .when(pl.col("shop_i") == WECHAT)
        .then(pl.concat_str([pl.lit("W"), pl.col("ext_seq").cast(pl.String)]))
        .when(pl.col("shop_i") == TMALL)
        .then(pl.col("nick"))
        .otherwise(pl.coalesce(pl.col("email"), pl.col("phone"))),
    )  # fmt: skip
    return _Text(frame=frame.rechunk(), region=region[acc.person], masked=masked)


def _dedupe_phones(rng: np.random.Generator, phones: I64, active: Mask) -> I64:
    """Make the phones of ``active`` people distinct (redraw the last 8 digits of clashes)."""
    phones = phones.copy()
    idx = np.flatnonzero(active)
    for _ in range(50):
        vals = phones[idx]
        _, first = np.unique(vals, return_index=True)
        dup = np.ones(len(idx), dtype=bool)
        dup[first] = False
        if not dup.any():
            break
        redo = idx[dup]
        phones[redo] = phones[redo] // 100_000_000 * 100_000_000 + rng.integers(0, 100_000_000, len(redo))
    return phones


# --------------------------------------------------------------------------------------------
# Faults and writing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fault:
    kind: str  # bad_date | unknown_currency | negative_quantity | missing_order_id
    column: str
    eligible: Mask | None = None
    suffix: str = ""  # appended to the bad dates (Shopify's UTC offset)


def _fault_count(n: int, rate: float) -> int:
    if n < 20:
        return 0
    return max(1, round(rate * n))


def _inject(
    rng: np.random.Generator,
    df: pl.DataFrame,
    faults: Sequence[_Fault],
    masked_column: str | None = None,
    masked: Mask | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Plant the faults (each on distinct rows, never on the same row twice), then duplicate a
    few clean rows right after themselves; return the frame and the file's fault table."""
    n = df.height
    used = np.zeros(n, dtype=bool)
    chosen: list[tuple[_Fault, I64]] = []
    for f in faults:
        ok = ~used if f.eligible is None else (~used & f.eligible)
        pool = np.flatnonzero(ok)
        k = min(_fault_count(n, _FAULT_RATE), len(pool))
        rows = np.sort(rng.choice(pool, size=k, replace=False)).astype(np.int64)
        used[rows] = True
        chosen.append((f, rows))
    columns: dict[str, pl.Series] = {}
    for f, rows in chosen:
        if len(rows) == 0:
            continue
        col = columns.get(f.column, df[f.column]).clone()
        if f.kind == "bad_date":
            values: list[str | None] = [
                _BAD_DATES[i] + (f.suffix if _BAD_DATES[i][0].isdigit() else "")
                for i in rng.integers(0, len(_BAD_DATES), len(rows)).tolist()
            ]
        elif f.kind == "unknown_currency":
            values = ["XYZ"] * len(rows)
        elif f.kind == "negative_quantity":
            values = [f"-{v}" for v in col.gather(pl.Series(rows)).to_list()]
        elif f.kind == "missing_order_id":
            values = [None] * len(rows)
        else:  # pragma: no cover - programming error
            raise ValueError(f.kind)
        col.scatter(pl.Series(rows), pl.Series(values, dtype=pl.String))
        columns[f.column] = col
    if columns:
        df = df.with_columns(list(columns.values()))
    n_dup = min(_fault_count(n, _DUPLICATE_RATE), int((~used).sum()))
    dups = np.sort(rng.choice(np.flatnonzero(~used), size=n_dup, replace=False)).astype(np.int64)
    reps = np.ones(n, dtype=np.int64)
    reps[dups] = 2
    final = np.repeat(np.arange(n, dtype=np.int64), reps)
    if n_dup:  # each duplicate right after its original (slices: no copy of the frame)
        pieces, prev = [], 0
        for d in dups.tolist():
            pieces += [df.slice(prev, d + 1 - prev), df.slice(d, 1)]
            prev = d + 1
        pieces.append(df.slice(prev))
        df = pl.concat(pieces, rechunk=False)

    def line_no(rows: I64) -> list[int]:
        shifted = rows + np.searchsorted(dups, rows, side="left")
        return [int(v) + 2 for v in shifted[:1000]]

    table: dict[str, Any] = {}
    dup_pos = dups + np.arange(n_dup, dtype=np.int64) + 1
    table["duplicate_row"] = {
        "column": None,
        "count": n_dup,
        "rows": [int(v) + 2 for v in dup_pos[:1000]],
    }
    for f, rows in chosen:
        table[f.kind] = {"column": f.column, "count": len(rows), "rows": line_no(rows)}
    if masked_column is not None and masked is not None:
        m_pos = np.flatnonzero(masked[final])
        table["masked_phone"] = {
            "column": masked_column,
            "count": len(m_pos),
            "rows": [int(v) + 2 for v in m_pos[:1000]],
        }
    errors = sum(len(rows) for _, rows in chosen)
    return df, {"rows": len(final), "error_rows": errors, "faults": table}


def _write_utf8(df: pl.DataFrame, path: Path) -> None:
    df.write_csv(path, line_terminator="\n")


def _write_gbk(df: pl.DataFrame, path: Path, chunk: int = 200_000) -> None:
    with path.open("wb") as fh:
        if df.height == 0:
            fh.write(df.write_csv(line_terminator="\r\n").encode("gbk"))
            return
        for off in range(0, df.height, chunk):
            text = df.slice(off, chunk).write_csv(include_header=off == 0, line_terminator="\r\n")
            fh.write(text.encode("gbk"))


# --------------------------------------------------------------------------------------------
# File builders
# --------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    clock: _Clock
    days: int
    cat: _Catalog
    people: _People
    acc: _Accounts
    text: _Text
    geo: _Geo
    o: _Orders
    lines: _Lines
    refunds: _Refunds
    order_id: pl.Series  # per order, as shown in its shop's files
    utc: I64  # per order placed_at on the UTC clock (seconds since the start)
    fault_rng: np.random.Generator
    tables: dict[str, dict[str, Any]]


def _products_frame(cat: _Catalog) -> pl.DataFrame:
    base = pl.DataFrame(
        {
            "sku": cat.sku,
            "title": cat.title,
            "title_en": cat.title_en,
            "category_path": cat.path,
            "brand": cat.brand,
            "price_minor": pl.Series(cat.price_cny),
            "currency": pl.Series(["CNY"] * cat.n, dtype=pl.String),
            "shop": pl.Series([None] * cat.n, dtype=pl.String),
        }
    )
    sold = np.flatnonzero(cat.price_usd > 0)
    us = base[pl.Series(sold)].with_columns(
        price_minor=pl.Series(cat.price_usd[sold]),
        currency=pl.lit("USD"),
        shop=pl.lit("shopify"),
    )
    both = pl.concat([base, us])
    return both.select(
        *NATIVE_PRODUCT_COLUMNS[:5],
        price=_money(pl.col("price_minor")),
        currency=pl.col("currency"),
        shop=pl.col("shop"),
    )


def _customers_frame(ctx: _Ctx, shop: int) -> pl.DataFrame:
    members = np.flatnonzero(ctx.acc.shop == shop)
    members = members[np.lexsort((members, ctx.acc.signup[members]))]
    t = ctx.text.frame[pl.Series(members)] if len(members) else ctx.text.frame.clear()
    end = ctx.days * _DAY
    signup = ctx.acc.signup[members]
    updated = signup + (ctx.fault_rng.random(len(members)) * (end - 1 - signup)).astype(np.int64)
    return t.with_columns(
        signup_s=pl.Series(signup, dtype=pl.Int64),
        updated_s=pl.Series(updated, dtype=pl.Int64),
    ).select(
        external_id=pl.col("ext"),
        shop=pl.lit(SHOPS[shop].code),
        name=pl.col("name"),
        gender=pl.col("gender"),
        birthday=pl.col("birthday"),
        phone=pl.col("phone"),
        email=pl.col("email"),
        wechat_unionid=pl.col("unionid"),
        wechat_openid=pl.col("openid"),
        wechat_appid=pl.when(pl.col("openid").is_not_null()).then(pl.lit(_WECHAT_APPID)),
        country=pl.col("country"),
        province=pl.col("province"),
        city=pl.col("city"),
        district=pl.col("district"),
        address=pl.col("address"),
        signup_at=ctx.clock.ts(pl.col("signup_s")),
        tags=pl.col("tags"),
        updated_at=ctx.clock.ts(pl.col("updated_s")),
    )


def _order_ids(o: _Orders, clock: _Clock, rng: np.random.Generator) -> pl.Series:
    """Order numbers per shop, increasing with time: native ``S``/``W`` + yymmdd + sequence,
    Taobao 19-digit numbers, Shopify ``#1001``..."""
    seq = np.zeros(o.n, dtype=np.int64)
    for s in range(len(SHOPS)):
        members = np.flatnonzero(o.shop == s)
        seq[members] = np.arange(len(members), dtype=np.int64)
    taobao = 3_600_000_000_000_000_000 + seq * 1_000_003 + rng.integers(0, 1_000_000, o.n)
    frame = pl.DataFrame(
        {
            "shop": pl.Series(o.shop, dtype=pl.Int64),
            "seq": pl.Series(seq + 1, dtype=pl.Int64),
            "tb": pl.Series(taobao, dtype=pl.Int64),
            "placed": pl.Series(o.placed, dtype=pl.Int64),
        }
    )
    day = pl.lit(clock.yymmdd).gather(pl.col("placed") // _DAY + clock.pad)
    return frame.select(
        pl.when(pl.col("shop") == TMALL)
        .then(pl.col("tb").cast(pl.String))
        .when(pl.col("shop") == SHOPIFY)
        .then(pl.concat_str([pl.lit("#"), (pl.col("seq") + 1000).cast(pl.String)]))
        .otherwise(
            pl.concat_str(
                [
                    pl.when(pl.col("shop") == SITE).then(pl.lit("S")).otherwise(pl.lit("W")),
                    day,
                    pl.col("seq").cast(pl.String).str.zfill(7),
                ]
            )
        )
        .alias("order_id")
    ).to_series()


def _tracking(rng: np.random.Generator, carrier: I64) -> pl.Series:
    n = len(carrier)
    digits = _strs(rng.integers(0, 10**12, n, dtype=np.int64), 12)
    prefix = _lookup([c[1] for c in _CARRIERS], carrier)
    return pl.select(pl.concat_str([pl.lit(prefix), pl.lit(digits)])).to_series()


def _order_frame(ctx: _Ctx, idx: I64, rng: np.random.Generator) -> pl.DataFrame:
    """Order-level columns (strings) for the orders ``idx``."""
    o = ctx.o
    acc = o.account[idx]
    t = ctx.text.frame[pl.Series(acc)] if len(idx) else ctx.text.frame.clear()
    shipped = o.shipped[idx] != _NA
    return t.select(
        "ext", "name", "phone", "email", "province", "city", "district", "address", "nick",
        "tb_phone",
    ).with_columns(
        order_id=ctx.order_id.gather(pl.Series(idx)),
        status_i=pl.Series(o.status[idx]),
        placed_s=pl.Series(o.placed[idx]),
        paid_s=pl.Series(o.paid[idx]),
        shipped_s=pl.Series(o.shipped[idx]),
        delivered_s=pl.Series(o.delivered[idx]),
        updated_s=pl.Series(o.updated[idx]),
        gross_m=pl.Series(o.gross[idx]),
        shipping_m=pl.Series(o.shipping[idx]),
        discount_m=pl.Series(o.discount[idx]),
        tax_m=pl.Series(o.tax[idx]),
        total_m=pl.Series(o.total[idx]),
        kind=pl.Series(o.kind[idx]),
        coupon_i=pl.Series(o.coupon[idx]),
        carrier_i=pl.Series(o.carrier[idx]),
        tracking=_tracking(rng, o.carrier[idx]),
        has_ship=pl.Series(shipped),
        close_i=pl.Series(o.close_reason[idx]),
    )  # fmt: skip


def _native_orders(ctx: _Ctx, shop: int) -> pl.DataFrame:
    o, ln = ctx.o, ctx.lines
    idx = np.flatnonzero(o.shop == shop)  # already in time order
    of = _order_frame(ctx, idx, ctx.fault_rng)
    coupons = [c[0] for c in _COUPONS_CNY]
    of = of.select(
        order_id=pl.col("order_id"),
        shop=pl.lit(SHOPS[shop].code),
        customer_external_id=pl.col("ext"),
        customer_name=pl.col("name"),
        phone=pl.col("phone"),
        email=pl.col("email"),
        status=pl.lit(pl.Series(list(_STATUS_NATIVE))).gather(pl.col("status_i")),
        currency=pl.lit(SHOPS[shop].currency),
        placed_at=ctx.clock.ts(pl.col("placed_s")),
        paid_at=ctx.clock.ts(pl.col("paid_s")),
        shipped_at=ctx.clock.ts(pl.col("shipped_s")),
        delivered_at=ctx.clock.ts(pl.col("delivered_s")),
        shipping=_money(pl.col("shipping_m")),
        discount=_money(pl.col("discount_m")),
        coupon_code=pl.when(pl.col("coupon_i") >= 0).then(
            pl.lit(pl.Series(coupons)).gather(pl.col("coupon_i").clip(0, None))
        ),
        order_total=_money(pl.col("total_m")),
        province=pl.col("province"),
        city=pl.col("city"),
        district=pl.col("district"),
        address=pl.col("address"),
        carrier=pl.when(pl.col("has_ship")).then(
            pl.lit(pl.Series([c[0] for c in _CARRIERS])).gather(pl.col("carrier_i"))
        ),
        tracking_no=pl.when(pl.col("has_ship")).then(pl.col("tracking")),
        updated_at=ctx.clock.ts(pl.col("updated_s")),
    )
    local = np.full(o.n, -1, dtype=np.int64)
    local[idx] = np.arange(len(idx), dtype=np.int64)
    lidx = np.flatnonzero(local[ln.order] >= 0)
    pos = _rank_in_group(o.n_lines[idx]) + 1
    sku = pl.Series(ln.sku[lidx], dtype=pl.Int64)
    return (
        of[pl.Series(local[ln.order[lidx]], dtype=pl.Int64)]
        .with_columns(
            pos=pl.Series(pos, dtype=pl.Int64),
            sku=ctx.cat.sku.gather(sku),
            title=ctx.cat.title.gather(sku),
            quantity=pl.Series(ln.qty[lidx], dtype=pl.Int64).cast(pl.String),
            unit_price=_money_series(ln.price[lidx]),
            line_total=_money_series(ln.total[lidx]),
        )
        .with_columns(line_id=pl.concat_str([pl.col("order_id"), pl.lit("-"), pl.col("pos").cast(pl.String)]))
        .select(NATIVE_ORDER_COLUMNS)
    )


def _masked(values: pl.Series, mask: Mask) -> pl.Series:
    """``values`` where ``mask``, else null."""
    return pl.select(pl.when(pl.lit(pl.Series(mask, dtype=pl.Boolean))).then(pl.lit(values))).to_series()


def _money_series(values: I64) -> pl.Series:
    return pl.select(_money(pl.lit(pl.Series(values, dtype=pl.Int64)))).to_series()


def _excel_id(col: str) -> pl.Expr:
    """Half of the Taobao ids are written the way Excel escapes long numbers: ``="3612…"``."""
    return (
        pl.when(pl.col("esc"))
        .then(pl.concat_str([pl.lit('="'), pl.col(col), pl.lit('"')]))
        .otherwise(pl.col(col))
    )


def _taobao(ctx: _Ctx, escape: Mask) -> tuple[pl.DataFrame, pl.DataFrame, Mask]:
    o, ln, cat = ctx.o, ctx.lines, ctx.cat
    idx = np.flatnonzero(o.shop == TMALL)
    of = _order_frame(ctx, idx, ctx.fault_rng)
    n_lines = o.n_lines[idx]
    parts: dict[str, pl.Series] = {}
    for j in range(5):  # 宝贝标题: the titles of the order's items joined with "，"
        has = n_lines > j
        li = np.where(has, o.line_start[idx] + j, 0)
        parts[f"t{j}"] = _masked(cat.title.gather(pl.Series(ln.sku[li], dtype=pl.Int64)), has)
    qty_sum = np.bincount(ln.order, weights=ln.qty, minlength=o.n).astype(np.int64)[idx]
    carriers = [c[0] for c in _CARRIERS]
    orders = of.with_columns(
        esc=pl.Series(escape[idx], dtype=pl.Boolean),
        paid_flag=pl.Series(o.paid[idx] != _NA, dtype=pl.Boolean),
        qty_sum=pl.Series(qty_sum, dtype=pl.Int64),
        **parts,
    ).select(
        _excel_id("order_id").alias("订单编号"),
        pl.col("nick").alias("买家会员名"),
        _money(pl.col("gross_m")).alias("买家应付货款"),
        _money(pl.col("shipping_m")).alias("买家应付邮费"),
        _money(pl.col("gross_m") + pl.col("shipping_m")).alias("总金额"),
        _money(pl.when(pl.col("paid_flag")).then(pl.col("total_m")).otherwise(0)).alias("买家实际支付金额"),
        _take(_STATUS_TAOBAO, "status_i").alias("订单状态"),
        pl.col("name").alias("收货人姓名"),
        pl.concat_str(
            [pl.col("province"), pl.col("city"), pl.col("district"), pl.col("address")],
            separator=" ",
        ).alias("收货地址"),
        pl.col("tb_phone").alias("联系手机"),
        ctx.clock.ts(pl.col("placed_s")).alias("订单创建时间"),
        ctx.clock.ts(pl.col("paid_s")).alias("订单付款时间"),
        pl.concat_str([pl.col(f"t{j}") for j in range(5)], separator="，", ignore_nulls=True).alias(
            "宝贝标题"
        ),
        pl.col("qty_sum").cast(pl.String).alias("宝贝总数量"),
        pl.when(pl.col("has_ship")).then(_take(carriers, "carrier_i")).alias("物流公司"),
        pl.when(pl.col("has_ship")).then(pl.col("tracking")).alias("物流单号"),
        pl.lit(SHOPS[TMALL].name_zh).alias("店铺名称"),
        pl.when(pl.col("kind") == _K_CLOSED)
        .then(_take(_CLOSE_REASONS_UNPAID, "close_i"))
        .when(pl.col("kind") == _K_CANCELLED)
        .then(_take(_CLOSE_REASONS_PAID, "close_i"))
        .alias("订单关闭原因"),
    )
    masked = ctx.text.masked[o.account[idx]]
    lidx = np.flatnonzero(o.shop[ln.order] == TMALL)
    lo = ln.order[lidx]
    sku = pl.Series(ln.sku[lidx], dtype=pl.Int64)
    line_no = lidx - o.line_start[lo] + 1
    items = pl.DataFrame(
        {
            "order_id": ctx.order_id.gather(pl.Series(lo, dtype=pl.Int64)),
            "line_no": pl.Series(line_no, dtype=pl.Int64),
            "esc": pl.Series(escape[lo], dtype=pl.Boolean),
            "title": cat.title.gather(sku),
            "price": _money_series(ln.price[lidx]),
            "qty": pl.Series(ln.qty[lidx], dtype=pl.Int64).cast(pl.String),
            "sku": cat.sku.gather(sku),
            "attrs": cat.attrs.gather(sku),
            "status_i": pl.Series(o.status[lo], dtype=pl.Int64),
        }
    ).select(
        _excel_id("order_id").alias("订单编号"),
        pl.col("title").alias("标题"),
        pl.col("price").alias("价格"),
        pl.col("qty").alias("购买数量"),
        pl.concat_str([pl.col("order_id"), pl.lit("-"), pl.col("line_no").cast(pl.String)]).alias(
            "外部系统编号"
        ),
        pl.col("sku").alias("商家编码"),
        pl.col("attrs").alias("商品属性"),
        _take(_STATUS_TAOBAO, "status_i").alias("订单状态"),
    )
    return orders, items, masked


def _refund_frames(ctx: _Ctx, escape: Mask) -> tuple[pl.DataFrame, pl.DataFrame]:
    o, r, ln, cat = ctx.o, ctx.refunds, ctx.lines, ctx.cat
    shop = o.shop[r.order]
    reasons = [x for group in _REFUND_REASONS for x in group]
    offsets = np.cumsum([0, *[len(g) for g in _REFUND_REASONS]])[:-1].astype(np.int64)
    reason_flat = offsets[r.type] + r.reason

    def frame(sel: I64) -> pl.DataFrame:
        sku = pl.Series(ln.sku[r.line[sel]], dtype=pl.Int64)
        return pl.DataFrame(
            {
                "order_id": ctx.order_id.gather(pl.Series(r.order[sel], dtype=pl.Int64)),
                "shop_i": pl.Series(shop[sel], dtype=pl.Int64),
                "sku": cat.sku.gather(sku),
                "title": cat.title.gather(sku),
                "type_i": pl.Series(r.type[sel], dtype=pl.Int64),
                "reason_i": pl.Series(reason_flat[sel], dtype=pl.Int64),
                "amount": _money_series(r.amount[sel]),
                "status_i": pl.Series(r.status[sel], dtype=pl.Int64),
                "req": pl.Series(r.requested[sel], dtype=pl.Int64),
                "done": pl.Series(r.completed[sel], dtype=pl.Int64),
                "esc": pl.Series(escape[r.order[sel]], dtype=pl.Boolean),
                "nick": ctx.text.frame["nick"].gather(pl.Series(o.account[r.order[sel]], dtype=pl.Int64)),
            }
        )

    native = np.flatnonzero((shop == SITE) | (shop == WECHAT))
    nat = (
        frame(native)
        .with_row_index("seq", offset=1)
        .select(
            refund_id=pl.concat_str([pl.lit("RF"), pl.col("seq").cast(pl.String).str.zfill(9)]),
            order_id=pl.col("order_id"),
            shop=_take([s.code for s in SHOPS], "shop_i"),
            sku=pl.col("sku"),
            type=_take(_REFUND_TYPES, "type_i"),
            reason=_take(reasons, "reason_i"),
            amount=pl.col("amount"),
            currency=pl.lit("CNY"),
            status=_take(_REFUND_STATUS, "status_i"),
            requested_at=ctx.clock.ts(pl.col("req")),
            completed_at=ctx.clock.ts(pl.col("done")),
        )
    )
    tb = np.flatnonzero(shop == TMALL)
    refund_no = (
        2_100_000_000_000_000_000
        + np.arange(len(tb), dtype=np.int64) * 1_009
        + ctx.fault_rng.integers(0, 1_000, len(tb))
    )
    tbf = (
        frame(tb)
        .with_columns(refund_no=pl.Series(refund_no, dtype=pl.Int64).cast(pl.String))
        .select(
            _excel_id("order_id").alias("订单编号"),
            _excel_id("refund_no").alias("退款编号"),
            ctx.clock.ts(pl.col("done")).alias("退款完结时间"),
            pl.col("amount").alias("买家退款金额"),
            pl.col("sku").alias("商家编码"),
            pl.col("title").alias("宝贝标题"),
            pl.col("nick").alias("买家会员名称"),
            _take(_REFUND_STATUS_ZH, "status_i").alias("退款状态"),
            _take(reasons, "reason_i").alias("退款原因"),
            _take(_REFUND_TYPES_ZH, "type_i").alias("售后类型"),
        )
    )
    return nat, tbf


_SHOPIFY_EVERY_ROW: Final = frozenset({"Name", "Email", "Created at"})


def _shopify(ctx: _Ctx) -> pl.DataFrame:
    o, ln, r, cat = ctx.o, ctx.lines, ctx.refunds, ctx.cat
    idx = np.flatnonzero(o.shop == SHOPIFY)
    of = _order_frame(ctx, idx, ctx.fault_rng)
    refunded = np.zeros(o.n, dtype=np.int64)
    money_back = (r.status == _R_COMPLETED) & (r.type <= 1)
    np.add.at(refunded, r.order[money_back], r.amount[money_back])
    fin = np.select(
        [o.kind[idx] == _K_PENDING, o.kind[idx] != _K_TX, refunded[idx] == 0, refunded[idx] >= o.z[idx]],
        [0, 1, 2, 3],
        4,
    ).astype(np.int64)
    clock = ctx.clock
    utc = ctx.utc[idx]
    created_l, created_d = clock.ny_local(utc)
    paid_l, paid_d = clock.ny_local(np.where(o.paid[idx] != _NA, utc + (o.paid[idx] - o.placed[idx]), _NA))
    ship_l, ship_d = clock.ny_local(
        np.where(o.shipped[idx] != _NA, utc + (o.shipped[idx] - o.placed[idx]), _NA)
    )
    shopify_id = (
        5_600_000_000_000 + np.arange(len(idx), dtype=np.int64) * 10 + ctx.fault_rng.integers(0, 10, len(idx))
    )
    financial = ("pending", "voided", "paid", "refunded", "partially_refunded")
    order_cols = {
        "Name": pl.col("order_id"),
        "Email": pl.col("email"),
        "Financial Status": _take(financial, "fin"),
        "Paid at": clock.shopify_ts(pl.col("paid_l"), pl.col("paid_d")),
        "Fulfillment Status": pl.when(pl.col("has_ship"))
        .then(pl.lit("fulfilled"))
        .otherwise(pl.lit("unfulfilled")),
        "Fulfilled at": clock.shopify_ts(pl.col("ship_l"), pl.col("ship_d")),
        "Currency": pl.lit("USD"),
        "Subtotal": _money(pl.col("gross_m") - pl.col("discount_m")),
        "Shipping": _money(pl.col("shipping_m")),
        "Taxes": _money(pl.col("tax_m")),
        "Total": _money(pl.col("total_m")),
        "Discount Code": pl.when(pl.col("coupon_i") >= 0).then(
            _take([c[0] for c in _COUPONS_USD], "coupon_i")
        ),
        "Discount Amount": _money(pl.col("discount_m")),
        "Created at": clock.shopify_ts(pl.col("created_l"), pl.col("created_d")),
        "Billing Name": pl.col("name"),
        "Billing Phone": pl.col("phone"),
        "Billing City": pl.col("city"),
        "Billing Province": pl.col("province"),
        "Billing Country": pl.lit("US"),
        "Phone": pl.col("phone"),
        "Id": pl.col("shopify_id").cast(pl.String),
        "Refunded Amount": _money(pl.col("refunded")),
    }
    of = of.with_columns(
        fin=pl.Series(fin, dtype=pl.Int64),
        refunded=pl.Series(refunded[idx], dtype=pl.Int64),
        created_l=pl.Series(created_l, dtype=pl.Int64),
        created_d=pl.Series(created_d, dtype=pl.Int64),
        paid_l=pl.Series(paid_l, dtype=pl.Int64),
        paid_d=pl.Series(paid_d, dtype=pl.Int64),
        ship_l=pl.Series(ship_l, dtype=pl.Int64),
        ship_d=pl.Series(ship_d, dtype=pl.Int64),
        shopify_id=pl.Series(shopify_id, dtype=pl.Int64),
    ).select(**order_cols)
    local = np.full(o.n, -1, dtype=np.int64)
    local[idx] = np.arange(len(idx), dtype=np.int64)
    lidx = np.flatnonzero(local[ln.order] >= 0)
    first = _rank_in_group(o.n_lines[idx]) == 0
    sku = pl.Series(ln.sku[lidx], dtype=pl.Int64)
    rows = of[pl.Series(local[ln.order[lidx]], dtype=pl.Int64)]
    return (
        rows.with_columns(first=pl.Series(first, dtype=pl.Boolean))
        .with_columns(
            [
                pl.when(pl.col("first")).then(pl.col(c)).alias(c)
                for c in order_cols
                if c not in _SHOPIFY_EVERY_ROW
            ]
        )
        .with_columns(
            pl.Series("Lineitem quantity", ln.qty[lidx], dtype=pl.Int64).cast(pl.String),
            cat.title_en.gather(sku).alias("Lineitem name"),
            _money_series(ln.price[lidx]).alias("Lineitem price"),
            cat.sku.gather(sku).alias("Lineitem sku"),
        )
        .select(SHOPIFY_ORDER_COLUMNS)
    )


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


@dataclass
class _Events:
    """Tracking events sorted by time, as indices into the writer's lookup tables."""

    n: int
    local: I64  # seconds since the start on the shop's clock
    utc: I64  # seconds since the start on the UTC clock
    etype: npt.NDArray[np.int8]
    shop: npt.NDArray[np.int8]
    cust: I64  # row of the customer id table (acc.n = null)
    anon: I64  # row of the anonymous id table (accounts, then anonymous visitors)
    v1: I64  # first property value (see _write_events)
    v2: npt.NDArray[np.int16]  # second property value
    n_visitors: int


_V2_TABLE: Final = ("", "CNY", "USD", *[str(i) for i in range(1, 101)])


def _build_events(ctx: _Ctx, rng: np.random.Generator, events_per_order: float) -> _Events:
    """Sessions before each order on the own shops (views and searches, add to cart, checkout,
    order), browsing by prospects, and anonymous visitors; sorted by time."""
    o, ln, acc, cat = ctx.o, ctx.lines, ctx.acc, ctx.cat
    end = ctx.days * _DAY
    n_leaf = len(cat.leaf_zh)
    popular = _Sampler(cat.pop)
    web = np.flatnonzero(o.shop != TMALL)  # Taobao does not hand its clickstream to shops
    nw = len(web)
    web_pos = np.full(o.n, -1, dtype=np.int64)
    web_pos[web] = np.arange(nw, dtype=np.int64)

    # sessions that end in an order: the k-th event from the end is k steps before the order
    m = 1 + np.minimum(rng.poisson(events_per_order - 1.0, nw), 15).astype(np.int64)
    ev_order = np.repeat(web, m)
    from_end = np.repeat(m - 1, m) - _rank_in_group(m)
    n1 = len(ev_order)
    step = np.repeat(rng.integers(30, 180, nw), m)
    local1 = np.maximum(o.placed[ev_order] - from_end * step - rng.integers(0, 15, n1), 0)
    lut = np.asarray([_EV_ORDER, _EV_CHECKOUT, _EV_CART, _EV_VIEW], dtype=np.int8)
    type1 = lut[np.minimum(from_end, 3)]
    type1[(from_end >= 3) & (rng.random(n1) < 0.2)] = _EV_SEARCH
    line1 = o.line_start[ev_order] + from_end % o.n_lines[ev_order]
    sku1 = np.where((type1 == _EV_CART) | (rng.random(n1) < 0.5), ln.sku[line1], popular(rng, n1))
    vis1 = (type1 >= _EV_CART) | (rng.random(n1) < 0.7)
    acct1 = o.account[ev_order]
    qty1 = np.where(type1 == _EV_CART, np.minimum(ln.qty[line1], 100), 1)
    opos1 = web_pos[ev_order]
    del line1, step, from_end

    # browsing without an order: prospects (registered) and anonymous visitors
    pros = np.flatnonzero(ctx.people.prospect[acc.person])
    sessions = rng.poisson(1.5, len(pros)).astype(np.int64)
    n_visitors = round(0.1 * ctx.people.n)
    s_acc = np.concatenate([np.repeat(pros, sessions), -1 - np.arange(n_visitors, dtype=np.int64)])
    ns = len(s_acc)
    known = s_acc >= 0
    s_shop = np.where(known, acc.shop[np.maximum(s_acc, 0)], _choice(rng, (0.0, 0.4, 0.4, 0.2), ns)).astype(
        np.int8
    )
    lo = np.clip(np.where(known, acc.signup[np.maximum(s_acc, 0)], 0), 0, end - 3600)
    s_time = lo + (rng.random(ns) * (end - 3600 - lo)).astype(np.int64)
    s_len = 1 + rng.poisson(1.5, ns).astype(np.int64)
    ev_sess = np.repeat(np.arange(ns, dtype=np.int64), s_len)
    n2 = len(ev_sess)
    local2 = np.minimum(s_time[ev_sess] + _rank_in_group(s_len) * rng.integers(20, 240, n2), end - 1)
    acct2 = s_acc[ev_sess]
    u = rng.random(n2)
    type2 = np.where(u < 0.75, _EV_VIEW, _EV_SEARCH).astype(np.int8)
    type2[(u >= 0.9) & (acct2 >= 0)] = _EV_CART
    vis2 = (acct2 >= 0) & (rng.random(n2) < 0.7)

    shop = np.concatenate([o.shop[ev_order].astype(np.int8), s_shop[ev_sess]])
    etype = np.concatenate([type1, type2])
    account = np.concatenate([acct1, acct2])
    sku = np.concatenate([sku1, popular(rng, n2)])
    opos = np.concatenate([opos1, np.zeros(n2, dtype=np.int64)])
    us = shop == SHOPIFY
    # v1: sku | search query | order value | order id + value (see _write_events)
    off_q = cat.n
    off_val = off_q + 2 * n_leaf
    off_oid = off_val + nw
    v1 = np.select(
        [etype == _EV_SEARCH, etype == _EV_CHECKOUT, etype == _EV_ORDER],
        [off_q + cat.leaf[sku] + np.where(us, n_leaf, 0), off_val + opos, off_oid + opos],
        sku,
    )
    # v2: "" | CNY | USD | quantity
    v2 = np.where(etype >= _EV_CHECKOUT, np.where(us, 2, 1), 0).astype(np.int16)
    cart = np.flatnonzero(etype == _EV_CART)
    v2[cart] = 2 + np.concatenate([qty1, np.ones(n2, dtype=np.int64)])[cart]
    del sku, opos
    visible = np.concatenate([vis1, vis2])
    cust = np.where(visible & (account >= 0), account, acc.n)
    anon = np.where(account >= 0, account, acc.n - 1 - account)
    del visible
    local = np.concatenate([local1, local2]).astype(np.int64)
    utc = local - 8 * 3600
    utc[us] = ctx.clock.ny_local_to_utc(local[us])
    srt = np.argsort(utc, kind="stable")
    return _Events(
        n=len(srt),
        local=local[srt],
        utc=utc[srt],
        etype=etype[srt],
        shop=shop[srt],
        cust=cust[srt],
        anon=anon[srt],
        v1=v1[srt],
        v2=v2[srt],
        n_visitors=n_visitors,
    )


def _write_events(ctx: _Ctx, ev: _Events, path: Path, rng: np.random.Generator, rep: _Reporter) -> None:
    """One JSON object per line, assembled from lookup tables by polars (no json.dumps)."""
    o, cat = ctx.o, ctx.cat
    web = np.flatnonzero(o.shop != TMALL)
    oval = _money_series(o.total[web])
    oid = ctx.order_id.gather(pl.Series(web, dtype=pl.Int64))
    v1_table = pl.concat(
        [
            cat.sku,
            pl.Series(list(cat.leaf_zh), dtype=pl.String),
            pl.Series(list(cat.leaf_en), dtype=pl.String),
            oval,
            pl.select(pl.concat_str([pl.lit(oid), pl.lit('","value":"'), pl.lit(oval)])).to_series(),
        ],
        rechunk=True,
    )
    # constant pieces merged into small lookup tables: fewer parts to concatenate per line
    p1 = ['{"sku":"', '{"query":"', '{"sku":"', '{"value":"', '{"order_id":"']
    p2 = ['"}', '"}', '","quantity":', '","currency":"', '","currency":"']
    p3 = ["", "", "}", '"}', '"}']
    head = pl.Series([f'","type":"{t}","occurred_at":"' for t in _EVENT_TYPES], dtype=pl.String)
    zone_shop = pl.Series(
        [
            f'{z}","shop":"{s.code}","customer_external_id":'
            for z in ("+08:00", "-05:00", "-04:00")
            for s in SHOPS
        ],
        dtype=pl.String,
    )
    props = pl.Series([f'","properties":{p}' for p in p1], dtype=pl.String)
    tail = pl.Series([f"{p2[t]}{v}{p3[t]}}}" for t in range(len(p1)) for v in _V2_TABLE], dtype=pl.String)
    cust_table = pl.concat(
        [
            pl.select(pl.concat_str([pl.lit('"'), pl.lit(ctx.text.frame["ext"]), pl.lit('"')])).to_series(),
            pl.Series(["null"], dtype=pl.String),
        ],
        rechunk=True,
    ).fill_null("null")
    anon_table = pl.concat(
        [ctx.text.frame["anon"], _rand_str(rng, ev.n_visitors, _ANON_LEN, _BASE36)], rechunk=True
    )
    shown = ev.local.copy()
    zone = np.zeros(ev.n, dtype=np.int64)
    us_rows = np.flatnonzero(ev.shop == SHOPIFY)
    shown[us_rows], ny_dst = ctx.clock.ny_local(ev.utc[us_rows])
    zone[us_rows] = 1 + ny_dst
    day = shown // _DAY + ctx.clock.pad
    sec = shown % _DAY
    zs = zone * len(SHOPS) + ev.shop
    tv = ev.etype.astype(np.int64) * len(_V2_TABLE) + ev.v2
    del shown, zone
    dates = ctx.clock.dates
    hms = _hms_table("T")
    chunk = 1_000_000
    with path.open("wb") as fh:
        for off in range(0, max(ev.n, 1), chunk):
            sl = slice(off, min(ev.n, off + chunk))
            f = pl.DataFrame(
                {
                    "seq": pl.Series(np.arange(sl.start + 1, sl.stop + 1, dtype=np.int64)),
                    "t": pl.Series(ev.etype[sl], dtype=pl.Int8),
                    "day": pl.Series(day[sl], dtype=pl.Int64),
                    "sec": pl.Series(sec[sl], dtype=pl.Int64),
                    "zs": pl.Series(zs[sl], dtype=pl.Int64),
                    "cust": pl.Series(ev.cust[sl], dtype=pl.Int64),
                    "anon": pl.Series(ev.anon[sl], dtype=pl.Int64),
                    "v1": pl.Series(ev.v1[sl], dtype=pl.Int64),
                    "tv": pl.Series(tv[sl], dtype=pl.Int64),
                }
            )
            out = f.select(
                pl.concat_str(
                    [
                        pl.lit('{"event_id":"ev'),
                        (pl.col("seq") + 100_000_000_000).cast(pl.String),
                        _take(head, "t"),
                        _take(dates, "day"),
                        _take(hms, "sec"),
                        _take(zone_shop, "zs"),
                        _take(cust_table, "cust"),
                        pl.lit(',"anonymous_id":"'),
                        _take(anon_table, "anon"),
                        _take(props, "t"),
                        _take(v1_table, "v1"),
                        _take(tail, "tv"),
                    ]
                ).alias("line")
            )
            out.write_csv(fh, include_header=False, quote_style="never", line_terminator="\n")
            rep("events.jsonl", 0.85 + 0.14 * sl.stop / max(ev.n, 1))


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

_IMPORT_ORDER: Final = (
    "products.csv",
    "customers_site.csv",
    "customers_wechat.csv",
    "orders_site.csv",
    "orders_wechat.csv",
    "taobao_orders.csv",
    "shopify_orders.csv",
    "taobao_items.csv",
    "refunds_site.csv",
    "taobao_refunds.csv",
    "events.jsonl",
)

_TRANSACTION_STATUSES: Final = {
    "patron": ["paid", "shipped", "delivered", "completed", "refunded"],
    "taobao": ["买家已付款，等待卖家发货", "卖家已发货，等待买家确认", "交易成功"],
    "shopify_financial": ["paid", "refunded", "partially_refunded"],
}


def generate(
    out_dir: Path,
    customers: int = 20_000,
    seed: int = 7,
    start: date = date(2024, 11, 1),
    days: int = 730,
    progress: ProgressFn | None = None,
    *,
    events_per_order: float = 5.0,
) -> Manifest:
    """Write the demo shop to ``out_dir`` and return its manifest (also ``manifest.json``).

    ``customers`` people (about 10% prospects who never order), ``days`` days of history from
    ``start``; ``events_per_order`` is the mean number of tracking events of a session that
    ends in an order on the own shops (about three events per order overall, as Taobao orders
    have none). ``progress(stage, fraction)`` is called as the work advances. The same
    arguments always give the same bytes.
    """
    if customers < 100:
        raise ValueError("customers must be at least 100")
    if days < 30:
        raise ValueError("days must be at least 30")
    if not 1.0 <= events_per_order <= 50.0:
        raise ValueError("events_per_order must be between 1 and 50")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = _Reporter(progress)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(11)]
    clock = _Clock(start, days)

    rep("catalog", 0.0)
    cat = _build_catalog(rngs[0], _n_products(customers))
    rep("customers", 0.02)
    people = _build_people(rngs[1], customers, start, days, cat.group_weights)
    tx = _simulate_purchases(rngs[2], people, days)
    acc = _build_accounts(rngs[3], people, tx, days)
    rep("orders", 0.08)
    o = _build_orders(rngs[4], people, acc, tx, days)
    lines = _build_lines(rngs[5], cat, people, o)
    refunds = _build_refunds(rngs[6], o, lines, days)
    rep("identities", 0.2)
    geo = _geo()
    text = _build_text(rngs[7], people, acc, geo, clock.base, days)
    region = text.region[o.account]
    tax_bp = np.where(o.shop == SHOPIFY, geo.us_tax[np.minimum(region, len(geo.us_tax) - 1)], 0)
    _finish_orders(o, refunds, tax_bp.astype(np.int64), days)
    order_id = _order_ids(o, clock, rngs[8])
    utc = o.placed - 8 * 3600
    shopify_orders = o.shop == SHOPIFY
    utc[shopify_orders] = clock.ny_local_to_utc(o.placed[shopify_orders])
    ctx = _Ctx(
        clock=clock, days=days, cat=cat, people=people, acc=acc, text=text, geo=geo,
        o=o, lines=lines, refunds=refunds, order_id=order_id, utc=utc, fault_rng=rngs[9],
        tables={},
    )  # fmt: skip
    frng = rngs[9]
    files: dict[str, DataFile] = {}

    def emit(
        name: str,
        df: pl.DataFrame,
        kind: str,
        mapping: str,
        shop: str | None,
        faults: Sequence[_Fault] | None,
        masked: tuple[str, Mask] | None = None,
    ) -> None:
        if faults is None:
            table: dict[str, Any] = {"rows": df.height, "error_rows": 0, "faults": {}}
        else:
            df, table = _inject(frng, df, faults, *(masked if masked is not None else (None, None)))
        if tuple(df.columns) != HEADERS[name]:  # pragma: no cover - programming error
            raise RuntimeError(f"{name}: unexpected columns {df.columns}")
        encoding = "gbk" if mapping.startswith("taobao") else "utf-8"
        if encoding == "gbk":
            _write_gbk(df, out / name)
        else:
            _write_utf8(df, out / name)
        ctx.tables[name] = table
        files[name] = DataFile(name, kind, mapping, shop, encoding)

    rep("products.csv", 0.25)
    emit("products.csv", _products_frame(cat), "products", "patron", None, None)
    for shop in (SITE, WECHAT):
        code = SHOPS[shop].code
        rep(f"customers_{code}.csv", 0.3)
        emit(
            f"customers_{code}.csv", _customers_frame(ctx, shop), "customers", "patron", code,
            [_Fault("bad_date", "signup_at")],
        )  # fmt: skip
    native_lines: dict[str, int] = {}
    for shop in (SITE, WECHAT):
        code = SHOPS[shop].code
        rep(f"orders_{code}.csv", 0.35 + 0.1 * (shop - SITE))
        df = _native_orders(ctx, shop)
        native_lines[f"orders_{code}.csv"] = df.height
        emit(
            f"orders_{code}.csv", df, "orders", "patron", code,
            [
                _Fault("bad_date", "placed_at"),
                _Fault("unknown_currency", "currency"),
                _Fault("negative_quantity", "quantity"),
                _Fault("missing_order_id", "order_id"),
            ],
        )  # fmt: skip
        del df
    rep("taobao_orders.csv", 0.55)
    escape = frng.random(o.n) < 0.5  # Excel-escaped Taobao ids, per order
    tb_orders, tb_items, masked = _taobao(ctx, escape)
    emit(
        "taobao_orders.csv", tb_orders, "orders", "taobao_orders", "tmall",
        [
            _Fault("bad_date", "订单创建时间"),
            _Fault("negative_quantity", "宝贝总数量"),
            _Fault("missing_order_id", "订单编号"),
        ],
        ("联系手机", masked),
    )  # fmt: skip
    del tb_orders
    rep("shopify_orders.csv", 0.65)
    emit(
        "shopify_orders.csv", _shopify(ctx), "orders", "shopify_orders", "shopify",
        [
            _Fault("bad_date", "Created at", suffix=" -0500"),
            _Fault("negative_quantity", "Lineitem quantity"),
            _Fault("missing_order_id", "Name"),
        ],
    )  # fmt: skip
    rep("taobao_items.csv", 0.7)
    emit(
        "taobao_items.csv", tb_items, "order_items", "taobao_items", "tmall",
        [_Fault("negative_quantity", "购买数量"), _Fault("missing_order_id", "订单编号")],
    )  # fmt: skip
    del tb_items
    rep("refunds", 0.78)
    nat_ref, tb_ref = _refund_frames(ctx, escape)
    emit(
        "refunds_site.csv", nat_ref, "refunds", "patron", None,
        [
            _Fault("bad_date", "requested_at"),
            _Fault("unknown_currency", "currency"),
            _Fault("missing_order_id", "order_id"),
        ],
    )  # fmt: skip
    done = tb_ref["退款完结时间"].is_not_null().to_numpy()
    emit(
        "taobao_refunds.csv", tb_ref, "refunds", "taobao_refunds", "tmall",
        [_Fault("bad_date", "退款完结时间", eligible=done), _Fault("missing_order_id", "订单编号")],
    )  # fmt: skip
    del nat_ref, tb_ref
    rep("events.jsonl", 0.82)
    ev = _build_events(ctx, rngs[10], events_per_order)
    _write_events(ctx, ev, out / "events.jsonl", rngs[10], rep)
    ctx.tables["events.jsonl"] = {"rows": ev.n, "error_rows": 0, "faults": {}}
    files["events.jsonl"] = DataFile("events.jsonl", "events", "patron", None, "utf-8")

    manifest = Manifest(
        shops=SHOPS,
        files=tuple(files[name] for name in _IMPORT_ORDER),
        seed=seed,
        customers=customers,
        start=start,
        days=days,
    )
    truth = _truth(
        ctx, manifest, tx, native_lines, ctx.tables["products.csv"]["rows"], ev.n, events_per_order
    )
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    rep("done", 1.0)
    return manifest


def _per_shop(values: I64) -> dict[str, int]:
    counts = np.bincount(values, minlength=len(SHOPS))
    return {s.code: int(counts[i]) for i, s in enumerate(SHOPS)}


def _truth(
    ctx: _Ctx,
    manifest: Manifest,
    tx: _Tx,
    native_lines: dict[str, int],
    product_rows: int,
    n_events: int,
    events_per_order: float,
) -> dict[str, Any]:
    o, acc, people, r, ln = ctx.o, ctx.acc, ctx.people, ctx.refunds, ctx.lines
    n = people.n
    cross = acc.cross_people
    second = n + np.arange(len(cross), dtype=np.int64)
    linkable = int((~ctx.text.masked[cross] & ~ctx.text.masked[second]).sum())
    is_tx = o.kind == _K_TX
    line_shop = o.shop[ln.order]
    return {
        "version": FORMAT_VERSION,
        "seed": manifest.seed,
        "customers": manifest.customers,
        "start": manifest.start.isoformat(),
        "days": manifest.days,
        "end": manifest.end.isoformat(),
        "bgnbd": {
            **BGNBD_TRUTH,
            "time_unit": "days",
            "population": "people with at least one transaction, all their shops merged",
            "transactions": "paid orders (see transaction_statuses); the first is the customer's "
            "birth, later ones are repeat purchases; times keep their local day",
        },
        "gamma_gamma": {
            **GAMMA_GAMMA_TRUTH,
            "gamma": dict(_GG_GAMMA),
            "value": "merchandise value after discounts, excluding shipping and taxes, in major "
            "units of the shop currency: order_total - shipping (native), 买家实际支付金额 - "
            "买家应付邮费 (Taobao), Subtotal (Shopify)",
        },
        "acquisition": {
            "uniform_share": 0.8,
            "campaign_share": 0.2,
            "campaign_days": [
                (manifest.start + timedelta(days=int(d))).isoformat()
                for d in _campaign_offsets(manifest.start, manifest.days)
            ],
        },
        "transaction_statuses": _TRANSACTION_STATUSES,
        "events_per_order": events_per_order,
        "counts": {
            "customers": n,
            "prospects": int(people.prospect.sum()),
            "buyers": int((tx.count > 0).sum()),
            "cross_shop_customers": len(cross),
            "cross_shop_phone_linkable": linkable,
            "accounts": _per_shop(acc.shop),
            "orders": _per_shop(o.shop),
            "transactions": _per_shop(o.shop[is_tx]),
            "transactions_total": int(is_tx.sum()),
            "transactions_per_customer": round(float(is_tx.sum()) / n, 4),
            "order_lines": {
                **native_lines,
                "taobao_items.csv": int((line_shop == TMALL).sum()),
                "shopify_orders.csv": int((line_shop == SHOPIFY).sum()),
            },
            "refunds": _per_shop(o.shop[r.order]),
            "products": ctx.cat.n,
            "product_rows": product_rows,
            "events": n_events,
        },
        "files": {name: ctx.tables[name] for name in _IMPORT_ORDER},
    }
