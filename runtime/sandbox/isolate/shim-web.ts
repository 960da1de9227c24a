/**
 * DOMException, crypto.randomUUID / getRandomValues and structuredClone, in pure JS over a
 * host-provided source of random bytes.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */

export function installWeb(g: Record<string, unknown>, randomBytes: (n: number) => ArrayBuffer): void {
  class DOMException extends Error {
    constructor(message = '', name = 'Error') {
      super(message);
      Object.defineProperty(this, 'name', { value: name, writable: true, configurable: true, enumerable: false });
    }
  }

  // One host call (~50 µs) buys 4 KiB of CSPRNG bytes: 256 UUIDs.
  const POOL_BYTES = 4096;
  let pool = new Uint8Array(0);
  let pos = 0;
  function take(n: number): Uint8Array {
    if (pos + n > pool.length) {
      pool = new Uint8Array(randomBytes(Math.max(POOL_BYTES, n)));
      pos = 0;
    }
    const out = pool.slice(pos, pos + n);
    pool.fill(0, pos, pos + n); // a byte is handed out once
    pos += n;
    return out;
  }

  const HEX: string[] = [];
  for (let i = 0; i < 256; i++) HEX.push((i + 0x100).toString(16).slice(1));

  const crypto = Object.freeze({
    randomUUID(): string {
      const b = take(16);
      b[6] = ((b[6] as number) & 0x0f) | 0x40;
      b[8] = ((b[8] as number) & 0x3f) | 0x80;
      const h = (i: number): string => HEX[b[i] as number] as string;
      return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
    },
    getRandomValues<T extends ArrayBufferView>(array: T): T {
      const integer =
        array instanceof Int8Array || array instanceof Uint8Array || array instanceof Uint8ClampedArray ||
        array instanceof Int16Array || array instanceof Uint16Array || array instanceof Int32Array ||
        array instanceof Uint32Array || array instanceof BigInt64Array || array instanceof BigUint64Array;
      if (!integer) throw new DOMException('getRandomValues: the array must be an integer typed array', 'TypeMismatchError');
      if (array.byteLength > 65536) {
        throw new DOMException(`getRandomValues: ${array.byteLength} bytes requested, the maximum is 65536`, 'QuotaExceededError');
      }
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(take(array.byteLength));
      return array;
    },
  });

  const uncloneable = (what: string): Error => new DOMException(`${what} could not be cloned`, 'DataCloneError');

  function clone(v: unknown, seen: Map<object, unknown>): unknown {
    if (typeof v === 'function' || typeof v === 'symbol') throw uncloneable(String(v));
    if (typeof v !== 'object' || v === null) return v;
    const known = seen.get(v);
    if (known !== undefined) return known;
    if (Array.isArray(v)) {
      const out: unknown[] = new Array(v.length);
      seen.set(v, out);
      for (let i = 0; i < v.length; i++) out[i] = clone(v[i], seen);
      return out;
    }
    if (v instanceof Date) return remember(seen, v, new Date(v.getTime()));
    if (v instanceof RegExp) return remember(seen, v, new RegExp(v.source, v.flags));
    if (v instanceof ArrayBuffer) return remember(seen, v, v.slice(0));
    if (ArrayBuffer.isView(v)) {
      const buffer = clone(v.buffer, seen) as ArrayBuffer;
      const Ctor = v.constructor as new (b: ArrayBuffer, offset: number, length: number) => unknown;
      const length = v instanceof DataView ? v.byteLength : (v as unknown as { length: number }).length;
      return remember(seen, v, new Ctor(buffer, v.byteOffset, length));
    }
    if (v instanceof Map) {
      const out = new Map();
      seen.set(v, out);
      for (const [k, val] of v) out.set(clone(k, seen), clone(val, seen));
      return out;
    }
    if (v instanceof Set) {
      const out = new Set();
      seen.set(v, out);
      for (const val of v) out.add(clone(val, seen));
      return out;
    }
    if (v instanceof Error) {
      const Ctor = (g[v.name] as ErrorConstructor | undefined) ?? Error;
      const out = new (typeof Ctor === 'function' && Ctor.prototype instanceof Error ? Ctor : Error)(String(v.message));
      seen.set(v, out);
      if (typeof v.stack === 'string') out.stack = v.stack;
      if ('cause' in v) out.cause = clone(v.cause, seen);
      return out;
    }
    if (v instanceof Boolean || v instanceof Number || v instanceof String) return remember(seen, v, Object(v.valueOf()));
    if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet) throw uncloneable(`#<${v.constructor.name}>`);
    const out: Record<string, unknown> = {};
    seen.set(v, out);
    for (const k of Object.keys(v)) out[k] = clone((v as Record<string, unknown>)[k], seen);
    return out;
  }

  function remember(seen: Map<object, unknown>, from: object, to: unknown): unknown {
    seen.set(from, to);
    return to;
  }

  function structuredClone(value: unknown): unknown {
    if (arguments.length === 0) throw new TypeError('structuredClone requires 1 argument');
    return clone(value, new Map());
  }

  for (const [name, value] of [
    ['DOMException', DOMException],
    ['crypto', crypto],
    ['structuredClone', structuredClone],
  ] as const) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
}
