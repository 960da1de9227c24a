/**
 * A function's version hash: what it is made of, not where it was built. The bundle's own text
 * names paths relative to the build's working directory (esbuild's `// functions/hello.ts`
 * comments, the map's `sources`), and a tsconfig.json above the project can change the emitted
 * code, so hashing the output made identical code deployed from two CI checkouts two versions.
 * The hash covers every source file that contributes code (the map's `sources` with their
 * `sourcesContent`: the function's files, its imports, the fnrun SDK), each named relative to the
 * function's own folder.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

/**
 * sha256 (hex) of the sources of a bundle's source map, as paths relative to the folder of
 * `entry` (`hello.ts`, `../_shared/db.ts`, `../node_modules/lib/index.js`) with their contents.
 * Sources outside the file system (`fnrun:sdk.ts`) keep their names.
 * @param root the folder the map's `sources` are relative to
 * @param entry the function's entry file, absolute
 */
export function versionHash(sourceMapText: string, root: string, entry: string): string {
  const map = JSON.parse(sourceMapText) as { sources: string[]; sourcesContent?: (string | null)[] };
  const base = path.dirname(entry);
  const hash = createHash('sha256');
  map.sources.forEach((source, i) => {
    const name = /^[a-z]+:/.test(source) ? source : path.relative(base, path.resolve(root, source)).split(path.sep).join('/');
    hash.update(name).update('\0').update(map.sourcesContent?.[i] ?? '').update('\0');
  });
  return hash.digest('hex');
}
