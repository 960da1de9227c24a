/**
 * The parent side of the sandbox. The runtime's main process never loads isolated-vm: a
 * supervised child process holds the isolates, because a catastrophic OOM inside an isolate can
 * hang the process that hosts it, and only a separate process can be killed for certain.
 *
 * When the child dies (it reported a catastrophic error or a wedged isolate, it exited, it stopped
 * sending heartbeats, or a request outlived its deadline) the host kills it, starts a new one and
 * reloads every function; each function's chains flow again as soon as that function is back, so a
 * function whose top level is slow delays only itself. The chains in flight are settled as
 * chain-book.ts says, the requests in flight as recovery.ts says. If the child dies again while
 * reloading several functions at once, the next reload goes one function at a time, so that a
 * function whose reload kills the child is known and dropped (its events then fail until it is
 * loaded again).
 */
import { SandboxError } from '../../errors.ts';
import { ChildConnection, type Death } from './child-connection.ts';
import { ChainBook, type ChainRequest } from './chain-book.ts';
import { LoadedFunctions } from './loaded-functions.ts';
import { reloadFunctions, settleAfterDeath } from './recovery.ts';
import { requestBudgetMs, requestMessage, settleOk, type LoadRequest, type Request, type StatusRequest, type UnloadRequest } from './requests.ts';
import { HEARTBEAT_INTERVAL_MS, type ChildMessage, type LoadSpec, type SandboxStatus } from '../protocol.ts';

export type { LoadSpec, SandboxStatus } from '../protocol.ts';
export type { ChainRequest } from './chain-book.ts';

/** Consecutive child start failures after which the host gives up (a broken install, not a handler). */
const MAX_START_FAILURES = 3;

type RequestInit<T extends Request> = Omit<T, 'rid' | 'deadlineAt' | 'resolve' | 'reject'>;

/** Runs user functions in isolates inside a supervised child process. */
export class SandboxHost {
  readonly #onCrash: ((info: { reason: string }) => void) | undefined;
  #state: 'new' | 'starting' | 'running' | 'restarting' | 'stopped' | 'failed' = 'new';
  #failure: SandboxError | null = null;
  #conn: ChildConnection | null = null;
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #monitor: NodeJS.Timeout | null = null;
  #lastTick = 0;
  #rid = 0;
  readonly #functions = new LoadedFunctions();
  readonly #inflight = new Map<number, Request>();
  readonly #waiting: Request[] = [];
  #reloadOneByOne = false;
  readonly #chains = new ChainBook({
    // Ready means loaded by the current child: during a restore, functions already reloaded run
    // while the others still load.
    canSend: (fnId) => this.#conn !== null && this.#conn.alive && this.#functions.isReady(fnId),
    send: (fnId, chains) => this.#conn?.send({ t: 'run', id: fnId, chains }) ?? false,
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
      this.#pump();
    })();
    return this.#starting;
  }

  /** Kills the sandbox process and waits for it to exit; what is pending is abandoned. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = 'stopped';
      if (this.#monitor !== null) clearInterval(this.#monitor);
      this.#rejectRequests(new SandboxError('the sandbox host was stopped'));
      this.#chains.abandon();
      const conn = this.#conn;
      if (conn !== null) {
        conn.kill('stopped');
        await conn.exited;
      }
    })();
    return this.#stopping;
  }

  /**
   * Evaluates the bundle's top level in new isolate(s) and returns the module's config (JSON data;
   * `{}` when it exports none). Loading an id again replaces it once the new code has loaded.
   * With `spec.lazy`, the isolates boot on the first chain instead, and the config is null.
   * @throws SandboxError `ERR_SANDBOX_LOAD` (with the mapped stack) if the top level throws, runs
   *   too long, or the module has no handler.
   */
  load(spec: LoadSpec): Promise<{ config: unknown }> {
    return this.#request<LoadRequest>({ kind: 'load', spec, restore: false });
  }

  /** Disposes the function's isolates. Chains submitted before still run. */
  unload(id: string): Promise<void> {
    this.#functions.unload(id);
    return this.#request<UnloadRequest>({ kind: 'unload', id });
  }

  /** What the current sandbox process reports about itself (pid, flags, loaded ids). */
  status(): Promise<SandboxStatus> {
    return this.#request<StatusRequest>({ kind: 'status' });
  }

  /** Runs a chain; results come through `req.onResult`, in order, whatever happens to the child. */
  run(req: ChainRequest): void {
    this.#chains.submit(req);
    if (this.#state === 'stopped') return this.#chains.abandon();
    const problem = this.#failure?.message ?? this.#functions.problem(req.fnId);
    if (problem !== null) this.#chains.failFunction(req.fnId, problem);
  }

  /** Chains in flight in the sandbox process now. */
  get chainsInFlight(): number {
    return this.#chains.inflight;
  }

  #request<T extends Request>(init: RequestInit<T>): Promise<Parameters<T['resolve']>[0]> {
    if (this.#state === 'new') return Promise.reject(new SandboxError('call start() before using the SandboxHost'));
    if (this.#state === 'stopped') return Promise.reject(new SandboxError('the sandbox host was stopped'));
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const r = { ...init, rid: 0, deadlineAt: 0, resolve, reject } as unknown as Request;
      this.#waiting.push(r);
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#state !== 'running' && this.#state !== 'restarting') return;
    if (this.#conn === null || !this.#conn.alive || this.#state === 'restarting') return;
    for (const r of this.#waiting.splice(0)) this.#send(r);
    this.#chains.flush();
  }

  #send(r: Request): void {
    r.rid = ++this.#rid;
    r.deadlineAt = Date.now() + requestBudgetMs(r);
    this.#inflight.set(r.rid, r);
    if (!this.#conn?.send(requestMessage(r)) && this.#inflight.get(r.rid) === r) {
      this.#inflight.delete(r.rid);
      this.#waiting.push(r);
    }
  }

  #onMessage(conn: ChildConnection, m: ChildMessage): void {
    if (conn !== this.#conn) return;
    if (m.t === 'results') return this.#chains.results(m.parts);
    if (m.t === 'state-read') {
      this.#chains.readState(m.cid, m.key).then(
        (json) => conn.send({ t: 'state', req: m.req, json, error: null }),
        (e: unknown) => conn.send({ t: 'state', req: m.req, json: null, error: (e as Error).message }),
      );
      return;
    }
    if (m.t !== 'ok' && m.t !== 'err') return;
    const r = this.#inflight.get(m.rid);
    if (r === undefined) return;
    this.#inflight.delete(m.rid);
    if (m.t === 'err') r.reject(new SandboxError(m.message, { code: m.code }));
    else {
      if (r.kind === 'load') this.#functions.loaded(r.spec, r.restore);
      settleOk(r, m.value);
    }
    this.#chains.flush();
  }

  #onDeath(conn: ChildConnection, death: Death): void {
    if (conn !== this.#conn || this.#state === 'stopped' || this.#state === 'starting' || this.#state === 'failed') return;
    const wasRestoring = this.#state === 'restarting';
    this.#state = 'restarting';
    this.#functions.childDied();
    this.#onCrash?.({ reason: death.reason });
    const c = death.culprit;
    for (const r of [...this.#inflight.values()]) {
      this.#inflight.delete(r.rid);
      if (!settleAfterDeath(r, death, this.#reloadOneByOne, (spec, reason) => this.#drop(spec, reason))) this.#waiting.push(r);
    }
    if (wasRestoring && c === null && !death.blameless) this.#reloadOneByOne = true;
    this.#chains.orphan(c, death.reason, death.blameless);
    void this.#restart();
  }

  #drop(spec: LoadSpec, reason: string): void {
    const message = this.#functions.drop(spec, reason);
    if (message !== null) this.#chains.failFunction(spec.id, message);
  }

  #restarting = false;

  /** Replaces the dead child, then reloads the functions (see the module comment). */
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
        await this.#restore(conn);
        if (conn.alive && this.#state === 'restarting') {
          this.#state = 'running';
          this.#reloadOneByOne = false;
          this.#pump();
        }
      }
    } finally {
      this.#restarting = false;
    }
  }

  #restore(conn: ChildConnection): Promise<void> {
    return reloadFunctions(conn, this.#functions.specs(), this.#reloadOneByOne, {
      send: (r) => this.#send(r),
      reloaded: () => this.#chains.flush(),
      drop: (spec, reason) => this.#drop(spec, reason),
      restoring: () => this.#state === 'restarting',
    });
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
    if (blocked) return;
    for (const r of this.#inflight.values()) {
      if (now > r.deadlineAt) return conn.kill(`${r.kind} ${r.kind === 'load' ? r.spec.id : ''} got no answer within ${requestBudgetMs(r)} ms`);
    }
    const late = this.#chains.overdue(now);
    if (late !== undefined) conn.kill(`a chain of ${late.fnId} made no progress for far longer than its timeout (${late.timeoutMs} ms)`);
  }

  #rejectRequests(error: SandboxError): void {
    const all = [...this.#inflight.values(), ...this.#waiting.splice(0)];
    this.#inflight.clear();
    for (const r of all) r.reject(error);
  }

  #fail(error: SandboxError): void {
    this.#state = 'failed';
    this.#failure = error;
    if (this.#monitor !== null) clearInterval(this.#monitor);
    this.#rejectRequests(error);
    this.#chains.abandon();
  }
}
