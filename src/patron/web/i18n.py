"""UI text in English and Simplified Chinese.

A plain catalogue rather than gettext: two languages, a few hundred strings, no compile step,
and a test asserts that both languages have exactly the same keys.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")

MESSAGES: dict[str, dict[str, str]] = {
    "app.name": {"en": "Patron", "zh": "Patron 客户关系平台"},
    "nav.dashboard": {"en": "Overview", "zh": "概览"},
    "nav.customers": {"en": "Customers", "zh": "客户"},
    "nav.imports": {"en": "Imports", "zh": "数据导入"},
    "nav.logout": {"en": "Log out", "zh": "退出登录"},
    "nav.language": {"en": "中文", "zh": "English"},
    "login.title": {"en": "Log in", "zh": "登录"},
    "login.email": {"en": "Email", "zh": "邮箱"},
    "login.password": {"en": "Password", "zh": "密码"},
    "login.submit": {"en": "Log in", "zh": "登录"},
    "login.failed": {"en": "Wrong email or password.", "zh": "邮箱或密码错误。"},
    "dash.title": {"en": "Overview", "zh": "概览"},
    "dash.customers": {"en": "Customers", "zh": "客户数"},
    "dash.imports": {"en": "Imports", "zh": "导入次数"},
    "dash.quarantined": {"en": "Rows in quarantine", "zh": "隔离行数"},
    "dash.search_hint": {
        "en": "Name, phone, email, id or any identity",
        "zh": "姓名、手机号、邮箱、ID 或任意身份标识",
    },
    "cust.title": {"en": "Customers", "zh": "客户"},
    "cust.search": {"en": "Search", "zh": "搜索"},
    "cust.tag": {"en": "Tag", "zh": "标签"},
    "cust.min_orders": {"en": "Min. orders", "zh": "最少订单数"},
    "cust.min_spent": {"en": "Min. spend", "zh": "最低消费金额"},
    "cust.signup_from": {"en": "Signed up from", "zh": "注册起始日期"},
    "cust.signup_to": {"en": "Signed up before", "zh": "注册截止日期"},
    "cust.shop": {"en": "Shop", "zh": "店铺"},
    "cust.any_shop": {"en": "Any shop", "zh": "全部店铺"},
    "cust.filter": {"en": "Filter", "zh": "筛选"},
    "cust.found": {"en": "{n} customers", "zh": "共 {n} 位客户"},
    "cust.none": {"en": "No customer matches.", "zh": "没有符合条件的客户。"},
    "col.id": {"en": "ID", "zh": "ID"},
    "col.name": {"en": "Name", "zh": "姓名"},
    "col.phone": {"en": "Phone", "zh": "手机号"},
    "col.email": {"en": "Email", "zh": "邮箱"},
    "col.city": {"en": "City", "zh": "城市"},
    "col.orders": {"en": "Orders", "zh": "订单数"},
    "col.spent": {"en": "Spent", "zh": "消费金额"},
    "col.last_order": {"en": "Last order", "zh": "最近下单"},
    "col.signup": {"en": "Signed up", "zh": "注册时间"},
    "col.shop": {"en": "Shop", "zh": "店铺"},
    "col.status": {"en": "Status", "zh": "状态"},
    "col.total": {"en": "Total", "zh": "金额"},
    "col.placed": {"en": "Placed", "zh": "下单时间"},
    "col.items": {"en": "Items", "zh": "商品"},
    "col.type": {"en": "Type", "zh": "类型"},
    "col.reason": {"en": "Reason", "zh": "原因"},
    "col.amount": {"en": "Amount", "zh": "金额"},
    "col.when": {"en": "When", "zh": "时间"},
    "col.what": {"en": "What", "zh": "事件"},
    "col.detail": {"en": "Detail", "zh": "详情"},
    "col.kind": {"en": "Kind", "zh": "类型"},
    "col.value": {"en": "Value", "zh": "值"},
    "col.row": {"en": "Row", "zh": "行号"},
    "col.column": {"en": "Column", "zh": "列"},
    "col.code": {"en": "Error code", "zh": "错误代码"},
    "col.message": {"en": "Problem", "zh": "问题"},
    "col.file": {"en": "File", "zh": "文件"},
    "col.rows": {"en": "Rows", "zh": "行数"},
    "col.inserted": {"en": "Inserted", "zh": "新增"},
    "col.updated": {"en": "Updated", "zh": "更新"},
    "col.unchanged": {"en": "Unchanged", "zh": "未变化"},
    "col.quarantined": {"en": "Quarantined", "zh": "隔离"},
    "col.started": {"en": "Started", "zh": "开始时间"},
    "c360.profile": {"en": "Profile", "zh": "基本信息"},
    "c360.gender": {"en": "Gender", "zh": "性别"},
    "c360.birthday": {"en": "Birthday", "zh": "生日"},
    "c360.address": {"en": "Address", "zh": "地址"},
    "c360.source_shop": {"en": "Source shop", "zh": "来源店铺"},
    "c360.identities": {"en": "Identities", "zh": "身份标识"},
    "c360.tags": {"en": "Tags", "zh": "标签"},
    "c360.orders": {"en": "Orders", "zh": "订单"},
    "c360.refunds": {"en": "Refunds and returns", "zh": "退款与退货"},
    "c360.events": {"en": "Recent activity", "zh": "最近行为"},
    "c360.timeline": {"en": "Timeline", "zh": "时间线"},
    "c360.merges": {"en": "Merges", "zh": "合并记录"},
    "c360.undo_merge": {"en": "Undo merge", "zh": "撤销合并"},
    "c360.masked": {
        "en": "Phone and email are masked for your role.",
        "zh": "根据您的角色，手机号和邮箱已脱敏显示。",
    },
    "c360.no_orders": {"en": "No orders yet.", "zh": "暂无订单。"},
    "c360.none": {"en": "None.", "zh": "无。"},
    "c360.strong": {"en": "merge key", "zh": "合并键"},
    "c360.weak": {"en": "display only", "zh": "仅展示"},
    "c360.custom": {"en": "Custom fields", "zh": "自定义字段"},
    "c360.undone": {"en": "undone", "zh": "已撤销"},
    "identity.phone": {"en": "Phone", "zh": "手机号"},
    "identity.email": {"en": "Email", "zh": "邮箱"},
    "identity.wechat_unionid": {"en": "WeChat UnionID", "zh": "微信 UnionID"},
    "identity.wechat_openid": {"en": "WeChat OpenID", "zh": "微信 OpenID"},
    "identity.wecom_external_userid": {"en": "WeCom contact", "zh": "企业微信客户"},
    "identity.buyer_nick": {"en": "Buyer nickname", "zh": "买家昵称"},
    "identity.oaid": {"en": "OAID", "zh": "OAID"},
    "identity.external_id": {"en": "Shop customer ID", "zh": "店铺客户 ID"},
    "identity.masked_phone": {"en": "Masked phone", "zh": "脱敏手机号"},
    "order.status.pending": {"en": "pending", "zh": "待付款"},
    "order.status.paid": {"en": "paid", "zh": "已付款"},
    "order.status.shipped": {"en": "shipped", "zh": "已发货"},
    "order.status.delivered": {"en": "delivered", "zh": "已签收"},
    "order.status.completed": {"en": "completed", "zh": "已完成"},
    "order.status.cancelled": {"en": "cancelled", "zh": "已取消"},
    "order.status.closed": {"en": "closed", "zh": "已关闭"},
    "order.status.refunded": {"en": "refunded", "zh": "已退款"},
    "refund.type.refund_only": {"en": "refund only", "zh": "仅退款"},
    "refund.type.return_refund": {"en": "return and refund", "zh": "退货退款"},
    "refund.type.exchange": {"en": "exchange", "zh": "换货"},
    "refund.type.reship": {"en": "reship", "zh": "补寄"},
    "refund.status.requested": {"en": "requested", "zh": "已申请"},
    "refund.status.approved": {"en": "approved", "zh": "已同意"},
    "refund.status.rejected": {"en": "rejected", "zh": "已拒绝"},
    "refund.status.completed": {"en": "completed", "zh": "已完成"},
    "refund.status.cancelled": {"en": "cancelled", "zh": "已取消"},
    "timeline.signup": {"en": "signed up", "zh": "注册"},
    "timeline.order": {"en": "order", "zh": "下单"},
    "timeline.delivered": {"en": "delivered", "zh": "签收"},
    "timeline.refund": {"en": "refund", "zh": "售后"},
    "timeline.event": {"en": "event", "zh": "行为"},
    "timeline.merge": {"en": "merge", "zh": "合并"},
    "gender.male": {"en": "Male", "zh": "男"},
    "gender.female": {"en": "Female", "zh": "女"},
    "gender.unknown": {"en": "Unknown", "zh": "未知"},
    "imp.title": {"en": "Imports", "zh": "数据导入"},
    "imp.upload": {"en": "Import a file", "zh": "导入文件"},
    "imp.kind": {"en": "What the file holds", "zh": "文件内容"},
    "imp.mapping": {"en": "Format (column mapping)", "zh": "格式（列映射）"},
    "imp.default_mapping": {"en": "Patron native format", "zh": "Patron 标准格式"},
    "imp.shop": {"en": "Shop", "zh": "店铺"},
    "imp.policy": {"en": "Bad rows", "zh": "错误行处理"},
    "imp.policy.keep": {
        "en": "Import good rows, quarantine bad ones",
        "zh": "导入正确行，隔离错误行",
    },
    "imp.policy.reject": {"en": "Reject the whole file", "zh": "整个文件拒绝导入"},
    "imp.dry_run": {"en": "Dry run: check only, write nothing", "zh": "试运行：仅检查，不写入"},
    "imp.file": {
        "en": "File (CSV, XLSX, JSON lines, Parquet)",
        "zh": "文件（CSV、XLSX、JSON lines、Parquet）",
    },
    "imp.submit": {"en": "Import", "zh": "开始导入"},
    "imp.history": {"en": "History", "zh": "导入历史"},
    "imp.none": {"en": "Nothing imported yet.", "zh": "尚未导入任何数据。"},
    "imp.run": {"en": "Import #{id}", "zh": "导入 #{id}"},
    "imp.quarantine": {"en": "Quarantine", "zh": "隔离区"},
    "imp.quarantine_hint": {
        "en": "Fix these rows in your file and import it again: good rows are not duplicated.",
        "zh": "请在文件中修正这些行后重新导入：已导入的正确行不会重复。",
    },
    "imp.progress": {"en": "Progress", "zh": "进度"},
    "imp.encoding": {"en": "Encoding", "zh": "编码"},
    "imp.format": {"en": "Format", "zh": "格式"},
    "imp.dry_result": {
        "en": "Dry run result: nothing was written",
        "zh": "试运行结果：未写入任何数据",
    },
    "imp.errors_by_code": {"en": "Errors by code", "zh": "按错误代码统计"},
    "imp.resumed": {
        "en": "Resumed after row {row} of import #{run}",
        "zh": "从导入 #{run} 的第 {row} 行之后继续",
    },
    "status.running": {"en": "running", "zh": "进行中"},
    "status.completed": {"en": "completed", "zh": "已完成"},
    "status.rejected": {"en": "rejected", "zh": "已拒绝"},
    "status.failed": {"en": "failed", "zh": "失败"},
    "status.dry_run": {"en": "dry run", "zh": "试运行"},
    "kind.orders": {"en": "Orders", "zh": "订单"},
    "kind.order_items": {"en": "Order items", "zh": "订单商品明细"},
    "kind.customers": {"en": "Customers", "zh": "客户"},
    "kind.products": {"en": "Products", "zh": "商品"},
    "kind.refunds": {"en": "Refunds", "zh": "退款"},
    "kind.events": {"en": "Events", "zh": "行为事件"},
    "page.prev": {"en": "Previous", "zh": "上一页"},
    "page.next": {"en": "Next", "zh": "下一页"},
    "page.of": {"en": "Page {page} of {pages}", "zh": "第 {page} 页，共 {pages} 页"},
    "error.title": {"en": "Something is not right", "zh": "出现问题"},
    "error.back": {"en": "Back", "zh": "返回"},
}


def translate(key: str, lang: str, **values: object) -> str:
    entry = MESSAGES.get(key)
    text = key if entry is None else entry.get(lang) or entry["en"]
    return text.format(**values) if values else text


def label(group: str, value: str | None, lang: str) -> str:
    """The translation of an enumerated value (``label("order.status", "paid", "zh")``), or
    the value itself when the catalogue has no entry for it (a new status, a custom kind)."""
    if value is None:
        return ""
    entry = MESSAGES.get(f"{group}.{value}")
    return value if entry is None else entry.get(lang) or entry["en"]


def pick_language(cookie: str | None, accept: str | None, user_locale: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    if user_locale in LANGUAGES:
        return user_locale
    if accept and accept.lower().startswith("zh"):
        return "zh"
    return "en"
