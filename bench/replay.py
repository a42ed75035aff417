"""A portal answered from recorded datasets: ``package_search`` in keyset pages (``sort=id asc``, an ``id``
range in ``fq``: ``{`` or ``[`` after a low bound or ``*``, ``}`` or ``]`` before a high bound or ``*``, as
Solr reads them), ``status_show``, nothing else. It stands for a real CKAN when what is measured is the
client's overlap of round trips (P9), not CKAN's own CPU: pages are serialized once and served as bytes.

    with ReplayPortal(datasets) as portal, LatencyProxy(("127.0.0.1", portal.port), 0.1) as remote:
        ... read remote.url ...
"""

from __future__ import annotations

import bisect
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r'id:([\[{])(?:"([^"]*)"|\*) TO (?:"([^"]*)"|\*)([\]}])')


class ReplayPortal:
    """Serves ``datasets`` (sorted by id) as a CKAN's keyset-paged ``package_search`` on 127.0.0.1."""

    def __init__(self, datasets: list[dict[str, Any]]) -> None:
        self.datasets = sorted(datasets, key=lambda d: d["id"])
        self.ids = [d["id"] for d in self.datasets]
        self.encoded = [json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode("utf-8") for d in self.datasets]
        self.pages: dict[tuple[int, int], bytes] = {}
        self.requests = 0
        portal = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                portal.requests += 1
                data = portal.answer(self.path.rsplit("/", 1)[-1], body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def answer(self, action: str, body: dict[str, Any]) -> bytes:
        if action == "status_show":
            return b'{"success":true,"result":{"ckan_version":"2.12.0","extensions":[]}}'
        if action != "package_search":
            return b'{"success":false,"error":{"__type":"Not Found Error","message":"not replayed"}}'
        rows = int(body.get("rows") or 10)
        start, end = 0, len(self.ids)
        bounds = _RANGE.search(str(body.get("fq") or ""))
        if bounds:
            opening, low, high, closing = bounds.groups()
            if low is not None:
                start = (bisect.bisect_left if opening == "[" else bisect.bisect_right)(self.ids, low)
            if high is not None:
                end = (bisect.bisect_right if closing == "]" else bisect.bisect_left)(self.ids, high)
        key = (start, end, rows)
        if key not in self.pages:
            chunk = b",".join(self.encoded[start:min(end, start + rows)])
            self.pages[key] = b'{"success":true,"result":{"count":%d,"results":[%s]}}' % (max(0, end - start), chunk)
        return self.pages[key]

    def __enter__(self) -> ReplayPortal:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
