/**
 * The parent side of the sandbox. The runtime's main process never loads isolated-vm: a
 * supervised child process holds the isolates, because a catastrophic OOM inside an isolate can
 * hang the process that hosts it, and only a separate process can be killed for certain.
 *
 * When the child dies (it reported a catastrophic error or a wedged isolate, it exited, it stopped
 * sending heartbeats, or a request outlived its deadline) the host kills it, starts a new one,
 * reloads every loaded function one at a time, and then:
 * - the request the child named as culprit is settled as for a kill (see recovery.ts);
 * - every other request in flight is re-run whole, transparently: its emits were still buffered in
 *   the dead child, so nothing of it escaped;
 * - when the child could not name a culprit, the requests in flight are re-run one at a time with
 *   nothing else in flight; one that kills the process while alone is re-run one event at a time,
 *   and the event that kills it while alone fails (kind crash). Events before it are thereby
 *   re-run in the new child, not kept: their results were lost with the old one.
 */
import { SandboxError } from '../../errors.ts';
import type { InvocationResult } from '../../types.ts';
import { ChildConnection, type Death } from './child-connection.ts';
import { opBudgetMs, opMessage, settleOk, type InvokeOp, type LoadOp, type Op, type UnloadOp } from './requests.ts';
import { HEARTBEAT_INTERVAL_MS, type ChildMessage, type LoadSpec, type SandboxStatus } from '../protocol.ts';
import { blame, blameAlone } from './recovery.ts';
import { Scheduler, type OpInit } from './scheduler.ts';

export type { LoadSpec, SandboxStatus } from '../protocol.ts';

/** Consecutive child start failures after which the host gives up (a broken install, not a handler). */
const MAX_START_FAILURES = 3;

/** Runs user functions in isolates inside a supervised child process. */
export class SandboxHost {
  readonly #onCrash: ((info: { reason: string }) => void) | undefined;
  #state: 'new' | 'starting' | 'running' | 'restarting' | 'stopped' | 'failed' = 'new';
  #failure: SandboxError | null = null;
  #conn: ChildConnection | null = null;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #restarting = false;
  #monitor: NodeJS.Timeout | null = null;
  #lastTick = 0;
  /** What a new child must reload, in load order. */
  readonly #specs = new Map<string, LoadSpec>();
  /** Functions dropped because reloading them killed the child; their invokes fail until loaded again. */
  readonly #broken = new Map<string, string>();
  readonly #scheduler = new Scheduler({
    canSend: () => this.#state === 'running',
    admit: (op) => this.#admit(op),
    transmit: (op) => this.#conn?.send(opMessage(op)) ?? false,
  });

  /** @param opts.onCrash called each time the sandbox process dies and is replaced (for logs and metrics). */
  constructor(opts?: { onCrash?: (info: { reason: string }) => void }) {
    this.#onCrash = opts?.onCrash;
  }

  /** Starts the sandbox process; resolves once it is ready. Calling it again returns the same promise. */
  start(): Promise<void> {
    this.#starting ??= (async () => {
      if (this.#state !== 'new') throw new SandboxError('this SandboxHost was stopped; create a new one');
      this.#state = 'starting';
      this.#lastTick = Date.now();
      this.#monitor = setInterval(() => this.#checkHealth(), HEARTBEAT_INTERVAL_MS);
      this.#monitor.unref();
      try {
        await this.#spawn().ready;
      } catch (e) {
        this.#fail(e instanceof SandboxError ? e : new SandboxError(`cannot start the sandbox process: ${(e as Error).message}`));
        throw this.#failure;
      }
      if (this.#state !== 'starting') throw new SandboxError('the sandbox host was stopped while starting');
      this.#state = 'running';
      this.#scheduler.pump();
    })();
    return this.#starting;
  }

  /** Kills the sandbox process and waits for it to exit; pending requests fail. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = 'stopped';
      if (this.#monitor !== null) clearInterval(this.#monitor);
      this.#scheduler.rejectAll(new SandboxError('the sandbox host was stopped'));
      const conn = this.#conn;
      if (conn !== null) {
        conn.kill('stopped');
        await conn.exited;
      }
    })();
    return this.#stopping;
  }

  /**
   * Evaluates the bundle's top level in a new isolate and returns the module's config (JSON data;
   * `{}` when it exports none). Loading an id again replaces it once the new code has loaded.
   * @throws SandboxError `ERR_SANDBOX_LOAD` (with the mapped stack) if the top level throws, times
   *   out, or the module has no handler.
   */
  load(spec: LoadSpec): Promise<{ config: unknown }> {
    return this.#enqueue<LoadOp>(spec.id, { kind: 'load', spec, restore: false });
  }

  /** Disposes the function's isolate. Requests queued before it still run. */
  unload(id: string): Promise<void> {
    return this.#enqueue<UnloadOp>(id, { kind: 'unload' });
  }

  /**
   * Runs a batch: `batchJson` is a JSON array of `{ event, attempt }`, passed as is to the isolate.
   * Resolves with exactly `count` results; after the first error the rest are `skipped`.
   * @throws SandboxError when the function is not loaded or the batch is not `count` events.
   */
  invoke(id: string, batchJson: string, count: number): Promise<InvocationResult[]> {
    if (count === 0) return Promise.resolve([]);
    return this.#enqueue<InvokeOp>(id, { kind: 'invoke', batch: batchJson, count, timeoutMs: 0 });
  }

  /** What the current sandbox process reports about itself (pid, flags, loaded ids). */
  status(): Promise<SandboxStatus> {
    return new Promise((resolve, reject) => {
      this.#assertUsable();
      this.#scheduler.submit({ kind: 'status', fnId: '', rid: 0, deadlineAt: 0, exclusive: false, resolve, reject }, false);
    });
  }

  #assertUsable(): void {
    if (this.#state === 'new') throw new SandboxError('call start() before using the SandboxHost');
    if (this.#state === 'stopped') throw new SandboxError('the sandbox host was stopped');
    if (this.#failure !== null) throw this.#failure;
  }

  #enqueue<T extends Op>(fnId: string, init: OpInit<T>): Promise<Parameters<T['resolve']>[0]> {
    try {
      this.#assertUsable();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#scheduler.enqueue<T>(fnId, init);
  }

  #admit(op: Op): Error | null {
    if (op.kind === 'invoke') {
      const broken = this.#broken.get(op.fnId);
      if (broken !== undefined) return new SandboxError(broken);
      const spec = this.#specs.get(op.fnId);
      if (spec === undefined) return new SandboxError(`function ${op.fnId} is not loaded; call load() first`);
      op.timeoutMs = spec.limits.timeoutMs;
    } else if (op.kind === 'unload') {
      // Forget it now: a child that dies mid-unload must not bring it back.
      this.#specs.delete(op.fnId);
      this.#broken.delete(op.fnId);
    }
    return null;
  }

  #onMessage(conn: ChildConnection, m: ChildMessage): void {
    if (conn !== this.#conn || (m.t !== 'ok' && m.t !== 'err' && m.t !== 'killed')) return;
    const op = this.#scheduler.take(m.rid);
    if (op === undefined) return;
    if (m.t === 'err') op.reject(new SandboxError(m.message, { code: m.code }));
    else if (m.t === 'killed') {
      if (op.kind === 'invoke') blame(this.#scheduler, op, m.culprit);
      else op.reject(new SandboxError(`unexpected answer to ${op.kind}`));
    } else {
      if (op.kind === 'load') {
        this.#specs.delete(op.spec.id); // re-inserted last: restore order follows load order
        this.#specs.set(op.spec.id, op.spec);
        this.#broken.delete(op.spec.id);
      }
      settleOk(op, m.value);
    }
    this.#scheduler.pump();
  }

  #onDeath(conn: ChildConnection, death: Death): void {
    if (conn !== this.#conn || this.#state === 'stopped' || this.#state === 'starting' || this.#state === 'failed') return;
    this.#state = 'restarting'; // from now on, new requests wait for the next child
    this.#onCrash?.({ reason: death.reason });
    const work: (LoadOp | InvokeOp)[] = [];
    for (const op of this.#scheduler.drain()) {
      if (op.kind === 'status') op.reject(new SandboxError(`the sandbox process died: ${death.reason}`));
      else if (op.kind === 'unload') op.resolve();
      else work.push(op);
    }
    const c = death.culprit;
    for (const op of work) {
      if (op.kind === 'load' && op.restore) this.#dropRestore(op, death);
      else if (c !== null && c.rid !== null && op.rid === c.rid) blame(this.#scheduler, op, c);
      else if (c !== null) this.#scheduler.requeue(op); // the child named another isolate: innocent
      else if (work.length === 1) blameAlone(this.#scheduler, op, death.reason);
      else this.#scheduler.submit(op, true);
    }
    void this.#restart();
  }

  #dropRestore(op: LoadOp, death: Death): void {
    const reason = `${op.spec.name} (${op.fnId}) killed the sandbox process while being reloaded after a crash (${death.reason}); load it again`;
    this.#specs.delete(op.fnId);
    this.#broken.set(op.fnId, reason);
    op.reject(new SandboxError(reason));
  }

  /** Replaces the dead child: spawn, reload every function one at a time, then resume. */
  async #restart(): Promise<void> {
    if (this.#restarting) return;
    this.#restarting = true;
    try {
      let failures = 0;
      while (this.#state === 'restarting') {
        const conn = this.#spawn();
        try {
          await conn.ready;
        } catch (e) {
          if (++failures >= MAX_START_FAILURES) return this.#fail(new SandboxError(`the sandbox process failed to start ${failures} times: ${(e as Error).message}`));
          continue;
        }
        failures = 0;
        if (await this.#restore(conn)) {
          this.#state = 'running';
          this.#scheduler.pump();
        }
      }
    } finally {
      this.#restarting = false;
    }
  }

  /** Reloads one at a time, so that a reload that kills the child is known to be the culprit. */
  async #restore(conn: ChildConnection): Promise<boolean> {
    for (const spec of [...this.#specs.values()]) {
      if (!conn.alive || this.#state !== 'restarting') return false;
      try {
        await new Promise<{ config: unknown }>((resolve, reject) => {
          this.#scheduler.sendNow({ kind: 'load', spec, restore: true, fnId: spec.id, rid: 0, deadlineAt: 0, exclusive: false, resolve, reject });
        });
      } catch (e) {
        // It loaded before and does not now (its top level is not deterministic): drop it too.
        if (this.#specs.get(spec.id) === spec) {
          this.#specs.delete(spec.id);
          this.#broken.set(spec.id, `${spec.name} (${spec.id}) failed to reload after a sandbox crash: ${(e as Error).message}`);
        }
      }
    }
    return conn.alive && this.#state === 'restarting';
  }

  #spawn(): ChildConnection {
    const conn: ChildConnection = new ChildConnection(
      (m) => this.#onMessage(conn, m),
      (d) => this.#onDeath(conn, d),
    );
    this.#conn = conn;
    return conn;
  }

  #checkHealth(): void {
    const now = Date.now();
    // Our own event loop stalled: heartbeats may be sitting unread in the pipe, judge from now.
    const blocked = now - this.#lastTick > HEARTBEAT_INTERVAL_MS + 1_000;
    this.#lastTick = now;
    const conn = this.#conn;
    if (conn === null || !conn.alive) return;
    conn.checkLiveness(now, blocked);
    const late = blocked ? undefined : this.#scheduler.overdue(now);
    if (late !== undefined) conn.kill(`${late.kind} of ${late.fnId || 'status'} got no answer within ${opBudgetMs(late)} ms`);
  }

  #fail(error: SandboxError): void {
    this.#state = 'failed';
    this.#failure = error;
    if (this.#monitor !== null) clearInterval(this.#monitor);
    this.#scheduler.rejectAll(error);
  }
}
