/**
 * The chains the host has handed to the sandbox process (parent side): queued until their function
 * is loaded in the current child and the turn of the event loop ends (every chain of a function
 * queued in one turn goes in one message), in flight until their last result, and settled when
 * the child dies:
 * - the chain the child named as culprit fails at its running event (kind from the child);
 * - every other chain's unfinished events come back `skipped`: they run again, uncharged;
 * - with no culprit named, they come back `suspect`: the caller runs each again alone (exclusive:
 *   nothing else in flight), so a second death names the event — and that event fails.
 *
 * Functions come back independently after a restart, suspects too: the first suspect whose
 * function is loaded again runs next (not the oldest), and while no suspect's function is back
 * the other chains go as usual; once one is, it waits for what is in flight and runs alone.
 */
import type { InvocationResult } from '../../types.ts';
import type { ChainSpec, Culprit, ResultPart } from '../protocol.ts';
import { FAILURE_NAMES, parseResult } from '../results.ts';

/** One chain as the caller gives it. */
export interface ChainRequest {
  fnId: string;
  /** JSON text of `[{ event, attempt, idem }, …]`. */
  items: string;
  count: number;
  /** JSON text of the key's state (`{ name: jsonText }`), or null to let the isolate ask for it. */
  state: string | null;
  /** Run with nothing else in flight in the sandbox process (a suspect of an unexplained crash). */
  exclusive: boolean;
  /** The function's timeout, for the host's backstop. */
  timeoutMs: number;
  /** Called once per event, in order. */
  onResult(index: number, result: InvocationResult): void;
  /** The state of event key `key`, when the isolate asks for it (JSON text). */
  readState(key: string): Promise<string>;
}

interface InFlight {
  req: ChainRequest;
  cid: number;
  next: number;
  progressAt: number;
}

/** What the book needs from the host. */
export interface ChainBookHooks {
  /** True when chains of `fnId` may go to the child now. */
  canSend(fnId: string): boolean;
  /** Sends a `run` message; false if the child is gone. */
  send(fnId: string, chains: ChainSpec[]): boolean;
}

/** How long past its timeout a chain may go without any result before the host gives up on the child. */
const BACKSTOP_GRACE_MS = 15_000;

export class ChainBook {
  readonly #hooks: ChainBookHooks;
  readonly #queued = new Map<string, ChainRequest[]>();
  readonly #exclusive: ChainRequest[] = [];
  readonly #inflight = new Map<number, InFlight>();
  #exclusiveCid = 0;
  #cid = 0;
  #flushScheduled = false;

  constructor(hooks: ChainBookHooks) {
    this.#hooks = hooks;
  }

  /** Chains in flight in the child now. */
  get inflight(): number {
    return this.#inflight.size;
  }

  submit(req: ChainRequest): void {
    if (req.exclusive) this.#exclusive.push(req);
    else {
      const list = this.#queued.get(req.fnId);
      if (list === undefined) this.#queued.set(req.fnId, [req]);
      else list.push(req);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Sends whatever may go now. */
  flush(): void {
    if (this.#exclusiveCid !== 0) return;
    // A suspect waiting for its function's reload holds back nobody (a slow top level delays only itself).
    const next = this.#exclusive.findIndex((req) => this.#hooks.canSend(req.fnId));
    if (next >= 0) {
      if (this.#inflight.size > 0) return;
      const [req] = this.#exclusive.splice(next, 1);
      const cid = this.#send(req!.fnId, [req!]);
      if (cid !== null) this.#exclusiveCid = cid;
      return;
    }
    for (const [fnId, list] of this.#queued) {
      if (!this.#hooks.canSend(fnId)) continue;
      this.#queued.delete(fnId);
      this.#send(fnId, list);
    }
  }

  #send(fnId: string, reqs: ChainRequest[]): number | null {
    const now = Date.now();
    const specs: ChainSpec[] = [];
    const sent: InFlight[] = [];
    for (const req of reqs) {
      const cid = ++this.#cid;
      specs.push({ cid, items: req.items, count: req.count, state: req.state });
      sent.push({ req, cid, next: 0, progressAt: now });
    }
    for (const f of sent) this.#inflight.set(f.cid, f);
    if (this.#hooks.send(fnId, specs)) return sent[0]!.cid;
    // The child is gone; its death handling settles these (they are in flight now).
    return null;
  }

  /** Routes results to their chains. */
  results(parts: readonly ResultPart[]): void {
    const now = Date.now();
    for (const [cid, index, outcome] of parts) {
      const f = this.#inflight.get(cid);
      if (f === undefined || index !== f.next) continue;
      f.next++;
      f.progressAt = now;
      if (f.next >= f.req.count) this.#done(f);
      f.req.onResult(index, parseResult(outcome));
    }
    this.flush();
  }

  /** The state an isolate asked for, by chain. */
  readState(cid: number, key: string): Promise<string> {
    const f = this.#inflight.get(cid);
    return f === undefined ? Promise.reject(new Error('the chain is over')) : f.req.readState(key);
  }

  /**
   * The child died: settles everything in flight (see the module comment). `blameless`: the child
   * said no live invocation was at fault, so even a chain running alone is not charged or suspected.
   */
  orphan(culprit: Culprit | null, reason: string, blameless = false): void {
    const orphans = [...this.#inflight.values()];
    this.#inflight.clear();
    const exclusiveCid = this.#exclusiveCid;
    this.#exclusiveCid = 0;
    for (const f of orphans) {
      const guilty = culprit !== null ? culprit.cid === f.cid : !blameless && f.cid === exclusiveCid;
      if (guilty) {
        const at = Math.max(f.next, culprit?.index ?? 0);
        const kind = culprit?.kind ?? 'crash';
        const message = culprit?.message ?? `the sandbox process died while running it alone (${reason}); it was restarted`;
        for (let i = f.next; i < at; i++) f.req.onResult(i, { status: 'skipped' });
        const name = FAILURE_NAMES[kind];
        f.req.onResult(at, { status: 'error', error: { name, message, stack: `${name}: ${message}`, kind }, logs: [], durationMs: culprit?.durationMs ?? 0 });
        for (let i = at + 1; i < f.req.count; i++) f.req.onResult(i, { status: 'skipped' });
      } else {
        const skipped: InvocationResult = culprit === null && !blameless ? { status: 'skipped', suspect: true } : { status: 'skipped' };
        for (let i = f.next; i < f.req.count; i++) f.req.onResult(i, skipped);
      }
    }
  }

  /** Fails every chain of `fnId` not yet run (its function cannot be loaded). */
  failFunction(fnId: string, message: string): void {
    const list = this.#queued.get(fnId) ?? [];
    this.#queued.delete(fnId);
    for (let i = this.#exclusive.length - 1; i >= 0; i--) if (this.#exclusive[i]!.fnId === fnId) list.push(...this.#exclusive.splice(i, 1));
    for (const req of list) {
      req.onResult(0, { status: 'error', error: { name: 'SandboxCrashError', message, stack: `SandboxCrashError: ${message}`, kind: 'crash' }, logs: [], durationMs: 0 });
      for (let i = 1; i < req.count; i++) req.onResult(i, { status: 'skipped' });
    }
  }

  /** Everything, unrun: the host is stopping. */
  abandon(): void {
    const all = [...this.#inflight.values()].map((f) => ({ req: f.req, from: f.next }));
    this.#inflight.clear();
    for (const list of this.#queued.values()) for (const req of list) all.push({ req, from: 0 });
    for (const req of this.#exclusive) all.push({ req, from: 0 });
    this.#queued.clear();
    this.#exclusive.length = 0;
    for (const { req, from } of all) for (let i = from; i < req.count; i++) req.onResult(i, { status: 'skipped' });
  }

  /** A chain that made no progress for far longer than its timeout allows: the child is broken. */
  overdue(now: number): ChainRequest | undefined {
    for (const f of this.#inflight.values()) if (now - f.progressAt > f.req.timeoutMs + BACKSTOP_GRACE_MS) return f.req;
    return undefined;
  }

  #done(f: InFlight): void {
    this.#inflight.delete(f.cid);
    if (f.cid === this.#exclusiveCid) this.#exclusiveCid = 0;
  }
}
