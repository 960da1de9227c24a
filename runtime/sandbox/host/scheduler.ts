/**
 * Decides which request goes to the sandbox process, and when. Per function id, requests run one
 * at a time and in order (a lane), so an isolate never has two batches. After an unexplained crash
 * the suspects run "exclusive": alone, with nothing else in flight, so that a crash while one runs
 * can only be its own fault.
 */
import { opBudgetMs, type Op } from './requests.ts';

/** What the scheduler needs from the host. */
export interface SchedulerHooks {
  /** False while the child restarts: requests then wait. */
  canSend(): boolean;
  /** Last check before a lane's request goes out; an error fails it instead. */
  admit(op: Op): Error | null;
  /** Writes the request to the child; false if it could not (the child is gone). */
  transmit(op: Op): boolean;
}

interface Lane {
  fnId: string;
  queue: Op[];
  busy: boolean;
}

/** The fields of a request its creator fills in; the scheduler adds the rest. */
export type OpInit<T extends Op> = Omit<T, 'rid' | 'deadlineAt' | 'exclusive' | 'fnId' | 'resolve' | 'reject'>;

/** Lanes, requests in flight, exclusive runs; see the file comment. */
export class Scheduler {
  readonly #hooks: SchedulerHooks;
  readonly #lanes = new Map<string, Lane>();
  readonly #readyLanes = new Set<Lane>();
  readonly #inflight = new Map<number, Op>();
  /** Innocent requests of a dead child, sent first to the next one. */
  readonly #resend: Op[] = [];
  readonly #exclusive: Op[] = [];
  /** rid of the exclusive request in flight, 0 if none. */
  #exclusiveRid = 0;
  #rid = 0;
  #pumping = false;
  #pumpAgain = false;

  constructor(hooks: SchedulerHooks) {
    this.#hooks = hooks;
  }

  /** Queues a request in its function's lane; its lane moves on once it settles. */
  enqueue<T extends Op>(fnId: string, init: OpInit<T>): Promise<Parameters<T['resolve']>[0]> {
    return new Promise((resolve, reject) => {
      let lane = this.#lanes.get(fnId);
      if (lane === undefined) {
        lane = { fnId, queue: [], busy: false };
        this.#lanes.set(fnId, lane);
      }
      const l = lane;
      let settled = false;
      const release = (): boolean => {
        if (settled) return false;
        settled = true;
        this.#releaseLane(l);
        return true;
      };
      const op = {
        ...init,
        fnId,
        rid: 0,
        deadlineAt: 0,
        exclusive: false,
        resolve: (v: unknown) => release() && resolve(v as Parameters<T['resolve']>[0]),
        reject: (e: Error) => release() && reject(e),
      } as unknown as Op;
      lane.queue.push(op);
      if (!lane.busy) this.#readyLanes.add(lane);
      this.pump();
    });
  }

  /** A request outside the lanes (status, a re-run piece of a lane's request). */
  submit(op: Op, exclusive: boolean): void {
    op.exclusive = exclusive;
    if (exclusive) this.#exclusive.push(op);
    else if (this.#hooks.canSend()) this.sendNow(op);
    else this.#resend.push(op);
    this.pump();
  }

  /** Sends regardless of the child's state (the host reloading functions into a new child). */
  sendNow(op: Op): void {
    op.rid = ++this.#rid;
    op.deadlineAt = Date.now() + opBudgetMs(op);
    this.#inflight.set(op.rid, op);
    // A failed write may already have killed the child, whose death handling took the op.
    if (!this.#hooks.transmit(op) && this.#inflight.get(op.rid) === op) {
      this.#inflight.delete(op.rid);
      if (op.exclusive) this.#exclusive.unshift(op);
      else this.#resend.push(op);
    }
  }

  /** The request a reply is for (and no longer in flight). */
  take(rid: number): Op | undefined {
    const op = this.#inflight.get(rid);
    if (op === undefined) return undefined;
    this.#inflight.delete(rid);
    if (rid === this.#exclusiveRid) this.#exclusiveRid = 0;
    return op;
  }

  /** Everything in flight, now orphaned by a dead child. */
  drain(): Op[] {
    const ops = [...this.#inflight.values()];
    this.#inflight.clear();
    this.#exclusiveRid = 0;
    return ops;
  }

  requeue(op: Op): void {
    this.#resend.push(op);
  }

  overdue(now: number): Op | undefined {
    for (const op of this.#inflight.values()) if (now > op.deadlineAt) return op;
    return undefined;
  }

  rejectAll(error: Error): void {
    const ops = [...this.drain(), ...this.#resend.splice(0), ...this.#exclusive.splice(0)];
    for (const lane of this.#lanes.values()) ops.push(...lane.queue.splice(0));
    this.#readyLanes.clear();
    for (const op of ops) op.reject(error);
  }

  /** Sends whatever may go now. Re-entrant calls (an op settled while dispatching) loop instead of nesting. */
  pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        this.#pumpOnce();
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
  }

  #pumpOnce(): void {
    if (!this.#hooks.canSend()) return;
    if (this.#exclusive.length > 0 || this.#exclusiveRid !== 0) {
      const next = this.#exclusive[0];
      if (next === undefined || this.#inflight.size > 0) return;
      this.#exclusive.shift();
      this.sendNow(next);
      if (this.#inflight.get(next.rid) === next) this.#exclusiveRid = next.rid;
      return;
    }
    if (this.#resend.length > 0) for (const op of this.#resend.splice(0)) this.sendNow(op);
    for (const lane of this.#readyLanes) {
      this.#readyLanes.delete(lane);
      const op = lane.queue.shift();
      if (op === undefined || lane.busy) continue;
      lane.busy = true;
      const refused = this.#hooks.admit(op);
      if (refused === null) this.sendNow(op);
      else op.reject(refused);
    }
  }

  #releaseLane(lane: Lane): void {
    lane.busy = false;
    if (lane.queue.length > 0) this.#readyLanes.add(lane);
    else this.#lanes.delete(lane.fnId);
    this.pump();
  }
}
