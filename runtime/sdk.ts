/**
 * What a function gets from `import ... from 'fnrun'`: the bundler points that import here, and
 * this file is bundled into the function and runs inside the sandbox. It must stay free of Node
 * APIs and of runtime imports: type-only imports are erased, anything else would be bundled too.
 */
import type { BackoffKind, FnEvent, GroupMode } from './types.ts';

export type { FnEvent } from './types.ts';

/** What a handler can do besides returning: emit events, log, and read its context. */
export interface Context {
  /**
   * Publishes an event when the invocation completes successfully, atomically with its
   * completion record, so a retried invocation never publishes its emits twice.
   * `key` is the partition key (null: any partition).
   */
  emit(type: string, key: string | null, data: unknown): Promise<void>;
  /** Logs to the host logger with the function, event and attempt attached. */
  log: {
    debug(...args: unknown[]): void;
    info(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
  };
  /** 1 on the first try, 2 on the first retry, and so on. */
  attempt: number;
  /** Host environment values for the names the manifest's `env` declares (absent when unset). */
  env: Readonly<Record<string, string>>;
  functionName: string;
  /**
   * A stable id of this (function, event): the same on every attempt, redelivery after a crash
   * and dead-letter replay, different for every other function or event. Send it as the
   * `Idempotency-Key` header of calls with side effects: a `fetch` runs again on every attempt.
   *
   * @example
   * ```ts
   * await fetch('https://api.example.com/charges', {
   *   method: 'POST', body: JSON.stringify(event.data),
   *   headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey },
   * });
   * ```
   */
  readonly idempotencyKey: string;
  /**
   * The state of this function for this event's key: JSON values by name, kept in Redis with the
   * key's partition. Writes are committed together with the event's completion (its ack and its
   * emits): a failed attempt's writes are discarded, a completed event's apply exactly once, and
   * the key's next event sees them. An event without a key has no state (every call rejects
   * with a TypeError). Limits: a name is 1 to 256 characters, a value at most 64 KiB of JSON, a
   * key at most 1,000 names and 1 MiB; past them the call rejects with a RangeError.
   */
  readonly state: KeyState;
}

/**
 * `ctx.state`: one (function, event key)'s state. Every call is async and must be awaited before
 * the handler returns; values go through JSON (`JSON.stringify` on `set`, so a `Date` comes back as
 * a string, `undefined` is refused: use `delete`).
 */
export interface KeyState {
  /** The value stored under `name`, or undefined when there is none. */
  get<T = unknown>(name: string): Promise<T | undefined>;
  /** Stores `value` (JSON data) under `name`; visible to this invocation's later `get` at once. */
  set(name: string, value: unknown): Promise<void>;
  /** Removes `name` (nothing happens when it is not set). */
  delete(name: string): Promise<void>;
  /** The names set now, sorted. */
  keys(): Promise<string[]>;
}

/**
 * Throw it (or reject with it) when retrying cannot help — a malformed payload, a refused card:
 * the event goes straight to the function's dead-letter queue with reason `non-retriable`, after
 * this one attempt, whatever `retry.attempts` says. fnrun recognises it by name, so an error from
 * another copy of this class, or any error whose `name` is `'NonRetriableError'`, counts too; a
 * subclass counts even when it gives itself another `name`.
 *
 * @example
 * ```ts
 * import { NonRetriableError } from 'fnrun';
 *
 * if (typeof event.data.amount !== 'number') throw new NonRetriableError('amount is missing');
 * ```
 */
export class NonRetriableError extends Error {
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
// On the prototype, so that the stack's first line and every subclass say it too. The symbol is
// how the sandbox recognises a subclass that renamed itself (runtime/sandbox/isolate/shim-result.ts).
Object.defineProperty(NonRetriableError.prototype, 'name', { value: 'NonRetriableError', writable: true, configurable: true, enumerable: false });
Object.defineProperty(NonRetriableError.prototype, Symbol.for('fnrun.non-retriable'), { value: true });

/** A function's handler. Throwing (or rejecting) fails the attempt; it is retried per `retry`. */
export type Handler<T = unknown> = (event: FnEvent<T>, ctx: Context) => void | Promise<void>;

/**
 * A function's manifest as written in its source (`export const config = {...}`): every field
 * but `events` is optional. The host validates it and fills in the defaults (runtime/manifest.ts
 * `MANIFEST_DEFAULTS`).
 */
export interface FunctionConfig {
  /** Event types to receive; globs: `*` one segment, `**` one or more segments (`post.*`, `billing.**`). */
  events: readonly string[];
  /**
   * Share one cursor with the other functions naming this group.
   * @defaultValue none: the function has its own cursor; a named group is `{ mode: 'sequential', order: 0 }`
   */
  group?: string | { name: string; mode?: GroupMode; order?: number } | null;
  /** @defaultValue `{ attempts: 3, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30000 }` */
  retry?: {
    /** Total tries including the first, 1 to 100. */
    attempts?: number;
    backoff?: BackoffKind;
    initialDelayMs?: number;
    maxDelayMs?: number;
  };
  /** Keep events whose last attempt failed in the function's dead-letter queue. @defaultValue `true` */
  deadLetter?: boolean;
  /** Per invocation, 1 to 300000. @defaultValue `5000` */
  timeoutMs?: number;
  /** Per isolate, 8 to 2048. @defaultValue `64` */
  memoryMb?: number;
  /** Older events go straight to the DLQ instead of being (re)tried. @defaultValue `null` (no limit) */
  maxEventAgeMs?: number | null;
  /** Host environment variables readable through `ctx.env`. @defaultValue `[]` */
  env?: readonly string[];
  /** Where a newly deployed function starts reading. @defaultValue `'latest'` */
  startFrom?: 'latest' | 'earliest';
  /**
   * `'key'`: the events of one key run one at a time, in publish order, and different keys run at
   * once; `'partition'`: one event at a time per partition. Events without a key have no order.
   * @defaultValue `'key'`
   */
  ordering?: 'key' | 'partition';
  /** Invocations in flight at once per process (1 to 10000). @defaultValue `100` */
  concurrency?: number;
  /** Isolates running this function side by side, for CPU-bound handlers (1 to 16). @defaultValue `1` */
  instances?: number;
  /** An event emitted this many generations deep (emit of an emit of …) goes to the DLQ with reason `loop`. @defaultValue `16` */
  maxHops?: number;
  /** Per-key state options. @defaultValue `{ ttlMs: null }` (state never expires) */
  state?: { ttlMs?: number | null };
  /**
   * Outbound `fetch`. Without it the function has no network at all.
   * @defaultValue `{ allow: [], maxResponseBytes: 10485760, maxRequestBytes: 10485760, maxRedirects: 5, maxConcurrent: 16 }`
   */
  network?: {
    /**
     * Hosts `fetch` may reach, each with an optional `:port` (none: 80 for http, 443 for https):
     * `'api.example.com'`; `'*.example.org'` (any subdomain, not `example.org` itself);
     * `'203.0.113.7'`, `'[2001:db8::1]:8443'`; `'localhost:8080'`. A listed name that resolves
     * to a private, loopback or link-local address is still refused unless that IP is listed too.
     * @defaultValue `[]` (no network)
     */
    allow?: readonly string[];
    /** Larger response bodies (after decompression) fail the fetch, 0 to 536870912. @defaultValue `10485760` (10 MiB) */
    maxResponseBytes?: number;
    /** Larger request bodies fail the fetch before it is sent, 0 to 536870912. @defaultValue `10485760` (10 MiB) */
    maxRequestBytes?: number;
    /** Redirects followed per fetch, each re-checked against `allow`, 0 to 20. @defaultValue `5` */
    maxRedirects?: number;
    /** Requests in flight at once per function instance, 1 to 256; more wait their turn. @defaultValue `16` */
    maxConcurrent?: number;
  };
}

/** A function in the `defineFunction` form: its manifest and its handler in one object. */
export type FunctionDefinition<T = unknown> = FunctionConfig & { handler: Handler<T> };

/**
 * Types a function's manifest and handler together. It returns its argument unchanged: the
 * runtime reads `handler` and the rest of the object as the manifest.
 *
 * @example
 * ```ts
 * import { defineFunction } from 'fnrun';
 *
 * export default defineFunction<{ postId: string }>({
 *   events: ['post.created'],
 *   retry: { attempts: 5 },
 *   async handler(event, ctx) {
 *     ctx.log.info('new post', event.data.postId);
 *     await ctx.emit('thread.updated', event.key, { postId: event.data.postId });
 *   },
 * });
 * ```
 */
export function defineFunction<T = unknown>(definition: FunctionDefinition<T>): FunctionDefinition<T> {
  return definition;
}
