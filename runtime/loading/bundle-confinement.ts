/**
 * The bundler reads only inside the function's project. Whatever a function imports is embedded
 * in its bundle (with `sourcesContent` in its source map), and `fnrun deploy` stores that in Redis:
 * `import secret from '/etc/passwd' with { type: 'text' }`, a `../../../` path or a symlink out of
 * the project would ship a file of the deploying machine. Every import is therefore resolved
 * first and checked, whatever its loader (js, text, json, file, binary), by its real path.
 *
 * The project is the nearest folder at or above the function that holds a package.json (else the
 * folder above the functions folder); besides its own files, a function may import packages from
 * the `node_modules` folders of the project and of the folders above it, where Node's resolution
 * finds them (hoisted installs).
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type * as esbuild from 'esbuild';

/** Marks the nested resolve, so the check does not run on itself. */
const CONFINED = Symbol('fnrun.confined');

/**
 * The function's project folder: the nearest one at or above the entry's folder with a
 * package.json, else `fallback` (the folder above the functions folder).
 */
export function projectRootOf(entry: string, fallback: string): string {
  let dir = path.dirname(path.resolve(entry));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(fallback);
    dir = up;
  }
}

function realpathOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

const inside = (dir: string, p: string): boolean => {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
};

/** Whether a real path may be read: in the project, or in a node_modules of it or of a folder above it. */
export function allowedIn(project: string): (realPath: string) => boolean {
  const root = realpathOrSelf(project);
  const moduleDirs: string[] = [];
  for (let dir = root; ; dir = path.dirname(dir)) {
    moduleDirs.push(path.join(dir, 'node_modules'));
    if (path.dirname(dir) === dir) break;
  }
  return (p) => inside(root, p) || moduleDirs.some((m) => inside(m, p));
}

/**
 * An esbuild plugin that fails the build on an import whose file (after symlinks) is outside
 * `project`, naming the import; it changes nothing else. Put it after plugins that own virtual
 * modules (the SDK) and before the others: it resolves each import through the rest of the chain
 * (esbuild caches the file system lookups), checks the file, and lets the chain go on.
 */
export function confinementPlugin(project: string, nestedMarkers: readonly symbol[] = []): esbuild.Plugin {
  const allowed = allowedIn(project);
  const skip = new Set<unknown>([CONFINED, ...nestedMarkers]);
  return {
    name: 'fnrun-project-confinement',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (skip.has(args.pluginData)) return undefined;
        const r = await build.resolve(args.path, {
          kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, namespace: args.namespace, with: args.with, pluginData: CONFINED,
        });
        // Allowed (or unresolvable): esbuild resolves it again as if this plugin were not there.
        // Returning r's path instead would detach the file from its tsconfig.json (alwaysStrict,
        // jsx, decorators…), which esbuild applies only to paths it resolved itself.
        if (r.errors.length > 0 || r.external || r.namespace !== 'file' || r.path === '') return undefined;
        const real = realpathOrSelf(r.path);
        if (allowed(real)) return undefined;
        return {
          errors: [{
            text: `${JSON.stringify(args.path)} resolves to ${real}, outside the function's project (${project}); a function may import only files of its project and packages of its node_modules`,
          }],
        };
      });
    },
  };
}
