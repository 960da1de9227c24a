/**
 * The UI's live side: one server-sent-events stream per open browser tab (`api/live`), carrying
 * invocations as they happen (batched every `pushMs`) and, every `tickMs`, a status snapshot with
 * the Functions page's rows.
 *
 * It works only while a tab is open: the status sampler and (in `start` mode) the feed
 * subscription start with the first stream and stop `lingerMs` after the last one closes, so an
 * unwatched UI reads nothing from Redis and makes no process publish its invocations.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FeedRecord } from '../feed/feed-record.ts';
import type { Status } from '../status-report.ts';
import { functionRows, type FunctionRow } from './function-rows.ts';
import { InvocationLog } from './invocation-log.ts';
import { StatusHistory, toSample } from './status-history.ts';
import { SECURITY_HEADERS } from './ui-assets.ts';
import type { FunctionHandle } from '../../loading/function-handle.ts';

export interface HubOptions {
  hello: { mode: 'dev' | 'start'; namespace: string; readOnly: boolean };
  functions: () => readonly FunctionHandle[];
  status: () => Promise<Status>;
  /** Start following other processes' invocations (start mode); called on activation. */
  follow?: (add: (records: readonly FeedRecord[]) => void) => Promise<{ close(): Promise<void> }>;
  /** @defaultValue 2000 */
  tickMs?: number;
  /** @defaultValue 200 */
  pushMs?: number;
  /** @defaultValue 15000 */
  lingerMs?: number;
}

/** Past this much unsent output a tab is too slow to follow: it is dropped (EventSource reconnects). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export class UiHub {
  readonly log = new InvocationLog();
  readonly history = new StatusHistory();
  readonly #opts: HubOptions;
  readonly #clients = new Set<ServerResponse>();
  #queued: FeedRecord[] = [];
  #status: Status | null = null;
  #statusError: string | null = null;
  #timers: NodeJS.Timeout[] = [];
  #linger: NodeJS.Timeout | null = null;
  #following: Promise<{ close(): Promise<void> } | null> | null = null;
  #ticking = false;
  #closed = false;

  constructor(opts: HubOptions) {
    this.#opts = opts;
  }

  /** Records to show: from this process's `onInvocation` (dev) or from the feed (start). */
  readonly add = (records: readonly FeedRecord[]): void => {
    this.log.add(records);
    if (this.#clients.size > 0) this.#queued.push(...records);
  };

  functions(): FunctionRow[] {
    return functionRows(this.#opts.functions(), this.#status, this.log, Date.now());
  }

  get status(): { status: Status | null; error: string | null } {
    return { status: this.#status, error: this.#statusError };
  }

  /** Serves one `text/event-stream` until the tab goes away. */
  connect(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closed) {
      res.writeHead(503, SECURITY_HEADERS).end();
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.#clients.add(res);
    req.socket.setNoDelay(true);
    res.once('close', () => this.#disconnect(res));
    this.#send(res, 'hello', this.#opts.hello);
    this.#send(res, 'snapshot', { recent: this.log.recent(), history: this.history.samples(), status: this.#status, statusError: this.#statusError, functions: this.functions() });
    this.#activate();
  }

  /** Ends every stream and stops sampling. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const res of this.#clients) res.end();
    this.#clients.clear();
    await this.#deactivate();
  }

  #activate(): void {
    if (this.#linger !== null) {
      clearTimeout(this.#linger);
      this.#linger = null;
    }
    if (this.#timers.length > 0) return;
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.#opts.pushMs ?? 200, () => this.#push());
    every(this.#opts.tickMs ?? 2000, () => void this.#tick());
    // A comment line now and then keeps proxies from closing an idle stream.
    every(15_000, () => { for (const res of this.#clients) res.write(': keep-alive\n\n'); });
    void this.#tick();
    const follow = this.#opts.follow;
    if (follow) this.#following = follow(this.add).catch(() => null); // no feed now; the next activation tries again
  }

  #disconnect(res: ServerResponse): void {
    this.#clients.delete(res);
    if (this.#clients.size > 0 || this.#closed) return;
    this.#queued = [];
    this.#linger = setTimeout(() => void this.#deactivate(), this.#opts.lingerMs ?? 15_000);
    this.#linger.unref();
  }

  async #deactivate(): Promise<void> {
    if (this.#linger !== null) clearTimeout(this.#linger);
    this.#linger = null;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    const following = this.#following;
    this.#following = null;
    await (await following)?.close();
  }

  #push(): void {
    if (this.#queued.length === 0) return;
    const batch = this.#queued;
    this.#queued = [];
    for (const res of this.#clients) this.#send(res, 'invocations', batch);
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return; // a slow Redis: skip a beat rather than pile up reads
    this.#ticking = true;
    let sample = null;
    try {
      this.#status = await this.#opts.status();
      this.#statusError = null;
      sample = toSample(this.#status);
      this.history.add(sample);
    } catch (error) {
      this.#statusError = (error as Error).message;
    } finally {
      this.#ticking = false;
    }
    const tick = { status: this.#status, statusError: this.#statusError, sample, functions: this.functions() };
    for (const res of this.#clients) this.#send(res, 'tick', tick);
  }

  #send(res: ServerResponse, event: string, data: unknown): void {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
