import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { chromium } from '@playwright/test';
import puppeteer from 'puppeteer-core';
import { Builder, type WebDriver } from 'selenium-webdriver';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../support/chromium.js';

// The three engines an app's users have, each driven the way this machine allows: Chromium with
// Playwright, Firefox ESR with puppeteer-core over WebDriver BiDi, WebKitGTK (Safari's engine) with
// its WebKitWebDriver and selenium-webdriver, on a virtual X server.

export type EngineName = 'chromium' | 'firefox' | 'webkit';
export const ENGINES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];

export interface EnginePage {
  goto(url: string): Promise<void>;
  /** Runs `expression` in the page, awaits it, and returns its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

export interface EngineBrowser {
  readonly name: EngineName;
  /** What the engine says it is, e.g. `firefox/153.8.0`. */
  readonly version: string;
  newPage(): Promise<EnginePage>;
  close(): Promise<void>;
}

const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
/** How long one evaluated expression may take in any engine. */
const SCRIPT_TIMEOUT_MS = 60_000;

export async function launchEngine(name: EngineName): Promise<EngineBrowser> {
  if (name === 'chromium') return launchChromium();
  if (name === 'firefox') return launchFirefox();
  return launchWebKit();
}

async function launchChromium(): Promise<EngineBrowser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
  return {
    name: 'chromium',
    version: `chromium/${browser.version()}`,
    async newPage() {
      const context = await browser.newContext();
      const page = await context.newPage();
      return {
        goto: async (url) => void (await page.goto(url)),
        evaluate: (expression) => page.evaluate(expression),
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

async function launchFirefox(): Promise<EngineBrowser> {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
    headless: true,
    protocol: 'webDriverBiDi',
  });
  return {
    name: 'firefox',
    version: await browser.version(),
    async newPage() {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      page.setDefaultTimeout(SCRIPT_TIMEOUT_MS);
      const evaluate = async <T>(expression: string, attempt = 1): Promise<T> => {
        try {
          return (await page.evaluate(`(async () => (${expression}))()`)) as T;
        } catch (error) {
          // Firefox can discard the page's realm while a navigation settles (seen under load): the
          // script did not run there; it runs once the new document is in place.
          if (attempt >= 3 || !/no such frame|DiscardedBrowsingContext|Execution context was destroyed/.test(String(error))) throw error;
          await new Promise((resolve) => setTimeout(resolve, 500));
          return evaluate<T>(expression, attempt + 1);
        }
      };
      return {
        goto: async (url) => void (await page.goto(url, { waitUntil: 'load' })),
        evaluate,
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

/** WebKitGTK: a virtual display, its WebDriver, and one MiniBrowser session per page. */
async function launchWebKit(): Promise<EngineBrowser> {
  const display = await startXvfb();
  const port = await freePort();
  const driverProcess = spawn('/usr/bin/WebKitWebDriver', [`--port=${port}`], {
    env: { ...process.env, DISPLAY: display.name },
    stdio: 'ignore',
  });
  const stop = (): void => {
    driverProcess.kill();
    display.process.kill();
  };
  try {
    await waitForPort(port);
  } catch (error) {
    stop();
    throw error;
  }
  const sessions = new Set<WebDriver>();
  let version = 'webkit';
  const open = async (): Promise<WebDriver> => {
    const driver = await new Builder()
      .usingServer(`http://127.0.0.1:${port}`)
      .withCapabilities({ browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } })
      .build();
    await driver.manage().setTimeouts({ script: SCRIPT_TIMEOUT_MS, pageLoad: SCRIPT_TIMEOUT_MS });
    const capabilities = await driver.getCapabilities();
    version = `webkitgtk/${String(capabilities.get('browserVersion'))}`;
    sessions.add(driver);
    return driver;
  };
  const first = await open().catch((error: unknown) => {
    stop();
    throw error;
  });
  await first.quit();
  sessions.delete(first);
  return {
    name: 'webkit',
    version,
    async newPage() {
      const driver = await open();
      return {
        goto: (url) => driver.get(url),
        evaluate: async <T>(expression: string) => {
          const outcome = (await driver.executeAsyncScript(
            `const done = arguments[arguments.length - 1];
             Promise.resolve().then(() => (${expression})).then((value) => done({ value }), (error) => done({ error: error instanceof Error ? error.name + ': ' + error.message + '\\n' + error.stack : String(error) }));`,
          )) as { value?: T; error?: string };
          if (outcome.error !== undefined) throw new Error(`in WebKit: ${outcome.error}`);
          return outcome.value as T;
        },
        async close() {
          sessions.delete(driver);
          await driver.quit();
        },
      };
    },
    async close() {
      await Promise.allSettled([...sessions].map((driver) => driver.quit()));
      stop();
    },
  };
}

/** Xvfb on the first free display (it names it on the file descriptor given with -displayfd). */
async function startXvfb(): Promise<{ name: string; process: ChildProcess }> {
  const xvfb = spawn('/usr/bin/Xvfb', ['-displayfd', '1', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const name = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('Xvfb did not start within 10 s')), 10_000);
    xvfb.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (!text.includes('\n')) return;
      clearTimeout(timer);
      resolve(`:${text.trim()}`);
    });
    xvfb.once('exit', (code) => reject(new Error(`Xvfb exited with ${String(code)}`)));
  });
  return { name, process: xvfb };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/status`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`WebKitWebDriver did not answer on port ${port} within 15 s`);
}
