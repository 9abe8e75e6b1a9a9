#!/usr/bin/env node
// The browser tests run in Debian's browsers (Playwright and Puppeteer cannot download their own
// here): Chromium, Firefox ESR, and WebKitGTK with its WebDriver under a virtual X server.
// Installs what is missing when running as root; otherwise says what to install.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** What each engine needs: an executable, and the Debian package that provides it. */
const NEEDED = [
  { what: 'Chromium', path: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', pkg: 'chromium', env: 'CHROMIUM_PATH' },
  { what: 'Firefox ESR', path: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr', pkg: 'firefox-esr', env: 'FIREFOX_PATH' },
  { what: 'WebKitWebDriver', path: '/usr/bin/WebKitWebDriver', pkg: 'webkit2gtk-driver' },
  { what: 'Xvfb', path: '/usr/bin/Xvfb', pkg: 'xvfb' },
];

const executable = (file) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const missing = NEEDED.filter((item) => !executable(item.path));
if (missing.length === 0) process.exit(0);
const named = missing.filter((item) => item.env !== undefined && process.env[item.env] !== undefined);
if (named.length > 0) {
  console.error(named.map((item) => `${item.env} is set to ${item.path}, which is not an executable file.`).join('\n'));
  process.exit(1);
}
const packages = missing.map((item) => item.pkg);
if (process.getuid?.() !== 0) {
  console.error(
    `The browser tests need ${missing.map((item) => `${item.what} (${item.path})`).join(', ')}. Install them with\n` +
      `  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages.join(' ')}\n` +
      'or point CHROMIUM_PATH / FIREFOX_PATH at other executables.',
  );
  process.exit(1);
}
console.log(`Missing: ${missing.map((item) => item.what).join(', ')}; installing Debian's ${packages.join(' ')} (apt-get install)…`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
const still = missing.filter((item) => !executable(item.path));
if (still.length > 0) {
  console.error(`apt-get finished but ${still.map((item) => item.path).join(', ')} ${still.length === 1 ? 'is' : 'are'} still missing.`);
  process.exit(1);
}
