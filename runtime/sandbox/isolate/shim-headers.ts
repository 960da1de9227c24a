/**
 * `Headers` inside the isolate, per the Fetch standard: names are case-insensitive tokens, values
 * are trimmed and may not hold CR, LF or NUL; iteration is sorted by name with repeated values
 * joined by ", " (except `set-cookie`, kept apart; see `getSetCookie()`). The headers of a fetched
 * Response are immutable.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */

/** What shim-fetch.ts uses besides the public class (closure-held, user code never sees it). */
export interface HeadersKit {
  Headers: new (init?: unknown) => object;
  /** The header list as it would be sent: [lowercase name, value] in insertion order. */
  list(headers: object): [string, string][];
  /** Headers built from a response's pairs; `immutable` refuses every change. */
  fromPairs(pairs: readonly (readonly [string, string])[], immutable: boolean): object;
  /** Whether `headers` holds `name` (lowercase). */
  has(headers: object, name: string): boolean;
}

/** Defines the Headers global and returns the kit shim-fetch.ts needs. */
export function installHeaders(g: Record<string, unknown>): HeadersKit {
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
  const BAD_VALUE = /[\0\r\n]/;
  const KEY = {};

  function name(n: unknown): string {
    const s = String(n);
    if (!TOKEN.test(s)) throw new TypeError(`Headers: "${s.slice(0, 100)}" is not a valid header name`);
    return s.toLowerCase();
  }

  function value(v: unknown): string {
    const s = String(v).replace(EDGE_WHITESPACE, '');
    if (BAD_VALUE.test(s)) throw new TypeError('Headers: a header value may not contain CR, LF or NUL');
    return s;
  }

  let listOf: (h: Headers) => [string, string][];
  let make: (pairs: readonly (readonly [string, string])[], immutable: boolean) => Headers;

  class Headers {
    #list: [string, string][] = [];
    #immutable = false;
    constructor(init?: unknown) {
      if (init === KEY || init === undefined || init === null) return;
      if (typeof init !== 'object' && typeof init !== 'function') throw new TypeError('Headers: init must be an object, an array of [name, value] pairs or a Headers');
      if (init instanceof Headers) {
        for (const [n, v] of init.#list) this.#list.push([n, v]);
      } else if (typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function') {
        for (const pair of init as Iterable<unknown>) {
          const p = [...(pair as Iterable<unknown>)];
          if (p.length !== 2) throw new TypeError('Headers: each pair must hold exactly a name and a value');
          this.append(p[0], p[1]);
        }
      } else {
        for (const k of Object.keys(init)) this.append(k, (init as Record<string, unknown>)[k]);
      }
    }
    #mutable(): void {
      if (this.#immutable) throw new TypeError('Headers: these headers are immutable (they belong to a fetched Response)');
    }
    append(n: unknown, v: unknown): void {
      const pair: [string, string] = [name(n), value(v)];
      this.#mutable();
      this.#list.push(pair);
    }
    delete(n: unknown): void {
      const key = name(n);
      this.#mutable();
      this.#list = this.#list.filter(([k]) => k !== key);
    }
    get(n: unknown): string | null {
      const key = name(n);
      const values = this.#list.filter(([k]) => k === key).map(([, v]) => v);
      return values.length === 0 ? null : values.join(', ');
    }
    getSetCookie(): string[] {
      return this.#list.filter(([k]) => k === 'set-cookie').map(([, v]) => v);
    }
    has(n: unknown): boolean {
      const key = name(n);
      return this.#list.some(([k]) => k === key);
    }
    set(n: unknown, v: unknown): void {
      const key = name(n);
      const val = value(v);
      this.#mutable();
      const i = this.#list.findIndex(([k]) => k === key);
      if (i < 0) this.#list.push([key, val]);
      else this.#list = this.#list.filter(([k], j) => j === i || k !== key).map((p) => (p[0] === key ? [key, val] : p));
    }
    #sorted(): [string, string][] {
      const names = [...new Set(this.#list.map(([k]) => k))].sort();
      const out: [string, string][] = [];
      for (const k of names) {
        if (k === 'set-cookie') for (const v of this.getSetCookie()) out.push([k, v]);
        else out.push([k, this.get(k) as string]);
      }
      return out;
    }
    forEach(cb: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void {
      if (typeof cb !== 'function') throw new TypeError('Headers.forEach: the callback must be a function');
      for (const [k, v] of this.#sorted()) cb.call(thisArg, v, k, this);
    }
    keys(): IterableIterator<string> {
      return this.#sorted().map(([k]) => k)[Symbol.iterator]();
    }
    values(): IterableIterator<string> {
      return this.#sorted().map(([, v]) => v)[Symbol.iterator]();
    }
    entries(): IterableIterator<[string, string]> {
      return this.#sorted()[Symbol.iterator]();
    }
    [Symbol.iterator](): IterableIterator<[string, string]> {
      return this.entries();
    }
    get [Symbol.toStringTag](): string {
      return 'Headers';
    }
    static {
      listOf = (h) => h.#list;
      make = (pairs, immutable) => {
        const h = new Headers(KEY);
        for (const [n, v] of pairs) if (TOKEN.test(n) && !BAD_VALUE.test(v)) h.#list.push([n.toLowerCase(), v]);
        h.#immutable = immutable;
        return h;
      };
    }
  }

  Object.defineProperty(g, 'Headers', { value: Headers, writable: true, configurable: true, enumerable: false });
  return {
    Headers,
    // Loops, not array methods: user code may have replaced Array.prototype.map (see shim.ts).
    list: (h) => {
      const out: [string, string][] = [];
      if (!(h instanceof Headers)) return out;
      const l = listOf(h);
      for (let i = 0; i < l.length; i++) out[i] = [(l[i] as [string, string])[0], (l[i] as [string, string])[1]];
      return out;
    },
    fromPairs: make,
    has: (h, n) => {
      if (!(h instanceof Headers)) return false;
      const l = listOf(h);
      for (let i = 0; i < l.length; i++) if ((l[i] as [string, string])[0] === n) return true;
      return false;
    },
  };
}
