// Launches Debian's Chromium for the browser tests: never a browser a tool downloads, and
// the flags that keep it off the (closed) network.

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** The base URL a script was given (`node SCRIPT http://127.0.0.1:PORT`); exits with 2 and
 *  says why when it is missing or when Chromium is not installed. */
export function baseUrlArgument(script) {
  const base = process.argv[2];
  if (!base || !/^https?:\/\//.test(base)) {
    console.error(`usage: node ${script} http://127.0.0.1:PORT`);
    process.exit(2);
  }
  if (!existsSync(CHROMIUM)) {
    console.error(`browser: ${CHROMIUM} is missing: install Debian's Chromium with \`apt-get install -y chromium\``);
    process.exit(2);
  }
  return base;
}
