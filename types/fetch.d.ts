/**
 * Ambient types of the outbound-network globals a function sees inside the fnrun sandbox: `fetch`,
 * `Headers`, `Request`, `Response`, `AbortController`, `AbortSignal` (runtime/sandbox/isolate/
 * shim-fetch.ts and its siblings). Only what the sandbox implements is declared: no streams
 * (`body`), no Blob or FormData.
 *
 * Standalone on purpose: outside the project's tsconfig (its @types/node declares Node's own
 * fetch). Expects the sandbox's `URL`, `URLSearchParams` and `DOMException` declarations next to it.
 */

type HeadersInit = Headers | [string, string][] | Record<string, string>;
/** What a request or response body may be. */
type BodyInit = string | ArrayBuffer | ArrayBufferView | URLSearchParams;
type RequestInfo = string | URL | Request;

/** Case-insensitive header list; iteration is sorted by name, repeated values joined by ", ". */
declare class Headers implements Iterable<[string, string]> {
  constructor(init?: HeadersInit);
  append(name: string, value: string): void;
  delete(name: string): void;
  get(name: string): string | null;
  getSetCookie(): string[];
  has(name: string): boolean;
  /** Throws a TypeError on the (immutable) headers of a fetched Response. */
  set(name: string, value: string): void;
  forEach(callback: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  entries(): IterableIterator<[string, string]>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

interface Body {
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  json(): Promise<unknown>;
  text(): Promise<string>;
}

interface RequestInit {
  /** @defaultValue `'GET'` */
  method?: string;
  headers?: HeadersInit;
  /** Not allowed with GET or HEAD. */
  body?: BodyInit | null;
  signal?: AbortSignal | null;
  /** @defaultValue `'follow'` (at most `network.maxRedirects`, every hop checked against `network.allow`) */
  redirect?: 'follow' | 'manual' | 'error';
}

declare class Request implements Body {
  constructor(input: RequestInfo, init?: RequestInit);
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly signal: AbortSignal;
  readonly redirect: 'follow' | 'manual' | 'error';
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  json(): Promise<unknown>;
  text(): Promise<string>;
  clone(): Request;
}

interface ResponseInit {
  /** 200 to 599. @defaultValue `200` */
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
}

declare class Response implements Body {
  constructor(body?: BodyInit | null, init?: ResponseInit);
  readonly status: number;
  /** `status` is 200 to 299. */
  readonly ok: boolean;
  readonly statusText: string;
  readonly headers: Headers;
  /** The final URL (after redirects); `''` for a constructed Response. */
  readonly url: string;
  readonly redirected: boolean;
  readonly type: 'basic' | 'default';
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  json(): Promise<unknown>;
  text(): Promise<string>;
  clone(): Response;
  static json(data: unknown, init?: ResponseInit): Response;
  static redirect(url: string | URL, status?: 301 | 302 | 303 | 307 | 308): Response;
}

interface AbortSignalEventMap {
  abort: { readonly type: 'abort'; readonly target: AbortSignal };
}

declare class AbortSignal {
  private constructor();
  readonly aborted: boolean;
  readonly reason: unknown;
  onabort: ((event: AbortSignalEventMap['abort']) => unknown) | null;
  throwIfAborted(): void;
  addEventListener(type: 'abort', listener: (event: AbortSignalEventMap['abort']) => unknown, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: (event: AbortSignalEventMap['abort']) => unknown): void;
  static abort(reason?: unknown): AbortSignal;
  /** Aborts with a `TimeoutError` DOMException after `ms` (only while a handler runs). */
  static timeout(ms: number): AbortSignal;
  static any(signals: Iterable<AbortSignal>): AbortSignal;
}

declare class AbortController {
  readonly signal: AbortSignal;
  /** @param reason - what the signal's `reason` becomes @defaultValue an `AbortError` DOMException */
  abort(reason?: unknown): void;
}

/**
 * Fetches a URL allowed by the function's `network.allow` (deny by default). Rejects with a
 * `TypeError` for a network error or a refused host (the message names the host and
 * `network.allow`), with the signal's reason on abort, and with a `TimeoutError` DOMException when
 * the invocation's time runs out. Only while a handler runs; open fetches are aborted when it ends.
 */
declare function fetch(input: RequestInfo, init?: RequestInit): Promise<Response>;
