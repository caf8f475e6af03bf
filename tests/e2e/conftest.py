"""The deployments the end-to-end tests start real `lukhas-id serve` processes for (tests/support/servers.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lukhas_id.adapters.crypto.kek import new_kek_b64
from tests.support.servers import Deployment, free_port


@pytest.fixture(params=["production", "embedded"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    public = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUKHAS_ID_")}
    env.update({"LUKHAS_ID_VAR_DIR": str(tmp_path / "var"), "LUKHAS_ID_PUBLIC_URL": public})
    if request.param == "production":
        env.update(
            {
                "LUKHAS_ID_DATABASE_URL": request.getfixturevalue("pg_schema_url"),
                "LUKHAS_ID_REDIS_URL": request.getfixturevalue("redis_url"),
                "LUKHAS_ID_KEK": new_kek_b64(),
            }
        )
    yield Deployment(env, public)
