"""The demo's raw WebSocket chat (/ws-raw) with Python's websocket-client, two clients.

    python3 raw_ws_test.py ws://127.0.0.1:PORT/ws-raw ALICE BOB TOKEN

Same steps as raw_ws_test.mjs: ALICE sends a line, both must get "ALICE: <line>" (SENT);
the test posts TOKEN to the STOMP room `raw`, both must get a line ending with it (OK).
"""

import sys
import time

import websocket

DEADLINE = time.monotonic() + 60


def fail(why):
    print(f"FAIL {why}", flush=True)
    sys.exit(1)


def open_client(url, name):
    ws = websocket.create_connection(f"{url}?name={name}", timeout=10)
    return ws


def next_line(ws, name, test):
    while time.monotonic() < DEADLINE:
        ws.settimeout(max(0.1, DEADLINE - time.monotonic()))
        opcode, data = ws.recv_data(control_frame=False)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            fail(f"{name} was closed")
        if opcode != websocket.ABNF.OPCODE_TEXT:
            fail(f"{name} got opcode {opcode}")
        text = data.decode("utf-8")
        if test(text):
            return text
    fail(f"{name} timed out")


def main():
    url, alice, bob, token = sys.argv[1:5]
    a, b = open_client(url, alice), open_client(url, bob)
    line = f"hello from {alice}"
    a.send(line)
    for ws, name in ((a, alice), (b, bob)):
        got = next_line(ws, name, lambda t: line in t)
        if got != f"{alice}: {line}":
            fail(f'expected "{alice}: {line}", got "{got}"')
    print("SENT", flush=True)
    for ws, name in ((a, alice), (b, bob)):
        print("GOT", next_line(ws, name, lambda t: t.endswith(token)), flush=True)
    a.close()
    b.close()
    print("OK", flush=True)


if __name__ == "__main__":
    main()
