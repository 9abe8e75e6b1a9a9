/** Messages that reached a worker before its service listened, kept for it in order. */
export interface HeldMessages {
  /** Stops holding and hands every held message to the listeners added since, in order. */
  release(): void;
}

/**
 * Holds the messages a worker receives while its service's code is still loading: a worker's
 * entry imports the service dynamically (it must stay a leaf, see entry.ts), and the page may
 * send its first call meanwhile. A message with no listener would be lost.
 */
export function holdMessages(target: EventTarget = globalThis): HeldMessages {
  const held: MessageEvent[] = [];
  const hold = (event: Event): void => void held.push(event as MessageEvent);
  target.addEventListener('message', hold);
  return {
    release() {
      target.removeEventListener('message', hold);
      for (const event of held.splice(0)) target.dispatchEvent(new MessageEvent('message', { data: event.data, ports: [...event.ports] }));
    },
  };
}

/**
 * Rethrows an error outside any promise, so that it reaches the page as the worker's `error` event:
 * a service whose code did not load (offline, a missing chunk) then fails the start at once instead
 * of leaving the page to wait out its timeout.
 */
export function rethrowLater(error: unknown): void {
  setTimeout(() => {
    throw error instanceof Error ? error : new Error(String(error));
  });
}
