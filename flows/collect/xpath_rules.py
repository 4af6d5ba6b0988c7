"""trafilatura's costliest XPath rules, evaluated in Python: the same elements, in the same order.

On real pages a quarter of the extraction's CPU was seven of trafilatura's XPath expressions
(bench/README.md, "XPath rules"). Their `re:test()` calls go from libxml2's XPath engine back
into Python once per element and attribute; the same tests written as a loop over the
elements, with the same regular expressions, take about a third of the time.

Each rule here stands for one expression (of one of trafilatura's lists, or a module's own),
and only while that expression reads exactly as expected: its *shape* (the expression with
every quoted literal replaced by '?' and its whitespace collapsed) must equal the rule's. The
literals themselves, the regular expressions included, are read from trafilatura's expression,
so a new vocabulary in a later trafilatura is followed; a new shape leaves trafilatura's own
expression in place (tests/test_xpath_rules.py says which). `swapped()` puts the rules where
trafilatura looks its expressions up for the duration of one extraction
(flows/collect/cascade.py) or one author search (flows/collect/extraction.py: the four
expressions of trafilatura's extract_author, which then takes 2.3-2.8 ms a page on the shared
real pages instead of 5.2-6.4), so trafilatura called directly (the benchmark's plain floor) is
unchanged.

What the XPath means, as the predicates below follow it:

- `.//*[...]` on an element: its descendant elements (not itself), in document order.
- `//*[...]`: every element of the element's document, its root included, in document order.
- `rel='v'` (no `@`): a child element named `rel` whose text (its string value) is v.
- `self::div`: the element's tag is `div` (lxml's HTML parser lowercases tags).
- `@a='v'`: the attribute exists and equals v. `contains(@a, 'v')`, `re:test(@a, 'p')`: on the
  attribute's value, or on "" when it is absent (lxml's EXSLT test searches with Python's re).
- `@a|@b` as a string: the value of whichever of the two comes first in the element's source
  (libxml2 keeps an element's attributes in order); "" when it has neither.
- `[...][1]` after `.//*`: among each element's children that pass, the first only.
- `a|b|…`: every element any of them finds, once, in document order.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import trafilatura.xpaths as tx
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

Tree = Any  # lxml.html.HtmlElement: lxml ships no type information
Test = Callable[[Tree], bool]


def shape(path: str) -> str:
    """The expression with its quoted literals replaced by '?' and its whitespace collapsed."""
    return " ".join(re.sub(r"'[^']*'", "'?'", path).split())


def literals(path: str) -> list[str]:
    """The expression's quoted literals, in order."""
    return re.findall(r"'([^']*)'", path)


def first_of(el: Tree, a: str, b: str) -> str:
    """`@a|@b` as a string: the value of whichever comes first in the element's source."""
    va, vb = el.get(a), el.get(b)
    if va is None or vb is None:
        found = vb if va is None else va
        return "" if found is None else str(found)
    keys = el.keys()  # lxml's attributes, in source order
    return str(va if keys.index(a) < keys.index(b) else vb)


@dataclass(frozen=True)
class Rule:
    """`.//*[test]` (first_only: `.//*[test][1]`) over `tags` (empty: every element)."""

    expression: Any  # trafilatura's etree.XPath it stands for
    tags: tuple[str, ...]
    test: Test
    first_only: bool = False
    whole_document: bool = False  # `//*[test]`: from the document's root, the root included

    def __call__(self, tree: Tree, **variables: Any) -> list[Tree]:
        if variables or not isinstance(tree, etree._Element):  # not how trafilatura calls it
            return list(self.expression(tree, **variables))
        tags = self.tags or (etree.Element,)  # the Element factory: elements, no comments
        if self.whole_document:
            elements = tree.getroottree().getroot().iter(*tags)
        else:
            elements = tree.iterdescendants(*tags)
        found = [el for el in elements if self.test(el)]
        if self.first_only:
            found = [el for el in found if not self._passing_sibling_before(el)]
        return found

    def _passing_sibling_before(self, el: Tree) -> bool:
        siblings = el.itersiblings(*(self.tags or (etree.Element,)), preceding=True)
        return any(self.test(s) for s in siblings)


def _search(pattern: str, flags: str = "") -> Callable[[str], object]:
    """A test of `re:test(…, pattern[, flags])`: a match (true) or None. As lxml's EXSLT
    functions do, "i" among the flags ignores case."""
    return re.compile(pattern, re.IGNORECASE if "i" in flags else 0).search


# --- the rules: each builds its test from the expression's literals ------------------------
# (`el.get(name) or ""` is `@name` as a string; written out, not called: these run per element)


def _named_unless(lits: list[str], exempt: Test) -> Test:
    """`[re:test(@id, '?') or re:test(@class, '?')][exempt or re:test(@id, '?') or
    re:test(@class, '?')]`: named by the first two patterns, and kept only when `exempt` holds
    or the last two name it too."""
    id_any, class_any, id_own, class_own = map(_search, lits)

    def test(el: Tree) -> bool:
        ident, cls = el.get("id") or "", el.get("class") or ""
        if not (id_any(ident) or class_any(cls)):
            return False
        return exempt(el) or bool(id_own(ident) or class_own(cls))

    return test


def _infinite_scroll(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """RAW_TREE_PRUNE_XPATH[0]: containers of appended follow-up articles, unless they hold an
    h1 (then only by their own names)."""
    no_h1 = _named_unless(lits, lambda el: next(el.iterdescendants("h1"), None) is None)
    return ("div", "section", "aside"), no_h1


def _share_buttons(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """RAW_TREE_PRUNE_XPATH[1]: contains(@class, '…')."""
    (part,) = lits
    return ("div", "section", "aside"), lambda el: part in (el.get("class") or "")


def _comment_sections(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """REMOVE_COMMENTS_AND_LISTS_XPATH[0]: comment sections; lists only by their own names."""
    not_a_list = _named_unless(lits, lambda el: el.tag not in ("ol", "ul"))
    return ("div", "list", "section", "details", "ol", "ul"), not_a_list


def _article_body(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """BODY_XPATH[0]: the article's container, by its usual names (first_only)."""
    post, entry, itemprop, article_id = lits[:4]
    id_body, class_body = map(_search, lits[4:])

    def test(el: Tree) -> bool:
        cls, ident = el.get("class"), el.get("id")
        return bool(
            cls in (post, entry)
            or el.get("itemprop") == itemprop
            or ident == article_id
            or id_body(ident or "")
            or class_body(cls or "")
        )

    return ("article", "div", "main", "section"), test


def _boilerplate(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """OVERALL_DISCARD_XPATH[0]: navigation, sharing, ads, bylines and the like."""
    upper, lower, nav, popular = lits[:4]
    consent, id_any, class_any = map(_search, lits[4:])

    def test(el: Tree) -> bool:
        ident, cls = el.get("id") or "", el.get("class") or ""
        return bool(
            id_any(ident)
            or class_any(cls)
            or consent(first_of(el, "id", "class"))
            or el.get("data-lp-replacement-content") is not None
            or nav in (el.get("role") or "").replace(upper, lower)
            or popular in (el.get("data-component") or "")
        )

    return ("div", "item", "list", "p", "section", "span"), test


def _hidden(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """OVERALL_DISCARD_XPATH[1]: comment titles, replies and hidden elements, any tag."""
    title, reply, hidden, no_display, no_display_spaced = lits[:5]
    id_comments, class_any, hidden_test = map(_search, (*lits[5:7], hidden))
    aria = lits[7]

    def test(el: Tree) -> bool:
        ident, cls, style = el.get("id") or "", el.get("class") or "", el.get("style") or ""
        return bool(
            class_any(cls)
            or id_comments(ident)
            or el.get("class") == title
            or first_of(el, "id", "class").startswith(reply)
            or hidden_test(first_of(el, "id", "style"))
            or no_display in style
            or no_display_spaced in style
            or el.get("aria-hidden") == aria
        )

    return (), test


def _basic_clean(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """trafilatura.baseline's BASIC_CLEAN_XPATH: asides, footers, scripts, styles and the like,
    and cookie banners (a union: each element once, in document order)."""
    footer, class_consent, class_flags, id_consent, id_flags = lits
    class_test = _search(class_consent, class_flags)
    id_test = _search(id_consent, id_flags)
    dropped = frozenset({"aside", "fencedframe", "footer", "script", "style", "svg", "template"})

    def test(el: Tree) -> bool:
        tag = el.tag
        return bool(
            tag in dropped
            or (tag == "div" and footer in first_of(el, "class", "id"))
            or class_test(el.get("class") or "")
            or id_test(el.get("id") or "")
        )

    return (), test


def _author_marked(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """AUTHOR_XPATHS[0]: elements an attribute marks as the author, and every <author>."""
    rel, ident, cls, itemprop, rel_child, card, card_url = lits[:7]
    class_test = _search(lits[7])

    def test(el: Tree) -> bool:
        el_class = el.get("class")
        return bool(
            el.tag == "author"  # `|//author`: the union, in document order
            or el.get("rel") == rel
            or el.get("id") == ident
            or el_class == cls
            or el.get("itemprop") == itemprop
            or el.get("data-testid") in (card, card_url)
            or class_test(el_class or "")
            or any(c.xpath("string()") == rel_child for c in el.iterchildren("rel"))
        )

    return ("a", "address", "div", "link", "p", "span", "strong", "author"), test


def _author_named(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """AUTHOR_XPATHS[1]: bylines and author names, by their class or id."""
    classes, itemprop = tuple(lits[:4]), lits[4]
    id_test, class_test = map(_search, lits[5:])

    def test(el: Tree) -> bool:
        cls = el.get("class")
        return bool(
            cls in classes
            or itemprop in (el.get("itemprop") or "")
            or id_test(el.get("id") or "")
            or class_test(cls or "")
        )

    return ("a", "div", "h3", "h4", "p", "span"), test


def _author_anywhere(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """AUTHOR_XPATHS[2]: any element whose names say author, writer or byline."""
    component, itemprop = lits[:2]
    id_test, class_test = map(_search, lits[2:])

    def test(el: Tree) -> bool:
        return bool(
            component in (el.get("data-component") or "")
            or itemprop in (el.get("itemprop") or "")
            or id_test(el.get("id") or "")
            or class_test(el.get("class") or "")
        )

    return (), test


def _author_discard(lits: list[str]) -> tuple[tuple[str, ...], Test]:
    """AUTHOR_DISCARD_XPATHS[0]: comments, titles, dates, figures and the like, pruned from
    the copy of the page the author is searched in."""
    ident, classes, figure = lits[0], tuple(lits[1:4]), lits[6]
    id_test, class_test = map(_search, lits[4:6])

    def test(el: Tree) -> bool:
        el_id, cls = el.get("id"), el.get("class")
        return bool(
            el_id == ident
            or cls in classes
            or id_test(el_id or "")
            or class_test(cls or "")
            or figure in (el.get("data-component") or "")
        )

    return ("a", "div", "section", "span"), test


Builder = Callable[[list[str]], tuple[tuple[str, ...], Test]]


@dataclass(frozen=True)
class Spec:
    """Where a rule goes in trafilatura, and the shape it stands for."""

    where: str  # a list of trafilatura.xpaths by its name, or "module.NAME" of an expression
    index: int | None  # its place in that list; None: `where` names the expression itself
    expected: str  # shape() of the expression
    build: Builder
    first_only: bool = False
    whole_document: bool = False

    def slot(self) -> tuple[Any, int | str] | None:
        """(the list, index) or (the module, name) where the expression is looked up."""
        if self.index is None:
            module, _, name = self.where.rpartition(".")
            try:
                return importlib.import_module(module), name
            except ImportError:  # a later trafilatura moved it: its own expression runs
                return None
        found = getattr(tx, self.where, None)
        return (found, self.index) if isinstance(found, list) and len(found) > self.index else None


@dataclass(frozen=True)
class Bound:
    """A rule and the expression it stands in for, at their slot."""

    owner: Any  # a list, or a module
    key: int | str
    expression: Any
    rule: Rule

    def put(self, value: Any) -> None:
        if isinstance(self.key, int):
            self.owner[self.key] = value
        else:
            setattr(self.owner, self.key, value)


SPECS = (
    Spec(
        "RAW_TREE_PRUNE_XPATH",
        0,
        ".//*[self::div or self::section or self::aside][ re:test(@id, '?') or "
        "re:test(@class, '?')][ not(.//h1) or re:test(@id, '?') or re:test(@class, '?')]",
        _infinite_scroll,
    ),
    Spec(
        "RAW_TREE_PRUNE_XPATH",
        1,
        ".//*[self::div or self::section or self::aside][contains(@class, '?')]",
        _share_buttons,
    ),
    Spec(
        "REMOVE_COMMENTS_AND_LISTS_XPATH",
        0,
        ".//*[self::div or self::list or self::section or self::details or self::ol or "
        "self::ul][ re:test(@id, '?') or re:test(@class, '?')][ not(self::ol or self::ul) or "
        "re:test(@id, '?') or re:test(@class, '?')]",
        _comment_sections,
    ),
    Spec(
        "BODY_XPATH",
        0,
        ".//*[self::article or self::div or self::main or self::section][ @class='?' or "
        "@class='?' or @itemprop='?' or @id='?' or re:test(@id, '?') or re:test(@class, '?') ][1]",
        _article_body,
        first_only=True,
    ),
    Spec(
        "OVERALL_DISCARD_XPATH",
        0,
        ".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
        "@data-lp-replacement-content or contains(translate(@role, '?', '?'), '?') or "
        "contains(@data-component, '?') or re:test(@id|@class, '?') or re:test(@id, '?') or "
        "re:test(@class, '?')]",
        _boilerplate,
    ),
    Spec(
        "OVERALL_DISCARD_XPATH",
        1,
        ".//*[@class='?' or starts-with(@id|@class, '?') or re:test(@id|@style, '?') or "
        "contains(@style, '?') or contains(@style, '?') or re:test(@id, '?') or "
        "re:test(@class, '?') or @aria-hidden='?']",
        _hidden,
    ),
    Spec(
        "trafilatura.baseline.BASIC_CLEAN_XPATH",
        None,
        ".//aside|.//div[contains(@class|@id, '?')]|.//fencedframe|.//footer|.//script|.//style|"
        ".//svg|.//template|.//*[re:test(@class, '?', '?') or re:test(@id, '?', '?')]",
        _basic_clean,
    ),
    # trafilatura's author search (extract_author), when the feed entry names no author
    Spec(
        "AUTHOR_DISCARD_XPATHS",
        0,
        ".//*[self::a or self::div or self::section or self::span][ @id='?' or @class='?' or "
        "@class='?' or @class='?' or re:test(@id, '?') or re:test(@class, '?') or "
        "contains(@data-component, '?')]",
        _author_discard,
    ),
    Spec(
        "AUTHOR_XPATHS",
        0,
        "//*[self::a or self::address or self::div or self::link or self::p or self::span or "
        "self::strong][ @rel='?' or @id='?' or @class='?' or @itemprop='?' or rel='?' or "
        "@data-testid='?' or @data-testid='?' or re:test(@class, '?')]|//author",
        _author_marked,
        whole_document=True,
    ),
    Spec(
        "AUTHOR_XPATHS",
        1,
        "//*[self::a or self::div or self::h3 or self::h4 or self::p or self::span][ @class='?' "
        "or @class='?' or @class='?' or @class='?' or contains(@itemprop, '?') or "
        "re:test(@id, '?') or re:test(@class, '?')]",
        _author_named,
        whole_document=True,
    ),
    Spec(
        "AUTHOR_XPATHS",
        2,
        "//*[ contains(@data-component, '?') or contains(@itemprop, '?') or re:test(@id, '?') or "
        "re:test(@class, '?')]",
        _author_anywhere,
        whole_document=True,
    ),
)


def bind(spec: Spec, expression: Any) -> Rule | None:
    """The rule for trafilatura's `expression`, or None when it no longer reads as expected."""
    path = getattr(expression, "path", None)
    if not isinstance(path, str) or shape(path) != spec.expected:
        return None
    tags, test = spec.build(literals(path))
    return Rule(expression, tags, test, spec.first_only, spec.whole_document)


def _bound() -> list[Bound]:
    """Every spec that still fits trafilatura's expression, with its rule."""
    bound = []
    for spec in SPECS:
        slot = spec.slot()
        if slot is None:
            continue
        owner, key = slot
        expression = owner[key] if isinstance(key, int) else getattr(owner, key, None)
        rule = bind(spec, expression)
        if rule is not None:
            bound.append(Bound(owner, key, expression, rule))
    return bound


BOUND = _bound()


@contextlib.contextmanager
def swapped() -> Iterator[None]:
    """trafilatura looks up the rules instead of their expressions, until the block ends.

    The rules give the same elements, so a call in another thread meanwhile gets the same
    result either way.
    """
    for each in BOUND:
        each.put(each.rule)
    try:
        yield
    finally:
        for each in BOUND:
            each.put(each.expression)
