"""Message texts and captions as Telegram reads them: parse_mode (HTML, MarkdownV2, the legacy Markdown) turned into
the text users see and its entities, or the entities sent as they are. Limits count what users see, so a text is
measured after its markup is parsed away; offsets and lengths are in UTF-16 code units, as Telegram's are."""
from __future__ import annotations

from html.parser import HTMLParser

from .protocol import _ApiError, _json_param, _Request

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
_PARSE_ERROR = "Bad Request: can't parse entities: "
_HTML_ENTITIES = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
                  "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
                  "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
                  "tg-emoji": "custom_emoji"}
# MarkdownV2's markers, longest first, and the characters that must be escaped anywhere else.
_MARKDOWN_V2 = (("```", "pre"), ("||", "spoiler"), ("__", "underline"), ("*", "bold"), ("_", "italic"),
                ("~", "strikethrough"), ("`", "code"))
_MARKDOWN_V2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MARKDOWN = (("```", "pre"), ("*", "bold"), ("_", "italic"), ("`", "code"))


def _formatted(request: _Request, field: str, entities_field: str) -> tuple[str, list[dict]]:
    """The text of a request's `field` as users will see it, with its entities: parsed from its parse_mode, or the
    entities of `entities_field` as sent."""
    raw = request.params.get(field)
    return _parse("" if raw is None else str(raw), request.params.get("parse_mode"),
                  _json_param(request, entities_field))


def _checked_text(request: _Request) -> tuple[str, list[dict]]:
    """A message's text and entities, refused as Telegram refuses it when empty or too long once parsed."""
    text, entities = _formatted(request, "text", "entities")
    if not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise _ApiError(400, "Bad Request: message is too long")
    return text, entities


def _parse(source: str, parse_mode: object, entities: object = None) -> tuple[str, list[dict]]:
    mode = str(parse_mode or "").strip().lower()
    if mode == "html":
        return _Html(source).parse()
    if mode == "markdownv2":
        return _Markdown(source, _MARKDOWN_V2, strict=True).parse()
    if mode == "markdown":
        return _Markdown(source, _MARKDOWN, strict=False).parse()
    if mode:
        raise _ApiError(400, "Bad Request: unsupported parse_mode")
    if entities in (None, ""):
        return source, []
    if not isinstance(entities, list) or not all(isinstance(entity, dict) for entity in entities):
        raise _ApiError(400, "Bad Request: can't parse entities JSON object")
    return source, entities


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


class _Html(HTMLParser):
    """Telegram's HTML style: its tags become entities, any other tag is an error, as are tags left open."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self._source = source
        self._text: list[str] = []
        self._length = 0
        self._open: list[tuple[str, dict | None, int]] = []  # tag, its entity (None: merged into <pre>), start
        self._entities: list[dict] = []

    def parse(self) -> tuple[str, list[dict]]:
        self.feed(self._source)
        self.close()
        if self._open:
            raise _ApiError(400, _PARSE_ERROR + f'Can\'t find end tag corresponding to start tag "{self._open[-1][0]}"')
        self._entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self._text), self._entities

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        kind = _HTML_ENTITIES.get(tag)
        if kind is None or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            raise _ApiError(400, _PARSE_ERROR + f'Unsupported start tag "{tag}" at byte offset {self._offset()}')
        entity: dict | None = {"type": kind}
        if tag == "a":
            entity["url"] = attributes.get("href") or ""
        elif tag == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif tag == "tg-emoji":
            entity["custom_emoji_id"] = attributes.get("emoji-id") or ""
        elif tag == "code" and self._open and self._open[-1][0] == "pre":
            # <pre><code class="language-x"> is one pre entity with a language.
            language = (attributes.get("class") or "").removeprefix("language-")
            if language and self._open[-1][1] is not None:
                self._open[-1][1]["language"] = language
            entity = None
        self._open.append((tag, entity, self._length))

    def handle_endtag(self, tag: str) -> None:
        if not self._open:
            raise _ApiError(400, _PARSE_ERROR + f"Unexpected end tag at byte offset {self._offset()}")
        opened, entity, start = self._open.pop()
        if opened != tag:
            raise _ApiError(400, _PARSE_ERROR + f'Unmatched end tag at byte offset {self._offset()}, expected '
                                                f'"</{opened}>", found "</{tag}>"')
        if entity is not None and self._length > start:
            self._entities.append({**entity, "offset": start, "length": self._length - start})

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        self._length += _utf16_length(data)

    def _offset(self) -> int:
        line, column = self.getpos()
        index = sum(len(text) + 1 for text in self._source.split("\n")[:line - 1]) + column
        return _byte_offset(self._source, index)


class _Markdown:
    """MarkdownV2 (`strict`: every reserved character outside markup must be escaped) or the legacy Markdown:
    markers open and close entities, [text](url) makes a link, a backslash escapes the next character."""

    def __init__(self, source: str, markers: tuple[tuple[str, str], ...], strict: bool):
        self._source = source
        self._markers = markers
        self._strict = strict
        self._text: list[str] = []
        self._length = 0
        self._open: list[tuple[str, str, int, int]] = []  # marker, entity type, start, byte offset of the marker
        self._entities: list[dict] = []
        self._languages: dict[int, dict] = {}  # where a pre block starts -> its language

    def parse(self) -> tuple[str, list[dict]]:
        source, index = self._source, 0
        while index < len(source):
            char = source[index]
            code = bool(self._open) and self._open[-1][1] in ("code", "pre")
            if char == "\\" and index + 1 < len(source):
                self._add(source[index + 1])
                index += 2
                continue
            marker = next((marker for marker, _ in self._markers if source.startswith(marker, index)), None)
            if code and marker is not None and marker != self._open[-1][0]:
                marker = None  # inside code, only its own end counts
            if marker is not None:
                index = self._toggle(marker, index)
            elif char == "[" and not code:
                index = self._link(index)
            elif self._strict and not code and char in _MARKDOWN_V2_RESERVED:
                raise _ApiError(400, _PARSE_ERROR + f"Character '{char}' is reserved and must be escaped with the "
                                                    "preceding '\\'")
            else:
                self._add(char)
                index += 1
        if self._open:
            marker, kind, _, offset = self._open[-1]
            raise _ApiError(400, _PARSE_ERROR + self._unclosed(kind, offset))
        self._entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self._text), self._entities

    def _toggle(self, marker: str, index: int) -> int:
        kind = dict(self._markers)[marker]
        if self._open and self._open[-1][0] == marker:
            _, _, start, _ = self._open.pop()
            if self._length > start:
                entity = {"type": kind, "offset": start, "length": self._length - start}
                self._entities.append({**entity, **self._languages.pop(start, {})})
            return index + len(marker)
        if not self._strict and self._open:
            raise _ApiError(400, _PARSE_ERROR + self._unclosed(self._open[-1][1], self._open[-1][3]))
        self._open.append((marker, kind, self._length, _byte_offset(self._source, index)))
        index += len(marker)
        if kind == "pre":  # the rest of the opening line names the language
            line_end = self._source.find("\n", index)
            if line_end != -1 and " " not in self._source[index:line_end]:
                if line_end > index:
                    self._languages[self._length] = {"language": self._source[index:line_end]}
                index = line_end + 1
        return index

    def _link(self, index: int) -> int:
        """[text](url): the text may hold markup of its own; the url runs to the next unescaped ")"."""
        close = self._source.find("](", index)
        end = self._source.find(")", close + 2) if close != -1 else -1
        if end == -1:
            if self._strict:
                raise _ApiError(400, _PARSE_ERROR + "Character '[' is reserved and must be escaped with the "
                                                    "preceding '\\'")
            self._add("[")
            return index + 1
        text, _ = _Markdown(self._source[index + 1:close], self._markers, self._strict).parse()
        start = self._length
        self._add(text)
        self._entities.append({"type": "text_link", "offset": start, "length": self._length - start,
                               "url": self._source[close + 2:end]})
        return end + 1

    def _add(self, text: str) -> None:
        self._text.append(text)
        self._length += _utf16_length(text)

    def _unclosed(self, kind: str, offset: int) -> str:
        if self._strict:
            return f"Can't find end of {kind.replace('_', ' ').title().replace(' ', '')} entity at byte offset {offset}"
        return f"Can't find end of the entity starting at byte offset {offset}"
