"""protocol/oauth2/redirect_uri.py: RFC 6749 §3.1.2, OAuth 2.1 §2.3.1/§8.4.2, RFC 8252 §7, RFC 9700 §4.1.3."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from lukhas_id.protocol.oauth2.redirect_uri import InvalidRedirectUri, add_params, matches, validate_registered

# --- registration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/cb",
        "https://app.example.com:8443/cb?tenant=a&x=1",
        "https://app.example.com",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/cb",
        "http://127.1.2.3:8080/cb",
        "http://[::1]:8080/cb",
        "http://[::1]/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
        "com.example.app://callback",
        "https://app.example.com/a%20b",
        "https://App.Example.COM/cb",
        "https://203.0.113.7/cb",
        "https://[2001:db8::1]:8443/cb",
        "https://xn--bcher-kva.example/cb",
        "https://a-b.3com.example/cb",
        "https://" + "a" * 63 + ".example/cb",
        "com.example.app://callback/x",
    ],
)
def test_valid_uris_are_accepted(uri: str) -> None:
    validate_registered(uri)


def test_invalid_redirect_uri_is_a_value_error() -> None:
    assert issubclass(InvalidRedirectUri, ValueError)


def _reason(uri: str) -> str:
    with pytest.raises(InvalidRedirectUri) as info:
        validate_registered(uri)
    return str(info.value)


@pytest.mark.parametrize("uri", ["/cb", "app.example.com/cb", "//app.example.com/cb", "", "1https://a.example/cb"])
def test_relative_uri_is_refused(uri: str) -> None:
    assert "absolute" in _reason(uri)


@pytest.mark.parametrize("uri", ["https://app.example.com/cb#x", "https://app.example.com/cb#"])
def test_fragment_is_refused(uri: str) -> None:
    assert "fragment" in _reason(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.com/cb",
        "http://10.0.0.1/cb",
        "http://128.0.0.1/cb",
        "http://localhost.example.com/cb",
        "http://127.0.0.1.nip.io/cb",
        "http://[::2]/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://127.1/cb",
        "http:/cb",
    ],
)
def test_http_outside_loopback_is_refused(uri: str) -> None:
    assert "loopback" in _reason(uri)


def test_https_needs_a_host() -> None:
    assert "host" in _reason("https:///cb")


@pytest.mark.parametrize("uri", ["myapp:/cb", "myapp://cb", "javascript:alert(1)", "data:text/html,x", "file:///etc"])
def test_private_use_scheme_without_a_dot_is_refused(uri: str) -> None:
    assert "reverse-domain" in _reason(uri)


@pytest.mark.parametrize(
    "uri", ["https://user@app.example.com/cb", "https://user:pw@app.example.com/cb", "com.example.app://u@h/cb"]
)
def test_userinfo_is_refused(uri: str) -> None:
    assert "userinfo" in _reason(uri)


def test_length_limit() -> None:
    base = "https://app.example.com/"
    validate_registered(base + "a" * (2048 - len(base)))
    assert "2048" in _reason(base + "a" * (2049 - len(base)))


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/c b",
        "https://app.example.com/cb\n",
        "https://app.example.com/cb\t",
        "https://app.example.com/\x00cb",
        "https://app.example.com/cb\x7f",
        "https://app.example.com/cb\u00a0",
        " https://app.example.com/cb",
    ],
)
def test_whitespace_and_control_characters_are_refused(uri: str) -> None:
    assert "whitespace or control" in _reason(uri)


@pytest.mark.parametrize("uri", ["https://app.example.com/é", "https://app.example.com\\@evil.example/", 'https://a/"'])
def test_non_uri_characters_are_refused(uri: str) -> None:
    assert "not allowed" in _reason(uri)


def test_malformed_percent_encoding_is_refused() -> None:
    assert "percent" in _reason("https://app.example.com/%zz")


@pytest.mark.parametrize(
    "uri",
    [
        "https://*.example.com/cb",
        "https://*/cb",
        "https://app.*.example.com/cb",
        "https://app*.example.com/cb",
        "https://*.example.com:8443/cb",
        "com.example.app://*/cb",
    ],
)
def test_wildcard_host_is_refused(uri: str) -> None:
    """RFC 7591 §2 with OAuth 2.1 §2.3.1: exact redirect URIs, so a wildcard is refused, not stored."""
    assert "wildcard" in _reason(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "https://app_1.example.com/cb",  # underscore: not letter-digit-hyphen
        "https://-app.example.com/cb",
        "https://app-.example.com/cb",
        "https://app..example.com/cb",  # empty label
        "https://app.example.com./cb",  # trailing dot: an empty last label
        "https://.example.com/cb",
        "https://" + "a" * 64 + ".example/cb",  # label longer than 63
        "https://" + "a." * 126 + "example/cb",  # 260 characters in all
        "https://%61pp.example.com/cb",  # percent-encoded host
        "https://app!.example.com/cb",
        "https://app$x.example.com/cb",
        "https://a'b.example.com/cb",
        "com.example.app://cb_x/y",
    ],
)
def test_host_that_is_not_a_dns_name_is_refused(uri: str) -> None:
    assert "DNS name" in _reason(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "https://127.1/cb",
        "https://0x7f.0.0.1/cb",
        "https://0x7f000001/cb",
        "https://2130706433/cb",
        "https://010.0.0.1/cb",  # leading zero: octal to some parsers
        "https://256.1.1.1/cb",
        "https://1.2.3.4.5/cb",
        "https://app.example.0x1/cb",
    ],
)
def test_host_ending_in_a_number_must_be_a_dotted_quad(uri: str) -> None:
    assert "dotted-decimal" in _reason(uri)


@pytest.mark.parametrize("uri", ["https://[v1.abc]/cb", "https://[::1%25eth0]/cb", "https://[fe80::1%25en0]/cb"])
def test_bracketed_host_must_be_a_plain_ipv6_address(uri: str) -> None:
    reason = _reason(uri)
    assert "IPv6" in reason


def test_idn_must_be_given_as_a_valid_a_label() -> None:
    assert "not allowed" in _reason("https://bücher.example/cb")  # a U-label is not URI characters
    assert "A-label" in _reason("https://xn--99999999999.example/cb")


@pytest.mark.parametrize("uri", ["https://app.example.com:99999/cb", "https://app.example.com:0/cb", "https://[::1/cb"])
def test_bad_port_or_host_is_refused(uri: str) -> None:
    assert "host or port" in _reason(uri)


# --- matching -------------------------------------------------------------------------------------------


def test_exact_match_returns_the_registered_entry() -> None:
    registered = ("https://a.example/cb", "https://b.example/cb")
    assert matches("https://b.example/cb", registered) == "https://b.example/cb"


@pytest.mark.parametrize(
    "requested",
    [
        "https://a.example/cb/",  # trailing slash
        "https://a.example/CB",  # path case
        "https://A.example/cb",  # host case: no normalization
        "HTTPS://a.example/cb",  # scheme case
        "https://a.example:443/cb",  # default port spelled out
        "https://a.example/cb?x=1",  # extra query
        "https://a.example/cb#f",
        "https://a.example/c%62",  # percent-encoded equivalent
        "https://a.example/cb/../cb",
        "https://a.example/cbx",  # prefix match is not a match
        "https://a.example:8443/cb",  # ports matter outside loopback IPs
    ],
)
def test_anything_but_the_exact_string_does_not_match(requested: str) -> None:
    assert matches(requested, ("https://a.example/cb",)) is None


@pytest.mark.parametrize(
    ("requested", "registered"),
    [
        ("http://127.0.0.1:51234/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"),
        ("http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb"),
        ("http://127.0.0.1:9000/cb?x=1", "http://127.0.0.1/cb?x=1"),
        ("http://127.0.0.1:9000", "http://127.0.0.1"),
        ("http://[::1]:61000/cb", "http://[::1]/cb"),
        ("http://[::1]/cb", "http://[::1]:80/cb"),
        ("http://127.8.9.10:5000/cb", "http://127.8.9.10:6000/cb"),
    ],
)
def test_loopback_ip_literals_match_on_any_port(requested: str, registered: str) -> None:
    assert matches(requested, ("https://other.example/cb", registered)) == registered


@pytest.mark.parametrize(
    ("requested", "registered"),
    [
        ("http://127.0.0.1:5000/cb2", "http://127.0.0.1/cb"),  # path differs
        ("http://127.0.0.1:5000/cb?x=2", "http://127.0.0.1/cb?x=1"),  # query differs
        ("http://127.0.0.1:5000/cb?x=1", "http://127.0.0.1/cb"),  # query added
        ("http://127.0.0.1:5000/cb", "http://127.0.0.2/cb"),  # other host
        ("http://[::1]:5000/cb", "http://127.0.0.1/cb"),  # other host family
        ("https://127.0.0.1:5000/cb", "https://127.0.0.1/cb"),  # only http gets the exception
        ("HTTP://127.0.0.1:5000/cb", "HTTP://127.0.0.1/cb"),  # and only http spelled exactly
        ("http://127.0.0.1:99999/cb", "http://127.0.0.1/cb"),  # port out of range
        ("http://127.0.0.1:0/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:/cb", "http://127.0.0.1/cb"),  # empty port
        ("http://127.0.0.1:5000@evil.example/cb", "http://127.0.0.1/cb"),
        ("http://127.0.0.1:5000/cb#x", "http://127.0.0.1/cb"),
        ("http://10.0.0.1:5000/cb", "http://10.0.0.1/cb"),  # not loopback
        ("http://127.000.000.001:5000/cb", "http://127.000.000.001/cb"),  # not a valid IP literal
    ],
)
def test_loopback_port_exception_keeps_everything_else_exact(requested: str, registered: str) -> None:
    assert matches(requested, (registered,)) is None


def test_localhost_port_must_match() -> None:
    registered = ("http://localhost:3000/cb",)
    assert matches("http://localhost:3000/cb", registered) == "http://localhost:3000/cb"
    assert matches("http://localhost:3001/cb", registered) is None
    assert matches("http://localhost/cb", registered) is None


def test_no_registered_uris_match_nothing() -> None:
    assert matches("https://a.example/cb", ()) is None
    assert matches("http://127.0.0.1:5000/cb", ()) is None


# --- add_params -------------------------------------------------------------------------------------


def test_add_params_without_query() -> None:
    assert add_params("https://a.example/cb", {"code": "abc", "state": "xyz"}) == (
        "https://a.example/cb?code=abc&state=xyz"
    )


def test_add_params_keeps_the_existing_query() -> None:
    uri = add_params("https://a.example/cb?tenant=t1&x=%2F", {"code": "abc"})
    assert uri == "https://a.example/cb?tenant=t1&x=%2F&code=abc"


@pytest.mark.parametrize("base", ["https://a.example/cb?", "https://a.example/cb?x=1&"])
def test_add_params_after_a_trailing_separator(base: str) -> None:
    assert add_params(base, {"code": "abc"}) == base + "code=abc"


def test_add_params_encodes_values() -> None:
    state = "a b&c=d/é+%?#\"'<>\\"
    uri = add_params("https://a.example/cb?k=v", {"state": state, "error_description": "x y"})
    assert " " not in uri and "#" not in uri
    assert "state=a%20b%26c%3Dd%2F%C3%A9%2B%25%3F%23%22%27%3C%3E%5C" in uri
    query = parse_qs(urlsplit(uri).query)
    assert query == {"k": ["v"], "state": [state], "error_description": ["x y"]}


def test_add_params_with_nothing_to_add_is_identity() -> None:
    assert add_params("https://a.example/cb?x", {}) == "https://a.example/cb?x"


def test_add_params_keeps_a_fragment_last() -> None:
    assert add_params("com.example.app:/cb#f", {"code": "c"}) == "com.example.app:/cb?code=c#f"


def test_add_params_on_private_use_and_loopback_uris() -> None:
    assert add_params("com.example.app:/cb", {"code": "c"}) == "com.example.app:/cb?code=c"
    assert add_params("http://127.0.0.1:5000", {"code": "c"}) == "http://127.0.0.1:5000?code=c"
