"""Every UI string exists in English and Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from patron.web.i18n import LANGUAGES, MESSAGES, pick_language, translate

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "patron" / "web" / "templates"


def test_both_languages_everywhere() -> None:
    missing = [
        key for key, texts in MESSAGES.items() if set(texts) != set(LANGUAGES) or not all(texts.values())
    ]
    assert missing == []


def test_every_key_used_in_templates_exists() -> None:
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"(?<![\w.])t\('([a-z0-9_.]+)'\s*[,)]", path.read_text()))
    assert sorted(k for k in used if k not in MESSAGES) == []


def test_translate_and_pick() -> None:
    assert translate("cust.found", "zh", n=3) == "共 3 位客户"
    assert translate("cust.found", "en", n=3) == "3 customers"
    assert translate("no.such.key", "zh") == "no.such.key"
    assert pick_language("zh", None, "en") == "zh"
    assert pick_language(None, "zh-CN,zh;q=0.9", None) == "zh"
    assert pick_language("xx", "fr", None) == "en"
