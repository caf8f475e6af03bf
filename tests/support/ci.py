"""Whether this run is CI (`CI=true`): then a missing PostgreSQL, Redis or browser fails the tests that need it."""

from __future__ import annotations

import os

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
