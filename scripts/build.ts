/**
 * `npm run build` (and `prepack`): the published package in dist/. tsc emits JavaScript and
 * declarations in the sources' layout, only erasing types (target es2024 downlevels nothing the
 * code uses), so what runs from dist/ is what the tests run from the sources, down to the isolate
 * shims shipped with `Function.prototype.toString()`. The files read at run time are copied next
 * to the modules that read them.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');
const at = (...parts: string[]) => path.join(root, ...parts);

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', at('tsconfig.build.json')], { stdio: 'inherit' });

// Lua scripts (runtime/redis/scripts.ts reads ./lua/*.lua next to itself).
cpSync(at('runtime/redis/lua'), path.join(dist, 'runtime/redis/lua'), { recursive: true });
// The SDK bundled into every function, as its source (runtime/loading/bundler.ts): the same bytes
// as in the repository, so a function's bundle and content hash do not depend on where fnrun runs.
// Named so that no `./sdk.js` import resolves to it instead of sdk.d.ts.
copyFileSync(at('runtime/sdk.ts'), path.join(dist, 'runtime/sdk.source.ts'));
// The globals a function sees in the sandbox, for `"types": ["fnrun/globals"]`.
copyFileSync(at('runtime/sandbox/isolate/globals.d.ts'), path.join(dist, 'runtime/sandbox/isolate/globals.d.ts'));

// tsc rewrites `./x.ts` to `./x.js` in JavaScript only; TypeScript 5 reads either in a .d.ts, older
// tools and TypeScript versions only `.js`.
const SPECIFIER = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g;
for (const file of readdirSync(dist, { recursive: true, encoding: 'utf8' })) {
  if (!file.endsWith('.d.ts') || file.endsWith('globals.d.ts')) continue;
  const full = path.join(dist, file);
  writeFileSync(full, readFileSync(full, 'utf8').replace(SPECIFIER, '$1$2.js$3'));
}
