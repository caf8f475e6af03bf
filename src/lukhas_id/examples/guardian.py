"""Guardian/drift: an example NATS JetStream consumer of identity events (docs/events.md, the pattern).

It reads `sign_in.refused` events with a durable pull consumer, counts them per principal in a sliding
window, and past a threshold publishes `<prefix>.<tenant>.anomaly.sign_in_failures` with its own
`Nats-Msg-Id` derived from the principal and the window's first failure, so a redelivered failure never
makes a second anomaly. Each message is acknowledged after it was handled (at least once); duplicates
are dropped by event id (idempotency). State is in memory: a restart forgets the windows, which is
acceptable for a heuristic; a real deployment would keep it in a store of its own.

    python -m lukhas_id.examples.guardian --url nats://127.0.0.1:4222 --threshold 5 --window 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import nats
import orjson
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig

SEEN_IDS = 100_000  # event ids remembered for de-duplication


@dataclass
class Scorer:
    """Repeated failures per principal in a sliding window of `window` seconds (event time)."""

    threshold: int
    window: float
    failures: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def add(self, tenant: str, principal: str, at: float) -> tuple[int, float] | None:
        """Record one failure; (count, first failure's time) when the window reaches the threshold."""
        times = self.failures.setdefault((tenant, principal), deque())
        times.append(at)
        while times and times[0] <= at - self.window:
            times.popleft()
        if len(times) >= self.threshold:
            first = times[0]
            times.clear()  # one anomaly per burst
            return self.threshold, first
        return None


class Guardian:
    def __init__(self, url: str, stream: str, prefix: str, durable: str, scorer: Scorer) -> None:
        self.url, self.stream, self.prefix, self.durable, self.scorer = url, stream, prefix, durable, scorer
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.anomalies = 0

    def _duplicate(self, event_id: str) -> bool:
        if event_id in self._seen:
            return True
        self._seen[event_id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        return False

    async def handle(self, js: Any, event: dict[str, Any]) -> None:
        principal = event.get("principal")
        if event.get("type") != "sign_in.refused" or not principal or self._duplicate(str(event["id"])):
            return
        tenant = str(event["tenant"])
        hit = self.scorer.add(tenant, str(principal), float(event["time"]))
        if hit is None:
            return
        count, first = hit
        anomaly = {
            "type": "anomaly.sign_in_failures",
            "tenant": tenant,
            "principal": principal,
            "failures": count,
            "window_start": first,
            "window_seconds": self.scorer.window,
            "trace_id": event.get("trace_id"),
        }
        msg_id = f"anomaly:{tenant}:{principal}:{first!r}"  # the same burst always gives the same id
        await js.publish(
            f"{self.prefix}.{tenant}.anomaly.sign_in_failures",
            orjson.dumps(anomaly),
            stream=self.stream,
            headers={"Nats-Msg-Id": msg_id},
        )
        self.anomalies += 1

    async def run(self, stop: asyncio.Event | None = None) -> None:
        client = await nats.connect(self.url, name="guardian")
        try:
            js = client.jetstream()
            config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
            sub = await js.pull_subscribe(
                f"{self.prefix}.*.sign_in.refused", durable=self.durable, stream=self.stream, config=config
            )
            while stop is None or not stop.is_set():
                try:
                    messages = await sub.fetch(100, timeout=0.5)
                except NatsTimeout:
                    continue
                for msg in messages:
                    await self.handle(js, orjson.loads(msg.data))
                    await msg.ack()  # after handling: a crash before this redelivers it
        finally:
            await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lukhas_id.examples.guardian", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--stream", default="IDENTITY")
    parser.add_argument("--prefix", default="identity")
    parser.add_argument("--durable", default="guardian")
    parser.add_argument("--threshold", type=int, default=5)
    parser.add_argument("--window", type=float, default=300.0)
    args = parser.parse_args(argv)
    if args.threshold < 1 or args.window <= 0:
        parser.error("--threshold must be at least 1 and --window positive")
    guardian = Guardian(args.url, args.stream, args.prefix, args.durable, Scorer(args.threshold, args.window))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(guardian.run())


if __name__ == "__main__":
    main()
