"""A raw HTTP helper for asserting the apiserver's wire behaviour exactly."""

from __future__ import annotations

import aiohttp
import orjson


class Wire:
    def __init__(self, url: str):
        self.url = url
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.session.close()

    async def req(self, method: str, path: str, body=None, *, raw: bytes | None = None,
                  content_type: str = "application/json", headers: dict | None = None,
                  params: dict | None = None):
        """Returns (status, decoded JSON body or text, response headers)."""
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        h = {"Content-Type": content_type} if data is not None else {}
        h.update(headers or {})
        async with self.session.request(method, self.url + path, data=data, headers=h,
                                        params=params) as r:
            text = await r.read()
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                value = text.decode()
            return r.status, value, r.headers

    async def watch(self, path: str, params: dict, *, until=None, max_events: int = 1000):
        """Collect watch events until ``until(events)`` is true or the stream ends."""
        events = []
        async with self.session.get(self.url + path, params={**params, "watch": "1"}) as r:
            assert r.status == 200, await r.text()
            async for line in r.content:
                if not line.strip():
                    continue
                events.append(orjson.loads(line))
                if (until and until(events)) or len(events) >= max_events:
                    break
        return events


def pod(name: str, **spec) -> dict:
    s = {"containers": [{"name": "c", "image": "busybox"}]}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": s}
