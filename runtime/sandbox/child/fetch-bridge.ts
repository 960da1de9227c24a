/**
 * The sandbox-process side of the isolate's `fetch` (isolate/shim-fetch.ts): a fetch is one of the
 * shim's host operations (host-ops.ts); what arrives from the isolate is untrusted and validated
 * here before the executor sees it, and the answer goes back as the operation's result, resuming
 * the isolate inside a timed call like every other entry.
 */
import { FetchError } from './fetch-error.ts';
import type { FetchExecutor, FetchRecord, FetchRequestData } from './fetch-executor.ts';

const MAX_URL_CHARS = 65_536;
const MAX_HEADERS = 1_000;
const MAX_HEADER_CHARS = 256 * 1024;
const REDIRECT_MODES: ReadonlySet<unknown> = new Set(['follow', 'manual', 'error']);

/** What a fetch runs under: the invocation's end (or the handler's own abort) and its deadline. */
export interface FetchScope {
  /** Fires when the invocation ends or is abandoned (timeout, isolate disposal): the fetch aborts. */
  signal: AbortSignal;
  /** Epoch ms: the invocation's deadline (read again when it comes: it may move); the fetch fails with a TimeoutError then. */
  deadline: () => number;
}

/** The answer that goes back into the isolate: the response head as JSON text, and the body bytes. */
export interface FetchAnswer {
  head: string;
  body: ArrayBuffer | null;
}

/**
 * Runs one request an isolate asked for (`json` and `body` as the shim sent them: untrusted,
 * validated here) and returns what goes back; never rejects: a failure is an answer
 * `{"ok":false,"kind","message"}` the shim turns into the right rejection.
 */
export async function runFetch(executor: FetchExecutor, json: string, body: ArrayBuffer | null, scope: FetchScope, onRecord: (record: FetchRecord) => void): Promise<FetchAnswer> {
  const request = parseRequest(json, body);
  if (typeof request === 'string') return failed(new FetchError('invalid', `fetch: ${request}`));
  try {
    const response = await executor.execute(request, { signal: scope.signal, deadline: scope.deadline, onRecord });
    const head = JSON.stringify({ ok: true, status: response.status, statusText: response.statusText, headers: response.headers, url: response.url, redirected: response.redirected });
    const b = response.body;
    const buffer = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    return { head, body: buffer };
  } catch (e) {
    return failed(e instanceof FetchError ? e : new FetchError('network', `fetch failed: ${e instanceof Error ? e.message : String(e)}`));
  }
}

function failed(error: FetchError): FetchAnswer {
  return { head: JSON.stringify({ ok: false, kind: error.kind, message: error.message }), body: null };
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
