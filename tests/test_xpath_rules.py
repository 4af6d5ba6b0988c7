"""The Python rules must find exactly the elements trafilatura's XPath expressions find."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import trafilatura
import trafilatura.xpaths as tx
from lxml import etree
from lxml import html as lxml_html
from trafilatura.htmlprocessing import convert_tags, tree_cleaning
from trafilatura.settings import Extractor

from flows.collect import xpath_rules
from flows.collect.xpath_rules import SPECS, Spec, bind

PAGES = Path(__file__).parent / "fixtures" / "pages"
NAMESPACES = {"re": "http://exslt.org/regular-expressions"}

# Attribute values built from the words the expressions test for, at the start, inside and at
# the end of a value, in both cases where the expressions care, and near misses
WORDS = [
    "cookie", "share", "Share", "shareable", "social", "nav", "Nav", "navbar", "menu", "sidebar",
    "comment", "Comments", "commentary", "comol", "disqus_thread", "post-comments", "hidden",
    "hide-x", "x hidden", "reply-to", "x-reply-y", "post", "entry", "articleBody",
    "articleContent", "article-body", "article__content", "post-content", "mvp-post-add-box",
    "mvp-post-add-wrap", "infinite-scroll", "infinitescroll", "elementor-share-buttons", "ad",
    " ad ", "ad-top", "top-ad-", "widget", "byline", "meta", "related", "true", "false",
    "MostPopularStories", "reader-comments", "comments-title", "display:none", "display: none",
    "color: red", "CookieBanner", "cookie_notice", "ONETRUST-sdk", "site-footer", "x", "",
]  # fmt: skip
ATTRIBUTES = [
    "id", "class", "style", "role", "data-component", "data-lp-replacement-content",
    "aria-hidden", "itemprop",
]  # fmt: skip
ROLES = ["Navigation", "NAV", "nav bar", "banner", ""]  # translate(@role, 'N', 'n')
TAGS = [
    "div", "section", "aside", "article", "main", "details", "ol", "ul", "list", "item", "p",
    "span", "h1", "a", "footer", "script", "style", "svg", "template",
]  # fmt: skip
# ... and those of the author search (AUTHOR_XPATHS, AUTHOR_DISCARD_XPATHS), in trees of their own
AUTHOR_WORDS = [
    "author", "Author", "author name", "author-name", "authorname", "AuthorName", "authorName",
    "AuthorCard", "AuthorURL", "byline", "byl", "BBL", "username", "zuozhe", "channel-name",
    "writer", "screenname", "Byline", "comments", "title", "date", "Figure", "commentlist",
    "print", "sidebar", "x", "",
]  # fmt: skip
AUTHOR_ATTRIBUTES = ["id", "class", "itemprop", "rel", "data-testid", "data-component"]
AUTHOR_TAGS = [
    "div", "section", "span", "a", "p", "address", "link", "strong", "h3", "h4", "author",
    "rel", "article",
]  # fmt: skip


def random_tree(
    rng: random.Random,
    elements: int = 40,
    vocabulary: tuple[list[str], list[str], list[str]] = (TAGS, ATTRIBUTES, WORDS),
) -> Any:
    """A document of nested elements with attributes in random order, from the words above."""
    tags, attributes, words = vocabulary
    texts = ["words", "", None] + (["me"] if "rel" in tags else [])  # <rel>me</rel>: an author
    root = lxml_html.document_fromstring("<html><body></body></html>")
    parents = [root.find("body")]
    for _ in range(elements):
        el = etree.SubElement(rng.choice(parents), rng.choice(tags))
        for name in rng.sample(attributes, rng.randint(0, 4)):  # sample: a random order
            value = " ".join(rng.sample(words, rng.randint(1, 2)))
            el.set(name, rng.choice(ROLES) if name == "role" else value)
        el.text = rng.choice(texts)
        parents.append(el)
    return root


def trees() -> list[tuple[str, Any]]:
    """Fixture pages at the stages trafilatura evaluates the expressions, and random trees."""
    found = []
    options = Extractor(output_format="python")
    for page in sorted(PAGES.glob("*.html")):
        raw = trafilatura.load_html(page.read_bytes())
        cleaned = tree_cleaning(lxml_html.fromstring(lxml_html.tostring(raw)), options)
        found += [(f"{page.stem} raw", raw), (f"{page.stem} cleaned", cleaned)]
        found.append((f"{page.stem} converted", convert_tags(cleaned, options)))
    rng = random.Random(20261207)
    found += [(f"random {i}", random_tree(rng)) for i in range(400)]
    authors = (AUTHOR_TAGS, AUTHOR_ATTRIBUTES, AUTHOR_WORDS)
    found += [(f"random author {i}", random_tree(rng, vocabulary=authors)) for i in range(200)]
    return found


def expression_of(spec: Spec) -> Any:
    slot = spec.slot()
    assert slot is not None, spec.where
    owner, key = slot
    return owner[key] if isinstance(key, int) else getattr(owner, key)


def test_every_rule_stands_for_its_expression_in_the_installed_trafilatura() -> None:
    """Fails when a trafilatura upgrade changed an expression's shape: the rule then stays
    out (trafilatura's own expression runs, slower) until it is written for the new one."""
    assert [b.expression for b in xpath_rules.BOUND] == [expression_of(s) for s in SPECS]


@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.where}[{s.index}]" for s in SPECS])
def test_the_rule_finds_the_expressions_elements_in_order(spec: Spec) -> None:
    expression = expression_of(spec)
    rule = bind(spec, expression)
    assert rule is not None
    found_any = 0
    for name, tree in trees():
        expected = expression(tree)
        assert rule(tree) == expected, name
        found_any += bool(expected)
    assert found_any >= 20  # the trees exercise the expression, not only its empty answer


def test_the_first_of_two_attributes_is_the_first_in_the_source() -> None:
    spec = next(s for s in SPECS if s.where == "OVERALL_DISCARD_XPATH" and s.index == 0)
    rule = bind(spec, tx.OVERALL_DISCARD_XPATH[0])
    assert rule is not None
    for html, hits in (
        ('<div class="x" id="cookie">a</div>', 0),
        ('<div id="cookie" class="x">a</div>', 1),
        ('<div id="x" class="cookie">a</div>', 0),
        ('<div class="cookie" id="x">a</div>', 1),
    ):
        tree = lxml_html.document_fromstring(f"<html><body>{html}</body></html>")
        assert len(tx.OVERALL_DISCARD_XPATH[0](tree)) == len(rule(tree)) == hits, html


def test_a_new_vocabulary_is_followed() -> None:
    """The regular expressions come from trafilatura's expression, not from this project."""
    spec = next(s for s in SPECS if s.where == "OVERALL_DISCARD_XPATH" and s.index == 0)
    path = tx.OVERALL_DISCARD_XPATH[0].path.replace("'cookie'", "'biscuit'")
    expression = etree.XPath(path, namespaces=NAMESPACES)
    rule = bind(spec, expression)
    assert rule is not None
    tree = lxml_html.document_fromstring(
        '<html><body><div id="biscuit">a</div><div id="cookie">b</div></body></html>'
    )
    assert [el.text for el in rule(tree)] == [el.text for el in expression(tree)] == ["a"]


def test_a_new_shape_leaves_trafilaturas_expression_in_place() -> None:
    spec = next(s for s in SPECS if s.where == "RAW_TREE_PRUNE_XPATH" and s.index == 1)
    changed = ".//*[self::div or self::section][contains(@class, 'elementor-share-buttons')]"
    assert bind(spec, etree.XPath(changed)) is None
    assert bind(spec, "not an expression") is None


def test_rules_are_swapped_in_for_one_extraction_only() -> None:
    before = [expression_of(spec) for spec in SPECS]
    with pytest.raises(RuntimeError), xpath_rules.swapped():
        now = [expression_of(spec) for spec in SPECS]
        assert all(n is not x and n.expression is x for n, x in zip(now, before, strict=True))
        raise RuntimeError("an extraction failed")
    assert all(expression_of(s) is x for s, x in zip(SPECS, before, strict=True))


def test_an_expression_no_longer_where_it_was_is_left_alone() -> None:
    gone = Spec("trafilatura.no_such_module.BASIC_CLEAN_XPATH", None, "", SPECS[-1].build)
    assert gone.slot() is None
    assert Spec("NO_SUCH_LIST", 0, "", SPECS[0].build).slot() is None
    assert Spec("BODY_XPATH", 99, "", SPECS[0].build).slot() is None


def test_a_rule_called_otherwise_than_trafilatura_does_runs_the_expression() -> None:
    spec = SPECS[0]
    rule = bind(spec, getattr(tx, spec.where)[spec.index])
    assert rule is not None
    tree = lxml_html.document_fromstring(
        '<html><body><div id="infinite-scroll">more</div></body></html>'
    ).getroottree()  # a whole document, not an element: `.//*` includes the root
    assert [el.text for el in rule(tree)] == ["more"]


def test_a_whole_document_rule_includes_the_root_and_reads_rel_children() -> None:
    """`//*` starts at the document's root, whatever element the call is given; `rel='me'`
    is a child element's text, not an attribute."""
    rule = bind(SPECS[-1], tx.AUTHOR_XPATHS[2])
    marked = bind(next(s for s in SPECS if s.where == "AUTHOR_XPATHS" and s.index == 0),
                  tx.AUTHOR_XPATHS[0])  # fmt: skip
    assert rule is not None and marked is not None
    root = lxml_html.document_fromstring(
        '<html class="Author"><body><div id="x"><p class="writer">a</p>'
        "<span><rel>me</rel></span><span><rel>m<b>e</b></rel></span><span rel='me'>no</span>"
        "<author>b</author></div></body></html>"
    )
    inner = root.find(".//div")
    for expression, bound in ((tx.AUTHOR_XPATHS[2], rule), (tx.AUTHOR_XPATHS[0], marked)):
        expected = expression(inner)
        assert bound(inner) == expected and expected
    assert rule(inner)[0] is root
    assert [el.tag for el in marked(inner)] == ["span", "span", "author"]
