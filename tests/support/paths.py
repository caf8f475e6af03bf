"""Where the repository is, found from any test module however deep it sits (its pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
