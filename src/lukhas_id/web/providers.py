"""How route factories reach services: `Provider[T]`, a zero-argument callable that returns one service.

The routes are made with the application (web/app.py `create_app`), the services later, in the ASGI
lifespan (bootstrap.build_container). So a route factory, and each page toolkit object it shares
(web/page_kit.py `PageKit`, web/step_up.py `StepUp`), takes a provider per service it uses and the plain
settings values it reads, and calls the provider per request. web/endpoints.py, the web layer's
composition, is the only module that makes providers from the application state
(``lambda: state.c.sign_in``): a call is two attribute lookups and allocates nothing, and it answers
503 while the server is starting or stopping. Route and toolkit modules never see the application
state or the Container (tests/unit/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias, TypeVar

T = TypeVar("T")

Provider: TypeAlias = Callable[[], T]
