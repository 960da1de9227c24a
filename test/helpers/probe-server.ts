/**
 * A real HTTP server on 127.0.0.1 that handlers under test `fetch` to say "I am running now":
 * it sees every invocation start and end, so tests count what is in flight — per function, per
 * key, per partition — without timing anything. Requests are `GET /run?fn=&key=&id=&p=&a=&ms=` (a: the attempt):
 *
 * - the server records the request, holds it `ms` milliseconds (the event's own delay), then
 *   answers 200; while `hold` is on (or says so of a request), it holds new requests until
 *   {@link ProbeServer.release};
 * - `GET /gate?name=N` answers 200 when gate N is open, 503 when it is closed (a handler throws
 *   on 503: "fail until the test opens the gate").
 *
 * The function file to drop in a functions folder is {@link probeFunction}.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProbeEntry {
  fn: string;
  key: string;
  /** `partition/streamId` */
  id: string;
  partition: number;
  /** `ctx.attempt` of the invocation. */
  attempt: number;
  /** Arrival order among all requests. */
  seq: number;
}

export class ProbeServer {
  readonly entries: ProbeEntry[] = [];
  /** Gates that are closed (`/gate` answers 503). */
  readonly closed = new Set<string>();
  /** While true (or true of the request), new `/run` requests are held until {@link release}. */
  hold: boolean | ((entry: ProbeEntry) => boolean) = false;
  port = 0;
  readonly #inFlight = new Map<string, number>();
  readonly #max = new Map<string, number>();
  /** (fn, key) pairs seen with two invocations in flight at once. */
  readonly keyOverlaps: string[] = [];
  readonly #held = new Set<() => void>();
  readonly #open = new Map<string, ProbeEntry>();
  readonly #server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/gate') {
      const open = !this.closed.has(url.searchParams.get('name') ?? '');
      res.writeHead(open ? 200 : 503).end(open ? 'open' : 'closed');
      return;
    }
    if (url.pathname !== '/run') {
      res.writeHead(404).end();
      return;
    }
    const q = url.searchParams;
    const entry: ProbeEntry = { fn: q.get('fn') ?? '', key: q.get('key') ?? '', id: q.get('id') ?? '', partition: Number(q.get('p')), attempt: Number(q.get('a')), seq: this.entries.length };
    this.entries.push(entry);
    const slot = `${entry.fn}|${entry.id}|${entry.seq}`;
    this.#open.set(slot, entry);
    const fnKey = `${entry.fn}|k|${entry.key}`;
    if (entry.key !== '' && (this.#inFlight.get(fnKey) ?? 0) > 0) this.keyOverlaps.push(`${entry.fn}:${entry.key}`);
    const counters = [entry.fn, `${entry.fn}|p|${entry.partition}`, fnKey];
    for (const c of counters) {
      const n = (this.#inFlight.get(c) ?? 0) + 1;
      this.#inFlight.set(c, n);
      if (n > (this.#max.get(c) ?? 0)) this.#max.set(c, n);
    }
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.#open.delete(slot);
      for (const c of counters) this.#inFlight.set(c, this.#inFlight.get(c)! - 1);
    };
    // A client that went away (its process was killed, its invocation cancelled) ends it too.
    res.once('close', finish);
    const answer = (r: ServerResponse) => {
      finish();
      if (!r.destroyed) r.writeHead(200).end('ok');
    };
    if (typeof this.hold === 'function' ? this.hold(entry) : this.hold) {
      const go = () => answer(res);
      this.#held.add(go);
      res.once('close', () => this.#held.delete(go));
      return;
    }
    const ms = Number(q.get('ms') ?? 0);
    if (ms > 0) setTimeout(() => answer(res), ms);
    else answer(res);
  });

  static async start(): Promise<ProbeServer> {
    const s = new ProbeServer();
    await new Promise<void>((resolve) => s.#server.listen(0, '127.0.0.1', resolve));
    s.port = (s.#server.address() as AddressInfo).port;
    return s;
  }

  /** Invocations of `fn` in flight now. */
  inFlight(fn: string): number {
    return this.#inFlight.get(fn) ?? 0;
  }

  /** The most invocations of `fn` seen in flight at once (in one partition, with `partition`). */
  maxInFlight(fn: string, partition?: number): number {
    return this.#max.get(partition === undefined ? fn : `${fn}|p|${partition}`) ?? 0;
  }

  /** Requests in flight now (started, not answered, client still there). */
  open(): ProbeEntry[] {
    return [...this.#open.values()];
  }

  /** Requests held by `hold`, waiting now. */
  get held(): number {
    return this.#held.size;
  }

  /** Answers every held request (and stops holding new ones). */
  release(): void {
    this.hold = false;
    for (const go of [...this.#held]) go();
    this.#held.clear();
  }

  /** Ids `fn` ran, in arrival order. */
  ran(fn: string): string[] {
    return this.entries.filter((e) => e.fn === fn).map((e) => e.id);
  }

  /** Resets counters between tests of one file. */
  reset(): void {
    this.release();
    this.entries.length = 0;
    this.keyOverlaps.length = 0;
    this.#max.clear();
    this.closed.clear();
  }

  async close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * A function that reports each invocation to the probe server: `event.data.ms` is how long the
 * server holds it; `event.data.gate` names a gate the invocation fails at while it is closed
 * (before reporting itself), `event.data.after` one it checks after; `event.data.mode` may ask for a sync infinite loop right after
 * reporting itself (`spin`), a heap bomb (`bomb`) or emits past the output cap (`flood`) instead.
 */
export function probeFunction(port: number, name: string, manifest: Record<string, unknown>): string {
  const config = { events: ['probe.*'], timeoutMs: 30_000, ...manifest, network: { allow: [`127.0.0.1:${port}`], maxConcurrent: 256 } };
  return `export const config = ${JSON.stringify(config)};
const origin = 'http://127.0.0.1:${port}';
export default async function handler(event, ctx) {
  const d = event.data ?? {};
  if (d.mode === 'bomb') { const keep = []; for (;;) keep.push(new Array(100000).fill(keep.length)); }
  if (d.mode === 'flood') { for (let i = 0; i < 8; i++) await ctx.emit('probe.flood', null, { i, pad: 'x'.repeat(900000) }); return; }
  if (d.gate) {
    const g = await fetch(origin + '/gate?name=' + encodeURIComponent(d.gate));
    await g.text();
    if (!g.ok) throw new Error('gate ' + d.gate + ' is closed');
  }
  const q = 'fn=${name}&key=' + encodeURIComponent(event.key ?? '') + '&id=' + event.partition + '/' + event.id + '&p=' + event.partition + '&a=' + ctx.attempt + '&ms=' + (d.ms ?? 0);
  const r = await fetch(origin + '/run?' + q);
  await r.text();
  if (!r.ok) throw new Error('probe answered ' + r.status);
  if (d.after) {
    const g = await fetch(origin + '/gate?name=' + encodeURIComponent(d.after));
    await g.text();
    if (!g.ok) throw new Error('gate ' + d.after + ' is closed');
  }
  if (d.mode === 'spin') for (;;) {}
}
`;
}
