"""Inbound email and attachments: a raw RFC 822 message becomes a ticket or a message on one.

**Parsing** uses the standard library only. Headers are decoded here rather than by the email
package, so that RFC 2047 words split in the middle of a multi-byte character, mislabelled
Chinese charsets (``gb2312`` text holding GBK characters) and raw 8-bit headers still read
right: a declared charset is tried first (``gb2312``/``gbk`` read as their superset GB18030,
``iso-2022-jp`` with its extensions, Latin-1 as Windows-1252), then UTF-8, then GB18030. The
body is the ``text/plain`` part, else the ``text/html`` part turned into text (tags stripped,
line breaks kept, quoted blocks dropped); the quoted reply history is removed so that a reply
adds only what is new: lines starting with ``>`` and, where the history is not quoted,
everything from a reply header on ("On … wrote:", "在 … 写道：", "-----Original Message-----",
"------ 原始邮件 ------", an Outlook "From:/Sent:" or "发件人:/发送时间:" block).

**Threading**, in this order:

1. the Message-ID was received before → nothing is stored, the ticket is answered with
   ``duplicate=True``. A gateway may deliver twice, also at the same moment: on PostgreSQL the
   unique ``ticket_messages.email_message_id`` decides and the loser's savepoint is rolled
   back; on SQLite the delivery takes the write lock before looking, so the second waits and
   finds the first. A message without a Message-ID gets one derived from its sender, date,
   subject and body;
2. ``In-Reply-To`` / ``References`` name a stored message (a customer's or, once replies go out
   by email, an agent's) → a message on that ticket;
3. ``[T-000042]`` in the subject → a message on that ticket, **only if the sender is the
   ticket's requester or an address of its customer**: ticket numbers are sequential, and
   anyone could otherwise write into anyone's ticket;
4. otherwise a new ticket (channel ``email``; the customer is found by the sender's address).

A merged ticket is followed to the one it was merged into. A closed ticket (or a reference from
another sender) gives a new ticket whose history names the old reference (``follow_up_of``; a
closed ticket's own history gets ``followed_up``).

**Automatic mail** (``Auto-Submitted``, ``Precedence: bulk|junk|auto_reply``, ``X-Autoreply``,
delivery reports, ``mailer-daemon``/``postmaster``) never opens a ticket nor reopens one: on a
thread it is kept as an internal note (an agent should see an out-of-office or a bounce), else it
is ignored. Without this, an auto-reply answering an acknowledgement would loop.

**Attachments** (:data:`MAX_ATTACHMENT_BYTES` each, :data:`MAX_MESSAGE_ATTACHMENT_BYTES` per
message, the types of :data:`ALLOWED_TYPES`) are checked against their content: images, PDF,
MP4 and Office files by their magic bytes (an ``.exe`` renamed ``.jpg`` is refused; a PNG named
``.jpg`` is kept as the PNG it is), text by having no binary signature and no NUL bytes. A
refused attachment does not refuse the email: the message is stored and the refusal is a line
of the ticket's history (``attachment_refused``).
"""

from __future__ import annotations

import codecs
import contextlib
import email
import email.header
import email.policy
import email.utils
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, InvalidInput, NotFound, PatronError
from patron.core.parsing import FieldError, normalize_email
from patron.core.time import utcnow
from patron.customers import service as customers
from patron.desk import repository as repo
from patron.desk import service
from patron.desk.service import DeskConfig, NewTicket
from patron.models import Ticket, TicketAttachment, TicketChannel, TicketEvent, TicketMessage, TicketStatus

#: The largest raw email accepted (the API refuses a larger body with 413). Base64 makes an
#: attachment a third larger on the wire, so about 22 MB of attachments fit in one email.
MAX_EMAIL_BYTES = 30 * 1024 * 1024
#: The largest single attachment (decoded), by email or upload.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: The most attachments one email may add, together (decoded); those beyond are refused.
MAX_MESSAGE_ATTACHMENT_BYTES = 25 * 1024 * 1024
#: A longer body is cut (with a marker): a ticket is not a log store.
MAX_BODY_CHARS = 100_000
#: Who the history names for what arrives by email.
ACTOR = "email"
NO_TEXT = "(no text)"
NO_SUBJECT = "(no subject)"

JPEG, PNG, GIF, WEBP, HEIC = "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic"
PDF, TEXT, CSV, MP4 = "application/pdf", "text/plain", "text/csv", "video/mp4"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMAGES = frozenset({JPEG, PNG, GIF, WEBP, HEIC})
#: What may be attached, with the file name extensions each may carry (the first is added to a
#: name that has none of them). No archives, no executables, no macro-enabled Office files.
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {
    JPEG: (".jpg", ".jpeg", ".jfif"),
    PNG: (".png",),
    GIF: (".gif",),
    WEBP: (".webp",),
    HEIC: (".heic", ".heif"),
    PDF: (".pdf",),
    TEXT: (".txt", ".log", ".text"),
    CSV: (".csv",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    MP4: (".mp4", ".m4v"),
}
_EXTENSION_TYPES = {ext: kind for kind, exts in ALLOWED_TYPES.items() for ext in exts}
_TYPE_ALIASES = {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/x-png": PNG,
    "image/heif": HEIC,
    "application/x-pdf": PDF,
    "text/comma-separated-values": CSV,
    "application/csv": CSV,
}
# Types that say nothing about the file: the name's extension (or the content) decides.
_GENERIC_TYPES = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/x-download",
     "application/force-download", "application/unknown"}
)  # fmt: skip


# -- what the caller gets ------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """An attachment not stored, and why (``code`` is the error code an upload would get)."""

    filename: str
    content_type: str
    size: int
    code: str
    detail: str


@dataclass
class InboundResult:
    ticket: Ticket | None
    message: TicketMessage | None = None
    created: bool = False  # a new ticket
    threaded: bool = False  # a message on an existing ticket
    duplicate: bool = False  # received before: nothing stored this time
    ignored: str | None = None  # automatic mail on no thread: why nothing was stored
    automatic: str | None = None  # automatic mail kept as an internal note on its thread
    follows_up: str | None = None  # the closed (or foreign) ticket a new ticket follows
    attachments: list[TicketAttachment] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def reference(self) -> str | None:
        return service.reference(self.ticket) if self.ticket is not None else None


@dataclass(frozen=True)
class MailPart:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class ParsedEmail:
    sender_email: str | None
    sender_name: str | None
    subject: str
    message_id: str
    in_reply_to: list[str]
    references: list[str]
    sent_at: datetime | None
    body: str  # the new text only (quoted history removed)
    full_body: str  # the whole text
    attachments: list[MailPart]
    automatic: str | None  # why this looks machine-sent (None: a person wrote it)

    @property
    def replies_to(self) -> list[str]:
        """Message-IDs this answers, the most likely first (In-Reply-To, then References from
        the newest; at most 20)."""
        out: list[str] = []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in out:
                out.append(mid)
        return out[:20]

    @property
    def ticket_ids(self) -> list[int]:
        """Ticket references in the subject (``[T-000042]``), in order."""
        return [int(d) for d in _SUBJECT_REF.findall(self.subject)]


# -- decoding --------------------------------------------------------------------------------------

# Labels mail clients use, read as what is actually sent under them.
_CHARSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "euc-cn": ("gb18030",),
    "gb_2312-80": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_2"),
    "shift_jis": ("cp932",),
    "shift-jis": ("cp932",),
    "x-sjis": ("cp932",),
    "euc-kr": ("cp949",),
    "ks_c_5601-1987": ("cp949",),
    "iso-8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "us-ascii": ("ascii",),
    "utf8": ("utf-8",),
}


def _codecs(charset: str | None) -> list[str]:
    name = (charset or "").strip().strip("\"'").lower().split("*")[0]
    out: list[str] = []
    for candidate in (*_CHARSETS.get(name, (name,) if name else ()), "utf-8", "gb18030"):
        try:
            codec = codecs.lookup(candidate).name
        except LookupError:
            continue
        if codec not in out:
            out.append(codec)
    return out


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in the declared charset if it decodes, else UTF-8, else GB18030, else the first
    with replacement characters."""
    candidates = _codecs(charset)
    for codec in candidates:
        try:
            return data.decode(codec).replace("\ufeff", "")
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode(candidates[0], errors="replace").replace("\ufeff", "")


def _unescape(text: str) -> str:
    """Undo the email package's surrogate escapes of raw 8-bit header bytes."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(text.encode("utf-8", "surrogateescape"), None)


def decode_header(value: str | None) -> str:
    """A header as text: unfolded, RFC 2047 words decoded (adjacent words of one charset
    together, so a character split between two words survives), raw 8-bit bytes read as
    UTF-8 or GB18030."""
    if not value:
        return ""
    value = re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", " ").replace("\n", " ")
    try:
        parts = email.header.decode_header(value)
    except (ValueError, LookupError, AssertionError):  # pragma: no cover - malformed beyond repair
        parts = [(value, None)]
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(_unescape(chunk))
        elif charset is None:
            out.append(_unescape(chunk.decode("raw-unicode-escape")))
        else:
            out.append(decode_bytes(chunk, charset))
    return "".join(out).strip()


def _raw_header(msg: EmailMessage, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _message_ids(value: str | None) -> list[str]:
    if not value:
        return []
    return [_canonical_id(m) for m in re.findall(r"<([^<>]+)>", value) if m.strip()]


def _canonical_id(inner: str) -> str:
    """``<id@host>``, whitespace removed; a very long id (the column holds 300) by its hash."""
    mid = "<" + re.sub(r"\s+", "", inner).strip("<>") + ">"
    if len(mid) > 300:
        return "<sha256." + hashlib.sha256(mid.encode("utf-8", "surrogateescape")).hexdigest() + ">"
    return mid


# -- text ------------------------------------------------------------------------------------------


class _HtmlText(HTMLParser):
    """HTML to text with the line structure kept; blockquotes (quoted mail) dropped, and
    everything from a mail client's quote container on (Gmail, Outlook, Thunderbird, Yahoo)."""

    SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
    BLOCK = frozenset(
        {"div", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
         "section", "article", "header", "footer", "dl", "dt", "dd", "address", "center"}
    )  # fmt: skip
    PARAGRAPH = frozenset({"p", "blockquote", "hr"})
    QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote")
    QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "stopspelling")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.newlines = 1  # as if at the start of a line
        self.skip = 0
        self.quote = 0
        self.pre = 0
        self.stopped = False

    def _break(self, count: int) -> None:
        if self.newlines < count:
            self.out.append("\n" * (count - self.newlines))
            self.newlines = count

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        if tag in self.SKIP:
            self.skip += 1
            return
        values = {k: (v or "").lower() for k, v in attrs}
        if any(c in values.get("class", "") for c in self.QUOTE_CLASSES) or values.get("id", "") in (
            self.QUOTE_IDS
        ):
            self.stopped = True
            return
        if tag == "blockquote":
            self.quote += 1
        if tag == "br":
            self.out.append("\n")
            self.newlines += 1
        elif tag in self.PARAGRAPH:
            self._break(2)
        elif tag in self.BLOCK:
            self._break(1)
        if tag == "li":
            self.handle_data("- ")
        elif tag in ("td", "th"):
            self.handle_data(" ")
        elif tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if self.stopped:
            return
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in self.PARAGRAPH:
            self._break(2)
        elif tag in self.BLOCK:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.stopped or self.skip or self.quote:
            return
        if not self.pre:
            data = re.sub(r"\s+", " ", data.replace("\u00a0", " "))
            if data == " " and self.newlines:
                return
        if data:
            self.out.append(data)
            tail = len(data) - len(data.rstrip("\n"))
            self.newlines = tail if tail < len(data) else self.newlines + tail


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return _tidy("".join(parser.out))


def _tidy(text: str) -> str:
    """Unix line ends, no trailing spaces, at most one blank line in a row, no blank edges."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "").replace("\u00a0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line)
    return "\n".join(out).strip("\n")


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 ``format=flowed``: a line ending in a space continues on the next."""
    out: list[str] = []
    buf = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffed
        if line.endswith(" ") and line != "-- ":
            buf += line[:-1] if delsp else line
        else:
            out.append(buf + line)
            buf = ""
    if buf:
        out.append(buf)
    return "\n".join(out)


_QUOTED = re.compile(r"^[ \t]*>")
_SEPARATOR = re.compile(
    r"^\s*[-=_*]{2,}\s*(?:original message|原始邮件|原始郵件|原邮件|回复的原邮件)\s*[-=_*]{2,}\s*$", re.I
)
_RULE = re.compile(r"^[\s_\-=*]*$")
_FROM = re.compile(r"^\s*(?:from|发件人|寄件者|發件人)\s*[:：]", re.I)
_SENT = re.compile(r"^\s*(?:sent|date|发送时间|发送日期|时间|日期|寄件日期|傳送時間)\s*[:：]", re.I)
_TO = re.compile(r"^\s*(?:to|subject|cc|收件人|主题|抄送|主旨|收件者|主題)\s*[:：]", re.I)
_WROTE_EN = re.compile(r"^On\s.*\swrote\s*:$", re.I | re.S)
_WROTE_ZH = re.compile(r"^(?:在.*|.*于.*)写道\s*[:：]?$", re.S)


def _attribution(lines: list[str], i: int) -> int:
    """How many lines (1-3) an "On … wrote:" / "在 … 写道：" line spans here (0: none). It must
    hold a date or an address, so a sentence that happens to end in "wrote:" is not one."""
    for span in (1, 2, 3):
        if i + span > len(lines) or (span > 1 and not lines[i + span - 1].strip()):
            break
        text = " ".join(line.strip() for line in lines[i : i + span])
        if len(text) > 300:
            break
        if (_WROTE_EN.match(text) or _WROTE_ZH.match(text)) and re.search(r"[0-9@]", text):
            return span
    return 0


def _header_block(lines: list[str], i: int) -> bool:
    """An Outlook-style "From: / Sent: / To: / Subject:" block (or 发件人/发送时间/收件人/主题)."""
    if not _FROM.match(lines[i]):
        return False
    following = lines[i + 1 : i + 7]
    return any(_SENT.match(line) for line in following) and any(_TO.match(line) for line in following)


def strip_quoted(text: str) -> str:
    """The text without the quoted history of a reply: ``>`` lines go, and a reply header
    followed by unquoted history cuts the rest (a header followed by ``>`` lines is just
    dropped, so a bottom-posted answer below the quote stays)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTED.match(line):
            i += 1
            continue
        if _SEPARATOR.match(line) or _header_block(lines, i):
            break
        span = _attribution(lines, i)
        if span:
            following = next((x for x in lines[i + span :] if x.strip()), "")
            if _QUOTED.match(following):
                i += span
                continue
            break
        out.append(line)
        i += 1
    while out and _RULE.match(out[-1]):
        out.pop()
    return _tidy("\n".join(out))


# -- parsing ---------------------------------------------------------------------------------------


def _leaves(part: EmailMessage) -> Iterator[EmailMessage]:
    """Every leaf part; an attached message (``message/rfc822``) is one leaf, not opened."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for child in part.iter_parts():
            yield from _leaves(child)  # type: ignore[arg-type]
    else:
        yield part


def _part_text(part: EmailMessage) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset()
    if charset is None and part.get_content_subtype() == "html":
        found = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", data[:4096], re.I)
        charset = found.group(1).decode("ascii") if found else None
    text = decode_bytes(data, charset)
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    if str(part.get_param("format", "")).lower() == "flowed":
        text = _unflow(text, str(part.get_param("delsp", "")).lower() == "yes")
    return _tidy(text)


def _part_data(part: EmailMessage) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    try:
        return part.as_bytes()
    except (TypeError, ValueError, LookupError, UnicodeError):  # pragma: no cover - odd parts
        return b""


def _filename(part: EmailMessage) -> str | None:
    try:
        name = part.get_filename()
    except (TypeError, ValueError, LookupError):  # pragma: no cover - malformed parameters
        name = None
    if name is not None and "\ufffd" in name:
        # Raw 8-bit bytes (GBK from many Chinese clients) the email package could not read.
        name = _raw_param(part, "Content-Disposition", "filename") or _raw_param(part, "Content-Type", "name")
    if name is None:
        return None
    name = _unescape(str(name))
    return decode_header(name) if "=?" in name else name


def _raw_param(part: EmailMessage, header: str, param: str) -> str | None:
    value = _raw_header(part, header)
    found = re.search(rf'(?:^|;)\s*{param}\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', value or "", re.I)
    if found is None:
        return None
    text = found.group(1).strip()
    return re.sub(r"\\(.)", r"\1", text[1:-1]) if text.startswith('"') else text


def _automatic(msg: EmailMessage, sender: str | None) -> str | None:
    auto = decode_header(_raw_header(msg, "Auto-Submitted")).lower()
    if auto and auto != "no":
        return "auto_submitted"
    if decode_header(_raw_header(msg, "Precedence")).lower() in ("bulk", "junk", "auto_reply"):
        return "bulk"
    if _raw_header(msg, "X-Autoreply") or _raw_header(msg, "X-Autorespond"):
        return "auto_reply"
    if msg.get_content_type() == "multipart/report":
        return "delivery_report"
    local = (sender or "").split("@")[0]
    if local in ("mailer-daemon", "postmaster"):
        return "delivery_report"
    return None


def parse_email(raw: bytes) -> ParsedEmail:
    """Read a raw message (no storage)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    name, address = email.utils.parseaddr(re.sub(r"\r?\n(?=[ \t])", "", _raw_header(msg, "From") or ""))
    try:
        sender: str | None = normalize_email(_unescape(address))
    except FieldError:
        sender = None
    sender_name = decode_header(name).strip().strip('"').strip() or None
    if sender_name is not None and sender_name.lower() == (sender or ""):
        sender_name = None
    subject = decode_header(_raw_header(msg, "Subject"))
    sent_at = None
    date = _raw_header(msg, "Date")
    if date:
        try:
            sent_at = email.utils.parsedate_to_datetime(decode_header(date))
        except (TypeError, ValueError, IndexError):
            sent_at = None
        if sent_at is not None:
            sent_at = sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at.astimezone(UTC)

    try:
        body_part = msg.get_body(preferencelist=("plain", "html"))
    except (KeyError, TypeError, ValueError):  # pragma: no cover - structures the package rejects
        body_part = None
    full = _part_text(body_part) if isinstance(body_part, EmailMessage) else ""
    parts: list[MailPart] = []
    for leaf in _leaves(msg):
        if leaf is body_part:
            continue
        filename = _filename(leaf)
        disposition = leaf.get_content_disposition()
        if (
            leaf.get_content_maintype() == "text"
            and leaf.get_content_subtype() in ("plain", "html")
            and filename is None
            and disposition != "attachment"
        ):
            continue  # another rendering of the body
        parts.append(MailPart(filename, leaf.get_content_type(), _part_data(leaf)))

    message_ids = _message_ids(_raw_header(msg, "Message-ID"))
    if message_ids:
        message_id = message_ids[0]
    else:
        # Without one, the same message delivered twice still has one identity.
        _, _, rest = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
        digest = hashlib.sha256(
            "\0".join([sender or "", date or "", subject]).encode("utf-8", "surrogateescape") + b"\0" + rest
        ).hexdigest()
        message_id = f"<{digest}@no-message-id.patron>"
    return ParsedEmail(
        sender_email=sender,
        sender_name=sender_name[:200] if sender_name else None,
        subject=subject,
        message_id=message_id,
        in_reply_to=_message_ids(_raw_header(msg, "In-Reply-To")),
        references=_message_ids(_raw_header(msg, "References")),
        sent_at=sent_at,
        body=strip_quoted(full),
        full_body=full,
        attachments=parts,
        automatic=_automatic(msg, sender),
    )


_SUBJECT_REF = re.compile(r"\[\s*T-(\d{1,18})\s*\]", re.I)
_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|fw|fwd|aw|sv|wg|antw|回复|回覆|答复|答覆|转发|轉寄|转寄)\s*(?:\[\d+\])?\s*[:：]\s*", re.I
)


def clean_subject(subject: str) -> str:
    """A new ticket's subject: no ticket references, no "Re:"/"Fwd:"/"回复：" prefixes."""
    text = _SUBJECT_REF.sub(" ", subject)
    while True:
        stripped = _REPLY_PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    return re.sub(r"\s+", " ", text).strip()


# -- attachments -----------------------------------------------------------------------------------

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash",
     b"mmp4", b"MSNV"}
)  # fmt: skip


def _ftyp(data: bytes) -> str | None:
    size = int.from_bytes(data[:4], "big")
    brands = {data[i : i + 4] for i in range(16, min(max(size, 16), 256, len(data)), 4)}
    major = data[8:12]
    if major in _HEIF_BRANDS:
        return HEIC
    if major in (b"avif", b"avis"):
        return "image/avif"
    if major == b"qt  ":
        return "video/quicktime"
    if major in _MP4_BRANDS:
        return MP4
    if brands & _HEIF_BRANDS:
        return HEIC
    if brands & _MP4_BRANDS:
        return MP4
    return "application/octet-stream"


def _zip(data: bytes) -> str:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, NotImplementedError):
        return "application/zip"
    if "[Content_Types].xml" not in names:
        return "application/zip"
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        return "application/vnd.ms-office.macroenabled"
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return "application/zip"


def sniff(data: bytes) -> str | None:
    """The type the content's first bytes say (None: no known signature)."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[4:8] == b"ftyp":
        return _ftyp(data)
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"PK\x03\x04"):
        return _zip(data)
    if data.startswith(b"MZ"):
        return "application/x-msdownload"
    if data.startswith(b"\x7fELF"):
        return "application/x-executable"
    if data[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                    b"\xca\xfe\xba\xbe"):  # fmt: skip
        return "application/x-mach-binary"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/x-ole-storage"  # .doc, .xls, .msi
    if data.startswith((b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b", b"BZh")):
        return "application/x-archive"
    return None


def _looks_text(data: bytes) -> bool:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 (Excel's "Unicode text")
    return b"\x00" not in data[:8192] and sniff(data) is None


def clean_filename(name: str | None) -> str:
    """The last path component, without control or direction-override characters (which can
    make ``photo\u202egpj.exe`` read as ``photoexe.jpg``), at most 255 characters."""
    text = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = text.strip().lstrip(".").strip() or "attachment"
    if len(text) > 255:
        stem, dot, ext = text.rpartition(".")
        text = stem[: 254 - len(ext)] + dot + ext if dot and len(ext) <= 20 else text[:255]
    return text


def _extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


def check_attachment(filename: str | None, content_type: str | None, data: bytes) -> tuple[str, str]:
    """(clean file name, content type to store) of an acceptable file, else InvalidInput with
    ``attachment_empty``, ``attachment_too_large``, ``attachment_type_not_allowed`` or
    ``attachment_type_mismatch``."""
    name = clean_filename(filename)
    info: dict[str, Any] = {"filename": name, "size": len(data)}
    if not data:
        raise InvalidInput(f"{name} is empty", code="attachment_empty", data=info)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise InvalidInput(
            f"{name} is larger than {MAX_ATTACHMENT_BYTES // 2**20} MB",
            code="attachment_too_large",
            data=info | {"limit": MAX_ATTACHMENT_BYTES},
        )
    declared = (content_type or "").split(";")[0].strip().lower()
    declared = _TYPE_ALIASES.get(declared, declared)
    ext = _extension(name)
    if declared in _GENERIC_TYPES or (declared == "application/vnd.ms-excel" and ext == ".csv"):
        # Windows browsers send a .csv as an Excel type; many clients send everything generic.
        declared = _EXTENSION_TYPES.get(ext) or sniff(data) or declared
    info["content_type"] = declared
    if declared not in ALLOWED_TYPES:
        raise InvalidInput(
            f"{name}: files of type {declared or 'unknown'} are not accepted",
            code="attachment_type_not_allowed",
            data=info | {"allowed": sorted(ALLOWED_TYPES)},
        )
    actual = sniff(data)
    if declared in IMAGES:
        ok = actual in IMAGES
    elif declared in (TEXT, CSV):
        ok = _looks_text(data)
    else:
        ok = actual == declared
    if not ok:
        raise InvalidInput(
            f"{name} is not the {declared} it claims to be",
            code="attachment_type_mismatch",
            data=info | {"detected": actual},
        )
    kind = actual if declared in IMAGES and actual is not None else declared  # a PNG named .jpg
    if ext not in ALLOWED_TYPES[kind]:
        name = clean_filename(name + ALLOWED_TYPES[kind][0])
    return name, kind


def _history(
    session: Session, ticket_id: int, action: str, data: dict[str, Any], now: datetime, actor: str = ACTOR
) -> None:
    """A line of the ticket's history (``ticket_events``), as the service writes them."""
    repo.add(session, TicketEvent(ticket_id=ticket_id, actor=actor, action=action, data=data, created_at=now))


def _store(
    session: Session, ticket_id: int, message_id: int | None, name: str, kind: str, data: bytes, now: datetime
) -> TicketAttachment:
    return repo.add(
        session,
        TicketAttachment(
            ticket_id=ticket_id,
            message_id=message_id,
            filename=name,
            content_type=kind,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            created_at=now,
        ),
    )


def add_attachment(
    session: Session,
    ticket_id: int,
    filename: str | None,
    content_type: str | None,
    data: bytes,
    *,
    message_id: int | None = None,
    actor: str,
    now: datetime | None = None,
) -> TicketAttachment:
    """Attach an uploaded file to a ticket (and one of its messages), with the email's checks."""
    now = now or utcnow()
    ticket = service.get(session, ticket_id)
    if ticket.merged_into_id is not None:
        raise Conflict(
            f"ticket {service.reference(ticket)} was merged into T-{ticket.merged_into_id:06d}",
            code="ticket_merged",
            data={"into": ticket.merged_into_id},
        )
    if message_id is not None and all(m.id != message_id for m in repo.messages_of(session, ticket.id)):
        raise NotFound(
            f"message {message_id} is not on ticket {service.reference(ticket)}",
            code="ticket_message_not_found",
            data={"message_id": message_id},
        )
    name, kind = check_attachment(filename, content_type, data)
    row = _store(session, ticket.id, message_id, name, kind, data, now)
    info = {"attachment_id": row.id, "filename": name, "content_type": kind, "size": row.size}
    _history(session, ticket.id, "attachment_added", info, now, actor)
    return row


def attachments_of(session: Session, ticket_id: int) -> list[TicketAttachment]:
    """A ticket's attachments without their content (also those on messages merged into it)."""
    return repo.attachments_of(session, service.get(session, ticket_id).id)


def get_attachment(session: Session, attachment_id: int) -> TicketAttachment:
    row = repo.get_attachment(session, attachment_id)
    if row is None:
        raise NotFound(
            f"attachment {attachment_id} not found",
            code="attachment_not_found",
            data={"attachment_id": attachment_id},
        )
    return row


# -- receiving -------------------------------------------------------------------------------------


def _sender_owns(session: Session, ticket: Ticket, sender: str | None) -> bool:
    """Is the sender the ticket's requester, or an address of the ticket's customer?"""
    if sender is None:
        return False
    if ticket.requester_email:
        with contextlib.suppress(FieldError):  # a malformed stored address matches nothing
            if normalize_email(ticket.requester_email) == sender:
                return True
    if ticket.customer_id is None:
        return False
    owner = customers.find_by_email(session, sender)
    if owner is None:
        return False
    try:
        return customers.get(session, owner).id == customers.get(session, ticket.customer_id).id
    except PatronError:
        return False


def _thread(session: Session, mail: ParsedEmail) -> tuple[Ticket | None, Ticket | None, str | None]:
    """(open ticket to add to, else the ticket a new one follows up and why)."""
    for mid in mail.replies_to:
        known = repo.message_by_email_id(session, mid)
        if known is not None:
            ticket = service.survivor(session, service.get(session, known.ticket_id))
            if ticket.status == TicketStatus.closed:
                return None, ticket, "closed"
            return service.get(session, ticket.id, for_update=True), None, None
    follows: tuple[Ticket, str] | None = None
    for ticket_id in mail.ticket_ids:
        found = repo.get_ticket(session, ticket_id)
        if found is None:
            continue
        ticket = service.survivor(session, found)
        if not _sender_owns(session, ticket, mail.sender_email):
            follows = follows or (ticket, "sender_not_requester")
        elif ticket.status == TicketStatus.closed:
            follows = follows or (ticket, "closed")
        else:
            return service.get(session, ticket.id, for_update=True), None, None
    return (None, *follows) if follows else (None, None, None)


def _duplicate(session: Session, known: TicketMessage) -> InboundResult:
    ticket = service.survivor(session, service.get(session, known.ticket_id))
    return InboundResult(ticket=ticket, message=known, duplicate=True)


def _body(mail: ParsedEmail) -> str:
    text = mail.body or mail.full_body.strip() or NO_TEXT
    return text if len(text) <= MAX_BODY_CHARS else text[:MAX_BODY_CHARS] + "\n[…]"


def _receive(session: Session, mail: ParsedEmail, config: DeskConfig, now: datetime) -> InboundResult:
    author = (mail.sender_name or mail.sender_email or "email")[:200]  # the columns hold 200
    thread, follows, reason = _thread(session, mail)
    if mail.automatic is not None:
        if thread is None:
            return InboundResult(ticket=None, ignored=mail.automatic)
        note = service.reply(
            session, thread.id, _body(mail), author=author, author_user_id=None, internal=True,
            config=config, now=now,
        )  # fmt: skip
        note.email_message_id = mail.message_id
        session.flush()
        return InboundResult(ticket=thread, message=note, threaded=True, automatic=mail.automatic)
    result = InboundResult(ticket=thread)
    if thread is not None:
        message = service.customer_message(
            session, thread, _body(mail), author=author, config=config,
            email_message_id=mail.message_id, now=now,
        )  # fmt: skip
        result.threaded = True
    else:
        body = _body(mail)
        subject = clean_subject(mail.subject) or NO_SUBJECT
        ticket = service.create(
            session,
            NewTicket(
                subject=subject[:300],
                body=body,
                channel=TicketChannel.email,
                language="zh" if re.search(r"[\u3400-\u9fff]", subject + body) else "en",
                requester_name=mail.sender_name,
                requester_email=mail.sender_email,
                author_name=author,
                email_message_id=mail.message_id,
            ),
            actor=ACTOR,
            config=config,
            now=now,
        )
        found = repo.message_by_email_id(session, mail.message_id)
        assert found is not None
        message, result.ticket, result.created = found, ticket, True
        if follows is not None:
            result.follows_up = service.reference(follows)
            old = {"ticket_id": follows.id, "reference": result.follows_up, "reason": reason}
            _history(session, ticket.id, "follow_up_of", old, now)
            if reason == "closed":
                new = {"ticket_id": ticket.id, "reference": service.reference(ticket)}
                _history(session, follows.id, "followed_up", new, now)
    result.message = message
    assert result.ticket is not None
    _attach_all(session, result, mail, now)
    received = {
        "message_id": mail.message_id,
        "sender": mail.sender_email,
        "sent_at": mail.sent_at.isoformat() if mail.sent_at else None,
        "attachments": len(result.attachments),
        "refused": len(result.refused),
    }
    _history(session, result.ticket.id, "email_received", received, now)
    return result


def _attach_all(session: Session, result: InboundResult, mail: ParsedEmail, now: datetime) -> None:
    assert result.ticket is not None
    assert result.message is not None
    total = 0
    for part in mail.attachments:
        try:
            name, kind = check_attachment(part.filename, part.content_type, part.data)
            if total + len(part.data) > MAX_MESSAGE_ATTACHMENT_BYTES:
                raise InvalidInput(
                    f"{name}: the email's attachments add up to more than "
                    f"{MAX_MESSAGE_ATTACHMENT_BYTES // 2**20} MB",
                    code="attachment_too_large",
                    data={"limit": MAX_MESSAGE_ATTACHMENT_BYTES},
                )
        except InvalidInput as e:
            refusal = Refusal(
                clean_filename(part.filename), part.content_type, len(part.data), e.code, e.message
            )
            result.refused.append(refusal)
            refused = {
                "message_id": result.message.id,
                "filename": refusal.filename,
                "content_type": refusal.content_type,
                "size": refusal.size,
                "code": e.code,
                "detail": e.message,
            }
            _history(session, result.ticket.id, "attachment_refused", refused, now)
            continue
        total += len(part.data)
        result.attachments.append(
            _store(session, result.ticket.id, result.message.id, name, kind, part.data, now)
        )


def receive_email(
    session: Session, raw: bytes, *, config: DeskConfig, now: datetime | None = None
) -> InboundResult:
    """Take in one raw email (see the module's docstring for what becomes of it)."""
    now = now or utcnow()
    if not raw.strip():
        raise InvalidInput("the email is empty", code="email_empty")
    if len(raw) > MAX_EMAIL_BYTES:
        raise InvalidInput(
            f"the email is larger than {MAX_EMAIL_BYTES // 2**20} MB",
            code="email_too_large",
            status=413,
            data={"limit": MAX_EMAIL_BYTES},
        )
    mail = parse_email(raw)
    if mail.sender_email is None and mail.automatic is None:
        raise InvalidInput("the email has no valid From address", code="email_no_sender")
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        repo.write_lock(session)
    known = repo.message_by_email_id(session, mail.message_id)
    if known is not None:
        return _duplicate(session, known)
    if sqlite:
        # Holding the write lock, nobody can store this email before us. (A savepoint would not
        # do: pysqlite opened before the transaction's first write, it commits on its own.)
        return _receive(session, mail, config, now)
    try:
        with session.begin_nested():
            return _receive(session, mail, config, now)
    except IntegrityError:
        # The same email, delivered twice at once, was stored by the other delivery.
        known = repo.message_by_email_id(session, mail.message_id)
        if known is None:
            raise
        return _duplicate(session, known)
