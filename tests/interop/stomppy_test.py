#!/usr/bin/env python3
"""Real-client interop test: stomp.py's ``WSStompConnection`` against the stomp-rs
``interop_server`` binary.

    python3 tests/interop/stomppy_test.py <port> [--path /ws]
    python3 tests/interop/stomppy_test.py <stomp-tcp-port> --tcp 1.0|1.1|1.2 [--tls CA.pem]

With ``--tcp``, the same cases run over STOMP over plain TCP with stomp.py's plain
``stomp.Connection`` of that STOMP version (``Connection10``, ``11``, ``12``), unchanged.
With ``--tls CA.pem`` as well, that connection runs over TLS (``set_ssl``), trusting the CA
certificates of that file and checking the server's certificate.

stomp.py is used unchanged, as an application would use it: it opens the WebSocket without
a sub-protocol, sends ``STOMP`` (not ``CONNECT``) with a ``host`` header, escapes header
values itself and sends heart-beats from its own thread.

Environment:
  INTEROP_HOLD_MS     how long to hold an idle connection to see server heart-beats
                      (default 12000; below 11000 the heart-beat count is not asserted)
  INTEROP_TIMEOUT_MS  timeout of every single wait (default 5000)
  INTEROP_DEBUG=1     stomp.py's debug log on stderr

Prints one line per check and a summary ``stomppy: N passed, M failed``; exits 1 on any
failure, 2 on a usage error.
"""

import json
import logging
import os
import sys
import threading
import time
import traceback

try:
    import stomp
except ImportError:
    print("stomp.py is not installed: pip install -r tests/interop/requirements.txt", file=sys.stderr)
    sys.exit(3)


def int_env(name, default):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        print(f"{name} must be a non-negative integer, got {raw!r}", file=sys.stderr)
        sys.exit(2)
    return value


HOLD_MS = int_env("INTEROP_HOLD_MS", 12000)
TIMEOUT = int_env("INTEROP_TIMEOUT_MS", 5000) / 1000.0
HEARTBEATS = (10000, 10000)
# Set by main: None for WebSocket, else the STOMP version spoken over plain TCP.
TCP = {"version": None, "tls_ca": None}

if os.environ.get("INTEROP_DEBUG") == "1":
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
else:
    # stomp.py logs expected events (a closed socket) as warnings; keep the output readable.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)


class CheckError(Exception):
    pass


def check_that(condition, message):
    if not condition:
        raise CheckError(message)


def check_equal(actual, expected, what):
    if actual != expected:
        raise CheckError(f"{what}: expected {expected!r}, got {actual!r}")


def short(value, limit=200):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


class Recorder(stomp.ConnectionListener):
    """Records every frame a connection receives; waits on them with timeouts."""

    def __init__(self, name):
        self.name = name
        self.cond = threading.Condition()
        self.connected = None
        self.messages = []  # (subscription id, frame)
        self.receipts = set()
        self.errors = []
        self.heartbeats = 0
        self.disconnected = False
        self.heartbeat_timeouts = 0

    # stomp.py callbacks (called on its receiver thread)
    def on_connected(self, frame):
        with self.cond:
            self.connected = frame
            self.cond.notify_all()

    def on_message(self, frame):
        with self.cond:
            self.messages.append((frame.headers.get("subscription"), frame))
            self.cond.notify_all()

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.add(frame.headers.get("receipt-id"))
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.errors.append(frame)
            self.cond.notify_all()

    def on_heartbeat(self):
        with self.cond:
            self.heartbeats += 1

    def on_heartbeat_timeout(self):
        with self.cond:
            self.heartbeat_timeouts += 1

    def on_disconnected(self):
        with self.cond:
            self.disconnected = True
            self.cond.notify_all()

    # waiting
    def _wait(self, predicate, what, timeout=None):
        deadline = time.monotonic() + (TIMEOUT if timeout is None else timeout)
        with self.cond:
            while True:
                result = predicate()
                if result:
                    return result
                if self.errors:
                    error = self.errors[0]
                    raise CheckError(
                        f"{self.name}: ERROR frame while waiting for {what}: "
                        f"{error.headers.get('message')!r} {short(error.body)}"
                    )
                if self.disconnected:
                    raise CheckError(f"{self.name}: disconnected while waiting for {what}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CheckError(f"{self.name}: timed out after {TIMEOUT:.1f} s waiting for {what}")
                self.cond.wait(min(remaining, 0.2))

    def wait_connected(self):
        return self._wait(lambda: self.connected, "CONNECTED")

    def wait_receipt(self, receipt_id):
        return self._wait(lambda: receipt_id in self.receipts, f"RECEIPT {receipt_id}")

    def next_message(self, subscription_id, timeout=None):
        def take():
            for index, (sub, frame) in enumerate(self.messages):
                if sub == subscription_id:
                    del self.messages[index]
                    return frame
            return None

        return self._wait(take, f"a MESSAGE for subscription {subscription_id}", timeout)

    def nothing_within(self, subscription_id, seconds):
        time.sleep(seconds)
        with self.cond:
            extra = [f for sub, f in self.messages if sub == subscription_id]
        if extra:
            raise CheckError(f"{self.name}: expected no MESSAGE for {subscription_id}, got {short(extra[0].body)}")

    def assert_alive(self, conn):
        with self.cond:
            check_that(not self.errors, f"{self.name}: ERROR frames: {[e.headers.get('message') for e in self.errors]}")
            check_that(not self.disconnected, f"{self.name}: disconnected")
            check_that(self.heartbeat_timeouts == 0, f"{self.name}: stomp.py reported a heart-beat timeout")
        check_that(conn.is_connected(), f"{self.name}: stomp.py says it is not connected")


def tcp_connection(port, binary):
    """stomp.py's plain TCP connection of the version asked for, as an application makes it."""
    version = TCP["version"]
    common = dict(host_and_ports=[("127.0.0.1", port)], reconnect_attempts_max=1, auto_decode=not binary)
    if version == "1.0":
        return stomp.Connection10(**common)
    kind = stomp.Connection11 if version == "1.1" else stomp.Connection12
    conn = kind(heartbeats=HEARTBEATS, **common)
    if TCP["tls_ca"] is not None:
        conn.set_ssl(for_hosts=[("127.0.0.1", port)], ca_certs=TCP["tls_ca"])
    return conn


class Session:
    """One stomp.py WSStompConnection and its recorder."""

    counter = 0

    def __init__(self, port, path, name, login=None, binary=False):
        self.name = name
        self.recorder = Recorder(name)
        if TCP["version"] is not None:
            self.conn = tcp_connection(port, binary)
        else:
            self.conn = stomp.WSStompConnection(
            host_and_ports=[("127.0.0.1", port)],
            ws_path=path,
            heartbeats=HEARTBEATS,
            # Not a connect timeout: websocket-client applies it to every read, so any value
            # shorter than the server's heart-beat interval drops an idle connection.
            timeout=None,
            reconnect_attempts_max=1,
            # binary: raw bytes both ways (binary WebSocket frames out, undecoded bodies in)
            auto_decode=not binary,
            binary_mode=binary,
            )
        self.conn.set_listener("recorder", self.recorder)
        if login is None:
            self.conn.connect(wait=False)
        else:
            self.conn.connect(username=login, passcode="secret", wait=False)
        self.connected = self.recorder.wait_connected()

    def next_id(self, prefix):
        Session.counter += 1
        return f"{prefix}-{Session.counter}"

    def subscribe(self, destination, **headers):
        """Subscribes and waits for the receipt; returns the subscription id."""
        sub_id = self.next_id("sub")
        receipt = self.next_id("sub-rcpt")
        self.conn.subscribe(destination, id=sub_id, headers={**headers, "receipt": receipt})
        self.recorder.wait_receipt(receipt)
        return sub_id

    def send_with_receipt(self, destination, body, **kwargs):
        receipt = self.next_id("rcpt")
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["receipt"] = receipt
        self.conn.send(destination, body, headers=headers, **kwargs)
        self.recorder.wait_receipt(receipt)

    def close(self):
        """DISCONNECT with a receipt; never blocks longer than the timeout."""
        done = threading.Event()

        def run():
            try:
                self.conn.disconnect(receipt=self.next_id("bye"))
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
            done.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return done.wait(TIMEOUT)


results = []


def check(name, body):
    started = time.monotonic()
    try:
        body()
    except CheckError as error:
        results.append((name, False))
        print(f"FAIL - {name}: {error}", flush=True)
        return False
    except Exception:  # noqa: BLE001 - a library exception is a failed check, with its trace
        results.append((name, False))
        print(f"FAIL - {name}: unexpected exception\n{traceback.format_exc()}", flush=True)
        return False
    results.append((name, True))
    print(f"ok   - {name} ({(time.monotonic() - started) * 1000:.0f} ms)", flush=True)
    return True


def run(port, path):
    print(
        f"stomp.py {getattr(stomp, '__version__', '?')} interop against "
        f"{('%s://127.0.0.1:%d (STOMP %s)' % ('stomp+ssl' if TCP['tls_ca'] else 'tcp', port, TCP['version'])) if TCP['version'] else f'ws://127.0.0.1:{port}{path}'} "
        f"(hold {HOLD_MS} ms, timeout {TIMEOUT:.1f} s per wait)",
        flush=True,
    )
    sessions = []
    state = {}

    def connect():
        alice = Session(port, path, "alice", login="alice")
        sessions.append(alice)
        state["alice"] = alice
        headers = alice.connected.headers
        check_equal(alice.connected.cmd, "CONNECTED", "first frame")
        check_equal(headers.get("version"), TCP["version"] or "1.2", "CONNECTED version")
        check_that(headers.get("session"), "CONNECTED has no session header")
        check_equal(headers.get("user-name"), "alice", "CONNECTED user-name")
        # stomp.py offers no WebSocket sub-protocol; the server must not invent one.
        if TCP["version"] is None:
            check_equal(alice.conn.transport.socket.getsubprotocol(), None, "negotiated WebSocket sub-protocol")

    if not check("connect: STOMP frame with host header, no sub-protocol -> CONNECTED 1.2, principal from login", connect):
        return sessions
    alice = state["alice"]

    def heartbeat_header():
        check_equal(alice.connected.headers.get("heart-beat"), "10000,10000", "CONNECTED heart-beat header")
        # What stomp.py made of it: (send every, expect every) in ms.
        check_equal(tuple(alice.conn.heartbeats), (10000, 10000), "heart-beats negotiated by stomp.py")

    if TCP["version"] != "1.0":  # STOMP 1.0 has no heart-beats
        check("heart-beat: CONNECTED offers 10000,10000, stomp.py negotiates 10000,10000", heartbeat_header)

    def echo():
        sub = alice.subscribe("/topic/echo/r1")
        alice.conn.send("/app/echo/r1", json.dumps({"content": "hello from stomp.py"}), content_type="application/json")
        frame = alice.recorder.next_message(sub)
        check_equal(frame.headers.get("destination"), "/topic/echo/r1", "MESSAGE destination")
        check_that(frame.headers.get("content-type", "").startswith("application/json"),
                   f"content-type should be JSON, got {frame.headers.get('content-type')!r}")
        check_that(frame.headers.get("message-id"), "MESSAGE has no message-id")
        check_equal(json.loads(frame.body), {"room": "r1", "content": "hello from stomp.py", "sender": "alice"}, "echo reply")
        alice.conn.unsubscribe(sub)

    check("message mapping: SEND /app/echo/r1 -> MESSAGE on /topic/echo/r1", echo)

    def history():
        sub = alice.subscribe("/app/history")
        frame = alice.recorder.next_message(sub)
        check_equal(frame.headers.get("destination"), "/app/history", "MESSAGE destination")
        entries = json.loads(frame.body)
        check_that(isinstance(entries, list) and entries, f"expected a non-empty JSON list, got {short(frame.body)}")
        alice.recorder.nothing_within(sub, 0.3)
        alice.conn.unsubscribe(sub)

    check("subscribe mapping: SUBSCRIBE /app/history -> one JSON list to this subscriber", history)

    def direct():
        sub = alice.subscribe("/topic/direct.x")
        alice.conn.send("/topic/direct.x", "direct hello", content_type="text/plain")
        frame = alice.recorder.next_message(sub)
        check_equal(frame.body, "direct hello", "body")
        check_equal(frame.headers.get("destination"), "/topic/direct.x", "MESSAGE destination")
        alice.conn.unsubscribe(sub)

    check("broker: SEND /topic/direct.x -> MESSAGE on /topic/direct.x", direct)

    def receipts():
        alice.send_with_receipt("/topic/receipts", "r")
        alice.send_with_receipt("/app/echo/receipts", '{"content":"r"}')
        sub = alice.subscribe("/topic/receipts.sub")  # waits for its receipt
        receipt = alice.next_id("unsub-rcpt")
        alice.conn.unsubscribe(sub, headers={"receipt": receipt})
        alice.recorder.wait_receipt(receipt)
        alice.conn.send("/topic/receipts.sub", "after unsubscribe")
        alice.recorder.nothing_within(sub, 0.3)

    check("receipts: SEND to the broker and to a handler, SUBSCRIBE, UNSUBSCRIBE", receipts)

    def binary():
        raw = Session(port, path, "binary", login="bin", binary=True)
        sessions.append(raw)
        sub = raw.subscribe("/topic/binary")
        body = bytes(i % 256 for i in range(1024)) + b"\x00\x00\x00"
        raw.conn.send("/topic/binary", body, content_type="application/octet-stream")
        frame = raw.recorder.next_message(sub)
        check_that(isinstance(frame.body, bytes), f"expected bytes, got {type(frame.body).__name__}")
        check_equal(len(frame.body), len(body), "binary body length")
        if frame.body != body:
            first = next(i for i, (a, b) in enumerate(zip(frame.body, body)) if a != b)
            raise CheckError(f"binary body differs at byte {first}: {frame.body[first]} != {body[first]}")
        check_equal(frame.headers.get("content-length"), str(len(body)), "content-length")
        # The text connection sees NULs inside a UTF-8 body as well.
        text_sub = alice.subscribe("/topic/binary.text")
        alice.conn.send("/topic/binary.text", "a\x00b\x00\x00c")
        check_equal(alice.recorder.next_message(text_sub).body, "a\x00b\x00\x00c", "UTF-8 body with NULs")
        alice.conn.unsubscribe(text_sub)

    check("binary body: all 256 byte values and NULs, byte-exact (binary_mode connection)", binary)

    def large():
        sub = alice.subscribe("/topic/large")
        size = 60 * 1024
        chunks = []
        length = 0
        while length < size:
            piece = f"abcdefghijklmnopqrstuvwxyz0123456789{length}|"
            chunks.append(piece)
            length += len(piece)
        body = "".join(chunks)[:size]
        alice.send_with_receipt("/topic/large", body)
        frame = alice.recorder.next_message(sub)
        check_equal(len(frame.body), size, "large body length")
        check_that(frame.body == body, "large body content differs")
        alice.conn.unsubscribe(sub)

    check("large body: 60 KiB text round-trips intact", large)

    def unicode():
        sub = alice.subscribe("/topic/unicode")
        body = "Grüße, 世界! 🚀 emoji, RTL שלום, combining é"
        headers = {
            "x-colon": "a:b:c",
            "x-newline": "line1\nline2",
            "x-backslash": "C:\\path\\to",
            "x-unicode": "héllo wörld ✓",
            "x-mixed": "k:v\nk2:v2\\end",
        }
        # stomp.py escapes the values in place; hand it a copy.
        alice.conn.send("/topic/unicode", body, content_type="text/plain;charset=UTF-8", headers=dict(headers))
        frame = alice.recorder.next_message(sub)
        check_equal(frame.body, body, "unicode body")
        for name, value in headers.items():
            check_equal(frame.headers.get(name), value, f"header {name}")
        echo_sub = alice.subscribe("/topic/echo/uni")
        alice.conn.send("/app/echo/uni", json.dumps({"content": body}, ensure_ascii=False))
        check_equal(json.loads(alice.recorder.next_message(echo_sub).body)["content"], body, "unicode through a handler")
        alice.conn.unsubscribe(sub)
        alice.conn.unsubscribe(echo_sub)

    # STOMP 1.0 has no header escaping: a value holding an EOL cannot be sent at all.
    if TCP["version"] != "1.0":
        check('unicode body and escaped header values (":", "\\n", "\\\\", non-ASCII) round-trip', unicode)

    def errors():
        err_sub = alice.subscribe("/user/queue/errors")
        echo_sub = alice.subscribe("/topic/echo/r1")
        alice.conn.send("/app/echo/r1", '{"content": oops', content_type="application/json")
        frame = alice.recorder.next_message(err_sub)
        check_equal(frame.headers.get("destination"), "/user/queue/errors", "error MESSAGE destination")
        parsed = json.loads(frame.body)
        check_that(isinstance(parsed.get("error"), str) and parsed["error"], f'expected {{"error": ...}}, got {short(frame.body)}')
        alice.recorder.nothing_within(echo_sub, 0.2)
        alice.recorder.assert_alive(alice.conn)
        alice.conn.send("/app/echo/r1", json.dumps({"content": "still here"}))
        check_equal(json.loads(alice.recorder.next_message(echo_sub).body)["content"], "still here", "echo after the error")
        alice.conn.unsubscribe(err_sub)
        alice.conn.unsubscribe(echo_sub)

    check("errors: bad JSON to /app/echo/r1 -> {\"error\"} on /user/queue/errors; connection stays open", errors)

    def hold():
        before = alice.recorder.heartbeats
        deadline = time.monotonic() + HOLD_MS / 1000.0
        while time.monotonic() < deadline:
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
            if alice.recorder.disconnected:
                raise CheckError("connection dropped during the idle hold")
        seen = alice.recorder.heartbeats - before
        print(f"       server heart-beats seen by stomp.py: {seen}", flush=True)
        if HOLD_MS >= 11000:
            check_that(seen >= 1, f"no server heart-beat within {HOLD_MS} ms idle (offered 10000 ms)")
        else:
            print("       (INTEROP_HOLD_MS < 11000: heart-beat count not asserted)", flush=True)
        alice.recorder.assert_alive(alice.conn)
        sub = alice.subscribe("/topic/echo/after-hold")
        alice.conn.send("/app/echo/after-hold", '{"content":"awake"}')
        check_equal(json.loads(alice.recorder.next_message(sub).body)["content"], "awake", "echo after the idle hold")

    check(f"heart-beats: idle for {HOLD_MS} ms, server heart-beats arrive, connection stays up", hold)

    def disconnect():
        check_that(alice.close(), "DISCONNECT did not complete")
        deadline = time.monotonic() + TIMEOUT
        while alice.conn.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        check_that(not alice.conn.is_connected(), "still connected after DISCONNECT")
        check_that(not alice.recorder.errors, f"ERROR frames: {[e.headers.get('message') for e in alice.recorder.errors]}")
        sessions.remove(alice)

    check("disconnect: DISCONNECT with a receipt closes cleanly", disconnect)
    return sessions


def main():
    args = sys.argv[1:]
    path = "/ws"
    if "--path" in args:
        at = args.index("--path")
        if at + 1 >= len(args):
            print("--path needs a value", file=sys.stderr)
            return 2
        path = args[at + 1]
        del args[at:at + 2]
    if "--tcp" in args:
        at = args.index("--tcp")
        if at + 1 >= len(args) or args[at + 1] not in ("1.0", "1.1", "1.2"):
            print("--tcp needs a STOMP version: 1.0, 1.1 or 1.2", file=sys.stderr)
            return 2
        TCP["version"] = args[at + 1]
        del args[at:at + 2]
    if "--tls" in args:
        at = args.index("--tls")
        if at + 1 >= len(args) or TCP["version"] in (None, "1.0"):
            print("--tls needs a CA file, and --tcp 1.1 or 1.2", file=sys.stderr)
            return 2
        TCP["tls_ca"] = args[at + 1]
        del args[at:at + 2]
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python3 stomppy_test.py <port> [--path /ws | --tcp 1.0|1.1|1.2]", file=sys.stderr)
        return 2
    port = int(args[0])

    def watchdog():
        time.sleep(HOLD_MS / 1000.0 + 60)
        print(f"FAIL - watchdog: the whole run took longer than {HOLD_MS / 1000.0 + 60:.0f} s", flush=True)
        passed = sum(1 for _, ok in results if ok)
        print(f"stomppy: {passed} passed, {len(results) - passed + 1} failed", flush=True)
        os._exit(1)

    threading.Thread(target=watchdog, daemon=True).start()
    sessions = []
    try:
        sessions = run(port, path)
    except Exception:  # noqa: BLE001
        results.append(("unexpected", False))
        print(f"FAIL - unexpected error\n{traceback.format_exc()}", flush=True)
    for session in sessions:
        session.close()
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"stomppy: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # stomp.py's receiver and heart-beat threads may still be winding down; do not wait.
    os._exit(code)
