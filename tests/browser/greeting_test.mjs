// The Spring guide's greeting page (examples/greeting.rs) in Debian's Chromium, driven only
// through the page, as a person would: its own app.js runs unchanged.
//
//   node tests/browser/greeting_test.mjs http://127.0.0.1:8080
//
// Two browser contexts: ann connects, sends her name and sees her greeting; bob, connected
// too, sees ann's greeting (the topic is shared); a name with markup is shown as text;
// after Disconnect the page says so and can no longer send.
//
// Prints `browser: N passed, M failed` and exits non-zero on any failure.

import { baseUrlArgument, launchChromium } from './chromium.mjs';

const WAIT_MS = 10_000;
const base = baseUrlArgument('greeting_test.mjs');

let passed = 0;
let failed = 0;
const problems = [];

async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`  ok   ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`  FAIL ${name}\n       ${String(error?.message ?? error).split('\n').join('\n       ')}`);
    throw new Error('stop');
  }
}

async function open(browser, who) {
  const context = await browser.newContext();
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`${who}: uncaught ${error.message}`));
  page.on('dialog', async (dialog) => {
    problems.push(`${who}: ${dialog.type()} "${dialog.message()}" (markup was executed)`);
    await dialog.dismiss().catch(() => {});
  });
  await page.goto(base);
  return page;
}

async function connect(page) {
  await page.click('#connect');
  await page.waitForSelector('#status[data-state="connected"]');
  await page.waitForSelector('#conversation:not([hidden])');
}

async function greetings(page) {
  return page.$$eval('#greetings td', (cells) => cells.map((c) => c.textContent));
}

async function waitForGreeting(page, text) {
  await page.waitForFunction(
    (expected) => [...document.querySelectorAll('#greetings td')].some((c) => c.textContent === expected),
    text,
    { timeout: WAIT_MS, polling: 100 },
  ).catch(async () => {
    throw new Error(`no greeting "${text}"; the table shows ${JSON.stringify(await greetings(page))}`);
  });
}

async function greet(page, name) {
  await page.fill('#name', name);
  await page.click('#send');
}

const browser = await launchChromium();
try {
  const ann = await open(browser, 'ann');
  const bob = await open(browser, 'bob');
  await check('both pages connect with the Connect button', async () => {
    await connect(ann);
    await connect(bob);
  });
  await check('ann sends her name and sees "Hello, Ann!"', async () => {
    await greet(ann, 'Ann');
    await waitForGreeting(ann, 'Hello, Ann!');
  });
  await check('bob sees ann\'s greeting on the shared topic', async () => {
    await waitForGreeting(bob, 'Hello, Ann!');
  });
  await check('a name with markup comes back escaped and is shown as text', async () => {
    await greet(ann, '<img src=x onerror=alert(1)>');
    await waitForGreeting(ann, 'Hello, <img src=x onerror=alert(1)>!');
    if (await ann.$('#greetings img')) throw new Error('an <img> element was created from a greeting');
  });
  await check('Disconnect ends the session and disables Send', async () => {
    await ann.click('#disconnect');
    await ann.waitForSelector('#status[data-state="disconnected"]');
    if (!(await ann.isDisabled('#send'))) throw new Error('Send is still enabled');
  });
  await check('no page error and no executed markup', async () => {
    if (problems.length) throw new Error(problems.join('\n'));
  });
} catch (error) {
  if (error?.message !== 'stop') {
    failed += 1;
    console.log(`  FAIL ${String(error?.stack ?? error)}`);
  }
} finally {
  await browser.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
