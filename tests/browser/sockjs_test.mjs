// Real-browser test of SockJS: stompjs over sockjs-client in Debian's Chromium, driven by
// playwright-core, once per transport (websocket, xhr-streaming, xhr-polling).
//
//   node tests/browser/sockjs_test.mjs http://127.0.0.1:8080
//
// The server (started by tests/tests/browser_sockjs.rs) serves `/` (a page that loads
// `/sockjs.min.js` and `/stomp.umd.min.js` and defines `window.roundTrip(transport, token)`)
// and the STOMP endpoint `/ws` with SockJS. Each check connects, subscribes to a topic,
// sends to it and waits for the message to come back.
//
// Prints `browser: N passed, M failed` and exits non-zero on any failure.

import { existsSync } from 'node:fs';
import { CHROMIUM, launchChromium } from './chromium.mjs';

const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling'];

const base = process.argv[2];
if (!base || !/^https?:\/\//.test(base)) {
  console.error('usage: node sockjs_test.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
if (!existsSync(CHROMIUM)) {
  console.error(`browser: ${CHROMIUM} is missing: install Debian's Chromium with \`apt-get install -y chromium\``);
  process.exit(2);
}

let passed = 0;
let failed = 0;

async function main() {
  console.log(`browser: testing SockJS at ${base} with ${CHROMIUM}`);
  const browser = await launchChromium();
  console.log(`browser: Chromium ${browser.version()}`);
  try {
    for (const transport of TRANSPORTS) {
      const started = Date.now();
      // Over https:// the server's certificate is a test CA's that Chromium does not know.
      const context = await browser.newContext({ ignoreHTTPSErrors: base.startsWith('https:') });
      const page = await context.newPage();
      const log = [];
      page.on('console', (message) => log.push(`console.${message.type()}: ${message.text()}`));
      page.on('pageerror', (error) => log.push(`pageerror: ${error.message}`));
      try {
        await page.goto(`${base}/`, { timeout: 10_000 });
        const token = `${transport}-${Date.now().toString(36)}`;
        const result = await page.evaluate(
          ([t, token]) => window.roundTrip(t, token),
          [transport, token],
        );
        if (result.body !== `hello ${token}`) {
          throw new Error(`received ${JSON.stringify(result.body)}`);
        }
        if (result.transport !== transport) {
          throw new Error(`SockJS used ${result.transport}, not ${transport}`);
        }
        passed += 1;
        console.log(`  ok   ${transport}: subscribe, send, receive (${Date.now() - started} ms)`);
      } catch (error) {
        failed += 1;
        console.log(`  FAIL ${transport}: ${String(error?.message ?? error)}`);
        for (const line of log) console.log(`       ${line}`);
      } finally {
        await context.close().catch(() => {});
      }
    }
  } finally {
    await browser.close().catch(() => {});
  }
}

const timer = setTimeout(() => {
  console.log('browser: timed out after 120 s');
  process.exit(1);
}, 120_000);
try {
  await main();
} catch (error) {
  failed += 1;
  console.log(`  FAIL ${String(error?.message ?? error)}`);
}
clearTimeout(timer);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed === TRANSPORTS.length ? 0 : 1);
