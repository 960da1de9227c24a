/**
 * `ctx.state` inside the isolate: reads come from the key's state snapshot (sent with the chain, or
 * fetched on first use), writes are buffered per invocation and returned with its result; the host
 * commits them atomically with the event. A failed invocation's writes are simply dropped.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */

/** The chain's view of its key's state: name → JSON text, or null until loaded. */
export interface StateHolder {
  state: Record<string, string> | null;
  /** Resolvers waiting for the snapshot to arrive (one host request per chain). */
  loading: ((error: unknown) => void)[] | null;
}

/** The per-invocation side of state. */
export interface StateOwner {
  done: boolean;
  /** Buffered writes: name → JSON text, or null for a delete. */
  writes: Record<string, string | null> | null;
  writeChars: number;
}

export interface StateLimits {
  maxNameChars: number;
  maxValueBytes: number;
  maxKeyBytes: number;
  maxNames: number;
}

/** Builds `ctx.state` for one invocation. `load` asks the host for the snapshot (once per chain). */
export function createState(
  holder: StateHolder,
  owner: StateOwner,
  key: string | null,
  limits: StateLimits,
  load: (done: (error: unknown, json: string | null) => void) => void,
): Readonly<Record<string, (...a: unknown[]) => Promise<unknown>>> {
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const PromiseCtor = Promise;
  const keysOf = Object.keys;
  const freeze = Object.freeze;
  const hasOwn = Object.prototype.hasOwnProperty;

  function ready(): Promise<Record<string, string>> {
    if (key === null) return PromiseCtor.reject(new TypeError('ctx.state: this event has no key, and state is kept per event key; publish it with a key'));
    if (owner.done) return PromiseCtor.reject(new Error('ctx.state was used after the handler returned; await every state call'));
    if (holder.state !== null) return PromiseCtor.resolve(holder.state);
    return new PromiseCtor((resolve, reject) => {
      const waiter = (error: unknown) => (error === null ? resolve(holder.state as Record<string, string>) : reject(error));
      if (holder.loading !== null) {
        holder.loading.push(waiter);
        return;
      }
      holder.loading = [waiter];
      load((error, json) => {
        const waiters = holder.loading ?? [];
        holder.loading = null;
        if (error === null) {
          try {
            holder.state = parse(json ?? '{}') as Record<string, string>;
          } catch (e) {
            error = e;
          }
        }
        for (const w of waiters) w(error);
      });
    });
  }

  // Limits are in UTF-8 bytes, as Redis stores them. Sizes of long texts are remembered: a set
  // totals the key's whole state, which would otherwise rescan up to 1 MiB per call.
  const sizes = new Map<string, number>();
  function bytesOf(text: string): number {
    if (text.length < 64) return utf8Bytes(text);
    let n = sizes.get(text);
    if (n === undefined) sizes.set(text, (n = utf8Bytes(text)));
    return n;
  }
  function utf8Bytes(text: string): number {
    let n = text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) continue;
      if (c < 0x800) n += 1;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        n += 2; // a surrogate pair: 2 code units, 4 bytes
        i++;
      } else n += 2;
    }
    return n;
  }

  function current(state: Record<string, string>, name: string): string | undefined {
    const writes = owner.writes;
    if (writes !== null && hasOwn.call(writes, name)) return writes[name] ?? undefined;
    return hasOwn.call(state, name) ? state[name] : undefined;
  }

  function checkName(name: unknown): string {
    if (typeof name !== 'string' || name.length === 0 || name.length > limits.maxNameChars) {
      throw new TypeError(`ctx.state: a name is a string of 1 to ${limits.maxNameChars} characters`);
    }
    return name;
  }

  function write(name: string, json: string | null): void {
    if (owner.done) throw new Error('ctx.state was used after the handler returned; await every state call');
    const writes = (owner.writes ??= {});
    writes[name] = json;
    owner.writeChars += name.length + (json === null ? 0 : json.length);
  }

  function totalBytes(state: Record<string, string>): { bytes: number; names: number } {
    let bytes = 0;
    let names = 0;
    for (const name of allNames(state)) {
      const v = current(state, name);
      if (v === undefined) continue;
      bytes += bytesOf(name) + bytesOf(v);
      names++;
    }
    return { bytes, names };
  }

  function allNames(state: Record<string, string>): string[] {
    const out = keysOf(state);
    const writes = owner.writes;
    if (writes !== null) for (const n of keysOf(writes)) if (!hasOwn.call(state, n)) out[out.length] = n;
    return out;
  }

  return freeze({
    get(name: unknown): Promise<unknown> {
      return ready().then((state) => {
        const v = current(state, checkName(name));
        return v === undefined ? undefined : parse(v);
      });
    },
    set(name: unknown, value: unknown): Promise<void> {
      return ready().then((state) => {
        const n = checkName(name);
        let json: string | undefined;
        try {
          json = stringify(value);
        } catch (e) {
          throw new TypeError(`ctx.state.set("${n}"): the value is not JSON data (${e instanceof Error ? e.message : String(e)})`);
        }
        if (json === undefined) throw new TypeError(`ctx.state.set("${n}"): the value is not JSON data (got ${typeof value}); use ctx.state.delete to remove it`);
        // A UTF-16 code unit is at most 3 bytes of UTF-8: a short value needs no count.
        if (json.length * 3 > limits.maxValueBytes && bytesOf(json) > limits.maxValueBytes) throw new RangeError(`ctx.state.set("${n}"): the value is ${bytesOf(json)} bytes of JSON (UTF-8), over the ${limits.maxValueBytes}-byte limit per value`);
        const before = current(state, n);
        write(n, json);
        const total = totalBytes(state);
        if (total.bytes > limits.maxKeyBytes || total.names > limits.maxNames) {
          write(n, before === undefined ? null : before);
          throw new RangeError(`ctx.state.set("${n}"): this key's state would hold ${total.names} names and ${total.bytes} bytes, over the limit of ${limits.maxNames} names and ${limits.maxKeyBytes} bytes per key`);
        }
      });
    },
    delete(name: unknown): Promise<void> {
      return ready().then((state) => {
        const n = checkName(name);
        if (current(state, n) !== undefined) write(n, null);
      });
    },
    keys(): Promise<string[]> {
      return ready().then((state) => allNames(state).filter((n) => current(state, n) !== undefined).sort());
    },
  });
}
