/**
 * Rewrites V8 stacks from the compiled bundle's positions to the original sources, using esbuild's
 * source map. One mapper per function version: the map is decoded lazily on the first error
 * (~15 ms), later stacks cost ~11 µs.
 */
import { TraceMap, originalPositionFor } from '@jridgewell/trace-mapping';
import { INTERNAL_FILENAME_PREFIX } from '../isolate/shim-api.ts';

/** Maps the stacks of one function version. */
export class StackMapper {
  readonly #filename: string;
  readonly #sourceMap: string | null;
  readonly #frame: RegExp;
  #map: TraceMap | null | undefined;

  constructor(filename: string, sourceMap: string | null) {
    this.#filename = filename;
    this.#sourceMap = sourceMap;
    this.#frame = new RegExp(`${escapeRegExp(filename)}:(\\d+):(\\d+)`, 'g');
  }

  /** Maps every frame of the bundle to `source:line:column` and drops fnrun's own frames. */
  map(stack: string): string {
    const map = this.#traceMap();
    const lines = stack.split('\n');
    const out: string[] = [];
    for (const line of lines) {
      if (line.includes(INTERNAL_FILENAME_PREFIX)) continue;
      if (map === null || !line.includes(this.#filename)) {
        out.push(line);
        continue;
      }
      out.push(
        line.replace(this.#frame, (whole, l: string, c: string) => {
          // V8 columns are 1-based, source map columns 0-based.
          const pos = originalPositionFor(map, { line: Number(l), column: Number(c) - 1 });
          return pos.source === null ? whole : `${pos.source}:${pos.line}:${pos.column + 1}`;
        }),
      );
    }
    return out.join('\n');
  }

  /** A failed result (the shim's JSON text) with its stack mapped; fnrun's own failures and unreadable texts as they are. */
  mapResultStack(json: string): string {
    try {
      const r = JSON.parse(json) as { error: { stack: string; kind: string } };
      if (r.error.kind !== 'handler' && r.error.kind !== 'non-retriable') return json;
      r.error.stack = this.map(r.error.stack);
      return JSON.stringify(r);
    } catch {
      return json;
    }
  }

  #traceMap(): TraceMap | null {
    if (this.#map !== undefined) return this.#map;
    try {
      this.#map = this.#sourceMap === null ? null : new TraceMap(this.#sourceMap);
    } catch {
      // A malformed map must not turn a handler error into a sandbox failure: keep bundle positions.
      this.#map = null;
    }
    return this.#map;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
