"""Pure URL functions: canonical identity, click-tracker unwrapping, same-site, safe links."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote_plus, urljoin, urlsplit, urlunsplit

_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Query parameters that only say how a reader arrived (campaign, click and session trackers).
# Each is matched by exact name: lowercase `cmp` or `ref` may well be a site's own content key.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid",  # ad/social click ids
        "mc_cid", "mc_eid",  # Mailchimp
        "_ga", "_gl",  # Google Analytics cross-domain
        "_hsenc", "_hsmi", "mkt_tok",  # HubSpot, Marketo
        "ocid", "cmpid", "CMP", "INTCMP", "ito", "xtor", "ncid", "smid",  # publishers' campaigns
        "at_medium", "at_campaign",  # BBC and other AT Internet sites
        "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",  # comScore
        "WT.mc_id", "wt_mc",  # Webtrends
        "guccounter", "guce_referrer", "guce_referrer_sig",  # Yahoo consent redirect
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_",)  # matched case-insensitively: utm_source, UTM_Medium, ...
# These name content on some sites (`?src=img.png`, `?ref=123`): dropped only when they say "rss".
FEED_MARKER_PARAMS = frozenset({"src", "ref", "source", "from", "partner", "emc"})
FEED_MARKER_VALUES = frozenset({"rss", "feed"})

# Click-trackers whose target is a query parameter: (host, path) -> parameter names, first wins.
# Google News /rss/articles/ ids are opaque (resolving them needs Google), so they stay as they are.
_REDIRECTORS: dict[tuple[str, str], tuple[str, ...]] = {
    ("www.bing.com", "/news/apiclick.aspx"): ("url",),
    ("bing.com", "/news/apiclick.aspx"): ("url",),
    ("www.google.com", "/url"): ("url", "q"),  # Google Alerts feeds
    ("news.google.com", "/news/url"): ("url",),  # the pre-2020 Google News feed format
}

_SITE_PREFIXES = ("www.", "m.", "amp.")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PCT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 3986 reserved and unreserved characters plus "%": quoting leaves an existing escape alone,
# so a URL already in canonical form comes back unchanged.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def canonical_url(url: str, base: str | None = None) -> str | None:
    """The normalised http(s) identity of a URL, or None when it has none."""
    try:
        parts = urlsplit(urljoin(base, url.strip()) if base else url.strip())
        port = parts.port
    except ValueError:  # bad IPv6 literal or port
        return None
    scheme = parts.scheme.lower()
    host = _normal_host(parts.hostname)
    if scheme not in _SCHEMES or host is None or "@" in parts.netloc:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = _quote(parts.path, _PATH_SAFE) or "/"
    query = _strip_tracking(parts.query)
    # A "#!" fragment is a hashbang route: on such sites it is the only thing naming the story.
    fragment = _quote(parts.fragment, _QUERY_SAFE) if parts.fragment.startswith("!") else ""
    return urlunsplit((scheme, netloc, path, query, fragment))


def unwrap_redirector(url: str) -> str:
    """The publisher URL behind an aggregator click-tracker; anything else unchanged."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    names = _REDIRECTORS.get(((parts.hostname or ""), parts.path.lower()))
    if names is None or parts.scheme.lower() not in _SCHEMES:
        return url
    params = dict(reversed(parse_qsl(parts.query)))  # reversed: the first occurrence wins
    for name in names:
        target = params.get(name)
        if target and safe_link(target) is not None:
            return target.strip()
    return url


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on one site (host equal after dropping www., m., amp.)."""
    host_a, host_b = _site(a), _site(b)
    return host_a is not None and host_a == host_b


# Marks of another rendering of the same article: AMP and index pages.
_AMP_PARAMS = frozenset({"amp", "_amp"})  # any value: ?amp, ?amp=1, ?amp=true
_AMP_VALUED = frozenset({"outputtype", "output", "format"})  # only when the value is "amp"
_PATH_SUFFIXES = ("/amp", ".amp", "/index.html", "/index.htm", "/index.php")


def same_article(a: str, b: str) -> bool:
    """Whether two URLs name one article: equal once tracking parameters, the scheme, a www.,
    m. or amp. host prefix, AMP marks (/amp/…, …/amp, .amp, ?amp=1, outputType=amp), an index
    page and a trailing slash are set aside."""
    form = _article_form(a)
    return form is not None and form == _article_form(b)


def _article_form(url: str) -> tuple[str, str, str, str] | None:
    canon = canonical_url(url)
    site = _site(canon) if canon else None
    if canon is None or site is None:
        return None
    parts = urlsplit(canon)
    host = f"{site}:{parts.port}" if parts.port is not None else site
    path = parts.path.rstrip("/")
    for suffix in _PATH_SUFFIXES:
        path = path.removesuffix(suffix)
    path = path.removeprefix("/amp/").rstrip("/")
    path = "/" + path.lstrip("/")
    kept = []
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        name = unquote_plus(name).lower()
        if (
            pair
            and name not in _AMP_PARAMS
            and not (name in _AMP_VALUED and value.lower() == "amp")
        ):
            kept.append(pair)
    return host, path, "&".join(kept), parts.fragment


def safe_link(url: str | None) -> str | None:
    """The URL if it is http(s) with a host and no credentials, else None."""
    if url is None:
        return None
    url = url.strip()
    # A control character (CR/LF above all) could split a header or a plain-text line.
    if _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on an invalid port
    except ValueError:
        return None
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname or "@" in parts.netloc:
        return None
    return url


def _normal_host(host: str | None) -> str | None:
    """Lowercase ASCII (IDNA) host without a trailing dot, or None if it is not a valid host."""
    if not host:
        return None
    if ":" in host:  # IPv6 literal; urlsplit has removed the brackets
        return host if re.fullmatch(r"[0-9a-f:.]+", host) else None
    host = host.removesuffix(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    return host


def _site(url: str) -> str | None:
    try:
        host = _normal_host(urlsplit(url.strip()).hostname)
    except ValueError:
        return None
    if host is None:
        return None
    for prefix in _SITE_PREFIXES:
        rest = host.removeprefix(prefix)
        if rest != host and "." in rest:
            return rest
    return host


def _quote(text: str, safe: str) -> str:
    """Percent-encode what must be (non-ASCII as UTF-8), with existing escapes in upper case."""
    return _PCT_ESCAPE.sub(lambda m: m.group().upper(), quote(text, safe=safe))


def _strip_tracking(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if not _is_tracking(unquote_plus(name), unquote_plus(value)):
            kept.append(_quote(pair, _QUERY_SAFE))
    return "&".join(kept)


def _is_tracking(name: str, value: str) -> bool:
    if name in TRACKING_PARAMS or name.lower().startswith(TRACKING_PREFIXES):
        return True
    return name in FEED_MARKER_PARAMS and value.strip().lower() in FEED_MARKER_VALUES
