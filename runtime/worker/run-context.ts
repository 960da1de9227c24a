/**
 * What settling a run works with: the events of one key's run, what an earlier run left of them,
 * and the collaborators of the run ({@link RunContext}: everything it touches comes in through it,
 * so unit tests drive the settling with stubs).
 */
import type { FailureRecord } from '../dead-letters/dead-letter-record.ts';
import type { WireEvent } from '../events/wire.ts';
import type { FunctionHandle } from '../loading/function-handle.ts';
import type { ConsumerGroup } from '../loading/group-plan.ts';
import type { Emit } from '../types.ts';
import type { CommitQueue } from './commit-queue.ts';
import type { ChainJob } from './dispatcher.ts';
import type { EncodedEmit } from './emits.ts';
import type { Report } from './reporter.ts';
import type { StateCache } from './state-cache.ts';

/** What a crashed or handed-over earlier run left of an event (pending entries only). */
export interface Prior {
  /** XPENDING's delivery count. */
  deliveries: number;
  /** Failure records per function. */
  records: Map<string, FailureRecord>;
  /** Members that completed it already. */
  done: Set<string>;
}

/** One event of a run. */
export interface RunItem {
  readonly entry: WireEvent;
  readonly prior: Prior | null;
  /** Set once it ran (or began to): a graceful stop hands over the others as never started. */
  started?: boolean;
}

/** The collaborators of a run (see the module comment). */
export interface RunContext {
  readonly partition: number;
  readonly group: ConsumerGroup;
  /** The newest loaded version of a function, if it is still loaded. */
  resolve(name: string): FunctionHandle | undefined;
  dispatch(fn: FunctionHandle, job: ChainJob): Promise<void>;
  readonly commits: CommitQueue;
  readonly state: StateCache;
  stateHash(fn: string, key: string): string;
  /** Functions seen using state: their runs get the key's state with the chain. */
  readonly usesState: Set<string>;
  encodeEmits(emits: readonly Emit[], hops: number, now: number): EncodedEmit[];
  idempotencyKey(fn: string, entry: WireEvent): string;
  eventJson(entry: WireEvent): string;
  /** Emits went to the outbox: relay them once committed. */
  relayOutbox(committed: Promise<void>): void;
  readonly report: Report;
  /** Resolves true after `ms`, or false at once when stopping. */
  sleep(ms: number): Promise<boolean>;
  stopping(): boolean;
  now(): number;
  random(): number;
  /** Most events in one chain. */
  readonly maxChain: number;
}
