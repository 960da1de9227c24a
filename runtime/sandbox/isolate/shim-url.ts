/**
 * URL and URLSearchParams inside the isolate. Parsing goes to the host's WHATWG URL through a sync
 * callback (`urlOp`, ~50 µs a call) so the semantics are Node's; URLSearchParams is pure JS.
 * What crosses is capped ({@link MAX_URL_CHARS}) before it crosses: the host parses on the sandbox
 * process's main thread, which must never be held for long by one function.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained. Expects TextDecoder.
 */

/**
 * `urlOp(0, input, base)` parses; `urlOp(1, href, field, value)` applies a setter. Both return the
 * components in URL_FIELDS order, null when the input is not a valid URL (or over
 * {@link MAX_URL_CHARS}), or `[length]` when the resulting href would be over it (not copied back).
 */
export type UrlOp = (op: 0 | 1, a: string, b?: string, c?: string) => string[] | null;

/**
 * The longest URL, in UTF-16 units, as given and as its href. Parsing runs on the sandbox
 * process's main thread, which every isolate's host calls wait on: one call must stay short
 * (~2 ms at this size, percent-encoding included, against ~0.5 s for 4 MiB). Browsers' own limit
 * is 2 MiB; servers and proxies refuse far less (8–16 KiB). installUrl has its own copy.
 */
export const MAX_URL_CHARS = 65_536;

/** Defines the URL and URLSearchParams globals. */
export function installUrl(g: Record<string, unknown>, urlOp: UrlOp): void {
  const FIELDS = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'];
  const SEARCH = 9;
  // A copy of MAX_URL_CHARS: this code cannot see module scope. MAX_INPUT caps what runs in the
  // isolate only (URLSearchParams' string form), as shim-encoding.ts does for its APIs.
  const MAX_URL = 65_536;
  const MAX_INPUT = 16 * 1024 * 1024;
  const RangeErrorCtor = RangeError;

  /** `s`, or a RangeError before it crosses to the host when it is too long for a URL. */
  function short(s: string, what: string): string {
    if (s.length > MAX_URL) throw new RangeErrorCtor(`URL: the ${what} is ${s.length} characters, over fnrun's limit of ${MAX_URL}`);
    return s;
  }

  /** Calls the host with inputs that are short enough, and turns a too-long result into a RangeError. */
  function op(kind: 0 | 1, a: string, b: string | undefined, c: string | undefined, what: string): string[] | null {
    const r = urlOp(kind, short(a, what), b === undefined ? undefined : short(b, kind === 0 ? 'base' : what), c === undefined ? undefined : short(c, 'new value'));
    if (r !== null && r.length === 1) throw new RangeErrorCtor(`URL: the URL would be ${r[0]} characters once percent-encoded, over fnrun's limit of ${MAX_URL}`);
    return r;
  }
  const decoder = new (g.TextDecoder as new () => { decode(b: Uint8Array): string })();
  const encoder = new (g.TextEncoder as new () => { encode(s: string): Uint8Array })();
  const lists = new WeakMap<object, [string, string][]>();
  // A URL's searchParams write their serialisation back into the URL.
  const owners = new WeakMap<object, (query: string) => void>();

  function decode(s: string): string {
    const plus = s.replace(/\+/g, ' ');
    try {
      return decodeURIComponent(plus);
    } catch {
      // Malformed escapes stay literal and invalid UTF-8 becomes U+FFFD, as the URL standard says.
      const bytes: number[] = [];
      for (let i = 0; i < plus.length; i++) {
        const hex = plus.slice(i + 1, i + 3);
        if (plus[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
          bytes.push(parseInt(hex, 16));
          i += 2;
        } else for (const b of encoder.encode(plus[i] as string)) bytes.push(b);
      }
      return decoder.decode(new Uint8Array(bytes));
    }
  }

  function encode(s: string): string {
    return encodeURIComponent(s.toWellFormed())
      .replace(/%20/g, '+')
      .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  }

  function parseQuery(query: string): [string, string][] {
    const out: [string, string][] = [];
    for (const part of (query.startsWith('?') ? query.slice(1) : query).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      out.push(eq < 0 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))]);
    }
    return out;
  }

  function listOf(p: object): [string, string][] {
    const l = lists.get(p);
    if (l === undefined) throw new TypeError('Illegal invocation');
    return l;
  }

  class URLSearchParams {
    constructor(init: unknown = '') {
      let list: [string, string][] = [];
      if (typeof init === 'object' && init !== null) {
        if (typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function') {
          for (const pair of init as Iterable<Iterable<unknown>>) {
            const p = [...pair];
            if (p.length !== 2) throw new TypeError('URLSearchParams: each pair must be an iterable [name, value]');
            list.push([String(p[0]), String(p[1])]);
          }
        } else for (const k of Object.keys(init)) list.push([k, String((init as Record<string, unknown>)[k])]);
      } else {
        const query = String(init);
        if (query.length > MAX_INPUT) throw new RangeErrorCtor(`URLSearchParams: the query is ${query.length} characters, over fnrun's limit of ${MAX_INPUT}`);
        list = parseQuery(query);
      }
      lists.set(this, list);
    }
    get size(): number {
      return listOf(this).length;
    }
    append(name: unknown, value: unknown): void {
      listOf(this).push([String(name), String(value)]);
      this.#changed();
    }
    delete(name: unknown, value?: unknown): void {
      const l = listOf(this);
      const n = String(name);
      const v = value === undefined ? undefined : String(value);
      lists.set(this, l.filter(([k, x]) => k !== n || (v !== undefined && x !== v)));
      this.#changed();
    }
    get(name: unknown): string | null {
      return listOf(this).find(([k]) => k === String(name))?.[1] ?? null;
    }
    getAll(name: unknown): string[] {
      return listOf(this).filter(([k]) => k === String(name)).map(([, v]) => v);
    }
    has(name: unknown, value?: unknown): boolean {
      return listOf(this).some(([k, v]) => k === String(name) && (value === undefined || v === String(value)));
    }
    set(name: unknown, value: unknown): void {
      const n = String(name);
      const l = listOf(this);
      const i = l.findIndex(([k]) => k === n);
      if (i < 0) l.push([n, String(value)]);
      else {
        l[i] = [n, String(value)];
        lists.set(this, l.filter(([k], j) => j <= i || k !== n));
      }
      this.#changed();
    }
    sort(): void {
      // Stable sort by UTF-16 code units, as the standard says.
      listOf(this).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      this.#changed();
    }
    forEach(cb: (value: string, name: string, params: URLSearchParams) => void, thisArg?: unknown): void {
      for (const [k, v] of listOf(this)) cb.call(thisArg, v, k, this);
    }
    keys(): IterableIterator<string> {
      return listOf(this).map(([k]) => k)[Symbol.iterator]();
    }
    values(): IterableIterator<string> {
      return listOf(this).map(([, v]) => v)[Symbol.iterator]();
    }
    entries(): IterableIterator<[string, string]> {
      return listOf(this).map(([k, v]): [string, string] => [k, v])[Symbol.iterator]();
    }
    [Symbol.iterator](): IterableIterator<[string, string]> {
      return this.entries();
    }
    toString(): string {
      return listOf(this).map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
    }
    #changed(): void {
      owners.get(this)?.(this.toString());
    }
  }

  class URL {
    #c: string[];
    #params: URLSearchParams | null = null;
    constructor(url: unknown, base?: unknown) {
      if (arguments.length === 0) throw new TypeError('URL: 1 argument required');
      const input = String(url);
      const c = op(0, input, base === undefined ? undefined : String(base), undefined, 'input');
      if (c === null) throw new TypeError(`Invalid URL: ${input.length > 200 ? `${input.slice(0, 200)}…` : input}`);
      this.#c = c;
    }
    static canParse(url: unknown, base?: unknown): boolean {
      return op(0, String(url), base === undefined ? undefined : String(base), undefined, 'input') !== null;
    }
    static parse(url: unknown, base?: unknown): URL | null {
      return URL.canParse(url, base) ? new URL(url, base) : null;
    }
    get searchParams(): URLSearchParams {
      if (this.#params === null) {
        const params = new URLSearchParams(this.#c[SEARCH]);
        owners.set(params, (q) => {
          this.#c = op(1, this.#c[0] as string, 'search', q, 'href') ?? this.#c;
        });
        this.#params = params;
      }
      return this.#params;
    }
    toString(): string {
      return this.#c[0] as string;
    }
    toJSON(): string {
      return this.#c[0] as string;
    }
    #update(c: string[] | null): void {
      if (c === null) return;
      this.#c = c;
      if (this.#params !== null) lists.set(this.#params, parseQuery(c[SEARCH] as string));
    }
    static {
      FIELDS.forEach((name, i) => {
        Object.defineProperty(URL.prototype, name, {
          enumerable: true,
          configurable: true,
          get(this: URL) {
            return this.#c[i];
          },
          set:
            name === 'origin'
              ? undefined
              : function (this: URL, value: unknown) {
                  if (name !== 'href') return this.#update(op(1, this.#c[0] as string, name, String(value), 'href'));
                  const input = String(value);
                  const c = op(0, input, undefined, undefined, 'input');
                  if (c === null) throw new TypeError(`Invalid URL: ${input.length > 200 ? `${input.slice(0, 200)}…` : input}`);
                  this.#update(c);
                },
        });
      });
    }
  }

  for (const [name, value] of [
    ['URL', URL],
    ['URLSearchParams', URLSearchParams],
  ] as const) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
}
