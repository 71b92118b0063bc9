// Real-client interop test: the npm `stompit` client (STOMP over plain TCP, unchanged)
// against the stomp-rs `interop_server` binary started with `--stomp-tcp`.
//
//   node tests/interop/stompit_test.mjs <stomp-tcp-port>
//
// The cases of the WebSocket suites (stompjs_test.mjs, stomppy_test.py): CONNECT with a
// login, a message mapping, a subscribe mapping, the broker, receipts, binary and large
// bodies, a handler error to the user's error queue, and DISCONNECT.
//
// Environment: INTEROP_TIMEOUT_MS (default 5000), the timeout of every single wait.
// Prints one line per check and a summary `stompit: N passed, M failed`; exits 1 on any
// failure, 2 on a usage error.

import stompit from 'stompit';

const port = Number.parseInt(process.argv[2] ?? '', 10);
if (!Number.isFinite(port)) {
  console.error('usage: node stompit_test.mjs <stomp-tcp-port>');
  process.exit(2);
}
const TIMEOUT_MS = Number.parseInt(process.env.INTEROP_TIMEOUT_MS || '5000', 10);
const results = [];

class CheckError extends Error {}
function assert(condition, message) {
  if (!condition) throw new CheckError(message);
}
function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  assert(a === e, `${what}: expected ${e}, got ${a}`);
}
function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckError(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push(true);
    console.log(`ok   - ${name} (${Date.now() - started} ms)`);
    return true;
  } catch (error) {
    results.push(false);
    console.log(`FAIL - ${name}: ${error instanceof CheckError ? error.message : error.stack}`);
    return false;
  }
}

/** Connects as `login`; resolves with the client and its CONNECTED headers. */
function connect(login) {
  const connectHeaders = { host: '/', 'heart-beat': '0,0' };
  if (login) Object.assign(connectHeaders, { login, passcode: 'secret' });
  return withTimeout(new Promise((resolve, reject) => {
    stompit.connect({ host: '127.0.0.1', port, connectHeaders }, (error, client) => {
      if (error) reject(error);
      else resolve(client);
    });
  }), 'CONNECTED');
}

/** A subscription whose messages (headers and body as a Buffer) are queued for `next()`. */
class Inbox {
  constructor(client, destination) {
    this.messages = [];
    this.waiters = [];
    this.errors = [];
    this.subscription = client.subscribe({ destination, ack: 'auto' }, (error, message) => {
      if (error) return this.errors.push(error);
      const chunks = [];
      message.on('data', chunk => chunks.push(chunk));
      message.on('end', () => this.push({ headers: message.headers, body: Buffer.concat(chunks) }));
    });
  }
  push(message) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(message);
    else this.messages.push(message);
  }
  next(what) {
    const ready = this.messages.shift();
    if (ready) return Promise.resolve(ready);
    return withTimeout(new Promise(resolve => this.waiters.push(resolve)), what);
  }
}

/** Sends `body` to `destination` and waits for the receipt. */
function sendWithReceipt(client, destination, body, headers = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const frame = client.send({ destination, ...headers }, { onReceipt: resolve, onError: reject });
    frame.end(body);
  }), `the receipt of a SEND to ${destination}`);
}

/** Subscribes and waits for the receipt (a SEND to the same destination echoes through). */
async function subscribed(client, destination) {
  const inbox = new Inbox(client, destination);
  // stompit's SUBSCRIBE takes no receipt option; a DISCONNECT-free round trip instead:
  // a SEND with a receipt after it is handled after it.
  await sendWithReceipt(client, '/topic/stompit.sync', '');
  return inbox;
}

const clients = [];
let alice;

await check('connect: CONNECT with login -> CONNECTED 1.2, principal from login', async () => {
  alice = await connect('alice');
  clients.push(alice);
  assertEqual(alice.headers.version, '1.2', 'CONNECTED version');
  assertEqual(alice.headers['user-name'], 'alice', 'CONNECTED user-name');
  assert(alice.headers.session, 'CONNECTED has no session header');
});

if (alice) {
  await check('message mapping: SEND /app/echo/r1 -> MESSAGE on /topic/echo/r1', async () => {
    const inbox = await subscribed(alice, '/topic/echo/r1');
    await sendWithReceipt(alice, '/app/echo/r1', JSON.stringify({ content: 'hello from stompit' }), { 'content-type': 'application/json' });
    const message = await inbox.next('the echo');
    assertEqual(message.headers.destination, '/topic/echo/r1', 'MESSAGE destination');
    assertEqual(JSON.parse(message.body.toString('utf8')), { room: 'r1', content: 'hello from stompit', sender: 'alice' }, 'echo body');
  });

  await check('subscribe mapping: SUBSCRIBE /app/history -> one JSON list to this subscriber', async () => {
    const inbox = new Inbox(alice, '/app/history');
    const message = await inbox.next('the history');
    assert(Array.isArray(JSON.parse(message.body.toString('utf8'))), `not a JSON list: ${message.body}`);
  });

  await check('broker: SEND /topic/direct.x -> MESSAGE on /topic/direct.x, between two TCP sessions', async () => {
    const bob = await connect('bob');
    clients.push(bob);
    const inbox = await subscribed(bob, '/topic/direct.x');
    await sendWithReceipt(alice, '/topic/direct.x', 'to bob');
    const message = await inbox.next('the message');
    assertEqual(message.body.toString('utf8'), 'to bob', 'body');
  });

  await check('binary body: all 256 byte values and NULs, byte-exact', async () => {
    const inbox = await subscribed(alice, '/topic/binary');
    const body = Buffer.alloc(1024, 0).map((_, i) => i % 256);
    // stompit sends no content-length by itself: a body with NULs needs one.
    const headers = { 'content-type': 'application/octet-stream', 'content-length': body.length };
    await sendWithReceipt(alice, '/topic/binary', body, headers);
    const message = await inbox.next('the binary message');
    assert(Buffer.compare(message.body, body) === 0, `body differs (${message.body.length} bytes)`);
  });

  await check('large body: 60 KiB text round-trips intact', async () => {
    const inbox = await subscribed(alice, '/topic/large');
    const body = 'x'.repeat(60 * 1024);
    await sendWithReceipt(alice, '/topic/large', body);
    const message = await inbox.next('the large message');
    assertEqual(message.body.length, body.length, 'body length');
  });

  await check('errors: bad JSON to /app/echo/r1 -> {"error"} on /user/queue/errors; connection stays open', async () => {
    const inbox = await subscribed(alice, '/user/queue/errors');
    await sendWithReceipt(alice, '/app/echo/r1', 'not json', { 'content-type': 'application/json' });
    const message = await inbox.next('the error');
    assert('error' in JSON.parse(message.body.toString('utf8')), `no error: ${message.body}`);
    await sendWithReceipt(alice, '/topic/after-error', 'still here');
  });

  await check('disconnect: DISCONNECT with a receipt closes cleanly', async () => {
    await withTimeout(new Promise((resolve, reject) => alice.disconnect(error => (error ? reject(error) : resolve()))), 'DISCONNECT');
    clients.splice(clients.indexOf(alice), 1);
  });
}

for (const client of clients) client.destroy();
const passed = results.filter(Boolean).length;
console.log(`stompit: ${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length && passed > 0 ? 0 : 1);
