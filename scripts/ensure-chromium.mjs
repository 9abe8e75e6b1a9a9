#!/usr/bin/env node
// Playwright cannot download its own browser here: the browser tests use Debian's chromium.
// Honours CHROMIUM_PATH; installs the package when missing and running as root; else says what to do.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const executable = (file) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

if (executable(path)) process.exit(0);
if (process.env.CHROMIUM_PATH) {
  console.error(`CHROMIUM_PATH is set to ${path}, which is not an executable file.`);
  process.exit(1);
}
if (process.getuid?.() !== 0) {
  console.error(
    'The browser tests need Chromium at /usr/bin/chromium. Install it with\n' +
      '  sudo apt-get update && sudo apt-get install -y chromium\n' +
      'or point CHROMIUM_PATH at a Chromium or Chrome executable.',
  );
  process.exit(1);
}
console.log('Chromium is missing: installing Debian\'s chromium package (apt-get install -y chromium)…');
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
if (!executable(path)) {
  console.error(`apt-get finished but ${path} is still missing.`);
  process.exit(1);
}
