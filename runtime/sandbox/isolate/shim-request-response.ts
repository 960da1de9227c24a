/**
 * `Request` and `Response` inside the isolate (WHATWG shapes, bodies buffered: no streams, so
 * `body` is absent; text(), json(), arrayBuffer(), bytes() read a body once). A body may be a
 * string, an ArrayBuffer, a typed array or DataView, or URLSearchParams (Blob, FormData and streams
 * are refused with a TypeError). Responses from the network are built through the returned kit,
 * with immutable headers.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained. Expects
 * TextEncoder/TextDecoder, URL/URLSearchParams, AbortController/AbortSignal and the HeadersKit.
 */
import type { HeadersKit } from './shim-headers.ts';

/** What a Request holds, as fetch sends it. */
export interface RequestParts {
  url: string;
  method: string;
  headers: object;
  body: Uint8Array | null;
  signal: { aborted: boolean; reason: unknown; addEventListener(t: string, f: () => void, o?: unknown): void; removeEventListener(t: string, f: () => void): void };
  redirect: string;
}

/** What shim-fetch.ts uses besides the public classes (closure-held, user code never sees it). */
export interface BodiesKit {
  Request: new (input: unknown, init?: Record<string, unknown> | null) => object;
  requestParts(request: object): RequestParts;
  /** A Response as received: any status, the final URL, `redirected`. */
  makeResponse(status: number, statusText: string, headers: object, bytes: Uint8Array, url: string, redirected: boolean): object;
}

/** Defines the Request and Response globals and returns the kit shim-fetch.ts needs. */
export function installRequestResponse(g: Record<string, unknown>, kit: HeadersKit): BodiesKit {
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const PromiseCtor = Promise;
  const URLCtor = g.URL as new (url: string) => { href: string; username: string; password: string };
  const URLSearchParamsCtor = g.URLSearchParams as new () => object;
  const AbortSignalCtor = g.AbortSignal as unknown as new () => object;
  const AbortControllerCtor = g.AbortController as new () => { signal: AbortSignalLike };
  const encoder = new (g.TextEncoder as new () => { encode(s: string): Uint8Array })();
  const decoder = new (g.TextDecoder as new () => { decode(b: Uint8Array): string })();
  const { Headers, has } = kit;
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const NORMALISED = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'];
  const NULL_BODY = [101, 103, 204, 205, 304];
  type AbortSignalLike = RequestParts['signal'];
  type Body = { bytes: Uint8Array | null; type: string | null };

  function extractBody(body: unknown): Body {
    if (body === undefined || body === null) return { bytes: null, type: null };
    if (typeof body === 'string') return { bytes: encoder.encode(body), type: 'text/plain;charset=UTF-8' };
    if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body.slice(0)), type: null };
    if (ArrayBuffer.isView(body)) return { bytes: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), type: null };
    if (body instanceof URLSearchParamsCtor) return { bytes: encoder.encode(String(body)), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
    const kind = (body as { constructor?: { name?: unknown } }).constructor?.name;
    if (kind === 'Blob' || kind === 'File' || kind === 'FormData' || kind === 'ReadableStream') {
      throw new TypeError(`fetch: a ${String(kind)} body is not supported in fnrun; send a string, an ArrayBuffer, a typed array or URLSearchParams`);
    }
    return { bytes: encoder.encode(String(body)), type: 'text/plain;charset=UTF-8' };
  }

  /** Reads a body once (the Fetch standard's "consume body"). */
  function consume(state: { bytes: Uint8Array | null; used: boolean }): Promise<Uint8Array> {
    if (state.used) return PromiseCtor.reject(new TypeError('Body is unusable: the body has already been read'));
    state.used = true;
    const b = state.bytes;
    state.bytes = null;
    return PromiseCtor.resolve(b ?? new Uint8Array(0));
  }

  function exactBuffer(b: Uint8Array): ArrayBuffer {
    const buffer = b.buffer as ArrayBuffer;
    return b.byteOffset === 0 && b.byteLength === buffer.byteLength ? buffer : buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  }

  function parseJson(bytes: Uint8Array): unknown {
    return parse(decoder.decode(bytes));
  }

  let requestParts: (r: Request) => RequestParts;

  class Request {
    readonly #url: string;
    readonly #method: string;
    readonly #headers: object;
    readonly #signal: AbortSignalLike;
    readonly #redirect: string;
    readonly #body: { bytes: Uint8Array | null; used: boolean };
    constructor(input: unknown, init?: Record<string, unknown> | null) {
      const o = init ?? {};
      const from = input instanceof Request ? input : null;
      if (from !== null) {
        if (from.#body.used) throw new TypeError('Request: the input request body has already been read');
        this.#url = from.#url;
      } else {
        let url: { href: string; username: string; password: string };
        try {
          url = new URLCtor(String(input));
        } catch {
          throw new TypeError(`fetch: "${String(input).slice(0, 200)}" is not a valid absolute URL (there is no base URL in a function)`);
        }
        if (url.username !== '' || url.password !== '') throw new TypeError('fetch: the URL includes credentials; send them in an Authorization header');
        this.#url = url.href;
      }
      let method = o.method === undefined ? (from !== null ? from.#method : 'GET') : String(o.method);
      if (!TOKEN.test(method)) throw new TypeError(`fetch: "${method.slice(0, 50)}" is not a valid HTTP method`);
      const upper = method.toUpperCase();
      if (upper === 'CONNECT' || upper === 'TRACE' || upper === 'TRACK') throw new TypeError(`fetch: the ${upper} method is not allowed`);
      if (NORMALISED.includes(upper)) method = upper;
      this.#method = method;
      this.#headers = new Headers(o.headers !== undefined ? o.headers : from !== null ? from.#headers : undefined);
      const redirect = o.redirect === undefined ? (from !== null ? from.#redirect : 'follow') : String(o.redirect);
      if (redirect !== 'follow' && redirect !== 'manual' && redirect !== 'error') throw new TypeError(`fetch: redirect must be "follow", "manual" or "error", got "${redirect}"`);
      this.#redirect = redirect;
      const signal = o.signal !== undefined && o.signal !== null ? o.signal : (from !== null ? from.#signal : null);
      if (signal !== null && !(signal instanceof AbortSignalCtor)) throw new TypeError('fetch: signal must be an AbortSignal');
      this.#signal = (signal as AbortSignalLike | null) ?? new AbortControllerCtor().signal;
      let body: Body = { bytes: null, type: null };
      if (o.body !== undefined && o.body !== null) body = extractBody(o.body);
      else if (from !== null && from.#body.bytes !== null) body = { bytes: from.#body.bytes, type: null };
      if (body.bytes !== null && (method === 'GET' || method === 'HEAD')) throw new TypeError(`fetch: a ${method} request cannot have a body`);
      if (body.type !== null && !has(this.#headers, 'content-type')) (this.#headers as { set(n: string, v: string): void }).set('content-type', body.type);
      this.#body = { bytes: body.bytes, used: false };
    }
    get url(): string { return this.#url; }
    get method(): string { return this.#method; }
    get headers(): object { return this.#headers; }
    get signal(): AbortSignalLike { return this.#signal; }
    get redirect(): string { return this.#redirect; }
    get bodyUsed(): boolean { return this.#body.used; }
    text(): Promise<string> { return consume(this.#body).then((b) => decoder.decode(b)); }
    json(): Promise<unknown> { return consume(this.#body).then(parseJson); }
    arrayBuffer(): Promise<ArrayBuffer> { return consume(this.#body).then(exactBuffer); }
    bytes(): Promise<Uint8Array> { return consume(this.#body); }
    clone(): Request {
      if (this.#body.used) throw new TypeError('Request.clone: the body has already been read');
      return new Request(this);
    }
    get [Symbol.toStringTag](): string { return 'Request'; }
    static {
      requestParts = (r) => ({ url: r.#url, method: r.#method, headers: r.#headers, body: r.#body.bytes, signal: r.#signal, redirect: r.#redirect });
    }
  }

  let makeResponse: (status: number, statusText: string, headers: object, bytes: Uint8Array, url: string, redirected: boolean) => Response;

  class Response {
    #status = 200;
    #statusText = '';
    #headers: object;
    #url = '';
    #redirected = false;
    readonly #body: { bytes: Uint8Array | null; used: boolean };
    constructor(body?: unknown, init?: Record<string, unknown> | null) {
      const o = init ?? {};
      const status = o.status === undefined ? 200 : Number(o.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError(`Response: status must be an integer from 200 to 599, got ${String(o.status)}`);
      const statusText = o.statusText === undefined ? '' : String(o.statusText);
      if (/[^\t\x20-\x7e\x80-\xff]/.test(statusText)) throw new TypeError('Response: invalid statusText');
      this.#status = status;
      this.#statusText = statusText;
      this.#headers = new Headers(o.headers);
      const b = extractBody(body);
      if (b.bytes !== null && NULL_BODY.includes(status)) throw new TypeError(`Response: a ${status} response cannot have a body`);
      if (b.type !== null && !has(this.#headers, 'content-type')) (this.#headers as { set(n: string, v: string): void }).set('content-type', b.type);
      this.#body = { bytes: b.bytes, used: false };
    }
    get status(): number { return this.#status; }
    get ok(): boolean { return this.#status >= 200 && this.#status <= 299; }
    get statusText(): string { return this.#statusText; }
    get headers(): object { return this.#headers; }
    get url(): string { return this.#url; }
    get redirected(): boolean { return this.#redirected; }
    get type(): string { return this.#url === '' ? 'default' : 'basic'; }
    get bodyUsed(): boolean { return this.#body.used; }
    text(): Promise<string> { return consume(this.#body).then((b) => decoder.decode(b)); }
    json(): Promise<unknown> { return consume(this.#body).then(parseJson); }
    arrayBuffer(): Promise<ArrayBuffer> { return consume(this.#body).then(exactBuffer); }
    bytes(): Promise<Uint8Array> { return consume(this.#body); }
    clone(): Response {
      if (this.#body.used) throw new TypeError('Response.clone: the body has already been read');
      const bytes = this.#body.bytes;
      return makeResponse(this.#status, this.#statusText, new Headers(this.#headers), bytes === null ? new Uint8Array(0) : bytes.slice(), this.#url, this.#redirected);
    }
    get [Symbol.toStringTag](): string { return 'Response'; }
    static json(data: unknown, init?: Record<string, unknown>): Response {
      const text = stringify(data);
      if (text === undefined) throw new TypeError('Response.json: the data is not JSON-serialisable');
      const r = new Response(text, init);
      (r.#headers as { set(n: string, v: string): void }).set('content-type', 'application/json');
      return r;
    }
    static redirect(url: unknown, status: unknown = 302): Response {
      const s = Number(status);
      if (![301, 302, 303, 307, 308].includes(s)) throw new RangeError(`Response.redirect: invalid status ${String(status)}`);
      const r = new Response(null, { status: s });
      (r.#headers as { set(n: string, v: string): void }).set('location', new URLCtor(String(url)).href);
      return r;
    }
    static error(): never {
      throw new TypeError('Response.error() is not supported in fnrun');
    }
    static {
      makeResponse = (status, statusText, headers, bytes, url, redirected) => {
        const r = new Response();
        r.#status = status;
        r.#statusText = statusText;
        r.#headers = headers;
        r.#url = url;
        r.#redirected = redirected;
        r.#body.bytes = bytes;
        return r;
      };
    }
  }

  for (const [name, value] of [
    ['Request', Request],
    ['Response', Response],
  ] as const) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
  return {
    Request,
    requestParts: (r) => {
      if (!(r instanceof Request)) throw new TypeError('not a Request');
      return requestParts(r);
    },
    makeResponse,
  };
}
