/**
 * The globals a function has in fnrun's sandbox, for type-checking function code without
 * `@types/node` or the DOM library (neither describes the sandbox: there is no `process`, no
 * `document`). Use it with `"lib": ["es2024"]` and `"types": ["fnrun/globals"]` in the tsconfig
 * that covers `functions/` (what `fnrun init` writes); do not combine it with `"lib": ["dom"]`,
 * which declares the same names.
 *
 * What exists is installed by the shims in runtime/sandbox/isolate/. The fetch family is declared
 * ahead of the outbound fetch through the host (allowed per function by its manifest): until that
 * is in the sandbox, calling `fetch` fails the invocation with a ReferenceError.
 */

/** Where `console` output goes: the host logger, with the function and event attached. */
interface Console {
  debug(...data: unknown[]): void;
  info(...data: unknown[]): void;
  log(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
  /** Logged at `debug`. */
  trace(...data: unknown[]): void;
  /** Logged at `info`. */
  dir(item?: unknown): void;
  /** Logged at `info`. */
  table(data?: unknown): void;
}
declare var console: Console;

/**
 * Runs `handler` after `timeout` ms, within the invocation: timers can only be set while a handler
 * runs, and the ones still pending when it ends are cancelled.
 */
declare function setTimeout<A extends unknown[]>(handler: (...args: A) => void, timeout?: number, ...args: A): number;
declare function clearTimeout(id: number | undefined): void;
declare function queueMicrotask(callback: () => void): void;

/** UTF-8 only. */
interface TextEncoder {
  readonly encoding: 'utf-8';
  encode(input?: string): Uint8Array;
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}
declare var TextEncoder: { prototype: TextEncoder; new (): TextEncoder };

/** UTF-8 only (`'utf-8'`, `'utf8'` and `'unicode-1-1-utf-8'` labels). */
interface TextDecoder {
  readonly encoding: string;
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  decode(input?: ArrayBuffer | ArrayBufferView, options?: { stream?: boolean }): string;
}
declare var TextDecoder: {
  prototype: TextDecoder;
  new (label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }): TextDecoder;
};

declare function atob(data: string): string;
declare function btoa(data: string): string;

interface URLSearchParams {
  readonly size: number;
  append(name: string, value: string): void;
  delete(name: string, value?: string): void;
  get(name: string): string | null;
  getAll(name: string): string[];
  has(name: string, value?: string): boolean;
  set(name: string, value: string): void;
  sort(): void;
  forEach(callback: (value: string, name: string, params: URLSearchParams) => void, thisArg?: unknown): void;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  entries(): IterableIterator<[string, string]>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
  toString(): string;
}
declare var URLSearchParams: {
  prototype: URLSearchParams;
  new (init?: string | URLSearchParams | Record<string, string> | Iterable<readonly [string, string]>): URLSearchParams;
};

/** WHATWG URL (parsed by the host's URL implementation). */
interface URL {
  href: string;
  readonly origin: string;
  protocol: string;
  username: string;
  password: string;
  host: string;
  hostname: string;
  port: string;
  pathname: string;
  search: string;
  readonly searchParams: URLSearchParams;
  hash: string;
  toString(): string;
  toJSON(): string;
}
declare var URL: {
  prototype: URL;
  new (url: string | URL, base?: string | URL): URL;
  canParse(url: string | URL, base?: string | URL): boolean;
  parse(url: string | URL, base?: string | URL): URL | null;
};

interface DOMException extends Error {
  readonly name: string;
  readonly message: string;
}
declare var DOMException: { prototype: DOMException; new (message?: string, name?: string): DOMException };

/** Integer typed arrays that `crypto.getRandomValues` fills. */
type RandomValuesArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | BigInt64Array | BigUint64Array;

/** Cryptographically strong random values (no `crypto.subtle`). */
interface Crypto {
  randomUUID(): `${string}-${string}-${string}-${string}-${string}`;
  /** At most 65,536 bytes per call. */
  getRandomValues<T extends RandomValuesArray>(array: T): T;
}
declare var crypto: Crypto;

/** Deep copy of plain data, Dates, RegExps, Maps, Sets, ArrayBuffers, typed arrays and Errors. */
declare function structuredClone<T>(value: T): T;

// ---- Outbound HTTP: through the host, to the hosts the manifest's `network.allow` lists ----

type HeadersInit = Headers | Record<string, string> | Iterable<readonly [string, string]>;
type BodyInit = string | ArrayBuffer | ArrayBufferView | URLSearchParams;

interface Headers {
  append(name: string, value: string): void;
  delete(name: string): void;
  get(name: string): string | null;
  getSetCookie(): string[];
  has(name: string): boolean;
  set(name: string, value: string): void;
  forEach(callback: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  entries(): IterableIterator<[string, string]>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}
declare var Headers: { prototype: Headers; new (init?: HeadersInit): Headers };

interface AbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  throwIfAborted(): void;
}
declare var AbortSignal: {
  prototype: AbortSignal;
  abort(reason?: unknown): AbortSignal;
  timeout(milliseconds: number): AbortSignal;
  any(signals: AbortSignal[]): AbortSignal;
};

interface AbortController {
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}
declare var AbortController: { prototype: AbortController; new (): AbortController };

/** The body methods of requests and responses; each body can be read once. */
interface Body {
  readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  json(): Promise<unknown>;
  text(): Promise<string>;
}

interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
  redirect?: 'follow' | 'error' | 'manual';
  signal?: AbortSignal | null;
}

interface Request extends Body {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly redirect: 'follow' | 'error' | 'manual';
  readonly signal: AbortSignal;
  clone(): Request;
}
declare var Request: { prototype: Request; new (input: string | URL | Request, init?: RequestInit): Request };

interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
}

interface Response extends Body {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly url: string;
  readonly redirected: boolean;
  clone(): Response;
}
declare var Response: {
  prototype: Response;
  new (body?: BodyInit | null, init?: ResponseInit): Response;
  json(data: unknown, init?: ResponseInit): Response;
  error(): Response;
  redirect(url: string | URL, status?: number): Response;
};

/** An HTTP request through the host; allowed only to the hosts the function's manifest lists. */
declare function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
