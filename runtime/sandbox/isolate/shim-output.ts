/**
 * What one invocation produces besides its outcome — log lines and emitted events — buffered as
 * JSON text inside the isolate and returned with its result, under per-invocation caps.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */

/** The per-invocation buffers (comma-joined JSON texts: strings, never arrays, see shim.ts). */
export interface OutputOwner {
  done: boolean;
  logs: string;
  logCount: number;
  logChars: number;
  logsCut: boolean;
  emits: string;
  emitCount: number;
  emitChars: number;
}

/** Per-invocation caps (README "Caps"). */
export interface OutputLimits {
  maxLogLines: number;
  maxLogLineChars: number;
  maxLogChars: number;
  maxEmits: number;
  maxEmitChars: number;
}

/** Builds `log(owner, level, args)` and `emit(owner, type, key, data)`; `fail` fails an invocation. */
export function createOutput(
  limits: OutputLimits,
  format: (args: unknown[]) => string,
  fail: (owner: OutputOwner, e: unknown) => void,
): {
  log(owner: OutputOwner, level: string, args: unknown[]): void;
  emit(owner: OutputOwner, type: unknown, key: unknown, data: unknown): Promise<void>;
} {
  const stringify = JSON.stringify;
  const now = Date.now;
  const apply = Reflect.apply;
  const sliceString = String.prototype.slice;
  const PromiseCtor = Promise;
  const resolved = PromiseCtor.resolve();
  const noop = (): void => {};

  function log(owner: OutputOwner, level: string, args: unknown[]): void {
    if (owner.done || owner.logsCut) return;
    if (owner.logCount >= limits.maxLogLines || owner.logChars >= limits.maxLogChars) {
      owner.logsCut = true;
      args = [`[fnrun] this invocation logged more than ${limits.maxLogLines} lines or ${limits.maxLogChars} characters; the rest is dropped`];
    }
    owner.logCount++;
    let msg: unknown;
    try {
      msg = format(args);
    } catch {
      msg = undefined;
    }
    if (typeof msg !== 'string') msg = '[fnrun] log arguments could not be formatted';
    let text = msg as string;
    if (text.length > limits.maxLogLineChars) {
      text = `${apply(sliceString, text, [0, limits.maxLogLineChars]) as string}… [truncated ${text.length - limits.maxLogLineChars} characters]`;
    }
    owner.logChars += text.length;
    owner.logs += `${owner.logCount > 1 ? ',' : ''}{"level":"${level}","msg":${stringify(text)},"time":${now()}}`;
  }

  function emit(owner: OutputOwner, type: unknown, key: unknown, data: unknown): Promise<void> {
    let err: Error;
    if (owner.done) err = new Error('ctx.emit was called after the handler returned; await (or return) every emit');
    else if (typeof type !== 'string' || type === '') err = new TypeError('ctx.emit: type must be a non-empty string');
    else if (key !== null && key !== undefined && typeof key !== 'string') err = new TypeError('ctx.emit: key must be a string or null');
    else if (owner.emitCount >= limits.maxEmits) err = new RangeError(`ctx.emit: one invocation may emit at most ${limits.maxEmits} events`);
    else {
      let json: string | undefined;
      let why = `got ${typeof data}`;
      try {
        json = data === undefined ? 'null' : stringify(data);
      } catch (e) {
        why = e instanceof Error ? e.message : String(e);
      }
      if (json === undefined) err = new TypeError(`ctx.emit("${type}"): data is not JSON-serialisable (${why})`);
      else {
        const line = `{"type":${stringify(type)},"key":${typeof key === 'string' ? stringify(key) : 'null'},"data":${json}}`;
        owner.emitChars += line.length;
        if (owner.emitChars <= limits.maxEmitChars) {
          owner.emits += owner.emitCount++ === 0 ? line : `,${line}`;
          return resolved;
        }
        err = new RangeError(`ctx.emit: the emits of one invocation exceed ${limits.maxEmitChars} characters`);
      }
    }
    // Fails the invocation even if the caller neither awaits nor catches: an emit must never vanish.
    fail(owner, err);
    const p = PromiseCtor.reject(err);
    p.catch(noop);
    return p;
  }

  return { log, emit };
}
