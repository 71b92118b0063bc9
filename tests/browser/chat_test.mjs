// Real-browser test of the demo chat: Debian's Chromium driven by playwright-core.
//
//   node tests/browser/chat_test.mjs http://127.0.0.1:8080
//   node tests/browser/chat_test.mjs https://localhost:8443   (TLS; certificate errors ignored)
//
// Four isolated browser contexts (four users, no shared cookies or storage):
//   alice and bob join `lobby`; alice sends; bob sees it and sees both members;
//   carol joins `lobby` afterwards and finds the message in the room's history;
//   dave joins another room and sees nothing of lobby's messages;
//   HTML in a message is shown as text, never inserted as markup.
// A screenshot of bob's page is saved to tests/artifacts/chat.png.
//
// Environment: CHROMIUM (default /usr/bin/chromium), BROWSER_SCREENSHOT (default
// tests/artifacts/chat.png). playwright-core never downloads a browser: Chromium comes
// from Debian (`apt-get install -y chromium`).
//
// Prints `browser: N passed, M failed` and exits non-zero on any failure.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, baseUrlArgument, launchChromium } from './chromium.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WAIT_MS = 10_000;
const SCREENSHOT = process.env.BROWSER_SCREENSHOT || resolve(HERE, '..', 'artifacts', 'chat.png');
const ROOM = 'lobby';
// A fresh token per run, so that a rerun against the same server (whose history
// survives) cannot pass on an earlier run's messages.
const TOKEN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const OTHER_ROOM = 'other';
const HELLO = `hello from alice ${TOKEN}`;
const SECOND = `second lobby message ${TOKEN}`;
const HTML = `<b>bold</b><img src=x onerror=alert(1)> ${TOKEN}`;

const base = baseUrlArgument('chat_test.mjs');

let passed = 0;
let failed = 0;
const users = new Map(); // name -> { context, page, log: string[] }

/** Runs one named check; the first failure stops the run (later checks depend on it). */
async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    passed += 1;
    console.log(`  ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed += 1;
    console.log(`  FAIL ${name}\n       ${String(error?.message ?? error).split('\n').join('\n       ')}`);
    throw new StopRun();
  }
}
class StopRun extends Error {}

/** What a page shows, for failure messages. */
async function describe(name) {
  const user = users.get(name);
  if (!user) return `${name}: no page`;
  const text = (sel) =>
    user.page
      .locator(sel)
      .first()
      .textContent({ timeout: 1_000 })
      .then((t) => JSON.stringify((t ?? '').replace(/\s+/g, ' ').trim().slice(0, 600)))
      .catch(() => '(absent)');
  const lines = [
    `${name}'s page: #status=${await text('#status')}`,
    `  #members=${await text('#members')}`,
    `  #rooms=${await text('#rooms')}`,
    `  #errors=${await text('#errors')}`,
    `  #messages=${await text('#messages')}`,
  ];
  if (user.log.length) lines.push(`  console/page errors: ${user.log.slice(-8).join(' | ')}`);
  return lines.join('\n');
}

/** Waits (10 s at most) until `predicate(arg)` is truthy in `name`'s page. */
async function waitIn(name, what, predicate, arg) {
  const { page } = users.get(name);
  try {
    await page.waitForFunction(predicate, arg, { timeout: WAIT_MS, polling: 100 });
  } catch (error) {
    const reason = error?.name === 'TimeoutError' ? `not within ${WAIT_MS / 1000} s` : String(error?.message ?? error);
    throw new Error(`${name}: ${what}: ${reason}\n${await describe(name)}`);
  }
}

/** The text of every `.message` in `#messages`. */
function messageTexts(name) {
  return users.get(name).page.$$eval('#messages .message', (els) => els.map((e) => e.textContent ?? ''));
}

async function openUser(browser, name) {
  // Over https:// the demo's certificate is a test CA's that Chromium does not know.
  const context = await browser.newContext({
    viewport: { width: 1100, height: 720 },
    ignoreHTTPSErrors: base.startsWith('https:'),
  });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  const page = await context.newPage();
  const log = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') log.push(`console.error: ${msg.text()}`);
  });
  page.on('pageerror', (error) => log.push(`uncaught: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400) log.push(`HTTP ${response.status()} for ${response.url()}`);
  });
  page.on('dialog', async (dialog) => {
    // An alert() here means markup from a message was executed.
    log.push(`dialog(${dialog.type()}): ${dialog.message()}`);
    dialogs.push(`${name}: ${dialog.type()} "${dialog.message()}"`);
    await dialog.dismiss().catch(() => {});
  });
  users.set(name, { context, page, log });
  const response = await page.goto(base, { waitUntil: 'load' });
  if (!response || !response.ok()) {
    throw new Error(`${name}: GET ${base} answered ${response ? response.status() : 'nothing'}`);
  }
  for (const id of ['#name', '#room', '#join', '#message', '#send', '#status', '#messages', '#members', '#rooms', '#errors']) {
    if ((await page.locator(id).count()) !== 1) {
      throw new Error(`${name}: the page has no single element ${id}\n${await describe(name)}`);
    }
  }
  return page;
}
const dialogs = [];

/** Fills in name and room, clicks #join, and waits until the member list shows `name`. */
async function join(name, room) {
  const { page } = users.get(name);
  await page.locator('#name').fill(name);
  await page.locator('#room').fill(room);
  await page.locator('#join').click();
  await waitIn(
    name,
    `after joining ${room}, #members should list ${name}`,
    (me) => [...document.querySelectorAll('#members li')].some((li) => (li.textContent ?? '').includes(me)),
    name,
  );
}

async function send(name, content) {
  const { page } = users.get(name);
  await page.locator('#message').fill(content);
  await page.locator('#send').click();
}

/** Waits until `name` shows a `.message` whose text contains every string of `parts`. */
async function waitForMessage(name, parts, what) {
  await waitIn(
    name,
    what,
    (ps) =>
      [...document.querySelectorAll('#messages .message')].some((el) =>
        ps.every((p) => (el.textContent ?? '').includes(p)),
      ),
    parts,
  );
}

async function main() {
  console.log(`browser: testing ${base} with ${CHROMIUM}`);
  const browser = await launchChromium();
  console.log(`browser: Chromium ${browser.version()}`);
  try {
    await check('alice and bob load the page (every agreed element id is there)', async () => {
      await openUser(browser, 'alice');
      await openUser(browser, 'bob');
    });

    await check(`alice and bob join ${ROOM}`, async () => {
      await join('alice', ROOM);
      await join('bob', ROOM);
    });

    await check("bob's member list shows alice and bob", async () => {
      await waitIn(
        'bob',
        '#members should have an li for alice and one for bob',
        () => {
          const names = [...document.querySelectorAll('#members li')].map((li) => li.textContent ?? '');
          return ['alice', 'bob'].every((n) => names.some((t) => t.includes(n)));
        },
      );
      // alice's list catches up too (she joined first, so bob arrived by a broadcast).
      await waitIn('alice', "#members should list bob once he joined", () =>
        [...document.querySelectorAll('#members li')].some((li) => (li.textContent ?? '').includes('bob')),
      );
    });

    await check('#status shows a connected state', async () => {
      const status = (await users.get('bob').page.locator('#status').textContent()) ?? '';
      if (!status.trim()) throw new Error(`bob: #status is empty\n${await describe('bob')}`);
      if (/disconnect|error|closed|fail/i.test(status)) {
        throw new Error(`bob: #status reads "${status.trim()}" after joining\n${await describe('bob')}`);
      }
    });

    await check('alice sends a message; bob sees it with her name (alice sees it too)', async () => {
      await send('alice', HELLO);
      await waitForMessage('bob', ['alice', HELLO], `a .message containing "alice" and "${HELLO}"`);
      await waitForMessage('alice', ['alice', HELLO], `her own message "${HELLO}" echoed back`);
      const input = await users.get('alice').page.locator('#message').inputValue();
      if (input !== '') console.log(`       note: #message still holds "${input}" after sending`);
    });

    await check(`#rooms lists ${ROOM} with its member count`, async () => {
      // One entry per room (an `li`, or any child), holding the name and the count.
      await waitIn('bob', `#rooms should have an entry for ${ROOM} with the count 2`, (room) => {
        const list = document.querySelector('#rooms');
        const entries = list ? [...list.querySelectorAll('li')] : [];
        return (entries.length ? entries : [...(list?.children ?? [])]).some((el) => {
          const text = el.textContent ?? '';
          return text.includes(room) && /(^|\D)2(\D|$)/.test(text.replace(room, ' '));
        });
      }, ROOM);
    });

    await check(`carol joins ${ROOM} afterwards and finds alice's message in the history`, async () => {
      await openUser(browser, 'carol');
      await join('carol', ROOM);
      await waitForMessage('carol', ['alice', HELLO], `the history should contain alice's "${HELLO}"`);
      await waitIn('bob', '#members should now list carol too', () =>
        [...document.querySelectorAll('#members li')].some((li) => (li.textContent ?? '').includes('carol')),
      );
    });

    await check(`dave joins another room (${OTHER_ROOM}) and sees nothing of ${ROOM}'s messages`, async () => {
      await openUser(browser, 'dave');
      await join('dave', OTHER_ROOM);
      // A new lobby message after dave joined: once bob has it, dave would have it too
      // if rooms leaked into each other.
      await send('alice', SECOND);
      await waitForMessage('bob', ['alice', SECOND], `a .message containing "${SECOND}"`);
      await users.get('dave').page.waitForTimeout(300);
      const leaked = (await messageTexts('dave')).filter((t) => t.includes(TOKEN));
      if (leaked.length) {
        throw new Error(`dave (in ${OTHER_ROOM}) shows lobby messages: ${JSON.stringify(leaked)}\n${await describe('dave')}`);
      }
      const members = await users.get('dave').page.$$eval('#members li', (els) => els.map((e) => (e.textContent ?? '').trim()));
      const strangers = members.filter((m) => ['alice', 'bob', 'carol'].some((n) => m.includes(n)));
      if (strangers.length) throw new Error(`dave's member list shows lobby members: ${JSON.stringify(members)}`);
    });

    await check('HTML in a message is shown as text, never inserted as markup', async () => {
      await send('alice', HTML);
      await waitForMessage('bob', [TOKEN, '<b>bold</b>'], 'a .message whose text contains the literal "<b>bold</b>"');
      await waitForMessage('alice', [TOKEN, '<b>bold</b>'], 'a .message whose text contains the literal "<b>bold</b>"');
      for (const name of ['alice', 'bob', 'carol']) {
        const { page } = users.get(name);
        const texts = (await messageTexts(name)).filter((t) => t.includes(TOKEN) && t.includes('<b>'));
        if (!texts.some((t) => t.includes('<img src=x onerror=alert(1)>'))) {
          throw new Error(`${name}: the message text lost the literal "<img ...>": ${JSON.stringify(texts)}`);
        }
        const imgs = await page.locator('#messages img').count();
        const bolds = await page.locator('#messages .message b').count();
        if (imgs || bolds) {
          throw new Error(`${name}: markup from a message was inserted into #messages (${imgs} img, ${bolds} b)`);
        }
      }
      await users.get('bob').page.waitForTimeout(200); // let a stray onerror fire, if any
      if (dialogs.length) throw new Error(`a message's markup ran script: ${dialogs.join('; ')}`);
    });

    await check('no page shows an error or threw one', async () => {
      const problems = [];
      for (const [name, user] of users) {
        const errors = ((await user.page.locator('#errors').textContent()) ?? '').trim();
        if (errors) problems.push(`${name}: #errors reads "${errors}"`);
        const uncaught = user.log.filter((l) => l.startsWith('uncaught'));
        if (uncaught.length) problems.push(`${name}: ${uncaught.join(' | ')}`);
      }
      if (problems.length) throw new Error(problems.join('\n'));
    });
  } catch (error) {
    if (!(error instanceof StopRun)) {
      failed += 1;
      console.log(`  FAIL unexpected error: ${error?.stack ?? error}`);
    }
  } finally {
    const bob = users.get('bob');
    if (bob) {
      try {
        mkdirSync(dirname(SCREENSHOT), { recursive: true });
        await bob.page.screenshot({ path: SCREENSHOT, fullPage: true, timeout: WAIT_MS });
        console.log(`browser: screenshot of bob's page saved to ${SCREENSHOT}`);
      } catch (error) {
        failed += 1;
        console.log(`  FAIL screenshot: ${error?.message ?? error}`);
      }
    }
    for (const [name, user] of users) {
      const other = user.log.filter((l) => !l.startsWith('uncaught'));
      if (other.length) console.log(`browser: ${name}'s console: ${other.join(' | ')}`);
    }
    await browser.close().catch(() => {});
  }
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

// A hard ceiling, so a wedged browser cannot hang the caller.
const ceiling = setTimeout(() => {
  console.log('  FAIL the whole run took more than 120 s');
  console.log(`browser: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, 120_000);
ceiling.unref();

main().catch((error) => {
  console.log(`  FAIL ${error?.stack ?? error}`);
  console.log(`browser: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
