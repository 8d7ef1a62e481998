#!/usr/bin/env python3
"""A Debug Adapter Protocol client for the tests (standard library only).

It starts `async-inspect dap`, speaks the protocol's Content-Length framed JSON over its pipes
as an editor would, checks every message it receives against the fields the DAP schema
(microsoft/debug-adapter-protocol, debugAdapterProtocol.json) marks required, with their types,
and runs one scenario with the expectations given on the command line. It prints what it saw, one
fact per line, and exits 0 when every expectation held, 1 (with the reason on stderr) otherwise.

    dap_client.py ADAPTER attach --pid N [--expect-thread TEXT]... [--expect-frame FILE:LINE]...
                  [--expect-local FILE:LINE:NAME[.PART=TEXT]]...
                  [--expect-tree FILE:LINE:NAME[>PART...]=TEXT]...
    dap_client.py ADAPTER launch --program PATH [--arg A]... --wait-output TEXT [--expect-thread TEXT]... [--terminate]
    dap_client.py ADAPTER deadlock --pid N --expect-cycle TEXT,TEXT
    dap_client.py ADAPTER killed --pid N       (SIGKILLs N while stopped; expects exited)
    dap_client.py ADAPTER core --core FILE --program PATH [--expect-thread TEXT]... [--expect-frame FILE:LINE]...
    dap_client.py ADAPTER breakpoint --pid N --source PATH --line L --bad-line L2 --next-line L3
                  (the ticker fixture: L its looping .await, L2 a line without one, L3 the .await
                  after L; a hit, evaluate, continue, a condition, next twice, disconnect)
    dap_client.py ADAPTER launch-breakpoint --program PATH --source PATH --line L
    dap_client.py ADAPTER launch-entry --program PATH --source PATH --line L
                  (held at its exec until configurationDone: the first round's hit, then the
                  breakpoints cleared and the program run to its end)

With --tcp the adapter is started as `dap --port 0` and spoken to over its TCP connection.
"""

import argparse
import json
import os
import re
import select
import socket
import subprocess
import sys
import time

TIMEOUT = float(os.environ.get("DAP_TIMEOUT", "60"))  # seconds for any one answer; a hung adapter fails the test, never hangs it

# The required fields of what an adapter sends, and their JSON types, from the DAP schema.
INT, STR, BOOL, OBJ, ARR = int, str, bool, dict, list
MESSAGE = {"seq": INT, "type": STR}
RESPONSE = {"request_seq": INT, "success": BOOL, "command": STR}
EVENT = {"event": STR}
EVENT_BODIES = {
    "stopped": {"reason": STR},
    "exited": {"exitCode": INT},
    "output": {"output": STR},
    "process": {"name": STR},
    "thread": {"reason": STR, "threadId": INT},
    "continued": {"threadId": INT},
    "breakpoint": {"reason": STR, "breakpoint": OBJ},
}
EVENTS_WITH_BODY = {"stopped", "exited", "output", "process", "thread", "continued", "breakpoint"}
RESPONSE_BODIES = {
    "threads": {"threads": ARR},
    "stackTrace": {"stackFrames": ARR},
    "scopes": {"scopes": ARR},
    "variables": {"variables": ARR},
    "setBreakpoints": {"breakpoints": ARR},
    "evaluate": {"result": STR, "variablesReference": INT},
}
ITEMS = {
    ("threads", "threads"): {"id": INT, "name": STR},
    ("stackTrace", "stackFrames"): {"id": INT, "name": STR, "line": INT, "column": INT},
    ("scopes", "scopes"): {"name": STR, "variablesReference": INT, "expensive": BOOL},
    ("variables", "variables"): {"name": STR, "value": STR, "variablesReference": INT},
    ("setBreakpoints", "breakpoints"): {"verified": BOOL},
}
# Enumerations the schema closes (not the open `_enum` ones).
PRESENTATION_HINTS = {"normal", "label", "subtle"}
SOURCE_HINTS = {"normal", "emphasize", "deemphasize"}


class Failure(Exception):
    pass


def check_fields(what, obj, fields):
    if not isinstance(obj, dict):
        raise Failure(f"{what}: not an object: {obj!r}")
    for name, kind in fields.items():
        if name not in obj:
            raise Failure(f"{what}: required field '{name}' is missing: {json.dumps(obj)[:300]}")
        value = obj[name]
        ok = isinstance(value, kind) and not (kind is INT and isinstance(value, bool))
        if not ok:
            raise Failure(f"{what}: field '{name}' is not of type {kind.__name__}: {value!r}")


def validate(msg):
    """Checks one message from the adapter against the schema's required fields."""
    check_fields("message", msg, MESSAGE)
    if msg["type"] == "response":
        check_fields("response", msg, RESPONSE)
        if not msg["success"]:
            if "message" in msg and not isinstance(msg["message"], str):
                raise Failure("error response: 'message' is not a string")
            error = msg.get("body", {}).get("error")
            if error is not None:
                check_fields("error response body.error", error, {"id": INT, "format": STR})
            return
        command = msg["command"]
        if command in RESPONSE_BODIES:
            body = msg.get("body")
            check_fields(f"{command} response body", body, RESPONSE_BODIES[command])
            for (cmd, key), fields in ITEMS.items():
                if cmd == command:
                    for i, item in enumerate(body[key]):
                        check_fields(f"{command} {key}[{i}]", item, fields)
        if command == "variables":
            for v in msg["body"]["variables"]:
                for key in ("namedVariables", "indexedVariables"):
                    if key in v and (not isinstance(v[key], int) or isinstance(v[key], bool) or v[key] < 0):
                        raise Failure(f"variable {v['name']!r}: {key} is not a count: {v[key]!r}")
                hint = v.get("presentationHint")
                if hint is not None and (not isinstance(hint, dict) or
                                         not isinstance(hint.get("attributes", []), list)):
                    raise Failure(f"variable {v['name']!r}: presentationHint is not a VariablePresentationHint")
        if command == "stackTrace":
            for frame in msg["body"]["stackFrames"]:
                hint = frame.get("presentationHint")
                if hint is not None and hint not in PRESENTATION_HINTS:
                    raise Failure(f"stack frame presentationHint {hint!r} is not one of {PRESENTATION_HINTS}")
                source = frame.get("source")
                if source is not None:
                    if not isinstance(source, dict):
                        raise Failure("stack frame source is not an object")
                    shint = source.get("presentationHint")
                    if shint is not None and shint not in SOURCE_HINTS:
                        raise Failure(f"source presentationHint {shint!r} is not one of {SOURCE_HINTS}")
    elif msg["type"] == "event":
        check_fields("event", msg, EVENT)
        name = msg["event"]
        if name in EVENTS_WITH_BODY:
            check_fields(f"{name} event body", msg.get("body"), EVENT_BODIES[name])
    else:
        raise Failure(f"message of unknown type {msg['type']!r}")


class Adapter:
    def __init__(self, adapter, tcp=False):
        if tcp:
            # `dap --port 0` says on stderr which port it took, then serves one connection.
            self.proc = subprocess.Popen([adapter, "dap", "--port", "0"], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            line = self.proc.stderr.readline().decode()
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if not found:
                raise Failure(f"dap --port 0 did not say its port: {line!r}")
            self.sock = socket.create_connection(("127.0.0.1", int(found.group(1))), timeout=TIMEOUT)
            self.rfd = self.sock.fileno()
            self.write = self.sock.sendall
            print(f"connected to 127.0.0.1:{found.group(1)}")
        else:
            self.proc = subprocess.Popen([adapter, "dap"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
            self.rfd = self.proc.stdout.fileno()

            def write(data):
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            self.write = write
        self.buf = b""
        self.seq = 0
        self.events = []   # events received and not yet taken
        self.last_seq = 0  # the adapter's seq must count up by one

    def send(self, command, arguments=None):
        self.seq += 1
        msg = {"seq": self.seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        data = json.dumps(msg).encode()
        self.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        return self.seq

    def _read_message(self, deadline):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                length = None
                for line in self.buf[:end].split(b"\r\n"):
                    key, _, value = line.partition(b":")
                    if key.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length is None:
                    raise Failure(f"a header without Content-Length: {self.buf[:end]!r}")
                if len(self.buf) >= end + 4 + length:
                    body = self.buf[end + 4:end + 4 + length]
                    self.buf = self.buf[end + 4 + length:]
                    msg = json.loads(body)
                    validate(msg)
                    if msg["seq"] != self.last_seq + 1:
                        raise Failure(f"seq {msg['seq']} after {self.last_seq}")
                    self.last_seq = msg["seq"]
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("no answer from the adapter in time")
            ready, _, _ = select.select([self.rfd], [], [], left)
            if ready:
                chunk = os.read(self.rfd, 65536)
                if not chunk:
                    raise Failure("the adapter closed its output")
                self.buf += chunk

    def request(self, command, arguments=None, ok=True):
        seq = self.send(command, arguments)
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self._read_message(deadline)
            if msg["type"] == "event":
                self.events.append(msg)
                continue
            if msg["type"] == "response" and msg["request_seq"] == seq:
                if msg["command"] != command:
                    raise Failure(f"the response to {command} says command {msg['command']!r}")
                if ok and not msg["success"]:
                    raise Failure(f"{command} failed: {msg.get('message')}")
                return msg

    def event(self, name, predicate=lambda e: True):
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and predicate(e):
                    return self.events.pop(i)
            msg = self._read_message(deadline)
            if msg["type"] == "event":
                self.events.append(msg)

    def has_event(self, name):
        return any(e["event"] == name for e in self.events)

    def wait_exit(self):
        """The adapter's exit status, which must be 0 (a sanitizer's report makes it fail)."""
        try:
            status = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("the adapter did not exit after disconnect")
        if status != 0:
            raise Failure(f"the adapter exited with status {status}")
        return status


def initialize(dap):
    caps = dap.request("initialize", {"clientID": "ai-tests", "adapterID": "async-inspect",
                                      "linesStartAt1": True, "columnsStartAt1": True,
                                      "pathFormat": "path"})
    body = caps.get("body") or {}
    if not body.get("supportsConfigurationDoneRequest"):
        raise Failure("initialize: supportsConfigurationDoneRequest is not true")
    dap.event("initialized")
    print("initialized")


def thread_names(dap):
    threads = dap.request("threads")["body"]["threads"]
    ids = [t["id"] for t in threads]
    if len(set(ids)) != len(ids):
        raise Failure(f"threads: ids are not unique: {ids}")
    return threads


def expect_threads(threads, wanted):
    for text in wanted:
        match = [t["name"] for t in threads if text in t["name"]]
        if not match:
            raise Failure(f"no thread named with {text!r}; threads: {[t['name'] for t in threads]}")
        print(f"thread: {match[0]}")


def stacks(dap, threads):
    """Every thread's stack (levels asked in two pages, as an editor that loads lazily does)."""
    result = {}
    for t in threads:
        first = dap.request("stackTrace", {"threadId": t["id"], "startFrame": 0, "levels": 1})["body"]
        frames = first["stackFrames"]
        total = first.get("totalFrames", len(frames))
        if total > 1:
            rest = dap.request("stackTrace", {"threadId": t["id"], "startFrame": 1, "levels": total})["body"]
            frames += rest["stackFrames"]
        result[t["id"]] = frames
    return result


def parse_where(text):
    path, _, line = text.rpartition(":")
    return path, int(line)


def frame_at(all_stacks, threads, where):
    path, line = parse_where(where)
    for t in threads:
        for f in all_stacks[t["id"]]:
            source = f.get("source") or {}
            if f["line"] == line and source.get("path", "").endswith(path):
                return t, f
    return None, None


def expect_frames(all_stacks, threads, wanted):
    for where in wanted:
        t, f = frame_at(all_stacks, threads, where)
        if not f:
            raise Failure(f"no frame at {where} in any stack")
        print(f"frame: {t['name']}: {f['name']} at {where}")


def variables(dap, reference):
    return dap.request("variables", {"variablesReference": reference})["body"]["variables"]


def expect_locals(dap, all_stacks, threads, wanted):
    for spec in wanted:
        where, _, local = spec.rpartition(":")
        name, _, part = local.partition(".")
        t, f = frame_at(all_stacks, threads, where)
        if not f:
            raise Failure(f"no frame at {where} for local {name}")
        scopes = dap.request("scopes", {"frameId": f["id"]})["body"]["scopes"]
        locals_scope = [s for s in scopes if s["name"] == "Locals"]
        if not locals_scope:
            raise Failure(f"frame at {where}: no Locals scope in {scopes}")
        found = [v for v in variables(dap, locals_scope[0]["variablesReference"]) if v["name"] == name]
        if not found:
            raise Failure(f"frame at {where}: no local {name}")
        v = found[0]
        print(f"local: {name} = {v['value']}")
        if part:
            field, _, text = part.partition("=")
            if not v["variablesReference"]:
                raise Failure(f"local {name} = {v['value']} does not expand")
            parts = variables(dap, v["variablesReference"])
            match = [p for p in parts if p["name"] == field]
            if not match or text not in match[0]["value"]:
                raise Failure(f"local {name}: part {field} with {text!r} not in {parts}")
            print(f"part: {name}.{field} = {match[0]['value']}")


def walk_tree(dap, frame, steps):
    """The variable at steps (a local, then its parts by name) under frame, or a reason."""
    scopes = dap.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
    locals_scope = [s for s in scopes if s["name"] == "Locals"]
    if not locals_scope:
        return None, "no Locals scope"
    v = None
    listing = variables(dap, locals_scope[0]["variablesReference"])
    for i, step in enumerate(steps):
        if i > 0:
            if not v["variablesReference"]:
                return None, f"{v['name']} = {v['value']} does not expand"
            if step.startswith("[") and v.get("indexedVariables"):
                # the editor's paging: one item of the indexed ones, by its index
                index = int(step[1:-1])
                if index >= v["indexedVariables"]:
                    return None, f"{step} past indexedVariables {v['indexedVariables']}"
                listing = dap.request("variables", {"variablesReference": v["variablesReference"],
                                                    "filter": "indexed", "start": index, "count": 1})["body"]["variables"]
                if len(listing) != 1:
                    return None, f"paged {step}: {len(listing)} variables"
            else:
                listing = variables(dap, v["variablesReference"])
        found = [x for x in listing if x["name"] == step]
        if not found:
            return None, f"no {step} in {[x['name'] for x in listing]}"
        v = found[0]
    return v, None


def expect_tree(dap, all_stacks, threads, wanted):
    """FILE:LINE:local>part>part=TEXT: in some frame at the line, that part's value holds TEXT."""
    for spec in wanted:
        path_file, line, rest = spec.split(":", 2)
        path, _, text = rest.partition("=")
        steps = path.split(">")
        frames = [f for t in threads for f in all_stacks[t["id"]]
                  if f["line"] == int(line) and (f.get("source") or {}).get("path", "").endswith(path_file)]
        if not frames:
            raise Failure(f"no frame at {path_file}:{line}")
        reasons = []
        for f in frames:
            v, why = walk_tree(dap, f, steps)
            if v and text in v["value"]:
                break
            reasons.append(why or f"value {v['value']!r}")
        else:
            raise Failure(f"{path} with {text!r} at {path_file}:{line}: {reasons}")
        if v["value"].startswith("<") and v["variablesReference"]:
            raise Failure(f"{path} = {v['value']} (not there) expands")
        counts = "".join(f" ({k} {v[k]})" for k in ("namedVariables", "indexedVariables") if k in v)
        print(f"tree: {path} = {v['value']}{counts}")


def scenario_attach(dap, args):
    initialize(dap)
    dap.request("attach", {"pid": args.pid})
    dap.request("setBreakpoints", {"source": {"path": "/nonexistent.rs"}, "breakpoints": [{"line": 1}]})
    dap.request("configurationDone")
    stopped = dap.event("stopped")
    print(f"stopped: {stopped['body']['reason']} all={stopped['body'].get('allThreadsStopped')}")
    threads = thread_names(dap)
    expect_threads(threads, args.expect_thread)
    all_stacks = stacks(dap, threads)
    expect_frames(all_stacks, threads, args.expect_frame)
    expect_locals(dap, all_stacks, threads, args.expect_local)
    expect_tree(dap, all_stacks, threads, args.expect_tree)
    # A second stop: the same tasks keep their thread ids.
    dap.request("continue", {"threadId": threads[0]["id"]})
    print("continued")
    dap.request("pause", {"threadId": threads[0]["id"]})
    stopped = dap.event("stopped")
    print(f"stopped: {stopped['body']['reason']}")
    again = {t["name"]: t["id"] for t in thread_names(dap)}
    for t in threads:
        if t["name"] in again and again[t["name"]] != t["id"]:
            raise Failure(f"thread {t['name']!r} changed id from {t['id']} to {again[t['name']]}")
    print("ids stable")
    dap.request("disconnect", {"terminateDebuggee": False})
    status = dap.wait_exit()
    print(f"adapter exited {status}")
    if status != 0:
        raise Failure(f"the adapter exited with status {status}")


def scenario_launch(dap, args):
    initialize(dap)
    dap.request("launch", {"program": args.program, "args": args.arg, "cwd": os.path.dirname(args.program),
                           "env": {"AI_DAP_TEST": "1"}})
    process = dap.event("process")
    pid = process["body"]["systemProcessId"]
    dap.request("configurationDone")
    output = ""
    while args.wait_output not in output:
        output += dap.event("output", lambda e: e["body"].get("category") == "stdout")["body"]["output"]
    print(f"output: {args.wait_output}")
    dap.request("pause", {"threadId": 1})
    dap.event("stopped")
    threads = thread_names(dap)
    expect_threads(threads, args.expect_thread)
    if args.terminate:
        # terminate: SIGTERM, then the adapter says how it ended.
        dap.request("terminate")
        exited = dap.event("exited")
        dap.event("terminated")
        print(f"exited: {exited['body']['exitCode']}")
        dap.request("disconnect")
        status = dap.wait_exit()
        print(f"adapter exited {status}")
        return
    dap.request("disconnect", {"terminateDebuggee": True})
    status = dap.wait_exit()
    print(f"adapter exited {status}")
    if os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] != "Z":
        raise Failure(f"the launched program {pid} still runs after disconnect with terminateDebuggee")
    print("program killed")


def scenario_deadlock(dap, args):
    initialize(dap)
    dap.request("attach", {"pid": args.pid})
    dap.request("configurationDone")
    event = dap.event("asyncInspect/deadlock")
    dap.event("stopped")
    threads = {t["id"]: t["name"] for t in thread_names(dap)}
    cycles = event["body"]["cycles"]
    wanted = args.expect_cycle.split(",")
    for cycle in cycles:
        names = [threads.get(t["threadId"], "?") for t in cycle["tasks"]]
        for t in cycle["tasks"]:
            if t["name"] != threads.get(t["threadId"]):
                raise Failure(f"deadlock: task {t} is not thread {threads.get(t['threadId'])!r}")
        if all(any(w in n for n in names) for w in wanted):
            print(f"cycle: {' -> '.join(names)}")
            break
    else:
        raise Failure(f"no cycle of {wanted} in {cycles}")
    dap.request("disconnect")
    dap.wait_exit()


def scenario_killed(dap, args):
    """A program killed while the editor holds it stopped: its end is still reported."""
    initialize(dap)
    dap.request("attach", {"pid": args.pid})
    dap.request("configurationDone")
    dap.event("stopped")
    os.kill(args.pid, 9)
    exited = dap.event("exited")
    dap.event("terminated")
    print(f"exited: {exited['body']['exitCode']}")
    dap.request("disconnect")
    dap.wait_exit()


def scenario_core(dap, args):
    initialize(dap)
    dap.request("attach", {"core": args.core, "program": args.program})
    dap.request("configurationDone")
    dap.event("stopped")
    threads = thread_names(dap)
    expect_threads(threads, args.expect_thread)
    expect_frames(stacks(dap, threads), threads, args.expect_frame)
    if dap.request("continue", {"threadId": threads[0]["id"]}, ok=False)["success"]:
        raise Failure("continue on a core file succeeded")
    print("continue refused")
    dap.request("disconnect")
    dap.wait_exit()


def top_frame(dap, thread_id, path):
    """The innermost frame in the file path (below it: tokio's own async fns and the leaf)."""
    frames = dap.request("stackTrace", {"threadId": thread_id})["body"]["stackFrames"]
    base = path.rpartition("/")[2]
    mine = [f for f in frames if (f.get("source") or {}).get("path", "").endswith("/" + base)]
    if not mine:
        raise Failure(f"thread {thread_id}: no frame in {base}: {[f['name'] for f in frames]}")
    return mine[0]


def local_of(dap, frame, name):
    scopes = dap.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
    locals_scope = [s for s in scopes if s["name"] == "Locals"]
    if not locals_scope:
        raise Failure(f"frame {frame['name']}: no Locals scope")
    found = [v["value"] for v in variables(dap, locals_scope[0]["variablesReference"]) if v["name"] == name]
    if not found:
        raise Failure(f"frame {frame['name']}: no local {name}")
    return found[0]


def expect_stop(dap, reason, line, path, thread=None):
    """The next stopped event: its reason, the task it names, the line of that task's top frame."""
    stopped = dap.event("stopped")["body"]
    if stopped["reason"] != reason or not stopped.get("allThreadsStopped"):
        raise Failure(f"expected a {reason} stop of every thread: {stopped}")
    tid = stopped.get("threadId")
    if thread is not None and tid != thread:
        raise Failure(f"{reason}: stopped thread {tid}, not the stepped task's {thread}")
    names = {t["id"]: t["name"] for t in thread_names(dap)}
    if "ticker" not in names.get(tid, ""):
        raise Failure(f"{reason}: thread {tid} is {names.get(tid)!r}, not the ticker task")
    frame = top_frame(dap, tid, path)
    source = frame["source"]["path"]
    if frame["line"] != line:
        raise Failure(f"{reason}: the task's top frame is {frame['name']} at {source}:{frame['line']}, not line {line}")
    return stopped, tid, frame, int(local_of(dap, frame, "i"))


def evaluate(dap, frame, expression):
    body = dap.request("evaluate", {"expression": expression, "frameId": frame["id"], "context": "watch"})["body"]
    print(f"evaluate: {expression} = {body['result']}")
    return body["result"]


def scenario_breakpoint(dap, args):
    initialize(dap)
    # As VS Code does: breakpoints first (no program yet: unverified), then attach resolves them.
    wanted = [{"line": args.line}, {"line": args.bad_line}]
    early = dap.request("setBreakpoints", {"source": {"path": args.source}, "breakpoints": wanted})["body"]["breakpoints"]
    if len(early) != 2 or any(b["verified"] for b in early):
        raise Failure(f"breakpoints before attach are unverified: {early}")
    dap.request("attach", {"pid": args.pid, "stopOnEntry": False})
    changed = {}
    while len(changed) < 2:
        b = dap.event("breakpoint")["body"]["breakpoint"]
        changed[b["id"]] = b
    good, bad = changed[early[0]["id"]], changed[early[1]["id"]]
    if not good["verified"] or good["line"] != args.line:
        raise Failure(f"the .await line is not verified at {args.line}: {good}")
    if bad["verified"] or "has no .await" not in bad.get("message", ""):
        raise Failure(f"the line without .await is verified, or says nothing: {bad}")
    print(f"verified: line {good['line']}")
    print(f"unverified: {bad['message']}")
    dap.request("configurationDone")
    stopped, tid, frame, i = expect_stop(dap, "breakpoint", args.line, args.source)
    if stopped.get("hitBreakpointIds") != [good["id"]]:
        raise Failure(f"hitBreakpointIds {stopped.get('hitBreakpointIds')} is not [{good['id']}]")
    print(f"hit: {stopped['description']}")
    print(f"local: i = {i}")
    if evaluate(dap, frame, "i") != str(i):
        raise Failure("evaluate i is not the local's value")
    if evaluate(dap, frame, f"i == {i} && task.id > 0") != "true":
        raise Failure("evaluate of a true comparison")
    if not evaluate(dap, frame, "no_such_local").startswith("unknown: no local no_such_local"):
        raise Failure("evaluate of a local that is not there must say unknown")
    # continue: the next round's hit.
    dap.request("continue", {"threadId": tid})
    _, tid2, _, i2 = expect_stop(dap, "breakpoint", args.line, args.source)
    if tid2 != tid or i2 != i + 1:
        raise Failure(f"continue: thread {tid2} i = {i2}, expected thread {tid} i = {i + 1}")
    print(f"continued: i = {i2}")
    # A condition: the round three on.
    k = i2 + 3
    cond = dap.request("setBreakpoints", {"source": {"path": args.source},
                                          "breakpoints": [{"line": args.line, "condition": f"i == {k}"}]})["body"]["breakpoints"]
    if not cond[0]["verified"]:
        raise Failure(f"the conditional breakpoint: {cond}")
    dap.request("continue", {"threadId": tid})
    _, _, _, i3 = expect_stop(dap, "breakpoint", args.line, args.source)
    if i3 != k:
        raise Failure(f"condition i == {k}: stopped with i = {i3}")
    print(f"condition: i = {i3}")
    # next: the task's next park is the sleep after the yield, in the same round, then the
    # next round's yield (the conditional breakpoint there is false: a step, not a hit).
    dap.request("next", {"threadId": tid})
    _, _, _, i4 = expect_stop(dap, "step", args.next_line, args.source, thread=tid)
    dap.request("next", {"threadId": tid})
    _, _, _, i5 = expect_stop(dap, "step", args.line, args.source, thread=tid)
    if i4 != k or i5 != k + 1:
        raise Failure(f"next: i = {i4} then {i5}, expected {k} then {k + 1}")
    print(f"next: line {args.next_line} i = {i4}, line {args.line} i = {i5}")
    dap.request("disconnect", {"terminateDebuggee": False})
    status = dap.wait_exit()
    print(f"adapter exited {status}")


def scenario_launch_breakpoint(dap, args):
    initialize(dap)
    dap.request("launch", {"program": args.program, "args": args.arg})
    bps = dap.request("setBreakpoints", {"source": {"path": args.source},
                                         "breakpoints": [{"line": args.line}]})["body"]["breakpoints"]
    if not bps[0]["verified"]:
        raise Failure(f"launch: the breakpoint is not verified: {bps}")
    dap.request("configurationDone")
    _, tid, _, i = expect_stop(dap, "breakpoint", args.line, args.source)
    if i != 0:
        raise Failure(f"launch: the first hit is in round {i}, not 0: the program ran before its breakpoints")
    print(f"first hit: i = {i}")
    dap.request("setBreakpoints", {"source": {"path": args.source}, "breakpoints": []})
    dap.request("continue", {"threadId": tid})
    exited = dap.event("exited")["body"]["exitCode"]
    print(f"exited: {exited}")
    dap.request("disconnect")
    print(f"adapter exited {dap.wait_exit()}")


def scenario_launch_entry(dap, args):
    """stopOnEntry: stopped (entry) at the program's entry point, one thread, none of its code run;
    the breakpoints set there are in when it goes on."""
    initialize(dap)
    dap.request("launch", {"program": args.program, "args": args.arg, "stopOnEntry": True})
    dap.request("configurationDone")
    stopped = dap.event("stopped")["body"]
    if stopped["reason"] != "entry" or not stopped.get("allThreadsStopped"):
        raise Failure(f"expected an entry stop of every thread: {stopped}")
    threads = thread_names(dap)
    frames = dap.request("stackTrace", {"threadId": stopped["threadId"]})["body"]["stackFrames"]
    print(f"entry: {len(threads)} thread(s), top frame {frames[0]['name'] if frames else None}")
    bps = dap.request("setBreakpoints", {"source": {"path": args.source},
                                         "breakpoints": [{"line": args.line}]})["body"]["breakpoints"]
    if not bps[0]["verified"]:
        raise Failure(f"entry: the breakpoint is not verified: {bps}")
    dap.request("continue", {"threadId": stopped["threadId"]})
    _, tid, _, i = expect_stop(dap, "breakpoint", args.line, args.source)
    print(f"first hit: i = {i}")
    dap.request("setBreakpoints", {"source": {"path": args.source}, "breakpoints": []})
    dap.request("continue", {"threadId": tid})
    exited = dap.event("exited")["body"]["exitCode"]
    print(f"exited: {exited}")
    dap.request("disconnect")
    print(f"adapter exited {dap.wait_exit()}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("adapter")
    parser.add_argument("scenario", choices=["attach", "launch", "deadlock", "core", "killed", "breakpoint",
                                                 "launch-breakpoint", "launch-entry"])
    parser.add_argument("--pid", type=int)
    parser.add_argument("--program")
    parser.add_argument("--core")
    parser.add_argument("--arg", action="append", default=[])
    parser.add_argument("--wait-output")
    parser.add_argument("--expect-thread", action="append", default=[])
    parser.add_argument("--expect-frame", action="append", default=[])
    parser.add_argument("--expect-local", action="append", default=[])
    parser.add_argument("--expect-tree", action="append", default=[])
    parser.add_argument("--expect-cycle")
    parser.add_argument("--source")
    parser.add_argument("--line", type=int)
    parser.add_argument("--bad-line", type=int)
    parser.add_argument("--next-line", type=int)
    parser.add_argument("--terminate", action="store_true", help="launch: end with terminate")
    parser.add_argument("--tcp", action="store_true", help="dap --port 0 over TCP instead of pipes")
    args = parser.parse_args()
    dap = None
    try:
        dap = Adapter(args.adapter, args.tcp)
        globals()["scenario_" + args.scenario.replace("-", "_")](dap, args)
    except Failure as e:
        print(f"dap_client: {e}", file=sys.stderr)
        if dap:
            dap.proc.kill()
            dap.proc.wait()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
