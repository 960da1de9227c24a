/**
 * Console-style formatting for `console.*` and `ctx.log.*` inside the isolate, and the description
 * of thrown values.
 *
 * Runs INSIDE the isolate: `createFormatter` is shipped as source (`Function.prototype.toString`),
 * so it must stay self-contained (no imports, no module-level references).
 */

export interface Formatter {
  /** Console-style: strings as-is, `%s %d %i %f %j %o %O %c %%` substitutions, other values inspected. */
  format(args: readonly unknown[]): string;
  /** One value as it would appear inside an object (strings quoted). */
  inspect(value: unknown): string;
  /** A thrown value as name, message and stack; non-Errors get a message saying what was thrown. */
  describe(thrown: unknown): { name: string; message: string; stack: string };
}

/** Builds the formatter (inside the isolate, once per isolate). */
export function createFormatter(): Formatter {
  const stringify = JSON.stringify;
  const isArray = Array.isArray;
  const getPrototypeOf = Object.getPrototypeOf;
  const MAX_ITEMS = 100;
  const MAX_DEPTH = 2;
  const IDENT = /^[A-Za-z_$][\w$]*$/;

  function quote(s: string): string {
    return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  }

  function inspect(v: unknown, depth: number, seen: object[]): string {
    switch (typeof v) {
      case 'string':
        return depth === 0 ? v : quote(v);
      case 'number':
        return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint':
        return `${v}n`;
      case 'boolean':
      case 'undefined':
        return String(v);
      case 'symbol':
        return v.toString();
      case 'function':
        return `[Function: ${(v as { name?: string }).name || '(anonymous)'}]`;
    }
    if (v === null) return 'null';
    const o = v as object;
    if (seen.includes(o)) return '[Circular]';
    if (o instanceof Error) {
      if (depth === 0 && typeof o.stack === 'string') return o.stack;
      return `[${o.name}: ${o.message}]`;
    }
    if (o instanceof Date) return Number.isNaN(o.getTime()) ? 'Invalid Date' : o.toISOString();
    if (o instanceof RegExp) return String(o);
    if (depth > MAX_DEPTH) return isArray(o) ? '[Array]' : '[Object]';
    seen.push(o);
    try {
      return inspectContainer(o, depth, seen);
    } finally {
      seen.pop();
    }
  }

  function list(items: string[], more: number, open: string, close: string): string {
    if (more > 0) items.push(`... ${more} more item${more > 1 ? 's' : ''}`);
    return items.length === 0 ? `${open}${close}` : `${open} ${items.join(', ')} ${close}`;
  }

  function inspectContainer(o: object, depth: number, seen: object[]): string {
    const d = depth + 1;
    if (isArray(o)) {
      const items: string[] = [];
      for (let i = 0; i < o.length && i < MAX_ITEMS; i++) items.push(inspect(o[i], d, seen));
      return list(items, o.length - items.length, '[', ']');
    }
    if (o instanceof Map) {
      const items: string[] = [];
      for (const [k, val] of o) {
        if (items.length >= MAX_ITEMS) break;
        items.push(`${inspect(k, d, seen)} => ${inspect(val, d, seen)}`);
      }
      return `Map(${o.size}) ${list(items, o.size - items.length, '{', '}')}`;
    }
    if (o instanceof Set) {
      const items: string[] = [];
      for (const val of o) {
        if (items.length >= MAX_ITEMS) break;
        items.push(inspect(val, d, seen));
      }
      return `Set(${o.size}) ${list(items, o.size - items.length, '{', '}')}`;
    }
    if (ArrayBuffer.isView(o) && !(o instanceof DataView)) {
      const a = o as unknown as ArrayLike<number | bigint>;
      const items: string[] = [];
      for (let i = 0; i < a.length && i < MAX_ITEMS; i++) items.push(inspect(a[i], d, seen));
      return `${o.constructor.name}(${a.length}) ${list(items, a.length - items.length, '[', ']')}`;
    }
    const proto: unknown = getPrototypeOf(o);
    const ctor = proto === null ? '[Object: null prototype]' : (proto as { constructor?: { name?: string } }).constructor?.name;
    const prefix = ctor === undefined || ctor === 'Object' ? '' : `${ctor} `;
    const keys = Object.keys(o);
    const items: string[] = [];
    for (let i = 0; i < keys.length && i < MAX_ITEMS; i++) {
      const k = keys[i] as string;
      items.push(`${IDENT.test(k) ? k : quote(k)}: ${inspect((o as Record<string, unknown>)[k], d, seen)}`);
    }
    return prefix + list(items, keys.length - items.length, '{', '}');
  }

  function substitute(fmt: string, args: readonly unknown[]): [string, number] {
    let out = '';
    let next = 1;
    let last = 0;
    for (let p = 0; p < fmt.length - 1; p++) {
      if (fmt.charCodeAt(p) !== 37 /* % */) continue;
      const c = fmt[p + 1];
      if (c === '%') {
        out += fmt.slice(last, p) + '%';
        last = p + 2;
        p++;
        continue;
      }
      if (next >= args.length || c === undefined || !'sdifjoOc'.includes(c)) continue;
      const a = args[next++];
      let rep: string;
      if (c === 's') rep = typeof a === 'string' ? a : inspect(a, 1, []);
      else if (c === 'd' || c === 'i') {
        const n = typeof a === 'bigint' ? a : Number(a);
        rep = typeof n === 'bigint' ? `${n}n` : String(c === 'i' ? Math.trunc(n) : n);
      } else if (c === 'f') rep = String(Number(a));
      else if (c === 'j') rep = stringify(a) ?? 'undefined';
      else if (c === 'c') rep = '';
      else rep = inspect(a, 1, []);
      out += fmt.slice(last, p) + rep;
      last = p + 2;
      p++;
    }
    return [out + fmt.slice(last), next];
  }

  function format(args: readonly unknown[]): string {
    const first = args[0];
    if (args.length === 1 && typeof first === 'string') return first;
    let out = '';
    let i = 0;
    if (typeof first === 'string' && args.length > 1 && first.includes('%')) [out, i] = substitute(first, args);
    for (; i < args.length; i++) {
      const a = args[i];
      const s = typeof a === 'string' ? a : inspect(a, 0, []);
      out = i === 0 ? s : `${out} ${s}`;
    }
    return out;
  }

  function describe(e: unknown, depth = 0): { name: string; message: string; stack: string } {
    try {
      if (e instanceof Error) {
        const name = String(e.name);
        const message = String(e.message);
        let stack = typeof e.stack === 'string' ? e.stack : `${name}: ${message}`;
        if (e.cause !== undefined && depth < 3) stack += `\nCaused by: ${describe(e.cause, depth + 1).stack}`;
        return { name, message, stack };
      }
      // A thrown string or object would cross as a generic message: say what was thrown instead.
      const message = `a non-Error value was thrown: ${inspect(e, 1, [])}`;
      return { name: 'NonError', message, stack: `NonError: ${message}` };
    } catch {
      const message = 'a value that cannot be described was thrown';
      return { name: 'Error', message, stack: `Error: ${message}` };
    }
  }

  return { format, inspect: (value: unknown) => inspect(value, 1, []), describe: (thrown: unknown) => describe(thrown) };
}
