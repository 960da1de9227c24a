/**
 * `fetch` inside the isolate. The request is executed by the sandbox
 * process (child/fetch-bridge.ts, child/fetch-executor.ts) under the function's network policy;
 * here it is only shaped (WHATWG semantics), sent as JSON text plus body bytes, and its answer
 * rebuilt. A fetch belongs to the invocation that started it: one started outside an invocation
 * rejects, and `end(owner)` aborts the owner's open fetches (their promises then never settle, as
 * cancelled timers never fire), so no user code runs after its invocation.
 *
 * Errors: network and policy failures reject with a `TypeError` whose message names the host
 * (and `network.allow` for a refusal); an abort rejects with the signal's reason (an `AbortError`
 * DOMException by default); the invocation's deadline with a `TimeoutError` DOMException.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained. Expects DOMException
 * and the kits of shim-headers.ts and shim-request-response.ts (installed in that order, after
 * shim-web, shim-encoding, shim-url, shim-timers and shim-abort).
 */
import type { HeadersKit } from './shim-headers.ts';
import type { BodiesKit } from './shim-request-response.ts';

/** The part of an invocation fetch needs. */
export interface FetchOwner {
  done: boolean;
  /** Ids of this invocation's open fetches (the shim creates the set). */
  fetches: Set<number> | null;
  /** The invocation's number as the child knows it: the child maps it to a deadline and an abort signal. */
  id: number;
}

/** The host functions fetch uses (see child/fetch-bridge.ts for the other side). */
export interface FetchBridge {
  /**
   * ivm.Reference to `(invocationId, requestId, requestJson, body) => Promise<[responseJson, body]>`;
   * never rejects: a failure is `{"ok":false,"kind","message"}` with a null body.
   */
  fetchStart: {
    apply(recv: undefined, args: [number, number, string, ArrayBuffer | null], opts: { arguments: { copy: true }; result: { promise: true } }): Promise<unknown>;
  };
  /** ivm.Callback (ignored): aborts an open request. */
  fetchAbort(requestId: number): void;
}

/** The helpers installFetch takes (returned by installHeaders and installRequestResponse). */
export interface FetchKits {
  headers: HeadersKit;
  bodies: BodiesKit;
}

/** Defines fetch; returns `end(owner)`, which aborts the owner's open fetches. */
export function installFetch<T extends FetchOwner>(g: Record<string, unknown>, bridge: FetchBridge, current: () => T | null, kits: FetchKits): (owner: T) => void {
  const MAX_OPEN = 10_000;
  const OPTS = { arguments: { copy: true }, result: { promise: true } } as const;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const PromiseCtor = Promise;
  const DOMExceptionCtor = g.DOMException as new (message: string, name: string) => Error;
  const { fetchStart, fetchAbort } = bridge;
  const { list, fromPairs } = kits.headers;
  const { Request, requestParts, makeResponse } = kits.bodies;
  const open = new Map<number, { owner: T; settled: boolean }>();
  let seq = 0;

  function requestJson(url: string, method: string, headers: [string, string][], redirect: string): string {
    // Built from strings only: user code may have patched Array.prototype or JSON (see shim.ts).
    let h = '';
    for (let i = 0; i < headers.length; i++) {
      const pair = headers[i] as [string, string];
      h += `${i === 0 ? '' : ','}[${stringify(pair[0])},${stringify(pair[1])}]`;
    }
    return `{"url":${stringify(url)},"method":${stringify(method)},"headers":[${h}],"redirect":${stringify(redirect)}}`;
  }

  function failure(kind: unknown, message: unknown): Error {
    const text = typeof message === 'string' ? message : 'fetch failed';
    if (kind === 'timeout') return new DOMExceptionCtor(text, 'TimeoutError');
    if (kind === 'aborted') return new DOMExceptionCtor(text, 'AbortError');
    return new TypeError(text, { cause: { kind: typeof kind === 'string' ? kind : 'network' } });
  }

  function fetch(input: unknown, init?: Record<string, unknown> | null): Promise<object> {
    return new PromiseCtor<object>((resolve, reject) => {
      const owner = current();
      if (owner === null) throw new TypeError('fetch only works while a handler runs (fnrun aborts open fetches when the invocation ends)');
      if (owner.done) throw new TypeError('fetch was called after the handler returned; await every fetch');
      const request = new Request(input, init);
      const parts = requestParts(request);
      const signal = parts.signal;
      if (signal.aborted) throw signal.reason;
      if (open.size >= MAX_OPEN) throw new RangeError(`fetch: more than ${MAX_OPEN} requests open`);
      const id = ++seq;
      const entry = { owner, settled: false };
      open.set(id, entry);
      (owner.fetches ??= new Set()).add(id);
      const settle = (): boolean => {
        if (entry.settled) return false;
        entry.settled = true;
        open.delete(id);
        owner.fetches?.delete(id);
        signal.removeEventListener('abort', onAbort);
        return !owner.done;
      };
      const onAbort = (): void => {
        if (!settle()) return;
        fetchAbort(id);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort);
      const bytes = parts.body;
      const body = bytes === null ? null : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      const json = requestJson(parts.url, parts.method, list(parts.headers), parts.redirect);
      fetchStart.apply(undefined, [owner.id, id, json, body], OPTS).then(
        (result) => {
          if (!settle()) return;
          let r: { ok?: unknown; kind?: unknown; message?: unknown; status?: unknown; statusText?: unknown; headers?: unknown; url?: unknown; redirected?: unknown };
          try {
            r = parse((result as [string, unknown])[0]);
          } catch {
            return reject(new TypeError('fetch failed: the sandbox sent an unreadable answer'));
          }
          if (r.ok !== true) return reject(failure(r.kind, r.message));
          const raw = (result as [string, unknown])[1];
          const headers = fromPairs(r.headers as [string, string][], true);
          resolve(makeResponse(r.status as number, String(r.statusText), headers, raw instanceof ArrayBuffer ? new Uint8Array(raw) : new Uint8Array(0), String(r.url), r.redirected === true));
        },
        (e: unknown) => {
          if (settle()) reject(new TypeError(`fetch failed: ${e instanceof Error ? e.message : String(e)}`));
        },
      );
    });
  }

  Object.defineProperty(g, 'fetch', { value: fetch, writable: true, configurable: true, enumerable: false });

  return function end(owner: T): void {
    const ids = owner.fetches;
    if (ids === null) return;
    owner.fetches = null;
    for (const id of ids) {
      const entry = open.get(id);
      if (entry !== undefined) entry.settled = true;
      open.delete(id);
      fetchAbort(id);
    }
  };
}
