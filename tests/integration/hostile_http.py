#!/usr/bin/env python3
"""hostile_http.py PORT LOG: a hostile stand-in for a replica's read plane on
127.0.0.1:PORT. Every GET gets a 200 with a JSON document; its ETag cycles, per
request, through a control character inside, 200 visible characters (longer than a
client may echo), none at all, and a valid one ("ok"). The If-None-Match header of
every request (or "-" when it has none) is appended to LOG, one line each, so the test
can check which ETags the client sent back."""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ETAGS = ['"a\x01b"', '"' + "x" * 198 + '"', None, '"ok"']


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real read plane
    count = 0

    def do_GET(self):
        with open(sys.argv[2], "a") as log:
            log.write("%s\n" % self.headers.get("If-None-Match", "-"))
        etag = ETAGS[Handler.count % len(ETAGS)]
        Handler.count += 1
        body = b'{"envelope": {}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if etag is not None:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
