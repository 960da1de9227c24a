/**
 * What the user's bundle exports, read once per isolate: the handler, and the config as JSON text
 * for the host's manifest validation. Both shapes are accepted: `export default handler` with
 * `export const config`, and `export default defineFunction({ ..., handler })`.
 *
 * Runs INSIDE the isolate: shipped as source, so it must stay self-contained.
 */

/** A function's handler as the shim calls it. */
export type Handler = (event: unknown, ctx: unknown) => unknown;

/**
 * Builds `readModule(factory)`, which runs the bundle's factory (its top level) and returns what
 * it exports; throws a TypeError that tells the user what to export when the shape is wrong.
 */
export function createModuleReader(): (factory: () => unknown) => { handler: Handler; configJson: string } {
  // Captured before the bundle's top level runs, so a module that patches JSON or Object cannot change its own config.
  const stringify = JSON.stringify;
  const keysOf = Object.keys;

  function readModule(factory: () => unknown): { handler: Handler; configJson: string } {
    const mod = factory() as { default?: unknown; config?: unknown } | undefined | null;
    if (mod === undefined || mod === null) {
      // An empty file (or one without exports) bundles to nothing.
      throw new TypeError('the module exports nothing: export default a function (and export const config), or export default defineFunction({ ..., handler })');
    }
    const def = mod.default as { handler?: unknown } | undefined | null;
    let handler: Handler;
    let config: unknown;
    if (typeof def === 'function') {
      handler = def as Handler;
      config = mod.config;
    } else if (typeof def === 'object' && def !== null && typeof def.handler === 'function') {
      handler = def.handler as Handler;
      const c: Record<string, unknown> = {};
      for (const k of keysOf(def)) if (k !== 'handler') c[k] = (def as Record<string, unknown>)[k];
      config = c;
    } else {
      throw new TypeError('the module has no handler: export default a function (and export const config), or export default defineFunction({ ..., handler })');
    }
    const configJson = config === undefined ? '{}' : stringify(config, configValue);
    if (configJson === undefined) throw new TypeError('the exported config is not JSON data');
    return { handler, configJson };
  }

  // JSON would drop a function or a symbol, turn NaN into null and throw on a bigint or a cycle, so
  // `timeoutMs: () => 1000` would pass as the default: such values cross as a marker instead, which
  // the host's manifest validation reports with its field (NOT_JSON_KEY in manifest.ts).
  const configParents: unknown[] = [];
  function configValue(this: unknown, _key: string, value: unknown): unknown {
    const marker = (what: string): unknown => ({ __fnrunNotJson: what });
    switch (typeof value) {
      case 'function': return marker('a function');
      case 'symbol': return marker('a symbol');
      case 'bigint': return marker(`${value}n (a bigint)`);
      case 'number': return Number.isFinite(value) ? value : marker(String(value));
      case 'object': {
        if (value === null) return value;
        while (configParents.length > 0 && configParents[configParents.length - 1] !== this) configParents.pop();
        if (configParents.includes(value)) return marker('a circular reference');
        configParents.push(value);
        return value;
      }
      default: return value;
    }
  }

  return readModule;
}
