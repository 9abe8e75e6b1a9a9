// Fetches one URL (no-store) from a dedicated worker and answers how long it took: checks that the
// network emulation set on the page's target also throttles its workers' requests.
self.onmessage = async (event: MessageEvent<string>): Promise<void> => {
  const start = performance.now();
  const bytes = (await (await fetch(event.data, { cache: 'no-store' })).arrayBuffer()).byteLength;
  self.postMessage({ ms: performance.now() - start, bytes });
};
