"""trafilatura's parse and cascade for less CPU: the same tree, the same text.

**The parse.** lxml.html's parser picks each element's Python class (form, input, select,
textarea and label elements have their own) in a Python method, called every time Python
touches an element anew: on real pages half a million times for 181 pages, a tenth of the
extraction's CPU. `load_page` parses with trafilatura's own load_html and parser options, but
with lxml's C-level class lookup: every element an HtmlElement. The subclasses only add form
accessors (.value, .fields, .form), which neither trafilatura, justext, htmldate nor this
project use. A page whose bytes are UTF-8 with nothing for load_html to repair (nearly every
page) is parsed from its bytes: load_html would decode it, scan the whole text for characters
XML forbids and parse the text, which lxml encodes back to UTF-8 (`_load_utf8`).

**The cascade.** trafilatura (balanced mode, fallbacks on) gives the same text here as
bare_extraction; two of its steps are skipped on pages where their outcome is known in advance,
from a bound that holds on every page (not a tuned threshold):

**Readability.** After its own rules, trafilatura always runs a second extractor, readability,
on a copy of the page, and keeps readability's text instead in three cases only
(trafilatura.external._prefer_readability): (1) its own text is empty; (2) readability's text
is more than twice as long; (3) its own text has no paragraph text, or more tables than
paragraphs. Readability's text is drawn from the page's text nodes outside script, style and
fencedframe (it drops those first), in page order, only rearranged into paragraphs; the only
text it adds is "VIDEO" in a video iframe. So its whitespace-collapsed length is at most the
page's whitespace-collapsed text without those elements, plus six characters per iframe. When
that is at most twice the own text and neither (1) nor (3) holds, readability cannot win: it is
handed an empty page (it returns nothing; trafilatura keeps its own text, as it would have).

**The page measure of the recall escalation.** When the text is short (under 3,000 characters),
trafilatura measures the whole page with html2txt (a cleaning pass and a text dump) and retries
in recall mode if the text is under a fifth of it. html2txt's text keeps only text outside
script, style, fencedframe, svg and template, and adds at most one word break at the start of
each block element's text and tail; a text of W words and C other characters is W + C - 1 long
collapsed. When a fifth of that bound is at most the text already extracted, the retry cannot
happen, and html2txt's text, which the cascade only measures, is given as "".

Everything else (the justext rescue, the baseline, the recall retry itself) runs unchanged. On
the 181 real pages of bench/real_pages.py readability could not win on 87 (it replaced the text
on 3 others), and 61 of 78 page measures were not needed (9 led to a retry): each skip saves
~4-5 % of the extraction's CPU. tests/test_extraction_text.py compares
article_text's text with bare_extraction's on every fixture page, pages where readability wins
and pages that escalate among them, and shows that each skip, forced, would change a text.

**The XPath rules.** Seven of trafilatura's XPath expressions, a quarter of its CPU on real
pages, are evaluated by Python rules that find the same elements (flows/collect/xpath_rules.py),
for the duration of the cascade only (four more during the author search, extraction.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from copy import copy
from typing import Any

import trafilatura.core
import trafilatura.external
import trafilatura.utils
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information
from lxml import html as lxml_html
from trafilatura.baseline import _BLOCK_ELEMS, html2txt
from trafilatura.core import ESCALATION_PAGE_SHARE, trafilatura_sequence
from trafilatura.settings import Extractor
from trafilatura.utils import trim
from trafilatura.xml import xmltotxt

from flows.collect import xpath_rules

Tree = Any  # lxml.html.HtmlElement: lxml ships no type information

# Balanced mode. favor_precision drops text that follows an empty element (`text<div
# class="ad"></div>more text`); fast=True skips the readability/justext fallbacks (recall
# 0.904 -> 0.886 in trafilatura's benchmark) for ~25-35 % we do not need. Balanced mode's menu
# dump on pages without an article is caught by extraction._mostly_links. No dedup: a page's
# text must not depend on what its worker saw before.
OPTIONS: dict[str, Any] = {
    "comments": False, "tables": True, "images": False, "links": False, "formatting": False,
    "dedup": False, "precision": False, "fast": False,
}  # fmt: skip
_EXTRACTOR = Extractor(output_format="python", **OPTIONS)
_DROPPED_BY_READABILITY = ("script", "style", "fencedframe")  # its Document.summary's first step
_VIDEO_TEXT = len(" VIDEO")  # what its sanitize writes into a video iframe, and a word break
_DROPPED_BY_HTML2TXT = ("script", "style", "fencedframe", "svg", "template")  # BASIC_CLEAN_XPATH's
_SPACED = tuple(_BLOCK_ELEMS)  # html2txt's block elements
_Compare = Callable[[Tree, Tree, Any, str, Extractor], tuple[Any, str]]
_compare: _Compare = trafilatura.external.compare_extraction
_html2txt: Callable[..., str] = html2txt
_CORE: Any = trafilatura.core  # the cascade's module, where it looks both functions up
_UTILS: Any = trafilatura.utils  # load_html's module, where it looks its parser up
_this_thread = threading.local()  # .steps: the _Steps of the page article_text is on
_TRAFILATURAS_PARSER = _UTILS.HTML_PARSER
_PARSER = lxml_html.HTMLParser(  # trafilatura.utils.HTML_PARSER's options
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
)
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement,
        comment=lxml_html.HtmlComment,
        pi=lxml_html.HtmlProcessingInstruction,
    )
)


def load_page(html: bytes, max_bytes: int) -> Tree | None:
    """trafilatura.load_html(html, max_bytes), every element an HtmlElement (module docstring).

    Copies of the tree keep its parser, so trafilatura's copies of it do too.
    """
    _UTILS.HTML_PARSER = _PARSER  # for this call only: trafilatura called directly is unchanged
    try:
        tree = _load_utf8(html, max_bytes)
        return trafilatura.utils.load_html(html, max_bytes) if tree is _UNSURE else tree
    finally:
        _UTILS.HTML_PARSER = _TRAFILATURAS_PARSER


_UNSURE: Any = object()  # _load_utf8 leaves the page to trafilatura.load_html
# What trafilatura.utils.INVALID_XML_CHARS removes, as it appears in UTF-8: C0 controls but
# tab, newline and carriage return (those bytes encode nothing else), U+FFFE and U+FFFF
_FORBIDDEN_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")
# The leading spaces lxml skips before looking for <html or <!doctype: in text, and in bytes
_LEADING_SPACE, _LEADING_ASCII_SPACE = re.compile(r"\s*"), re.compile(r"[ \t\n\r\f\v]*")


def _load_utf8(html: bytes, max_bytes: int) -> Tree:
    """load_html's result for a page whose bytes are UTF-8 with nothing to repair, parsed from
    those bytes: load_html decodes them, scans the text with a regular expression and parses the
    text, which lxml turns back into UTF-8 (the same tree; a tenth of extract_page's
    instructions on the shared real pages). _UNSURE wherever one of load_html's steps would do
    anything else.
    """
    if trafilatura.utils.handle_compressed_file(html, max_bytes) is not html:
        return _UNSURE  # a compressed body: decode_file inflates it
    try:
        text = html.decode("utf-8")  # decode_file's first choice
    except UnicodeDecodeError:
        return _UNSURE
    # repair_faulty_html would change nothing: no character to drop, no doctype line to
    # rewrite (it also rewrites a page without a line break), no self-closing <html/>
    beginning = text[:50].lower()
    if len(html.translate(None, _FORBIDDEN_BYTES)) != len(html):
        return _UNSURE
    if any(mark in html for mark in _NONCHARACTERS):
        return _UNSURE
    if "doctype" in beginning:
        line_end = text.find("\n")
        if line_end < 0 or trafilatura.utils.DOCTYPE_TAG.search(text, 0, line_end):
            return _UNSURE
    if any("<html" in line and line.endswith("/>") for line in text[:4096].splitlines()[:4]):
        return _UNSURE
    # lxml tells a whole document from a fragment by its start: the same for the bytes and the
    # text unless the text starts with a space outside ASCII (or a byte-order mark)
    spaces, ascii_spaces = _LEADING_SPACE.match(text), _LEADING_ASCII_SPACE.match(text)
    if spaces is None or ascii_spaces is None or spaces.end() != ascii_spaces.end():
        return _UNSURE
    if text.startswith("\ufeff"):
        return _UNSURE
    try:
        tree = lxml_html.fromstring(html, parser=_PARSER)
    except Exception:  # noqa: BLE001  # load_html logs it and tries again its own way
        return _UNSURE
    if len(tree) < 1 or ("html" not in beginning and len(tree) < 2):
        return _UNSURE  # load_html parses the first again, and logs the second as no HTML
    return tree


def article_text(tree: Tree, url: str | None) -> str:
    """The text trafilatura.bare_extraction(tree, url, **options) gives, without its copy.

    Consumes `tree` (trafilatura prunes it). trafilatura_sequence is the cascade that
    bare_extraction runs after copying a tree it is handed; bare_extraction's other steps do
    nothing with our options but the empty-output check.
    """
    options = copy(_EXTRACTOR)  # a tenth of the cost of building one: its config is read once
    options.url = url
    options.source = url and url.encode("utf-8", "replace").decode("utf-8")  # as Extractor does
    # Swapped for this call only, so trafilatura called directly (the benchmark's plain floor)
    # runs unchanged. The page's steps are this thread's: a call in another thread meanwhile
    # meets trafilatura's own functions or hooks that forward to them, the same text either way.
    _this_thread.steps = _Steps()
    _CORE.compare_extraction, _CORE.html2txt = _compare_hook, _html2txt_hook
    try:
        with xpath_rules.swapped():
            body, text, _comments_body, comments = trafilatura_sequence(tree, options, url)
    finally:
        _CORE.compare_extraction, _CORE.html2txt = _compare, _html2txt
        _this_thread.steps = None
    if len(text) < options.min_output_size and len(comments) < options.min_output_comm_size:
        return ""
    return xmltotxt(body, options.formatting)


def _compare_hook(
    cleaned_tree: Tree, raw_tree: Tree, body: Any, text: str, options: Extractor
) -> tuple[Any, str]:
    steps: _Steps | None = getattr(_this_thread, "steps", None)
    if steps is None:  # trafilatura called directly in another thread
        return _compare(cleaned_tree, raw_tree, body, text, options)
    return steps.compare(cleaned_tree, raw_tree, body, text, options)


def _html2txt_hook(tree: Tree, clean: bool = True) -> str:
    steps: _Steps | None = getattr(_this_thread, "steps", None)
    return _html2txt(tree, clean) if steps is None else steps.page_text(tree, clean)


class _Steps:
    """One page's compare_extraction and html2txt, each skipping what cannot matter."""

    def __init__(self) -> None:
        self.kept = 0  # length of the text the balanced comparison kept: never shrinks after

    def compare(
        self, cleaned_tree: Tree, raw_tree: Tree, body: Any, text: str, options: Extractor
    ) -> tuple[Any, str]:
        balanced = options.focus == "balanced"  # not the recall retry's comparison
        if balanced and readability_cannot_win(raw_tree, body, text):
            raw_tree = lxml_html.document_fromstring("<html><body></body></html>")
        body, text = _compare(cleaned_tree, raw_tree, body, text, options)
        if balanced:
            self.kept = len(text)
        return body, text

    def page_text(self, tree: Tree, clean: bool = True) -> str:
        if clean and self.kept and ESCALATION_PAGE_SHARE * page_text_bound(tree) <= self.kept:
            return ""  # measured only: `kept < share * len(page text)` is false either way
        return _html2txt(tree, clean)


def readability_cannot_win(raw_tree: Tree, body: Any, text: str) -> bool:
    """True when none of readability's three cases (module docstring) can hold for this page.

    `raw_tree` is readability's own copy of the page: its script, style and fencedframe
    elements are dropped here, as readability would drop them first.
    """
    if not text or not body.xpath(".//p//text()"):
        return False
    if len(body.findall(".//table")) > len(body.findall(".//p")):
        return False
    return readability_text_bound(raw_tree) <= 2 * len(text)


def readability_text_bound(raw_tree: Tree) -> int:
    """At least the length of readability's text of `raw_tree` (module docstring).

    Drops the tree's script, style and fencedframe elements, as readability would first.
    """
    for element in list(raw_tree.iter(*_DROPPED_BY_READABILITY)):
        element.drop_tree()
    iframes = sum(1 for _ in raw_tree.iter("iframe"))
    return len(trim(raw_tree.text_content())) + _VIDEO_TEXT * iframes


def page_text_bound(tree: Tree) -> int:
    """At least len(trafilatura.html2txt(tree)) (module docstring); ~a tenth of its cost."""
    body = tree.find(".//body")
    if body is None:
        body = tree
    words = body.text_content().split()
    most = len(words) + sum(map(len, words))
    for element in body.iter(*_DROPPED_BY_HTML2TXT):
        if element.text:  # its words go; neighbours it split may join: at most two fewer breaks
            dropped = element.text.split()
            most -= len(dropped) + sum(map(len, dropped)) - 2
    return most + 2 * sum(1 for _ in body.iter(*_SPACED))
