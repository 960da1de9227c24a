/**
 * The outcome text of one invocation as the child reads it (and results.ts finishes it): its
 * emits, logs and state writes, or its error with the kind that decides retries. Assembled from
 * the buffered JSON texts and plain strings only, so nothing user code patched (a `toJSON`, a
 * replaced `String`) can change what the runtime is told.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */
import type { Formatter } from './shim-console.ts';
import type { OutputOwner } from './shim-output.ts';
import type { StateOwner } from './shim-state.ts';

/** The part of an invocation its outcome is made of. */
export interface ResultOwner extends OutputOwner, StateOwner {
  failed: boolean;
  failure: unknown;
  /** Set by the child's cancel: replaces the handler's own outcome. */
  verdict: { name: string; kind: string; message: string } | null;
}

/** Caps on a failure's text (README "Caps"). */
export interface ResultLimits {
  maxErrorMessageChars: number;
  maxStackChars: number;
}

/** Builds `resultJson(owner)`: `{"status":"ok",…}` or `{"status":"error",…}` as JSON text. */
export function createResultJson(limits: ResultLimits, describe: Formatter['describe']): (owner: ResultOwner) => string {
  const stringify = JSON.stringify;
  const keysOf = Object.keys;
  const apply = Reflect.apply;
  const sliceString = String.prototype.slice;
  const NON_RETRIABLE = Symbol.for('fnrun.non-retriable');

  function okJson(owner: ResultOwner): string {
    let state = '';
    if (owner.writes !== null) {
      let n = 0;
      for (const name of keysOf(owner.writes)) {
        const v = owner.writes[name];
        state += `${n++ === 0 ? '' : ','}${stringify(name)}:${typeof v === 'string' ? stringify(v) : 'null'}`;
      }
      state = `,"state":{${state}}`;
    }
    return `{"status":"ok","emits":[${owner.emits}],"logs":[${owner.logs}]${state}}`;
  }

  function errorJson(owner: ResultOwner): string {
    let name: string;
    let message: string;
    let stack: string;
    let kind = 'handler';
    if (owner.verdict !== null) {
      ({ name, message, kind } = owner.verdict);
      stack = `${name}: ${message}`;
    } else {
      const d = describe(owner.failure);
      name = cut(text(d.name), 200);
      message = cut(text(d.message), limits.maxErrorMessageChars);
      stack = cut(text(d.stack), limits.maxStackChars);
      // Thrown on purpose, or named so (it may come from another bundle), or a subclass that
      // renamed itself (the SDK class's symbol, runtime/sdk.ts): never retried.
      if (name === 'NonRetriableError' || nonRetriableBrand(owner.failure)) kind = 'non-retriable';
    }
    // stringify of strings only: an object would go through a user-defined toJSON.
    return `{"status":"error","error":{"name":${stringify(name)},"message":${stringify(message)},"stack":${stringify(stack)},"kind":"${kind}"},"logs":[${owner.logs}]}`;
  }

  function nonRetriableBrand(e: unknown): boolean {
    try {
      return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[NON_RETRIABLE] === true;
    } catch {
      return false; // a Proxy that throws is not one
    }
  }

  function cut(s: string, max: number): string {
    return s.length <= max ? s : `${apply(sliceString, s, [0, max]) as string}… [${s.length - max} more characters]`;
  }

  function text(value: unknown): string {
    return typeof value === 'string' ? value : '[fnrun] not a string (was String replaced?)';
  }

  return (owner) => (owner.failed || owner.verdict !== null ? errorJson(owner) : okJson(owner));
}
