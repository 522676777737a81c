#!/usr/bin/env python3
"""Loopback HTTP server for the HTTP unit tests (python3 stdlib only).

Binds 127.0.0.1 on a free port and prints the port as the first line of stdout. It exits
when its stdin reaches end of file, so it never outlives the test that started it.

Routes:
  GET  /status/<code>             empty body with that status
  GET  /json?body=<text>          <text> as an application/json body (status= optional)
  GET  /slow?ms=<n>               answers 200 "slow" after n milliseconds
  GET  /flaky?key=<k>&fails=<n>   503 for the first n requests of key k, then 200 {"ok": true}
  POST /echo (any method)         200 JSON {"method", "body", "content_type", "headers"}
  POST /hook/<key>                200; keeps the body (a webhook receiver)
  GET  /received/<key>            200 JSON list of the bodies POSTed to /hook/<key>, in order
  GET  /sour?key=<k>&ok=<n>       200 {"ok": true} for the first n requests of key k, then 503
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

FLAKY_COUNTS = {}
FLAKY_LOCK = threading.Lock()
RECEIVED = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep the test output clean
        pass

    def reply(self, status, body=b"", content_type="text/plain"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to report

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def route(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [p for p in url.path.split("/") if p]
        body = self.read_body()
        if len(parts) == 2 and parts[0] == "status":
            return self.reply(int(parts[1]))
        if parts == ["json"]:
            return self.reply(int(query.get("status", "200")), query.get("body", "").encode(),
                              "application/json")
        if parts == ["slow"]:
            time.sleep(int(query.get("ms", "1000")) / 1000.0)
            return self.reply(200, b"slow")
        if parts == ["flaky"]:
            key = query.get("key", "")
            with FLAKY_LOCK:
                FLAKY_COUNTS[key] = FLAKY_COUNTS.get(key, 0) + 1
                count = FLAKY_COUNTS[key]
            if count <= int(query.get("fails", "1")):
                return self.reply(503, b'{"ok": false}', "application/json")
            return self.reply(200, json.dumps({"ok": True, "count": count}).encode(),
                              "application/json")
        if len(parts) == 2 and parts[0] == "hook" and self.command == "POST":
            with FLAKY_LOCK:
                RECEIVED.setdefault(parts[1], []).append(body.decode("utf-8", "replace"))
            return self.reply(200, b"ok")
        if len(parts) == 2 and parts[0] == "received":
            with FLAKY_LOCK:
                got = list(RECEIVED.get(parts[1], []))
            return self.reply(200, json.dumps(got).encode(), "application/json")
        if parts == ["sour"]:
            key = query.get("key", "")
            with FLAKY_LOCK:
                FLAKY_COUNTS["sour:" + key] = FLAKY_COUNTS.get("sour:" + key, 0) + 1
                count = FLAKY_COUNTS["sour:" + key]
            if count <= int(query.get("ok", "1")):
                return self.reply(200, json.dumps({"ok": True, "count": count}).encode(), "application/json")
            return self.reply(503, json.dumps({"ok": False, "count": count}).encode(), "application/json")
        if parts == ["echo"]:
            echo = {
                "method": self.command,
                "body": body.decode("utf-8", "replace"),
                "content_type": self.headers.get("Content-Type"),
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
            return self.reply(200, json.dumps(echo).encode(), "application/json")
        return self.reply(404, b"no such route")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = route


def exit_on_stdin_eof():
    sys.stdin.buffer.read()
    os._exit(0)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=exit_on_stdin_eof, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
