"""The token endpoint's metrics (lukhas_id/metrics.py): issuance by grant and result, introspection by
activity, revocations; labels are enums and error codes, never a client, user or token."""

from __future__ import annotations

import re

from lukhas_id.domain.client import TokenFormat
from tests.support.harness import Harness


def value(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_token_endpoint_counters(h: Harness) -> None:
    rc = await h.client(token_format=TokenFormat.OPAQUE)
    token = await h.access_token(rc)
    await h.access_token(rc)
    assert (await h.token(rc, grant_type="password")).status_code == 400
    assert (await h.http.post("/oauth2/token", data={"grant_type": "client_credentials"})).status_code == 401
    await h.introspect(rc, token)
    assert (await h.http.post("/oauth2/revoke", data={"token": token}, headers=rc.auth)).status_code == 200
    await h.introspect(rc, token)
    text = (await h.http.get("/metrics")).text
    issuance = "identity_oidc_token_issuance_total"
    assert value(text, f'{issuance}{{grant="client_credentials",result="issued"}}') == 2
    assert value(text, f'{issuance}{{grant="other",result="unsupported_grant_type"}}') == 1
    assert value(text, f'{issuance}{{grant="other",result="invalid_client"}}') == 1
    assert value(text, 'identity_token_introspection_total{active="true"}') == 1
    assert value(text, 'identity_token_introspection_total{active="false"}') == 1
    assert value(text, "identity_token_revocation_total") == 1
    assert rc.client.client_id not in text and token not in text


async def test_http_metrics_by_route_template_and_the_signing_keys_gauge(h: Harness) -> None:
    await h.tenant("acme")
    rc = await h.client(tenant="acme")
    for _ in range(3):
        await h.access_token(rc)
    assert (await h.http.get("/nowhere/at/all")).status_code == 404
    assert (await h.http.get("/t/acme/oauth2/token")).status_code == 405
    text = (await h.http.get("/metrics")).text
    # The route is the template within the tenant: /t/acme/oauth2/token counts as /oauth2/token.
    assert value(text, 'http_requests_total{method="POST",route="/oauth2/token",status="200"}') == 3
    assert value(text, 'http_request_duration_seconds_count{route="/oauth2/token"}') == 3
    assert value(text, 'http_requests_total{method="GET",route="-",status="404"}') == 1
    assert "/nowhere" not in text and "acme" not in text
    assert value(text, "identity_active_signing_keys") >= 2  # the default tenant's key and acme's


async def test_lids_generated_by_type(h: Harness) -> None:
    tenant = await h.tenant()
    await h.c.users.create(tenant, "lid-counted")
    await h.client()  # an SVC principal
    text = (await h.http.get("/metrics")).text
    assert value(text, 'identity_lid_generation_total{lid_type="USR"}') == 1
    assert value(text, 'identity_lid_generation_total{lid_type="SVC"}') == 1
    assert "lid-counted" not in text
