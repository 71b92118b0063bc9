// Real-client interop test: @stomp/stompjs (the browser library, here over the `ws`
// package in Node) against the stomp-rs `interop_server` binary.
//
//   node tests/interop/stompjs_test.mjs ws://127.0.0.1:<port>/ws
//
// Environment:
//   INTEROP_HOLD_MS     how long to hold an idle connection to see server heart-beats
//                       (default 12000; below 11000 the heart-beat count is not asserted)
//   INTEROP_TIMEOUT_MS  timeout of every single wait (default 5000)
//   INTEROP_DEBUG=1     print stompjs's debug log
//
// Prints one line per check and a summary `stompjs: N passed, M failed`; exits 1 on any
// failure, 2 on a usage error.

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const url = process.argv[2];
if (!url || !/^wss?:\/\//.test(url)) {
  console.error('usage: node stompjs_test.mjs ws://127.0.0.1:<port>/ws');
  process.exit(2);
}
const HOLD_MS = intEnv('INTEROP_HOLD_MS', 12000);
const TIMEOUT_MS = intEnv('INTEROP_TIMEOUT_MS', 5000);
const DEBUG = process.env.INTEROP_DEBUG === '1';
const PROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Small helpers: timeouts on every wait, an inbox per subscription, assertions.

class CheckError extends Error {}

function fail(message) {
  throw new CheckError(message);
}

function assert(condition, message) {
  if (!condition) fail(message);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function short(text, max = 200) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

/** Collects the messages of one subscription; `next()` waits for the next one. */
class Inbox {
  constructor(name) {
    this.name = name;
    this.messages = [];
    this.waiters = [];
  }

  push(message) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(message);
    else this.messages.push(message);
  }

  next(ms = TIMEOUT_MS) {
    if (this.messages.length > 0) return Promise.resolve(this.messages.shift());
    let resolver;
    const promise = new Promise(resolve => {
      resolver = resolve;
      this.waiters.push(resolve);
    });
    return withTimeout(promise, ms, `a MESSAGE on ${this.name}`).catch(error => {
      this.waiters = this.waiters.filter(w => w !== resolver);
      throw error;
    });
  }

  /** Asserts that nothing arrives within `ms`. */
  async nothingWithin(ms) {
    if (this.messages.length === 0) await sleep(ms);
    if (this.messages.length > 0) {
      fail(`expected no MESSAGE on ${this.name}, got one: ${short(this.messages[0].body)}`);
    }
  }
}

let receiptCounter = 0;

/** Sends with a receipt and waits for the RECEIPT frame. */
async function publishWithReceipt(session, params, what) {
  const receipt = `rcpt-${++receiptCounter}`;
  const got = new Promise(resolve => session.client.watchForReceipt(receipt, resolve));
  session.client.publish({ ...params, headers: { ...(params.headers || {}), receipt } });
  const frame = await withTimeout(got, TIMEOUT_MS, `RECEIPT ${receipt} (${what})`);
  assertEqual(frame.headers['receipt-id'], receipt, 'receipt-id');
  return frame;
}

/** Subscribes with a receipt, so the subscription is known to be live when this returns. */
async function subscribe(session, destination, extraHeaders = {}) {
  const inbox = new Inbox(`${session.name}:${destination}`);
  const receipt = `sub-rcpt-${++receiptCounter}`;
  const got = new Promise(resolve => session.client.watchForReceipt(receipt, resolve));
  const subscription = session.client.subscribe(destination, message => inbox.push(message), {
    ...extraHeaders,
    receipt,
  });
  await withTimeout(got, TIMEOUT_MS, `RECEIPT for SUBSCRIBE ${destination}`);
  inbox.subscription = subscription;
  return inbox;
}

/**
 * Connects a stompjs Client over `ws`. The raw socket is watched too, to count the server's
 * heart-beat EOLs independently of stompjs.
 */
async function connect(name, connectHeaders = {}) {
  const session = {
    name,
    client: null,
    ws: null,
    connected: null,
    rawHeartbeats: 0,
    stompjsHeartbeats: 0,
    stompErrors: [],
    closeEvents: [],
    debugLog: [],
  };
  let onConnected;
  let onFailed;
  const ready = new Promise((resolve, reject) => {
    onConnected = resolve;
    onFailed = reject;
  });
  const client = new Client({
    webSocketFactory: () => {
      // An Origin header, as a browser would send; the server allows any origin.
      const ws = new WebSocket(url, PROTOCOLS, { origin: 'http://interop.test' });
      ws.on('message', (data, isBinary) => {
        if (!isBinary) {
          const text = data.toString('utf8');
          if (text === '\n' || text === '\r\n') session.rawHeartbeats += 1;
        }
      });
      session.ws = ws;
      return ws;
    },
    connectHeaders,
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    reconnectDelay: 0,
    connectionTimeout: TIMEOUT_MS,
    debug: line => {
      session.debugLog.push(line);
      if (session.debugLog.length > 200) session.debugLog.shift();
      if (DEBUG) console.log(`  [${name}] ${short(line, 300)}`);
    },
    onHeartbeatReceived: () => {
      session.stompjsHeartbeats += 1;
    },
    onConnect: frame => {
      session.connected = frame;
      onConnected(frame);
    },
    onStompError: frame => {
      session.stompErrors.push(frame);
      onFailed(new CheckError(`ERROR frame: ${frame.headers.message} ${short(frame.body)}`));
    },
    onWebSocketClose: event => {
      session.closeEvents.push(event);
      onFailed(new CheckError(`WebSocket closed (code ${event.code}${event.reason ? `, ${event.reason}` : ''})`));
    },
    onWebSocketError: event => {
      onFailed(new CheckError(`WebSocket error: ${event.message || event.error || event.type}`));
    },
    onUnhandledMessage: message => {
      console.log(`  [${name}] note: unhandled MESSAGE on ${message.headers.destination}: ${short(message.body)}`);
    },
  });
  session.client = client;
  client.activate();
  await withTimeout(ready, TIMEOUT_MS, `CONNECTED for ${name}`);
  return session;
}

function assertAlive(session) {
  assert(session.client.connected, `${session.name} is no longer connected`);
  assert(session.ws && session.ws.readyState === WebSocket.OPEN, `${session.name}'s WebSocket is not open`);
  assertEqual(session.stompErrors.map(f => f.headers.message), [], `ERROR frames received by ${session.name}`);
  assertEqual(session.closeEvents.length, 0, `close events seen by ${session.name}`);
}

// ---------------------------------------------------------------------------------------
// The checks.

const results = [];
const sessions = [];

async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok   - ${name} (${Date.now() - started} ms)`);
    return true;
  } catch (error) {
    results.push({ name, ok: false, error });
    const message = error instanceof CheckError ? error.message : (error && error.stack) || String(error);
    console.log(`FAIL - ${name}: ${message}`);
    return false;
  }
}

async function main() {
  console.log(`stompjs interop against ${url} (hold ${HOLD_MS} ms, timeout ${TIMEOUT_MS} ms per wait)`);
  let alice;

  const connected = await check('connect: CONNECTED over sub-protocol v12.stomp, STOMP 1.2, principal from login', async () => {
    alice = await connect('alice', { login: 'alice', passcode: 'secret', host: '127.0.0.1' });
    sessions.push(alice);
    assertEqual(alice.ws.protocol, 'v12.stomp', 'negotiated WebSocket sub-protocol');
    assertEqual(alice.connected.command, 'CONNECTED', 'first frame');
    assertEqual(alice.connected.headers.version, '1.2', 'CONNECTED version');
    assert(alice.connected.headers.session, 'CONNECTED has no session header');
    assertEqual(alice.connected.headers['user-name'], 'alice', 'CONNECTED user-name');
  });
  if (!connected) return;

  await check('heart-beat: CONNECTED offers 10000,10000', async () => {
    assertEqual(alice.connected.headers['heart-beat'], '10000,10000', 'CONNECTED heart-beat header');
    const offered = alice.debugLog.filter(l => /send PING every|check PONG every/.test(l));
    assert(offered.length === 2, `stompjs did not set up both heart-beat directions: ${JSON.stringify(offered)}`);
  });

  await check('message mapping: SEND /app/echo/r1 -> MESSAGE on /topic/echo/r1', async () => {
    const inbox = await subscribe(alice, '/topic/echo/r1');
    alice.client.publish({
      destination: '/app/echo/r1',
      body: JSON.stringify({ content: 'hello from stompjs' }),
      headers: { 'content-type': 'application/json' },
    });
    const message = await inbox.next();
    assertEqual(message.headers.destination, '/topic/echo/r1', 'MESSAGE destination');
    assert((message.headers['content-type'] || '').startsWith('application/json'),
      `content-type should be JSON, got ${message.headers['content-type']}`);
    assert(message.headers['message-id'], 'MESSAGE has no message-id');
    assertEqual(message.headers.subscription, inbox.subscription.id, 'MESSAGE subscription');
    assertEqual(JSON.parse(message.body), { room: 'r1', content: 'hello from stompjs', sender: 'alice' }, 'echo reply');
    inbox.subscription.unsubscribe();
  });

  await check('subscribe mapping: SUBSCRIBE /app/history -> one JSON list to this subscriber', async () => {
    const inbox = await subscribe(alice, '/app/history');
    const message = await inbox.next();
    assertEqual(message.headers.destination, '/app/history', 'MESSAGE destination');
    assertEqual(message.headers.subscription, inbox.subscription.id, 'MESSAGE subscription');
    const list = JSON.parse(message.body);
    assert(Array.isArray(list) && list.length > 0, `expected a non-empty JSON list, got ${short(message.body)}`);
    assert(list.every(e => typeof e.content === 'string'), `entries without content: ${short(message.body)}`);
    await inbox.nothingWithin(300);
    inbox.subscription.unsubscribe();
  });

  await check('broker: SEND /topic/direct.x -> MESSAGE on /topic/direct.x', async () => {
    const inbox = await subscribe(alice, '/topic/direct.x');
    alice.client.publish({ destination: '/topic/direct.x', body: 'direct hello', headers: { 'content-type': 'text/plain' } });
    const message = await inbox.next();
    assertEqual(message.body, 'direct hello', 'body');
    assertEqual(message.headers.destination, '/topic/direct.x', 'MESSAGE destination');
    inbox.subscription.unsubscribe();
  });

  await check('receipts: SEND to the broker and to a handler, SUBSCRIBE, UNSUBSCRIBE', async () => {
    await publishWithReceipt(alice, { destination: '/topic/receipts', body: 'r' }, 'SEND to /topic/receipts');
    await publishWithReceipt(alice, { destination: '/app/echo/receipts', body: '{"content":"r"}' }, 'SEND to /app/echo/receipts');
    const inbox = await subscribe(alice, '/topic/receipts.sub'); // subscribe() waits for its receipt
    const receipt = `unsub-rcpt-${++receiptCounter}`;
    const got = new Promise(resolve => alice.client.watchForReceipt(receipt, resolve));
    inbox.subscription.unsubscribe({ receipt });
    await withTimeout(got, TIMEOUT_MS, 'RECEIPT for UNSUBSCRIBE');
    alice.client.publish({ destination: '/topic/receipts.sub', body: 'after unsubscribe' });
    await inbox.nothingWithin(300);
  });

  await check('binary body: all 256 byte values and NULs, byte-exact (binary WebSocket frames)', async () => {
    const inbox = await subscribe(alice, '/topic/binary');
    const bytes = new Uint8Array(1024 + 3);
    for (let i = 0; i < 1024; i++) bytes[i] = i % 256;
    bytes.set([0, 0, 0], 1024); // trailing NULs: the frame's own NUL must not be confused with them
    alice.client.publish({
      destination: '/topic/binary',
      binaryBody: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const message = await inbox.next();
    const got = message.binaryBody;
    assertEqual(got.length, bytes.length, 'binary body length');
    const firstDiff = got.findIndex((b, i) => b !== bytes[i]);
    assert(firstDiff === -1, `binary body differs at byte ${firstDiff}: ${got[firstDiff]} != ${bytes[firstDiff]}`);
    assertEqual(message.headers['content-length'], String(bytes.length), 'content-length');

    // NULs inside an otherwise valid UTF-8 body (the server may send it as a text frame).
    const text = new TextEncoder().encode('a\u0000b\u0000\u0000c');
    alice.client.publish({ destination: '/topic/binary', binaryBody: text });
    const second = await inbox.next();
    assertEqual(Array.from(second.binaryBody), Array.from(text), 'UTF-8 body with NULs');
    inbox.subscription.unsubscribe();
  });

  await check('large body: 60 KiB text round-trips intact', async () => {
    const inbox = await subscribe(alice, '/topic/large');
    const size = 60 * 1024;
    let body = '';
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    while (body.length < size) body += `${alphabet}${body.length}|`;
    body = body.slice(0, size);
    await publishWithReceipt(alice, { destination: '/topic/large', body }, '60 KiB SEND');
    const message = await inbox.next();
    assertEqual(message.body.length, size, 'large body length');
    assert(message.body === body, 'large body content differs');
    inbox.subscription.unsubscribe();
  });

  await check('unicode body and escaped header values (":", "\\n", "\\\\", non-ASCII) round-trip', async () => {
    const inbox = await subscribe(alice, '/topic/unicode');
    const body = 'Grüße, 世界! 🚀 emoji, RTL שלום, combining é, NUL-free';
    const headers = {
      'content-type': 'text/plain;charset=UTF-8',
      'x-colon': 'a:b:c',
      'x-newline': 'line1\nline2',
      'x-backslash': 'C:\\path\\to',
      'x-unicode': 'héllo wörld ✓',
      'x-mixed': 'k:v\nk2:v2\\end',
    };
    alice.client.publish({ destination: '/topic/unicode', body, headers });
    const message = await inbox.next();
    assertEqual(message.body, body, 'unicode body');
    for (const [name, value] of Object.entries(headers)) {
      if (name === 'content-type') continue;
      assertEqual(message.headers[name], value, `header ${name}`);
    }
    // A handler sees the text intact as well.
    const echo = await subscribe(alice, '/topic/echo/uni');
    alice.client.publish({ destination: '/app/echo/uni', body: JSON.stringify({ content: body }) });
    const reply = await echo.next();
    assertEqual(JSON.parse(reply.body).content, body, 'unicode through a handler');
    inbox.subscription.unsubscribe();
    echo.subscription.unsubscribe();
  });

  await check('errors: bad JSON to /app/echo/r1 -> {"error"} on /user/queue/errors of this session only; stays open', async () => {
    const errors = await subscribe(alice, '/user/queue/errors');
    const echo = await subscribe(alice, '/topic/echo/r1');
    // A second session of the same user: broadcast=false means it must not get the error.
    const alice2 = await connect('alice#2', { login: 'alice' });
    sessions.push(alice2);
    const errors2 = await subscribe(alice2, '/user/queue/errors');

    alice.client.publish({ destination: '/app/echo/r1', body: '{"content": oops', headers: { 'content-type': 'application/json' } });
    const message = await errors.next();
    assertEqual(message.headers.destination, '/user/queue/errors', 'error MESSAGE destination');
    const parsed = JSON.parse(message.body);
    assert(typeof parsed.error === 'string' && parsed.error.length > 0, `expected {"error": "..."}, got ${short(message.body)}`);
    await echo.nothingWithin(200);
    await errors2.nothingWithin(300);

    // The session is still usable.
    assertAlive(alice);
    alice.client.publish({ destination: '/app/echo/r1', body: JSON.stringify({ content: 'still here' }) });
    const ok = await echo.next();
    assertEqual(JSON.parse(ok.body).content, 'still here', 'echo after the error');

    // An anonymous session gets its own errors too (addressed by session id).
    const anon = await connect('anonymous', {});
    sessions.push(anon);
    assert(!anon.connected.headers['user-name'], 'anonymous session should have no user-name');
    const anonErrors = await subscribe(anon, '/user/queue/errors');
    const anonEcho = await subscribe(anon, '/topic/echo/anon');
    anon.client.publish({ destination: '/app/echo/anon', body: 'not json at all' });
    const anonError = await anonErrors.next();
    assert(typeof JSON.parse(anonError.body).error === 'string', `anonymous error body: ${short(anonError.body)}`);
    anon.client.publish({ destination: '/app/echo/anon', body: '{"content":"anon ok"}' });
    assertEqual(JSON.parse((await anonEcho.next()).body), { room: 'anon', content: 'anon ok', sender: 'anonymous' }, 'anonymous echo');
    await errors.nothingWithin(200);
    assertAlive(anon);
    errors.subscription.unsubscribe();
    echo.subscription.unsubscribe();
  });

  await check(`heart-beats: idle for ${HOLD_MS} ms, server heart-beats arrive, connection stays up`, async () => {
    const before = alice.rawHeartbeats;
    const deadline = Date.now() + HOLD_MS;
    while (Date.now() < deadline) {
      await sleep(Math.min(250, deadline - Date.now()));
      if (!alice.client.connected) fail(`connection dropped after ${HOLD_MS - (deadline - Date.now())} ms idle`);
    }
    const seen = alice.rawHeartbeats - before;
    console.log(`       server heart-beats seen: ${seen} on the socket, ${alice.stompjsHeartbeats} by stompjs`);
    if (HOLD_MS >= 11000) {
      assert(seen >= 1, `no server heart-beat within ${HOLD_MS} ms idle (offered 10000 ms)`);
      assert(alice.stompjsHeartbeats >= 1, 'stompjs counted no heart-beat (onHeartbeatReceived)');
    } else {
      console.log(`       (INTEROP_HOLD_MS < 11000: heart-beat count not asserted)`);
    }
    assertAlive(alice);
    const inbox = await subscribe(alice, '/topic/echo/after-hold');
    alice.client.publish({ destination: '/app/echo/after-hold', body: '{"content":"awake"}' });
    assertEqual(JSON.parse((await inbox.next()).body).content, 'awake', 'echo after the idle hold');
  });

  await check('disconnect: DISCONNECT is answered with a RECEIPT and the socket closes', async () => {
    const closed = new Promise(resolve => alice.ws.once('close', code => resolve(code)));
    const done = new Promise(resolve => {
      alice.client.onDisconnect = frame => resolve(frame);
    });
    // stompjs sends DISCONNECT with a receipt and calls onDisconnect on the RECEIPT.
    await alice.client.deactivate();
    const frame = await withTimeout(done, TIMEOUT_MS, 'the DISCONNECT receipt');
    assertEqual(frame.command, 'RECEIPT', 'answer to DISCONNECT');
    await withTimeout(closed, TIMEOUT_MS, 'the WebSocket close after DISCONNECT');
  });
}

async function shutdown(code) {
  for (const session of sessions) {
    try {
      await withTimeout(session.client.deactivate({ force: true }), 2000, `deactivate ${session.name}`);
    } catch {
      /* already gone */
    }
  }
  process.exit(code);
}

const watchdog = setTimeout(() => {
  console.log(`FAIL - watchdog: the whole run took longer than ${HOLD_MS + 60000} ms`);
  console.log(`stompjs: ${results.filter(r => r.ok).length} passed, ${results.filter(r => !r.ok).length + 1} failed`);
  process.exit(1);
}, HOLD_MS + 60000);
watchdog.unref();

main()
  .catch(error => {
    results.push({ name: 'unexpected', ok: false, error });
    console.log(`FAIL - unexpected error: ${(error && error.stack) || error}`);
  })
  .finally(() => {
    const passed = results.filter(r => r.ok).length;
    const failed = results.filter(r => !r.ok).length;
    console.log(`stompjs: ${passed} passed, ${failed} failed`);
    shutdown(failed === 0 && passed > 0 ? 0 : 1);
  });
