/**
 * Host functions the shim reaches through isolated-vm (child side). They run on the child's main
 * thread, which never blocks on an isolate, so a sync callback from an isolate thread always returns.
 */
import { webcrypto } from 'node:crypto';
import ivm from 'isolated-vm';
import { MAX_URL_CHARS, type UrlOp } from '../isolate/shim-url.ts';

const URL_SETTERS = new Set(['protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash']);

function components(u: URL): string[] {
  return [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash];
}

// The shim refuses longer inputs before calling (shim-url.ts); checked here too, since this runs
// on the child's main thread. A too-long result is not copied back: its length is.
const tooLong = (s: string | undefined): boolean => s !== undefined && s.length > MAX_URL_CHARS;

const urlOp: UrlOp = (op, a, b, c) => {
  if (tooLong(a) || tooLong(b) || tooLong(c)) return null;
  try {
    let u: URL;
    if (op === 0) u = new URL(a, b);
    else {
      u = new URL(a);
      if (b !== undefined && URL_SETTERS.has(b)) (u as unknown as Record<string, string>)[b] = String(c);
    }
    return u.href.length > MAX_URL_CHARS ? [String(u.href.length)] : components(u);
  } catch {
    return null;
  }
};

/** Shared by every isolate: Callbacks are stateless and transferable any number of times. */
export const urlCallback = new ivm.Callback(urlOp);

const MAX_RANDOM_BYTES = 65_536;
/** Cryptographically secure random bytes for the shim's crypto pool (at most 64 KiB a call). */
export const randomBytesCallback = new ivm.Callback((n: number): ArrayBuffer => {
  const size = Math.min(Math.max(0, Math.trunc(Number(n)) || 0), MAX_RANDOM_BYTES);
  return webcrypto.getRandomValues(new Uint8Array(size)).buffer;
});

/**
 * Timers of one isolate: the shim's setTimeout awaits `sleep(id, ms)`. Pending ones are cancelled
 * when the invocation (shim side) or the batch (host side, `clear`) ends, so no timer outlives it.
 */
export class HostTimers {
  readonly #pending = new Map<number, { timer: NodeJS.Timeout; resolve: () => void }>();
  readonly sleep = new ivm.Reference(
    (id: number, ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#pending.delete(id);
          resolve();
        }, ms);
        this.#pending.set(id, { timer, resolve });
      }),
  );
  readonly cancel = new ivm.Callback((id: number) => this.#settle(id), { ignored: true });

  clear(): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id);
  }

  #released = false;

  release(): void {
    this.clear();
    if (this.#released) return;
    this.#released = true;
    this.sleep.release();
  }

  #settle(id: number): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    // Resolving (not dropping) lets isolated-vm release the promise; the shim ignores a cancelled id.
    p.resolve();
  }
}
