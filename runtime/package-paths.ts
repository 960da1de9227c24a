/**
 * fnrun's own files at run time. The repository runs its TypeScript sources; the published package
 * runs the JavaScript that `npm run build` emits into dist/ in the same layout (`.js` for `.ts`,
 * with copies of the other files read at run time). A module passes its own `import.meta.url`, so
 * the answer follows wherever that module runs from.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** True when `moduleUrl` (an `import.meta.url`) is built JavaScript rather than a TypeScript source. */
export function isBuilt(moduleUrl: string): boolean {
  return moduleUrl.endsWith('.js');
}

/**
 * The path of a module written as its source (`'../child/child.ts'`) relative to `moduleUrl`: its
 * `.js` sibling when `moduleUrl` is built.
 */
export function ownModulePath(relativeSource: string, moduleUrl: string): string {
  const relative = isBuilt(moduleUrl) ? relativeSource.replace(/\.ts$/, '.js') : relativeSource;
  return fileURLToPath(new URL(relative, moduleUrl));
}

/** The folder that holds fnrun's package.json: the repository, or the installed package. */
export const PACKAGE_ROOT = fileURLToPath(new URL(isBuilt(import.meta.url) ? '../../' : '../', import.meta.url));

/** fnrun's version, from its package.json (read, not imported: a JSON import would be copied into dist/). */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL(isBuilt(import.meta.url) ? '../../package.json' : '../package.json', import.meta.url), 'utf8')) as { version: string }).version;
