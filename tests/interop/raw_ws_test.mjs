// The demo's raw WebSocket chat (/ws-raw) with the `ws` npm package, two clients:
//
//   node raw_ws_test.mjs ws://127.0.0.1:PORT/ws-raw ALICE BOB TOKEN
//
// ALICE sends a line; both clients must get "ALICE: <line>", then it prints SENT. The test
// then posts "<TOKEN>" to the STOMP room `raw`; both clients must get a line ending with it,
// then it prints OK and exits 0. Any failure, or 60 s without that, exits 1.
import WebSocket from "ws";

const [url, alice, bob, token] = process.argv.slice(2);
const deadline = setTimeout(() => fail("timed out"), 60_000);

function fail(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

// A client named `name` and a function that waits for its next line matching `test`.
function open(name) {
  const ws = new WebSocket(`${url}?name=${name}`);
  const lines = [];
  const waiting = [];
  ws.on("message", (data, isBinary) => {
    if (isBinary) return fail(`${name} got a binary message`);
    lines.push(data.toString());
    waiting.splice(0).forEach((wake) => wake());
  });
  ws.on("close", (code) => fail(`${name} closed with ${code}`));
  ws.on("error", (error) => fail(`${name}: ${error.message}`));
  const next = async (test) => {
    for (;;) {
      const at = lines.findIndex(test);
      if (at >= 0) return lines.splice(at, 1)[0];
      await new Promise((wake) => waiting.push(wake));
    }
  };
  const opened = new Promise((resolve) => ws.on("open", resolve));
  return { ws, next, opened };
}

const a = open(alice);
const b = open(bob);
await Promise.all([a.opened, b.opened]);
const line = `hello from ${alice}`;
a.ws.send(line);
for (const client of [a, b]) {
  const got = await client.next((l) => l.includes(line));
  if (got !== `${alice}: ${line}`) fail(`expected "${alice}: ${line}", got "${got}"`);
}
console.log("SENT");
for (const client of [a, b]) {
  const got = await client.next((l) => l.endsWith(token));
  console.log(`GOT ${got}`);
}
clearTimeout(deadline);
a.ws.removeAllListeners("close");
b.ws.removeAllListeners("close");
a.ws.close(1000);
b.ws.close(1000);
console.log("OK");
