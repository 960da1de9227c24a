/** Plain types shared across the runtime. Validation happens at the edges (manifest.ts, config.ts). */

/**
 * An event as a handler sees it. `id` is the stream entry id, unique within its partition:
 * `(partition, id)` identifies an event in a namespace. `key` is null when published without one.
 */
export interface FnEvent<T = unknown> {
  id: string;
  partition: number;
  type: string;
  key: string | null;
  data: T;
  /** Publish time, ms since the epoch. */
  time: number;
  headers?: Record<string, string>;
}

export type BackoffKind = 'exponential' | 'fixed';

export interface RetryPolicy {
  /** Total attempts including the first. */
  attempts: number;
  backoff: BackoffKind;
  initialDelayMs: number;
  maxDelayMs: number;
}

export type GroupMode = 'sequential' | 'parallel';

export interface GroupSpec {
  name: string;
  mode: GroupMode;
  /** Position inside a sequential group; ties break by function name. */
  order: number;
}

/**
 * A function's outbound network access (`network` in its manifest), defaults applied. An empty
 * `allow` (the default) means no network at all. Entry syntax: runtime/policy/network-policy.ts.
 */
export interface NetworkConfig {
  /** Hosts the function may fetch: `api.example.com`, `*.example.org`, `127.0.0.1:9000`, `[::1]:3000`, `localhost:8080`. */
  allow: readonly string[];
  /** A response body past this fails the fetch (counted after decompression). */
  maxResponseBytes: number;
  /** A request body past this fails the fetch before anything is sent. */
  maxRequestBytes: number;
  /** Redirects followed per fetch (each hop re-checked); one more fails it. */
  maxRedirects: number;
  /** Requests in flight at once per function instance (isolate); more wait for a free slot. */
  maxConcurrent: number;
}

/** A validated manifest with every default applied. */
export interface Manifest {
  events: string[];
  group: GroupSpec | null;
  retry: RetryPolicy;
  deadLetter: boolean;
  timeoutMs: number;
  memoryMb: number;
  /** Events older than this at (re)try time go straight to the DLQ; null means no limit. */
  maxEventAgeMs: number | null;
  /** Names of host environment values the handler may read through `ctx.env`. */
  env: string[];
  startFrom: 'latest' | 'earliest';
  /** `key`: one key's events one at a time in order, other keys concurrently; `partition`: one at a time per partition. */
  ordering: 'key' | 'partition';
  /** Invocations (chains) in flight at once per process. */
  concurrency: number;
  /** Isolates running the function side by side. */
  instances: number;
  /** An event emitted this many generations deep is dead-lettered with reason `loop` instead of run. */
  maxHops: number;
  state: { ttlMs: number | null };
  network: NetworkConfig;
}

/** What a handler emitted; published atomically with the invocation's completion. */
export interface Emit {
  type: string;
  key: string | null;
  data: unknown;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  level: LogLevel;
  /** Already formatted message (console-style formatting of the arguments). */
  msg: string;
  time: number;
}

/** An error thrown by a handler, as it crossed the sandbox; `stack` is mapped to the source file. */
export interface SerializedError {
  name: string;
  message: string;
  stack: string;
  /**
   * Where it came from: the handler, the handler on purpose (a `NonRetriableError`: never
   * retried), a timeout, the memory limit, or a crashed sandbox.
   */
  kind: 'handler' | 'non-retriable' | 'timeout' | 'memory' | 'crash';
}

/** One outbound request an invocation made (see README "Network (fetch)"). */
export interface FetchRecord {
  /** The first URL's host, with its port when not the scheme's default (`127.0.0.1:8080`; '' when the URL did not parse). Unbounded: metrics label by `rule`. */
  host: string;
  /** The `network.allow` entry that allowed the first URL; null when it was refused. */
  rule: string | null;
  /** The final HTTP status; null when the fetch failed. */
  status: number | null;
  /** Why it failed (`refused`, `aborted`, `timeout`, `too-large`, `network` …); null when a response came back. */
  error: string | null;
  redirects: number;
  /** Wall time including DNS, queueing for a slot and every hop, in ms (fractional). */
  durationMs: number;
}

/**
 * The outcome of one event of a chain. After an error the rest of the chain is `skipped`;
 * `suspect` marks events cut short by a crash nobody could be blamed for.
 * `state`: the invocation's state writes, name → JSON text, or null for a delete.
 */
export type InvocationResult =
  | { status: 'ok'; emits: Emit[]; logs: LogLine[]; durationMs: number; state?: Record<string, string | null>; fetches?: FetchRecord[] }
  | { status: 'error'; error: SerializedError; logs: LogLine[]; durationMs: number; fetches?: FetchRecord[] }
  | { status: 'skipped'; suspect?: boolean };

/** Sandbox limits per function version. */
export interface SandboxLimits {
  timeoutMs: number;
  memoryMb: number;
  /** Isolates that run the function side by side (CPU-bound handlers use more than one core). */
  instances: number;
}
