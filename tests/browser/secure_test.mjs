// Real-browser test of the demo chat in secure mode (demo-chat --jwt-secret): accounts with
// passwords, through the page.
//
//   node tests/browser/secure_test.mjs http://127.0.0.1:8080
//
// Two isolated browser contexts:
//   erin signs up and logs in through the page, joins a room and posts;
//   erin's token is revoked (logout from outside the page) and the server ends her session:
//   on reconnect the page tells her to log in again, and logging in again works;
//   erin logs out with the page's button;
//   mallory tries erin's name with wrong passwords: the page says the login failed, then
//   that it is rate limited.
//
// Prints `browser: N passed, M failed` and exits non-zero on any failure.

import { CHROMIUM, baseUrlArgument, launchChromium } from './chromium.mjs';

const WAIT_MS = 10_000;
// A fresh name per run: the accounts file may be reused by a rerun against one server.
const RUN = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`;
const ERIN = `erin${RUN}`;
const PASSWORD = 'correct horse battery';
const ROOM = 'vault';

const base = baseUrlArgument('secure_test.mjs');

let passed = 0;
let failed = 0;
class StopRun extends Error {}
const pages = new Map(); // user -> { page, log, tokens }

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

async function describe(user) {
  const { page, log } = pages.get(user);
  const text = (sel) =>
    page.locator(sel).first().textContent({ timeout: 1_000 })
      .then((t) => JSON.stringify((t ?? '').replace(/\s+/g, ' ').trim().slice(0, 400)))
      .catch(() => '(absent)');
  return `${user}'s page: #status=${await text('#status')} #errors=${await text('#errors')} ` +
    `#members=${await text('#members')}\n  log: ${log.slice(-8).join(' | ')}`;
}

/** Waits until `predicate(arg)` holds in `user`'s page. */
async function waitIn(user, what, predicate, arg) {
  try {
    await pages.get(user).page.waitForFunction(predicate, arg, { timeout: WAIT_MS, polling: 100 });
  } catch (error) {
    const reason = error?.name === 'TimeoutError' ? `not within ${WAIT_MS / 1000} s` : String(error?.message ?? error);
    throw new Error(`${user}: ${what}: ${reason}\n${await describe(user)}`);
  }
}

const statusIs = (user, pattern) =>
  waitIn(user, `#status should match ${pattern}`, (source) =>
    new RegExp(source, 'i').test(document.querySelector('#status')?.textContent ?? ''), pattern.source);

const errorsShow = (user, pattern) =>
  waitIn(user, `#errors should show ${pattern}`, (source) =>
    new RegExp(source, 'i').test(document.querySelector('#errors')?.textContent ?? ''), pattern.source);

const memberListed = (user, name) =>
  waitIn(user, `#members should list ${name}`, (n) =>
    [...document.querySelectorAll('#members li')].some((li) => (li.textContent ?? '').includes(n)), name);

async function open(browser, user) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const log = [];
  const tokens = [];
  page.on('pageerror', (error) => log.push(`uncaught: ${error.message}`));
  page.on('response', async (response) => {
    if (response.status() >= 400) log.push(`HTTP ${response.status()} for ${response.url()}`);
    if (response.url().endsWith('/login') && response.ok()) {
      const body = await response.json().catch(() => ({}));
      if (body.token) tokens.push(body.token);
    }
  });
  pages.set(user, { page, log, tokens });
  const response = await page.goto(base, { waitUntil: 'load' });
  if (!response?.ok()) throw new Error(`${user}: GET ${base} answered ${response?.status()}`);
  return page;
}

async function fill(user, name, password, room = ROOM) {
  const { page } = pages.get(user);
  await page.locator('#name').fill(name);
  await page.locator('#password').fill(password);
  await page.locator('#room').fill(room);
}

async function main() {
  console.log(`browser: testing secure mode at ${base} with ${CHROMIUM}`);
  const browser = await launchChromium();
  try {
    await check('the page asks for a password and offers sign-up in secure mode', async () => {
      const page = await open(browser, 'erin');
      for (const id of ['#password', '#signup']) {
        if (!(await page.locator(id).isVisible())) throw new Error(`${id} is not visible\n${await describe('erin')}`);
      }
      if ((await page.locator('#password').getAttribute('type')) !== 'password') {
        throw new Error('#password is not a password field');
      }
    });

    await check('erin signs up through the page, is logged in and joins the room', async () => {
      await fill('erin', ERIN, PASSWORD);
      await pages.get('erin').page.locator('#signup').click();
      await memberListed('erin', ERIN);
      await statusIs('erin', new RegExp(`connected as ${ERIN}`));
      if (pages.get('erin').tokens.length !== 1) throw new Error('no token from POST /login');
    });

    await check('erin posts a message', async () => {
      const { page } = pages.get('erin');
      await page.locator('#message').fill(`hello ${RUN}`);
      await page.locator('#send').click();
      await waitIn('erin', 'her message shows', (text) =>
        [...document.querySelectorAll('#messages .message')].some((el) => (el.textContent ?? '').includes(text)), `hello ${RUN}`);
    });

    await check("erin's token revoked: on reconnect the page tells her to log in again", async () => {
      const { tokens } = pages.get('erin');
      const logout = await fetch(`${base}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[0]}` },
      });
      if (logout.status !== 200) throw new Error(`POST /logout answered ${logout.status}`);
      // The server ends the sessions of a revoked token itself (an ERROR saying so); the
      // page reconnects, and its CONNECT with the revoked token is refused.
      await statusIs('erin', /login expired/);
      await errorsShow('erin', /log in/);
    });

    await check('erin logs in again with her password and is back in the room', async () => {
      await fill('erin', ERIN, PASSWORD);
      await pages.get('erin').page.locator('#join').click();
      await memberListed('erin', ERIN);
      await statusIs('erin', /connected as/);
    });

    await check('erin logs out with the button, which revokes her token', async () => {
      const { page, tokens } = pages.get('erin');
      const pageLogout = page.waitForResponse((r) => r.url().endsWith('/logout'));
      await page.locator('#logout').click();
      await statusIs('erin', /logged out/);
      if (await page.locator('#logout').isVisible()) throw new Error('#logout still visible');
      const answered = (await pageLogout).status();
      if (answered !== 200) throw new Error(`the page's POST /logout answered ${answered}`);
      // Logged out once by the page: a second logout of the same token is refused.
      const again = await fetch(`${base}/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.at(-1)}` },
      });
      if (again.status !== 401) throw new Error(`the page's token still works (POST /logout answered ${again.status})`);
    });

    await check('a wrong password: the page says the login failed', async () => {
      await open(browser, 'mallory');
      await fill('mallory', ERIN, 'not her password');
      await pages.get('mallory').page.locator('#join').click();
      await statusIs('mallory', /login failed/);
      await errorsShow('mallory', /wrong name or password/);
    });

    await check('more wrong passwords: the page says it is rate limited', async () => {
      const { page } = pages.get('mallory');
      // One failure so far; the name allows 5 a minute, the 6th attempt is refused.
      for (let i = 0; i < 5; i += 1) {
        await page.locator('#password').fill(`guess number ${i}`);
        await page.locator('#join').click();
        await page.waitForTimeout(150);
      }
      await statusIs('mallory', /rate limited/);
      await errorsShow('mallory', /too many failed logins.*try again in \d+ s/);
    });

    await check('no page threw an error', async () => {
      const uncaught = [...pages].flatMap(([user, { log }]) =>
        log.filter((l) => l.startsWith('uncaught')).map((l) => `${user}: ${l}`));
      if (uncaught.length) throw new Error(uncaught.join('\n'));
    });
  } catch (error) {
    if (!(error instanceof StopRun)) {
      failed += 1;
      console.log(`  FAIL unexpected error: ${error?.stack ?? error}`);
    }
  } finally {
    await browser.close().catch(() => {});
  }
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

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
