/**
 * The sandbox-process side of the isolate's `fetch` (isolate/shim-fetch.ts): the two host
 * functions the shim holds, `fetchStart` (an ivm.Reference, applied with `result: { promise:
 * true }`) and `fetchAbort` (an ignored ivm.Callback). One FetchBridgeHost per isolate, released
 * with it. What arrives from the isolate is untrusted and validated here before the executor
 * sees it.
 */
import ivm from 'isolated-vm';
import { FetchError } from './fetch-error.ts';
import type { FetchExecutor, FetchRecord, FetchRequestData } from './fetch-executor.ts';

/** The invocation a fetch belongs to, as the child tracks it. */
export interface FetchScope {
  /** Fires when the invocation ends or is abandoned (timeout, isolate disposal): its fetches abort. */
  signal: AbortSignal;
  /** Epoch ms: the invocation's deadline; its fetches fail with a TimeoutError then. */
  deadline: number;
}

/** What the bridge needs from the child. */
export interface FetchBridgeOptions {
  /** The scope of a running invocation by the id the shim passes (FetchOwner.id), or null when it is over. */
  scopeOf(invocationId: number): FetchScope | null;
  /** Called once per fetch, success or failure (metrics, the dev invocation line). */
  onRecord?(invocationId: number, record: FetchRecord): void;
}

type Answer = ivm.Copy<[string, ArrayBuffer | null]>;

const MAX_URL_CHARS = 65_536;
const MAX_HEADERS = 1_000;
const MAX_HEADER_CHARS = 256 * 1024;
const REDIRECT_MODES: ReadonlySet<unknown> = new Set(['follow', 'manual', 'error']);

/** Holds the references the shim's bridge needs, for one isolate. */
export class FetchBridgeHost {
  /** Pass as `bridge.fetchStart`: `(invocationId, requestId, requestJson, body) => Promise<[responseJson, body]>`. */
  readonly fetchStart: ivm.Reference<(invocationId: number, requestId: number, json: string, body: ArrayBuffer | null) => Promise<Answer>>;
  /** Pass as `bridge.fetchAbort`. */
  readonly fetchAbort: ivm.Callback<(requestId: number) => void>;
  readonly #open = new Map<number, AbortController>();
  /** Aborts that arrived before their start (ids above every started one): honoured on start. */
  readonly #abortedEarly = new Set<number>();
  #highestStarted = 0;
  #released = false;

  constructor(executor: FetchExecutor, options: FetchBridgeOptions) {
    this.fetchStart = new ivm.Reference((invocationId: number, requestId: number, json: string, body: ArrayBuffer | null) =>
      this.#start(executor, options, invocationId, requestId, json, body),
    );
    this.fetchAbort = new ivm.Callback((requestId: number) => this.#abort(requestId), { ignored: true });
  }

  /** Fetches in flight. */
  get open(): number {
    return this.#open.size;
  }

  /** Aborts every fetch in flight (the isolate is being disposed or recreated). */
  abortAll(): void {
    for (const c of this.#open.values()) c.abort();
    this.#open.clear();
    this.#abortedEarly.clear();
  }

  /** Aborts everything and releases the references. Idempotent. */
  release(): void {
    this.abortAll();
    if (this.#released) return;
    this.#released = true;
    this.fetchStart.release();
  }

  #abort(requestId: number): void {
    const open = this.#open.get(requestId);
    if (open !== undefined) open.abort();
    else if (requestId > this.#highestStarted) this.#abortedEarly.add(requestId);
  }

  async #start(executor: FetchExecutor, options: FetchBridgeOptions, invocationId: number, requestId: number, json: string, body: ArrayBuffer | null): Promise<Answer> {
    if (requestId > this.#highestStarted) this.#highestStarted = requestId;
    if (this.#abortedEarly.delete(requestId)) return failed(new FetchError('aborted', 'fetch was aborted'));
    const scope = options.scopeOf(invocationId);
    if (scope === null) return failed(new FetchError('aborted', 'fetch was aborted: its invocation has ended'));
    const request = parseRequest(json, body);
    if (typeof request === 'string') return failed(new FetchError('invalid', `fetch: ${request}`));
    const controller = new AbortController();
    this.#open.set(requestId, controller);
    try {
      const response = await executor.execute(request, {
        signal: AbortSignal.any([controller.signal, scope.signal]),
        deadline: scope.deadline,
        onRecord: (record) => options.onRecord?.(invocationId, record),
      });
      const head = JSON.stringify({ ok: true, status: response.status, statusText: response.statusText, headers: response.headers, url: response.url, redirected: response.redirected });
      const b = response.body;
      const buffer = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
      return new ivm.ExternalCopy<[string, ArrayBuffer | null]>([head, buffer]).copyInto({ release: true });
    } catch (e) {
      return failed(e instanceof FetchError ? e : new FetchError('network', `fetch failed: ${e instanceof Error ? e.message : String(e)}`));
    } finally {
      this.#open.delete(requestId);
    }
  }
}

function failed(error: FetchError): Answer {
  return new ivm.ExternalCopy<[string, ArrayBuffer | null]>([JSON.stringify({ ok: false, kind: error.kind, message: error.message }), null]).copyInto({ release: true });
}

/** The request the shim sent, checked field by field; a string says what is wrong. */
export function parseRequest(json: unknown, body: unknown): FetchRequestData | string {
  let raw: { url?: unknown; method?: unknown; headers?: unknown; redirect?: unknown };
  try {
    raw = JSON.parse(String(json));
  } catch {
    return 'the request is not valid JSON';
  }
  if (typeof raw !== 'object' || raw === null) return 'the request is not an object';
  const { url, method, headers, redirect } = raw;
  if (typeof url !== 'string' || url.length > MAX_URL_CHARS) return `the URL must be a string of at most ${MAX_URL_CHARS} characters`;
  if (typeof method !== 'string' || method.length === 0 || method.length > 64) return 'the method must be a short string';
  if (!Array.isArray(headers) || headers.length > MAX_HEADERS) return `at most ${MAX_HEADERS} headers`;
  let chars = 0;
  const pairs: [string, string][] = [];
  for (const h of headers as unknown[]) {
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') return 'each header must be a [name, value] pair of strings';
    chars += h[0].length + h[1].length;
    pairs.push([h[0], h[1]]);
  }
  if (chars > MAX_HEADER_CHARS) return `the headers exceed ${MAX_HEADER_CHARS} characters`;
  if (redirect !== undefined && !REDIRECT_MODES.has(redirect)) return 'redirect must be "follow", "manual" or "error"';
  if (body !== null && body !== undefined && !(body instanceof ArrayBuffer)) return 'the body must be bytes';
  return { url, method, headers: pairs, body: body instanceof ArrayBuffer ? new Uint8Array(body) : null, redirect: (redirect ?? 'follow') as 'follow' };
}
