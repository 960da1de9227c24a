/**
 * TextEncoder / TextDecoder (UTF-8 only) and atob / btoa, in pure JS.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained. Expects
 * `DOMException` to be installed first (see shim-web.ts).
 */

export function installEncoding(g: Record<string, unknown>): void {
  const DOMExceptionCtor = g.DOMException as new (message: string, name: string) => Error;
  const fromCharCode = String.fromCharCode;
  // The largest input, in UTF-16 units (bytes for decode): this work runs in the function's own
  // isolate, under its timeout, but past 16 Mi it takes seconds: fail at once with a RangeError.
  // (URLSearchParams' string form has the same cap, in shim-url.ts.)
  const MAX_INPUT = 16 * 1024 * 1024;
  const RangeErrorCtor = RangeError;
  function capped(length: number, what: string, unit: string): void {
    if (length > MAX_INPUT) throw new RangeErrorCtor(`${what}: the input is ${length} ${unit}, over fnrun's limit of ${MAX_INPUT}`);
  }

  /** Encodes `s` into `dest`; stops before a code point that does not fit (as `encodeInto` requires). */
  function encodeInto(s: string, dest: Uint8Array): { read: number; written: number } {
    let read = 0;
    let w = 0;
    const n = s.length;
    while (read < n) {
      let c = s.charCodeAt(read);
      let units = 1;
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = read + 1 < n ? s.charCodeAt(read + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          units = 2;
        } else {
          c = 0xfffd; // lone surrogate: USVString conversion
        }
      }
      const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      if (w + size > dest.length) break;
      if (size === 1) dest[w++] = c;
      else if (size === 2) {
        dest[w++] = 0xc0 | (c >> 6);
        dest[w++] = 0x80 | (c & 0x3f);
      } else if (size === 3) {
        dest[w++] = 0xe0 | (c >> 12);
        dest[w++] = 0x80 | ((c >> 6) & 0x3f);
        dest[w++] = 0x80 | (c & 0x3f);
      } else {
        dest[w++] = 0xf0 | (c >> 18);
        dest[w++] = 0x80 | ((c >> 12) & 0x3f);
        dest[w++] = 0x80 | ((c >> 6) & 0x3f);
        dest[w++] = 0x80 | (c & 0x3f);
      }
      read += units;
    }
    return { read, written: w };
  }

  class TextEncoder {
    get encoding(): string {
      return 'utf-8';
    }
    encode(input: unknown = ''): Uint8Array {
      const s = String(input);
      capped(s.length, 'TextEncoder.encode', 'characters');
      const buf = new Uint8Array(s.length * 3);
      return buf.slice(0, encodeInto(s, buf).written);
    }
    encodeInto(input: unknown, dest: Uint8Array): { read: number; written: number } {
      if (!(dest instanceof Uint8Array)) throw new TypeError('encodeInto: destination must be a Uint8Array');
      return encodeInto(String(input), dest);
    }
  }

  function bytesOf(input: unknown): Uint8Array {
    if (input === undefined) return new Uint8Array(0);
    if (input instanceof ArrayBuffer || input instanceof SharedArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError('TextDecoder.decode: input must be an ArrayBuffer or an ArrayBufferView');
  }

  class TextDecoder {
    readonly #fatal: boolean;
    readonly #ignoreBOM: boolean;
    constructor(label: unknown = 'utf-8', options?: { fatal?: boolean; ignoreBOM?: boolean }) {
      const l = String(label).trim().toLowerCase();
      if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
        throw new RangeError(`TextDecoder: the "${String(label)}" encoding is not supported (fnrun supports utf-8 only)`);
      }
      this.#fatal = Boolean(options?.fatal);
      this.#ignoreBOM = Boolean(options?.ignoreBOM);
    }
    get encoding(): string {
      return 'utf-8';
    }
    get fatal(): boolean {
      return this.#fatal;
    }
    get ignoreBOM(): boolean {
      return this.#ignoreBOM;
    }
    decode(input?: unknown, options?: { stream?: boolean }): string {
      if (options?.stream) throw new TypeError('TextDecoder: streaming decode is not supported in fnrun');
      const b = bytesOf(input);
      capped(b.length, 'TextDecoder.decode', 'bytes');
      const units: number[] = [];
      let out = '';
      let cp = 0;
      let needed = 0;
      let seen = 0;
      let lower = 0x80;
      let upper = 0xbf;
      const fatal = this.#fatal;
      const push = (c: number): void => {
        if (c > 0xffff) {
          c -= 0x10000;
          units.push(0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
        } else units.push(c);
        if (units.length >= 8192) {
          out += fromCharCode.apply(null, units);
          units.length = 0;
        }
      };
      const bad = (): void => {
        if (fatal) throw new TypeError('The encoded data was not valid for encoding utf-8');
        push(0xfffd);
      };
      // The WHATWG Encoding standard's UTF-8 decoder, so invalid input gives the same U+FFFDs as browsers.
      for (let i = 0; i < b.length; i++) {
        const x = b[i] as number;
        if (needed === 0) {
          if (x <= 0x7f) push(x);
          else if (x >= 0xc2 && x <= 0xdf) {
            needed = 1;
            cp = x & 0x1f;
          } else if (x >= 0xe0 && x <= 0xef) {
            if (x === 0xe0) lower = 0xa0;
            if (x === 0xed) upper = 0x9f;
            needed = 2;
            cp = x & 0xf;
          } else if (x >= 0xf0 && x <= 0xf4) {
            if (x === 0xf0) lower = 0x90;
            if (x === 0xf4) upper = 0x8f;
            needed = 3;
            cp = x & 0x7;
          } else bad();
          continue;
        }
        if (x < lower || x > upper) {
          cp = needed = seen = 0;
          lower = 0x80;
          upper = 0xbf;
          bad();
          i--; // the byte starts the next sequence
          continue;
        }
        lower = 0x80;
        upper = 0xbf;
        cp = (cp << 6) | (x & 0x3f);
        if (++seen === needed) {
          push(cp);
          cp = needed = seen = 0;
        }
      }
      if (needed !== 0) bad();
      out += fromCharCode.apply(null, units);
      return !this.#ignoreBOM && out.charCodeAt(0) === 0xfeff ? out.slice(1) : out;
    }
  }

  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const B64_INDEX = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i;

  /** Collects char codes and turns them into a string 8 Ki at a time (no string per character). */
  function chunkedString(): { push(c: number): void; done(): string } {
    const units: number[] = [];
    let out = '';
    return {
      push(c: number): void {
        units.push(c);
        if (units.length >= 8192) {
          out += fromCharCode.apply(null, units);
          units.length = 0;
        }
      },
      done(): string {
        return out + fromCharCode.apply(null, units);
      },
    };
  }

  function btoa(data: unknown): string {
    if (arguments.length === 0) throw new TypeError('btoa requires 1 argument');
    const s = String(data);
    capped(s.length, 'btoa', 'characters');
    const out = chunkedString();
    const n = s.length;
    for (let i = 0; i < n; i += 3) {
      const a = s.charCodeAt(i);
      const b = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      const c = i + 2 < n ? s.charCodeAt(i + 2) : 0;
      if (a > 0xff || b > 0xff || c > 0xff) throw new DOMExceptionCtor('btoa: the string contains characters outside of the Latin1 range', 'InvalidCharacterError');
      out.push(B64.charCodeAt(a >> 2));
      out.push(B64.charCodeAt(((a & 3) << 4) | (b >> 4)));
      out.push(i + 1 < n ? B64.charCodeAt(((b & 15) << 2) | (c >> 6)) : 61 /* = */);
      out.push(i + 2 < n ? B64.charCodeAt(c & 63) : 61);
    }
    return out.done();
  }

  function atob(data: unknown): string {
    if (arguments.length === 0) throw new TypeError('atob requires 1 argument');
    const raw = String(data);
    capped(raw.length, 'atob', 'characters');
    let s = raw.replace(/[\t\n\f\r ]/g, '');
    if (s.length % 4 === 0) s = s.replace(/==?$/, '');
    const invalid = (): Error => new DOMExceptionCtor('atob: the string to be decoded is not correctly encoded', 'InvalidCharacterError');
    if (s.length % 4 === 1) throw invalid();
    const out = chunkedString();
    let bits = 0;
    let acc = 0;
    for (let i = 0; i < s.length; i++) {
      const code = s.charCodeAt(i);
      const v = code < 128 ? (B64_INDEX[code] as number) : -1;
      if (v < 0) throw invalid();
      acc = ((acc << 6) | v) & 0xffffff; // only the bits not yet emitted matter
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >> bits) & 0xff);
      }
    }
    return out.done();
  }

  for (const [name, value] of [
    ['TextEncoder', TextEncoder],
    ['TextDecoder', TextDecoder],
    ['atob', atob],
    ['btoa', btoa],
  ] as const) {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
}
