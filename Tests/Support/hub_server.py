#!/usr/bin/env python3
"""A tiny stand-in for the Hugging Face hub, for `mmpipe models fetch` tests, on 127.0.0.1.

Usage: hub_server.py ROOT [--cut BYTES]
ROOT holds OWNER/NAME/<files>. Serves the tree API (GET /api/models/OWNER/NAME/tree/main:
path, size, and lfs.oid = sha256 for *.safetensors) and files (GET /OWNER/NAME/resolve/main/
FILE, with Range requests answered 206). --cut BYTES: the first request for a .safetensors
file sends its full Content-Length but only BYTES bytes, then drops the connection.
Prints the port on the first line of stdout.
"""
import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1]
CUT = int(sys.argv[sys.argv.index("--cut") + 1]) if "--cut" in sys.argv else None
cut_done = []


class Hub(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and parts[4:6] == ["tree", "main"]:
            repo = os.path.join(ROOT, parts[2], parts[3])
            if not os.path.isdir(repo):
                return self.send_error(404)
            items = []
            for name in sorted(os.listdir(repo)):
                p = os.path.join(repo, name)
                item = {"type": "file", "path": name, "size": os.path.getsize(p), "oid": "0" * 40}
                if name.endswith(".safetensors"):
                    item["lfs"] = {"oid": hashlib.sha256(open(p, "rb").read()).hexdigest(), "size": item["size"]}
                items.append(item)
            body = json.dumps(items).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if len(parts) == 5 and parts[2:4] == ["resolve", "main"]:
            p = os.path.join(ROOT, parts[0], parts[1], parts[4])
            if not os.path.isfile(p):
                return self.send_error(404)
            data = open(p, "rb").read()
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if CUT is not None and p.endswith(".safetensors") and not cut_done:
                cut_done.append(1)
                self.wfile.write(body[:CUT])
                self.wfile.flush()
                self.connection.shutdown(2)
                self.close_connection = True
                return
            self.wfile.write(body)
            return
        self.send_error(404)


server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
print(server.server_address[1], flush=True)
server.serve_forever()
