// Real-browser test of SockJS: stompjs over sockjs-client in Debian's Chromium, driven by
// playwright-core, once per transport (websocket, xhr-streaming, xhr-polling, eventsource,
// and the iframe-based iframe-eventsource, iframe-htmlfile and iframe-xhr-polling, which load the server's
// /ws/iframe.html page and sockjs-client from the server's own /sockjs.min.js).
//
//   node tests/browser/sockjs_test.mjs http://127.0.0.1:8080
//
// The server (started by tests/tests/browser_sockjs.rs) serves `/` (a page that loads
// `/sockjs.min.js` and `/stomp.umd.min.js` and defines `window.roundTrip(transport, token,
// body)`) and the STOMP endpoint `/ws` with SockJS, its JSESSIONID cookie on and a 64-byte
// stream limit. Each check connects, subscribes to a topic, sends to it and waits for the
// message to come back; for the HTTP transports it also checks that a transport response set
// `JSESSIONID=dummy` and that the requests after it carried that cookie back (what a sticky
// load balancer routes on), and for the streaming ones that the client reopened the stream.
//
// Prints `browser: N passed, M failed` and exits non-zero on any failure.

import { CHROMIUM, baseUrlArgument, launchChromium } from './chromium.mjs';

const TRANSPORTS = [
  'websocket',
  'xhr-streaming',
  'xhr-polling',
  'eventsource',
  'iframe-eventsource',
  'iframe-htmlfile',
  'iframe-xhr-polling',
];

// A SockJS transport request (not `info`, not the iframe page): /ws/<server>/<session>/<name>.
const TRANSPORT_URL = /\/ws\/[^/]+\/[^/]+\/[a-z_]+(\?.*)?$/;

const base = baseUrlArgument('sockjs_test.mjs');

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
      const cookies = watchCookies(page);
      try {
        await page.goto(`${base}/`, { timeout: 10_000 });
        const token = `${transport}-${Date.now().toString(36)}`;
        // Characters each framing escapes: eventsource's `%`, htmlfile's `</script>` and quotes.
        const body = `hello ${token} 100% </script> "q" \\ \u2028 %41`;
        const result = await page.evaluate(
          ([t, token, body]) => window.roundTrip(t, token, body),
          [transport, token, body],
        );
        if (result.body !== body) {
          throw new Error(`received ${JSON.stringify(result.body)}`);
        }
        if (result.transport !== transport) {
          throw new Error(`SockJS used ${result.transport}, not ${transport}`);
        }
        if (transport.startsWith('iframe-') && !cookies.iframePage()) {
          throw new Error('no request for the server\'s iframe.html page');
        }
        // The server ends a streaming response after 64 bytes of messages (CONNECTED is
        // more): the MESSAGE can only have come through a second one the client opened.
        const streaming = /streaming|eventsource|htmlfile/.test(transport);
        if (streaming && cookies.streams() < 2) {
          throw new Error(`${cookies.streams()} streaming response(s): the client never reopened one`);
        }
        const cookie = transport === 'websocket' ? 'no HTTP transport' : await cookies.check();
        passed += 1;
        const reopened = streaming ? `; ${cookies.streams()} streaming responses` : '';
        console.log(`  ok   ${transport}: subscribe, send, receive${reopened}; ${cookie} (${Date.now() - started} ms)`);
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

// Records, in every frame of `page`, the Set-Cookie of SockJS transport responses and the
// Cookie of transport requests; `check()` throws unless one response set JSESSIONID=dummy
// and a later request carried it.
function watchCookies(page) {
  const pending = [];
  const seen = { set: [], sent: [], iframePage: null, streams: 0 };
  // Requests still running when the context closes cannot be asked for headers any more:
  // those answers are ignored.
  const ignoreClosed = () => {};
  page.on('response', (response) => {
    if (!TRANSPORT_URL.test(response.url())) return;
    pending.push(response.headerValue('set-cookie').then((value) => {
      if (value) seen.set.push(value);
    }, ignoreClosed));
  });
  page.on('request', (request) => {
    if (/\/ws\/iframe[^/]*\.html/.test(request.url())) seen.iframePage = request.url();
    if (!TRANSPORT_URL.test(request.url())) return;
    if (/\/(xhr_streaming|eventsource|htmlfile)(\?|$)/.test(request.url())) seen.streams += 1;
    pending.push(request.headerValue('cookie').then((value) => {
      seen.sent.push(value ?? '');
    }, ignoreClosed));
  });
  return {
    // The iframe page the iframe-based transports loaded from the server, if any.
    iframePage: () => seen.iframePage,
    // How many streaming responses the transport opened.
    streams: () => seen.streams,
    async check() {
      await Promise.allSettled(pending);
      if (!seen.set.some((value) => /^JSESSIONID=dummy; Path=\//.test(value))) {
        throw new Error(`no transport response set JSESSIONID (saw ${JSON.stringify(seen.set)})`);
      }
      const carried = seen.sent.filter((value) => /(^|; )JSESSIONID=dummy(;|$)/.test(value));
      if (carried.length === 0) {
        throw new Error(`no transport request carried JSESSIONID (sent ${JSON.stringify(seen.sent)})`);
      }
      return `JSESSIONID set, then carried by ${carried.length} of ${seen.sent.length} requests`;
    },
  };
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
