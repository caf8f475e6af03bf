"""The endpoint registry (web/registry.py, web/endpoints.py): every endpoint gets the cross-cutting wrapper,
routes/405s/fast path/discovery come from one declaration, and features decide what exists."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from lukhas_id.clock import SystemClock
from lukhas_id.features import Feature
from lukhas_id.settings import Settings
from lukhas_id.web.app import EDGE_HEADERS, create_app
from lukhas_id.web.registry import EndpointSpec, split_tenant
from tests.support.harness import BASE, Harness, running

EDGE = {name.decode(): value.decode() for name, value in EDGE_HEADERS}


def specs(h: Harness) -> list[EndpointSpec]:
    return list(h.app.state.endpoints)


def concrete(path: str, tenant: str) -> str:
    return path.replace("{tenant}", tenant).replace("{client_id}", "cl_unknown")


def assert_edge_headers(resp_headers: object, what: str) -> None:
    for name, value in EDGE.items():
        assert resp_headers.get(name) == value, f"{what} escaped the edge headers"  # type: ignore[attr-defined]
    trace = resp_headers.get("x-trace-id")  # type: ignore[attr-defined]
    assert trace is not None and len(trace) == 32, f"{what} escaped the trace id"


async def test_every_endpoint_gets_the_cross_cutting_headers(h: Harness) -> None:
    """Each declared path, every declared method and one undeclared one (405), at the root and under a
    tenant: the edge headers are on every answer, fast path included."""
    await h.tenant("acme")
    seen = 0
    for spec in specs(h):
        for path in spec.paths():
            url = concrete(path, "acme")
            for method in (*spec.methods, "PATCH"):
                resp = await h.http.request(method, url)
                assert_edge_headers(resp.headers, f"{method} {url} ({resp.status_code})")
                seen += 1
    assert seen > 60
    for url in ("/nowhere", "/t/nope/oauth2/token", "/static/passkeys.js"):
        resp = await h.http.get(url)
        assert_edge_headers(resp.headers, f"GET {url}")
    resp = await h.http.post("/t/nope/oauth2/token", data={"grant_type": "client_credentials"})
    assert resp.status_code == 404
    assert_edge_headers(resp.headers, "POST to an unknown tenant (fast path)")


async def test_a_response_keeps_its_own_value_of_an_edge_header(h: Harness) -> None:
    resp = await h.http.get("/login")
    assert resp.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_fast_endpoints_answer_other_methods_405_from_the_router(h: Harness) -> None:
    fast = [s for s in specs(h) if s.fast]
    assert {s.name for s in fast} >= {"token", "introspection", "revocation", "passkey-authenticate-complete"}
    for spec in fast:
        for path in spec.paths():
            resp = await h.http.get(concrete(path, h.settings.default_tenant + "x"))
            assert resp.status_code == 405, (path, resp.status_code)
            assert resp.headers["allow"] == "POST"


async def test_discovery_lists_come_from_the_registry(h: Harness) -> None:
    meta = (await h.http.get("/.well-known/openid-configuration")).json()
    assert meta["grant_types_supported"] == [g.value for g in h.c.oauth.grant_types]
    assert meta["token_endpoint_auth_methods_supported"] == [m.value for m in h.c.client_authentication.methods]
    assert meta["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert meta["revocation_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    for spec in specs(h):
        if spec.discovery is not None:
            for name, value in spec.discovery(meta["issuer"]).items():
                assert meta[name] == value, name


def test_split_tenant_matches_the_router_segment() -> None:
    assert split_tenant("/t/acme/oauth2/token") == ("acme", "/oauth2/token")
    assert split_tenant("/oauth2/token") == (None, "/oauth2/token")
    assert split_tenant("/t//oauth2/token") == (None, "/t//oauth2/token")
    assert split_tenant("/t/acme") == (None, "/t/acme")


@pytest_asyncio.fixture
async def without_registration_and_refresh(prepared: Settings) -> AsyncIterator[Harness]:
    settings = prepared.model_copy(
        update={"disabled_features": (Feature.DYNAMIC_REGISTRATION, Feature.REFRESH_TOKEN, Feature.INTROSPECTION)}
    )
    async with running(settings, SystemClock()) as harness:
        yield harness


async def test_disabled_features_have_no_endpoints_grants_or_discovery_members(
    without_registration_and_refresh: Harness,
) -> None:
    h = without_registration_and_refresh
    meta = (await h.http.get("/.well-known/openid-configuration")).json()
    assert "registration_endpoint" not in meta and "introspection_endpoint" not in meta
    assert meta["grant_types_supported"] == ["authorization_code", "client_credentials"]
    resp = await h.http.post("/oauth2/register", json={"redirect_uris": ["https://rp.example/cb"]})
    assert resp.status_code == 404
    rc = await h.client()
    resp = await h.http.post("/oauth2/introspect", data={"token": "x"}, headers=rc.auth)
    assert resp.status_code == 404
    resp = await h.http.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": "x"}, headers=rc.auth
    )
    assert resp.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("disabled", "experimental", "message"),
    [
        (["authorization_code"], [], "needs authorization_code"),
        (["nonsense"], [], "LUKHAS_ID_DISABLED_FEATURES"),
        ([], ["passkeys"], "passkeys is not experimental"),
    ],
)
def test_feature_settings_are_checked_at_start(disabled: list[str], experimental: list[str], message: str) -> None:
    from lukhas_id.errors import ConfigurationError
    from lukhas_id.settings import load_settings

    with pytest.raises(ConfigurationError) as err:
        load_settings(disabled_features=disabled, experimental_features=experimental)
    assert message in str(err.value)


async def test_before_the_services_exist_every_endpoint_answers_503(settings: Settings) -> None:
    """Routes reach the services through providers (web/providers.py) made before the lifespan builds the
    Container: until it has, every endpoint but liveness answers 503, and readiness names "startup"."""
    app = create_app(settings)  # the lifespan never runs: no services
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        checked = 0
        for spec in app.state.endpoints:
            if spec.name == "health":
                continue
            for path in spec.paths():
                resp = await http.request(spec.methods[0], concrete(path, "acme"))
                assert resp.status_code == 503, f"{spec.name} {path}: {resp.status_code} {resp.text[:200]}"
                checked += 1
        assert checked > 40
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.json() == {"status": "unavailable", "failing": ["startup"]}
        assert (await http.get("/login")).headers["retry-after"] == "1"
        assert (await http.post("/oauth2/token")).json()["error"] == "temporarily_unavailable"
