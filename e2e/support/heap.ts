import type { Browser, CDPSession } from '@playwright/test';

/**
 * The JS heap of the library's worker, after a full garbage collection, read over the DevTools
 * protocol (workers have no memory API of their own). Attaches through the browser's CDP session
 * with un-flattened messages, since Playwright's sessions cannot address a worker directly.
 */
/** `seen`: workers already measured (a disposed one may linger in the target list); the new one is added. */
export async function workerHeap(browser: Browser, seen: Set<string> = new Set()): Promise<() => Promise<number>> {
  const cdp: CDPSession = await browser.newBrowserCDPSession();
  const { targetInfos } = await cdp.send('Target.getTargets');
  const worker = targetInfos.find((t) => t.type === 'worker' && /\/assets\/entry-[^/]*\.js$/.test(t.url) && !seen.has(t.targetId));
  if (worker === undefined) throw new Error(`no ondevice worker among ${targetInfos.map((t) => `${t.type} ${t.url}`).join(', ')}`);
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: worker.targetId, flatten: false });
  seen.add(worker.targetId);
  let id = 0;
  const call = (method: string): Promise<Record<string, number>> =>
    new Promise((resolve) => {
      const mine = ++id;
      const listener = (event: { sessionId: string; message: string }): void => {
        const message = JSON.parse(event.message) as { id?: number; result?: Record<string, number> };
        if (event.sessionId !== sessionId || message.id !== mine) return;
        cdp.off('Target.receivedMessageFromTarget', listener);
        resolve(message.result ?? {});
      };
      cdp.on('Target.receivedMessageFromTarget', listener);
      void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: mine, method }) });
    });
  return async () => {
    await call('HeapProfiler.collectGarbage');
    return (await call('Runtime.getHeapUsage')).usedSize!;
  };
}
