/**
 * The request-side rules of a fetch, per hop: what makes a request invalid (scheme, credentials in
 * the URL, method), which headers the connection owns, and how the caller's signal and deadline
 * become one abort.
 */
import type { RedirectableRequest } from '../../policy/fetch-redirect.ts';
import { targetOf, type FetchTarget } from '../../policy/network-policy.ts';
import { FetchError } from './fetch-error.ts';

const FORBIDDEN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'TRACE', 'TRACK']);
const NORMALISED_METHODS: ReadonlySet<string> = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Set by the connection, never by the handler (the Fetch standard's forbidden request headers, the ones that matter here). */
const DROPPED_HEADERS: ReadonlySet<string> = new Set([
  'host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'expect', 'proxy-connection', 'http2-settings',
]);

/** The parsed URL and target of a request; throws a FetchError `invalid`. */
export function checkRequest(request: { url: string; method: string }): { url: URL; target: FetchTarget } {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw new FetchError('invalid', `fetch failed: "${request.url.slice(0, 200)}" is not a valid absolute URL`);
  }
  const target = targetOf(url);
  if (typeof target === 'string') throw new FetchError('invalid', `fetch to "${request.url.slice(0, 200)}" refused: ${target}`);
  if (url.username !== '' || url.password !== '') throw new FetchError('invalid', `fetch to "${target.host}" refused: the URL includes credentials; send them in an Authorization header`);
  const method = request.method.toUpperCase();
  if (!TOKEN_RE.test(request.method)) throw new FetchError('invalid', `fetch: "${request.method.slice(0, 50)}" is not a valid HTTP method`);
  if (FORBIDDEN_METHODS.has(method)) throw new FetchError('invalid', `fetch: the ${method} method is not allowed`);
  return { url, target };
}

/** GET, HEAD, POST, PUT, DELETE, OPTIONS in any case become uppercase (the Fetch standard); others stay as given. */
export function normaliseMethod(method: string): string {
  const upper = method.toUpperCase();
  return NORMALISED_METHODS.has(upper) ? upper : method;
}

/** The handler's headers minus the connection's own, plus Content-Length and defaults. */
export function finalHeaders(request: RedirectableRequest<Uint8Array>): [string, string][] {
  const out: [string, string][] = [];
  const has = new Set<string>();
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase();
    if (DROPPED_HEADERS.has(lower) || lower.startsWith('proxy-')) continue;
    has.add(lower);
    out.push([name, value]);
  }
  if (request.body !== null) out.push(['content-length', String(request.body.byteLength)]);
  else if (request.method === 'POST' || request.method === 'PUT') out.push(['content-length', '0']);
  if (!has.has('accept')) out.push(['accept', '*/*']);
  if (!has.has('accept-encoding')) out.push(['accept-encoding', 'gzip, deflate, br']);
  if (!has.has('user-agent')) out.push(['user-agent', 'fnrun']);
  return out;
}

/** The URL as a Response reports it (no fragment). */
export function withoutHash(url: URL): string {
  if (url.hash === '') return url.href;
  const u = new URL(url.href);
  u.hash = '';
  return u.href;
}

/**
 * Aborts `controller` with the caller's signal or at the deadline; returns the cleanup. A deadline
 * given as a function is read again when it comes: it may have moved meanwhile (an invocation
 * blocked by another one's sync loop gets that time back, see sandbox/child/function-sandbox.ts).
 */
export function linkAbort(controller: AbortController, options: { signal?: AbortSignal; deadline?: number | (() => number) }): () => void {
  const { signal, deadline } = options;
  const onAbort = (): void => controller.abort(new FetchError('aborted', 'fetch was aborted', { cause: signal?.reason }));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (deadline !== undefined && !controller.signal.aborted) {
    const fire = (): void => {
      const ms = (typeof deadline === 'function' ? deadline() : deadline) - Date.now();
      if (ms > 0) timer = setTimeout(fire, ms);
      else controller.abort(new FetchError('timeout', "fetch timed out: the invocation's time (timeoutMs) ran out"));
    };
    fire();
  }
  return () => {
    signal?.removeEventListener('abort', onAbort);
    if (timer !== undefined) clearTimeout(timer);
  };
}
