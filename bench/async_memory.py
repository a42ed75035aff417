"""P5 for the async client: peak memory (VmHWM) uploading and downloading 300 MiB through loopback servers.

Run: .venv/bin/python bench/async_memory.py upload; .venv/bin/python bench/async_memory.py download
(one process per direction, so each peak is its own; nothing but 127.0.0.1 is used)."""
import asyncio, os, sys, threading, tempfile, json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
SIZE = 300 << 20

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):  # an upload: read and drop the body
        left = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding") == "chunked":
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline(); break
                self.rfile.read(size + 2)
        while left:
            left -= len(self.rfile.read(min(left, 1 << 20)))
        body = json.dumps({"success": True, "result": {"id": "r", "url": ""}}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(SIZE)); self.end_headers()
        chunk = b"x" * (1 << 20)
        for _ in range(SIZE >> 20):
            self.wfile.write(chunk)

server = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024

from ckan_api_client import AsyncCkanLowlevelClient
async def main(mode):
    async with AsyncCkanLowlevelClient(url, "tok" * 10, timeout=600) as client:
        with tempfile.TemporaryDirectory() as tmp:
            if mode == "upload":
                path = Path(tmp) / "big.bin"
                with open(path, "wb") as fh:
                    for _ in range(SIZE >> 20):
                        fh.write(os.urandom(1 << 20))
                before = peak()
                await client.call_action("resource_create", {"package_id": "x"}, files={"upload": path})
            else:
                before = peak()
                await client.download_resource({"id": "r", "url": url + "/big.bin"}, Path(tmp) / "back.bin")
    print(mode, "peak before", before, "MiB; peak after", peak(), "MiB")
asyncio.run(main(sys.argv[1]))
