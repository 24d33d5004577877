"""refbpf's demo target: a small stdlib-only HTTP application server.

Three endpoints with different costs, the way a real server's time splits
between routing, rendering and serialising:
  /            renders an HTML page through a tiny template engine
  /api/primes  computes primes and returns JSON
  /api/report  aggregates fake orders and returns JSON

usage: server.py PORT [--single-thread]
(a thread per request, as http.server does by default; --single-thread
serves one request at a time on the main thread)
"""
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

TEMPLATE = """<html><head><title>{{ title }}</title></head><body>
<h1>{{ title }}</h1><ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>
</body></html>"""


class Template:
    token = re.compile(r"({{.*?}}|{%.*?%})")

    def __init__(self, text):
        self.parts = self.token.split(text)

    def render(self, context):
        out, loop = [], None
        for part in self.parts:
            if part.startswith("{%"):
                words = part[2:-2].split()
                if words[0] == "for":
                    loop = (words[1], context[words[3]], [])
                elif words[0] == "endfor" and loop:
                    name, values, body = loop
                    loop = None
                    for value in values:
                        out.append(self.render_parts(body, dict(context, **{name: value})))
            elif loop:
                loop[2].append(part)
            else:
                out.append(self.render_parts([part], context))
        return "".join(out)

    def render_parts(self, parts, context):
        return "".join(escape_html(str(context[p[2:-2].strip()])) if p.startswith("{{") else p
                       for p in parts)


def escape_html(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def primes_below(n):
    found = []
    for candidate in range(2, n):
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
    return found


def order_report(n):
    totals = {}
    for i in range(n):
        customer = "customer-%d" % (i % 37)
        totals[customer] = totals.get(customer, 0) + (i * 7919) % 1000 / 100.0
    return sorted(totals.items(), key=lambda kv: -kv[1])[:10]


class Handler(BaseHTTPRequestHandler):
    page = Template(TEMPLATE)

    def do_GET(self):
        if self.path == "/":
            body = self.page.render({"title": "refbpf demo",
                                     "items": ["item %d" % i for i in range(300)]})
            self.reply(200, "text/html", body)
        elif self.path == "/api/primes":
            self.reply(200, "application/json", json.dumps(primes_below(4000)))
        elif self.path == "/api/report":
            self.reply(200, "application/json", json.dumps(order_report(20000)))
        else:
            self.reply(404, "text/plain", "not found")

    def reply(self, status, ctype, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    kind = HTTPServer if "--single-thread" in sys.argv[2:] else ThreadingHTTPServer
    server = kind(("127.0.0.1", int(sys.argv[1])), Handler)
    print("READY", flush=True)
    server.serve_forever()
