// Heart-beats that follow the client: @stomp/stompjs (over the `ws` package in Node) asks
// for heart-beats every second both ways, and must get them from a server configured with
// 10000,10000: it stays connected 5 s, and counts the beats each way.
//
//   node tests/interop/stompjs_heartbeat_test.mjs ws://127.0.0.1:<port>/ws
//
// Prints one line per check and a summary `stompjs-heartbeat: N passed, M failed`; exits 1
// on any failure, 2 on a usage error.

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const url = process.argv[2];
if (!url || !/^wss?:\/\//.test(url)) {
  console.error('usage: node stompjs_heartbeat_test.mjs ws://127.0.0.1:<port>/ws');
  process.exit(2);
}
const HOLD_MS = 5000;
const results = [];

function check(name, ok, detail) {
  results.push(ok);
  console.log(`${ok ? 'ok  ' : 'FAIL'} - ${name}${ok ? '' : `: ${detail}`}`);
}

// stompjs logs `<<< PONG` for each heart-beat it receives and `>>> PING` for each it sends.
const seen = { received: 0, sent: 0 };
let connected;
let closed = false;
const client = new Client({
  brokerURL: url,
  webSocketFactory: () => new WebSocket(url, ['v12.stomp']),
  heartbeatIncoming: 1000,
  heartbeatOutgoing: 1000,
  reconnectDelay: 0,
  debug: line => {
    if (line === '<<< PONG') seen.received += 1;
    if (line === '>>> PING') seen.sent += 1;
  },
});
client.onWebSocketClose = () => {
  closed = true;
};
const frame = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no CONNECTED within 5 s')), 5000);
  client.onConnect = f => {
    clearTimeout(timer);
    resolve(f);
  };
  client.onStompError = f => reject(new Error(`ERROR: ${f.headers.message}`));
  client.activate();
}).catch(error => {
  check('connect', false, error.message);
  return null;
});
if (frame) {
  connected = frame.headers['heart-beat'];
  check('CONNECTED offers what the client asked: heart-beat 1000,1000', connected === '1000,1000', connected);
  await new Promise(resolve => setTimeout(resolve, HOLD_MS));
  check(`still connected after ${HOLD_MS} ms`, client.connected && !closed, 'the connection closed');
  // One beat a second each way: at least 3 in 5 s leaves room for a slow machine.
  check(`server heart-beats received: ${seen.received} (>= 3)`, seen.received >= 3, seen.received);
  check(`client heart-beats sent: ${seen.sent} (>= 3)`, seen.sent >= 3, seen.sent);
  await client.deactivate();
}
const passed = results.filter(Boolean).length;
console.log(`stompjs-heartbeat: ${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length && passed > 0 ? 0 : 1);
