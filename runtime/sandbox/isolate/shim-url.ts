/**
 * URL and URLSearchParams inside the isolate. Parsing goes to the host's WHATWG URL through a sync
 * callback (`urlOp`, ~50 µs a call) so the semantics are Node's; URLSearchParams is pure JS.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained. Expects TextDecoder.
 */

/**
 * `urlOp(0, input, base)` parses; `urlOp(1, href, field, value)` applies a setter. Both return the
 * components in URL_FIELDS order, or null when the input is not a valid URL.
 */
export type UrlOp = (op: 0 | 1, a: string, b?: string, c?: string) => string[] | null;

/** Defines the URL and URLSearchParams globals. */
export function installUrl(g: Record<string, unknown>, urlOp: UrlOp): void {
  const FIELDS = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'];
  const SEARCH = 9;
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
      } else list = parseQuery(String(init));
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
      const c = urlOp(0, String(url), base === undefined ? undefined : String(base));
      if (c === null) throw new TypeError(`Invalid URL: ${String(url)}`);
      this.#c = c;
    }
    static canParse(url: unknown, base?: unknown): boolean {
      return urlOp(0, String(url), base === undefined ? undefined : String(base)) !== null;
    }
    static parse(url: unknown, base?: unknown): URL | null {
      return URL.canParse(url, base) ? new URL(url, base) : null;
    }
    get searchParams(): URLSearchParams {
      if (this.#params === null) {
        const params = new URLSearchParams(this.#c[SEARCH]);
        owners.set(params, (q) => {
          this.#c = urlOp(1, this.#c[0] as string, 'search', q) ?? this.#c;
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
                  if (name !== 'href') return this.#update(urlOp(1, this.#c[0] as string, name, String(value)));
                  const c = urlOp(0, String(value));
                  if (c === null) throw new TypeError(`Invalid URL: ${String(value)}`);
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
