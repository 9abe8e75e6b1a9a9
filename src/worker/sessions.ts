import { StateError } from '../errors/index.js';
import type { InputTensor } from '../runtimes/index.js';
import type { ScoredBatch, Scorer } from '../scoring/index.js';
import type { AcquiredVersion } from './deployment.js';

/** Sessions a worker keeps open at once: each holds its state tensors and a version. */
export const MAX_SESSIONS = 256;

interface OpenSession {
  acquired: AcquiredVersion;
  /** Undefined until the first step: the spec's initial values are fed then. */
  state: Readonly<Record<string, InputTensor>> | undefined;
  /** Steps run one after another, in the order they were asked. */
  queue: Promise<unknown>;
}

/** What a step gives back: the batch, and the version and scorer that scored it. */
export interface SessionStepResult {
  readonly batch: ScoredBatch;
  readonly scorer: Scorer;
  readonly version: string;
}

/**
 * Streaming sessions: each keeps its state tensors here, in the worker, between calls, and the
 * version it started on (an update does not change a session mid-stream; `reset` moves it to the
 * version live then). A failed step leaves the state as it was.
 */
export class Sessions {
  readonly #open = new Map<number, OpenSession>();
  #last = 0;

  /** Opens a session on `acquired` (held until the session ends). */
  open(acquired: AcquiredVersion): { readonly id: number; readonly version: string } {
    if (this.#open.size >= MAX_SESSIONS) {
      acquired.release();
      throw new StateError('TOO_MANY_SESSIONS', `${MAX_SESSIONS} sessions are open: dispose() the ones no longer used`, {
        limit: MAX_SESSIONS,
      });
    }
    const id = ++this.#last;
    this.#open.set(id, { acquired, state: undefined, queue: Promise.resolve() });
    return { id, version: acquired.version };
  }

  /** Scores rows with the session's state and keeps the state the model gave back. */
  step(id: number, rows: unknown, counted: <T>(version: string, run: () => Promise<T>) => Promise<T>): Promise<SessionStepResult> {
    const session = this.#get(id);
    const run = session.queue.then(async () => {
      const current = this.#get(id);
      const { scorer, version } = current.acquired;
      const { batch, state } = await counted(version, () => scorer.scoreSession(rows, current.state));
      current.state = state;
      return { batch, scorer, version };
    });
    session.queue = run.catch(() => undefined);
    return run;
  }

  /** Back to the initial state, on the version live now. */
  reset(id: number, live: () => AcquiredVersion): { readonly version: string } {
    const session = this.#get(id);
    const acquired = live();
    session.acquired.release();
    session.acquired = acquired;
    session.state = undefined;
    return { version: acquired.version };
  }

  /** A copy of the session's state (undefined before its first step): it leaves the worker only when asked. */
  state(id: number): Record<string, InputTensor> | undefined {
    const state = this.#get(id).state;
    if (state === undefined) return undefined;
    return Object.fromEntries(Object.entries(state).map(([name, t]) => [name, { data: t.data.slice(), dims: [...t.dims] }]));
  }

  close(id: number): void {
    const session = this.#open.get(id);
    if (session === undefined) return;
    this.#open.delete(id);
    // Released once its steps in flight are done: the version's runtime may be retired meanwhile.
    void session.queue.finally(() => session.acquired.release());
  }

  closeAll(): void {
    for (const id of [...this.#open.keys()]) this.close(id);
  }

  #get(id: number): OpenSession {
    const session = this.#open.get(id);
    if (session === undefined)
      throw new StateError('DISPOSED', `session ${String(id).slice(0, 20)} was disposed (or never opened)`, { session: id });
    return session;
  }
}
