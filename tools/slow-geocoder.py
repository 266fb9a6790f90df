#!/usr/bin/env python3
"""A deliberately slow Nominatim stand-in on loopback, for tools/bench-geocoder.sh.

Every GET /reverse is answered after DELAY seconds with one address, from as many threads as
requests arrive. It counts the requests and writes the count to COUNT_FILE when stopped.
Usage: slow-geocoder.py PORT DELAY COUNT_FILE
"""

import http.server
import json
import signal
import sys
import threading
import time

PORT, DELAY, COUNT_FILE = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
REPLY = json.dumps(
    {"display_name": "1 Slow Street, Testville", "address": {"country_code": "de"}}
).encode()
count = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global count
        with lock:
            count += 1
        time.sleep(DELAY)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)

    def log_message(self, *args):
        pass


def stop(*_):
    with open(COUNT_FILE, "w") as out:
        out.write(str(count))
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
server.serve_forever()
