"""Transforms several platform mappings share."""

from __future__ import annotations

import re
from collections.abc import Callable

Row = dict[str, object]

# Taobao ends 收货地址 with the postcode: "...文三路100号(310000)" ("000000" when unknown).
_POSTCODE = re.compile(r"\s*[(（]\s*[0-9]{6}\s*[)）]\s*$")


def split_cn_address(row: Row) -> Row:
    """'浙江省 杭州市 西湖区 文三路 100号(310000)' -> province, city, district, street (the first
    three space-separated parts are the administrative units; the rest is the street address,
    without the trailing postcode)."""
    full = row.get("address")
    if isinstance(full, str):
        full = _POSTCODE.sub("", full)
        row["address"] = full or None
    if isinstance(full, str) and not row.get("province"):
        parts = full.replace("\u3000", " ").split()
        if len(parts) >= 3:
            row["province"], row["city"], row["district"] = parts[0], parts[1], parts[2]
            row["address"] = " ".join(parts[3:]) or None
    return row


def line_key_by_sku() -> Callable[[Row], Row]:
    """Exports without line ids: key lines "<sku>#<n>" in file order within each order."""
    counts: dict[tuple[object, object], int] = {}
    last_order: list[object] = [None]

    def fix(row: Row) -> Row:
        order = row.get("order_id")
        if order != last_order[0]:
            counts.clear()
            last_order[0] = order
        if not row.get("line_id"):
            sku = row.get("sku") or row.get("title") or ""
            n = counts.get((order, sku), 0) + 1
            counts[(order, sku)] = n
            row["line_id"] = f"{sku}#{n}"
        return row

    return fix
