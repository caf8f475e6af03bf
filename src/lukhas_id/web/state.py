"""The per-application holder of the Container, set and cleared by the ASGI lifespan (web/app.py).

Until then, and after, `c` answers 503. web/endpoints.py is the only module that reaches services
through it: it makes the providers the route factories take (web/providers.py).
"""

from __future__ import annotations

from lukhas_id.bootstrap import Container
from lukhas_id.errors import ErrorCode, OAuthError
from lukhas_id.settings import Settings


class AppState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._container: Container | None = None

    def attach(self, container: Container) -> None:
        self._container = container

    def detach(self) -> None:
        self._container = None

    @property
    def c(self) -> Container:
        if self._container is None:
            raise OAuthError(ErrorCode.TEMPORARILY_UNAVAILABLE, "the server is starting or stopping", 503)
        return self._container
