#!/usr/bin/env python3
"""A minimal OTLP/HTTP traces receiver for the otlp suite (tests/integration/test_otlp.c).

    otlp_receiver.py serve --out FILE [--status N]
        Listens on a free port of 127.0.0.1, prints "port N" then "ready". Answers one
        POST /v1/traces: checks its Content-Type and its body against the OTLP/JSON schema of
        ExportTraceServiceRequest (opentelemetry-proto, collector/trace/v1, in the JSON mapping
        of the OTLP specification), writes {"content_type", "errors": [...], "request": body}
        to FILE, answers N (200: {"partialSuccess": {}}; else a JSON error body), and exits.
    otlp_receiver.py check FILE
        The same checks on a file; prints each error, exits 1 if there is one.
"""
import http.server
import json
import re
import sys

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
DIGITS = re.compile(r"^-?[0-9]+$")

# Fields of the messages, by their JSON names (lowerCamelCase), from the .proto files.
REQUEST_FIELDS = {"resourceSpans"}
RESOURCE_SPANS_FIELDS = {"resource", "scopeSpans", "schemaUrl"}
RESOURCE_FIELDS = {"attributes", "droppedAttributesCount"}
SCOPE_SPANS_FIELDS = {"scope", "spans", "schemaUrl"}
SCOPE_FIELDS = {"name", "version", "attributes", "droppedAttributesCount"}
SPAN_FIELDS = {"traceId", "spanId", "traceState", "parentSpanId", "flags", "name", "kind",
               "startTimeUnixNano", "endTimeUnixNano", "attributes", "droppedAttributesCount",
               "events", "droppedEventsCount", "links", "droppedLinksCount", "status"}
LINK_FIELDS = {"traceId", "spanId", "traceState", "attributes", "droppedAttributesCount", "flags"}
STATUS_FIELDS = {"message", "code"}
ANY_VALUE_FIELDS = {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue",
                    "kvlistValue", "bytesValue"}


class Checker:
    def __init__(self):
        self.errors = []

    def error(self, where, what):
        self.errors.append(f"{where}: {what}")

    def fields(self, where, obj, allowed, required=()):
        if not isinstance(obj, dict):
            self.error(where, "not an object")
            return False
        for key in obj:
            if key not in allowed:
                self.error(where, f"unknown field {key!r}")
        for key in required:
            if key not in obj:
                self.error(where, f"missing {key!r}")
        return True

    def uint64_string(self, where, value):
        # 64-bit integers are strings in the JSON mapping (numbers are accepted by parsers,
        # but what we write must be strings).
        if not isinstance(value, str) or not DIGITS.match(value) or value.startswith("-"):
            self.error(where, f"not a uint64 string: {value!r}")
            return None
        return int(value)

    def any_value(self, where, value):
        if not self.fields(where, value, ANY_VALUE_FIELDS):
            return
        if len(value) != 1:
            self.error(where, f"an AnyValue has exactly one member, not {sorted(value)}")
            return
        (kind, v), = value.items()
        if kind == "stringValue" and not isinstance(v, str):
            self.error(where, "stringValue not a string")
        elif kind == "boolValue" and not isinstance(v, bool):
            self.error(where, "boolValue not a boolean")
        elif kind == "intValue" and (not isinstance(v, str) or not DIGITS.match(v)):
            self.error(where, f"intValue not an int64 string: {v!r}")
        elif kind == "doubleValue" and not isinstance(v, (int, float)):
            self.error(where, "doubleValue not a number")

    def attributes(self, where, attrs):
        if not isinstance(attrs, list):
            self.error(where, "attributes not an array")
            return {}
        seen = {}
        for i, kv in enumerate(attrs):
            w = f"{where}[{i}]"
            if not self.fields(w, kv, {"key", "value"}, ("key", "value")):
                continue
            key = kv.get("key")
            if not isinstance(key, str) or not key:
                self.error(w, "key not a non-empty string")
                continue
            if key in seen:
                self.error(w, f"key {key!r} twice")
            self.any_value(f"{w}.value", kv.get("value"))
            seen[key] = kv.get("value")
        return seen

    def span_id(self, where, value, allow_empty=False):
        if allow_empty and value == "":
            return None
        if not isinstance(value, str) or not HEX16.match(value):
            self.error(where, f"not 16 lowercase hex digits: {value!r}")
        elif value == "0" * 16:
            self.error(where, "an all-zero span id is invalid")
        return value

    def trace_id(self, where, value):
        if not isinstance(value, str) or not HEX32.match(value):
            self.error(where, f"not 32 lowercase hex digits: {value!r}")
        elif value == "0" * 32:
            self.error(where, "an all-zero trace id is invalid")
        return value

    def span(self, where, span, ids, parents, links):
        if not self.fields(where, span, SPAN_FIELDS,
                           ("traceId", "spanId", "name", "kind", "startTimeUnixNano",
                            "endTimeUnixNano")):
            return
        trace = self.trace_id(f"{where}.traceId", span.get("traceId"))
        sid = self.span_id(f"{where}.spanId", span.get("spanId"))
        if sid in ids:
            self.error(where, f"spanId {sid} twice")
        ids[sid] = trace
        if "parentSpanId" in span:
            parent = self.span_id(f"{where}.parentSpanId", span["parentSpanId"], allow_empty=True)
            if parent:
                parents.append((where, trace, parent))
        if not isinstance(span.get("name"), str) or not span.get("name"):
            self.error(f"{where}.name", "not a non-empty string")
        kind = span.get("kind")
        if not isinstance(kind, int) or isinstance(kind, bool) or not 0 <= kind <= 5:
            self.error(f"{where}.kind", f"not a SpanKind number: {kind!r}")
        start = self.uint64_string(f"{where}.startTimeUnixNano", span.get("startTimeUnixNano"))
        end = self.uint64_string(f"{where}.endTimeUnixNano", span.get("endTimeUnixNano"))
        if start is not None and end is not None:
            if end < start:
                self.error(where, "ends before it starts")
            if start < 10**18:
                self.error(where, f"start {start} is not nanoseconds since the epoch")
        self.attributes(f"{where}.attributes", span.get("attributes", []))
        for i, link in enumerate(span.get("links", [])):
            w = f"{where}.links[{i}]"
            if not self.fields(w, link, LINK_FIELDS, ("traceId", "spanId")):
                continue
            lt = self.trace_id(f"{w}.traceId", link.get("traceId"))
            links.append((w, lt, self.span_id(f"{w}.spanId", link.get("spanId"))))
            self.attributes(f"{w}.attributes", link.get("attributes", []))
        if "status" in span:
            status = span["status"]
            if self.fields(f"{where}.status", status, STATUS_FIELDS):
                code = status.get("code", 0)
                if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 2:
                    self.error(f"{where}.status.code", f"not a StatusCode number: {code!r}")
                if not isinstance(status.get("message", ""), str):
                    self.error(f"{where}.status.message", "not a string")

    def request(self, req):
        if not self.fields("request", req, REQUEST_FIELDS, ("resourceSpans",)):
            return
        rss = req.get("resourceSpans")
        if not isinstance(rss, list) or not rss:
            self.error("resourceSpans", "not a non-empty array")
            return
        ids, parents, links = {}, [], []
        for r, rs in enumerate(rss):
            w = f"resourceSpans[{r}]"
            if not self.fields(w, rs, RESOURCE_SPANS_FIELDS, ("resource", "scopeSpans")):
                continue
            resource = rs.get("resource")
            if self.fields(f"{w}.resource", resource, RESOURCE_FIELDS, ("attributes",)):
                attrs = self.attributes(f"{w}.resource.attributes", resource.get("attributes"))
                if "stringValue" not in (attrs.get("service.name") or {}):
                    self.error(f"{w}.resource", "no service.name string")
            scope_spans = rs.get("scopeSpans")
            if not isinstance(scope_spans, list):
                self.error(f"{w}.scopeSpans", "not an array")
                continue
            for s, ss in enumerate(scope_spans):
                ws = f"{w}.scopeSpans[{s}]"
                if not self.fields(ws, ss, SCOPE_SPANS_FIELDS, ("scope", "spans")):
                    continue
                scope = ss.get("scope")
                if self.fields(f"{ws}.scope", scope, SCOPE_FIELDS, ("name",)):
                    for key in ("name", "version"):
                        if key in scope and not isinstance(scope[key], str):
                            self.error(f"{ws}.scope.{key}", "not a string")
                spans = ss.get("spans")
                if not isinstance(spans, list):
                    self.error(f"{ws}.spans", "not an array")
                    continue
                for i, span in enumerate(spans):
                    self.span(f"{ws}.spans[{i}]", span, ids, parents, links)
        for where, trace, parent in parents:
            if parent not in ids:
                self.error(where, f"parentSpanId {parent} is no span of the request")
            elif ids[parent] != trace:
                self.error(where, f"parent {parent} is in another trace")
        for where, trace, target in links:
            if target not in ids or ids[target] != trace:
                self.error(where, f"link to {target}, no span of the request")


def check(body):
    c = Checker()
    try:
        req = json.loads(body)
    except ValueError as e:
        return None, [f"not JSON: {e}"]
    c.request(req)
    return req, c.errors


def serve(out, status):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            req, errors = check(body)
            content_type = self.headers.get("Content-Type")
            if content_type != "application/json":
                errors.append(f"Content-Type {content_type!r}, not application/json")
            with open(out, "w") as f:
                json.dump({"content_type": content_type, "errors": errors, "request": req}, f)
            if status == 200:
                answer = b'{"partialSuccess":{}}'
            else:
                answer = b'{"code":3,"message":"invalid request:\\nspans rejected by the test"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            self.server.done = True

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.done = False
    print(f"port {server.server_address[1]}", flush=True)
    print("ready", flush=True)
    while not server.done:
        server.handle_request()


def main():
    args = sys.argv[1:]
    if args[:1] == ["check"] and len(args) == 2:
        with open(args[1], "rb") as f:
            _, errors = check(f.read())
        for e in errors:
            print(e)
        sys.exit(1 if errors else 0)
    if args[:1] == ["serve"]:
        out, status = None, 200
        i = 1
        while i < len(args):
            if args[i] == "--out":
                out = args[i + 1]
            elif args[i] == "--status":
                status = int(args[i + 1])
            i += 2
        if out:
            serve(out, status)
            return
    print(__doc__, file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
