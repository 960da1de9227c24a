/**
 * Bundles one function (its file and everything it imports) into a single script for the sandbox.
 *
 * Output: an IIFE that assigns the module's exports to `__fnrun_module`, an external source map
 * with `sourcesContent`, and a version hash of the sources (version-hash.ts: the same code gives
 * the same hash wherever it is built). Source-map `sources` are paths relative to `root`
 * (default: the working directory), with `/` separators, e.g. `functions/hello.ts`: a mapped
 * stack reads `functions/hello.ts:12:5` on any machine. Map positions with `new TraceMap(sourceMap)` (no map URL), so that
 * `sources` are not resolved against the virtual {@link FunctionBundle.filename}.
 */
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { BundleError } from '../errors.ts';
import { confinementPlugin, projectRootOf } from './bundle-confinement.ts';
import { versionHash } from './version-hash.ts';
import { isBuilt } from '../package-paths.ts';

/** What to bundle. */
export interface BundleInput {
  name: string;
  /** The function's entry file (absolute, or relative to the working directory). */
  entry: string;
  /** Directory that source-map paths and error locations are relative to. @defaultValue `process.cwd()` */
  root?: string;
}

/** A bundled function, ready to load into a sandbox. */
export interface FunctionBundle {
  name: string;
  /** The entry file as given. */
  entry: string;
  /** The script: `var __fnrun_module = (() => { ... })();` */
  code: string;
  /** Source map (JSON text) of `code`, with `sourcesContent`. */
  sourceMap: string;
  /** Virtual file name to compile `code` under, so stack frames name it: `fnrun:///functions/<name>.js`. */
  filename: string;
  /**
   * sha256 (hex) of the source files the bundle is made of, named relative to the function's
   * folder (see version-hash.ts): the same code gives the same hash in any checkout, path or folder
   * name, whatever tsconfig.json lies above it.
   */
  hash: string;
  /** esbuild warnings as `file:line:column: text` lines; they do not fail the build. */
  warnings: string[];
}

/** The global the IIFE assigns the function module's exports to. */
export const MODULE_GLOBAL = '__fnrun_module';

/** The SDK's TypeScript source (the package ships a copy), so the bundle is the same from the repository and from an install. */
const SDK_PATH = fileURLToPath(new URL(isBuilt(import.meta.url) ? '../sdk.source.ts' : '../sdk.ts', import.meta.url));
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split('/')[0]!]));
const BUILTIN_MESSAGE =
  'is a Node built-in; functions run in a sandbox without Node APIs (no file system, network or process)';
const CHECKING = Symbol('fnrun.builtin-check');

/**
 * `import ... from 'fnrun'` is the sandbox-safe SDK, whether or not fnrun is installed where the
 * function lives. It is loaded under the virtual path `fnrun:sdk.ts` so that where fnrun is
 * installed changes neither the source map nor the hash.
 */
const sdkPlugin: esbuild.Plugin = {
  name: 'fnrun-sdk',
  setup(build) {
    build.onResolve({ filter: /^fnrun$/ }, () => ({ path: 'sdk.ts', namespace: 'fnrun' }));
    build.onLoad({ filter: /^sdk\.ts$/, namespace: 'fnrun' }, async () => ({
      contents: await readFile(SDK_PATH, 'utf8'),
      loader: 'ts',
      resolveDir: path.dirname(SDK_PATH),
      watchFiles: [SDK_PATH],
    }));
  },
};

/**
 * Fails imports of Node built-ins with a message that says why. A bare name that an installed
 * package provides (the `buffer` or `events` polyfills from npm) is allowed; `node:` never is.
 */
const builtinsPlugin: esbuild.Plugin = {
  name: 'fnrun-no-node-builtins',
  setup(build) {
    build.onResolve({ filter: /^(node:|[a-z_]+(\/|$))/ }, async (args) => {
      if (args.pluginData === CHECKING) return undefined;
      const bare = args.path.startsWith('node:') ? undefined : args.path;
      if (bare !== undefined && !BUILTINS.has(bare.split('/')[0]!)) return undefined;
      if (bare !== undefined) {
        const found = await build.resolve(bare, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: CHECKING });
        if (found.errors.length === 0) return { path: found.path, namespace: found.namespace, sideEffects: found.sideEffects };
      }
      return { errors: [{ text: `${JSON.stringify(args.path)} ${BUILTIN_MESSAGE}` }] };
    });
  },
};

function buildOptions(input: BundleInput): esbuild.BuildOptions & { write: false } {
  const root = path.resolve(input.root ?? process.cwd());
  return {
    entryPoints: [path.resolve(input.entry)],
    absWorkingDir: root,
    // Never written (write: false); placed in `root` so that map sources come out relative to it.
    outfile: path.join(root, `${input.name}.fnrun-bundle.js`),
    write: false,
    bundle: true,
    format: 'iife',
    globalName: MODULE_GLOBAL,
    platform: 'neutral',
    target: 'es2023',
    sourcemap: 'external',
    sourcesContent: true,
    // Resolve packages the way Workers bundlers do: worker/browser builds first.
    mainFields: ['browser', 'module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    resolveExtensions: ['.ts', '.tsx', '.mts', '.js', '.jsx', '.mjs', '.cjs', '.json'],
    // Libraries branch on it, and `process` does not exist in the sandbox.
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
    // The SDK is virtual; everything else must resolve inside the function's project.
    plugins: [sdkPlugin, confinementPlugin(projectRootOf(input.entry, input.root ?? path.dirname(path.dirname(path.resolve(input.entry)))), [CHECKING]), builtinsPlugin],
  };
}

function formatLocation(location: esbuild.Location | null): string | undefined {
  if (location === null) return undefined;
  // esbuild columns are 0-based byte offsets; editors want 1-based characters.
  const column = Buffer.from(location.lineText).subarray(0, location.column).toString().length + 1;
  return `${location.file}:${location.line}:${column}`;
}

function toBundleError(input: BundleInput, error: unknown): unknown {
  const errors = (error as Partial<esbuild.BuildFailure>)?.errors;
  const first = errors?.[0];
  if (first === undefined) return error;
  const root = path.resolve(input.root ?? process.cwd());
  const file = path.relative(root, path.resolve(input.entry)).split(path.sep).join('/');
  const more = errors!.length - 1;
  const text = more > 0 ? `${first.text} (and ${more} more error${more > 1 ? 's' : ''})` : first.text;
  return new BundleError(file, text, formatLocation(first.location));
}

function toBundle(input: BundleInput, result: esbuild.BuildResult & { outputFiles: esbuild.OutputFile[] }): FunctionBundle {
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (js === undefined || map === undefined) throw new Error(`esbuild produced no script or source map for ${input.entry}`);
  const code = js.text;
  const sourceMap = map.text;
  return {
    name: input.name,
    entry: input.entry,
    code,
    sourceMap,
    filename: `fnrun:///functions/${input.name}.js`,
    hash: versionHash(sourceMap, path.resolve(input.root ?? process.cwd()), path.resolve(input.entry)),
    warnings: result.warnings.map((w) => {
      const where = formatLocation(w.location);
      return where ? `${where}: ${w.text}` : w.text;
    }),
  };
}

/**
 * Bundles one function with esbuild.
 *
 * @throws BundleError with the first error's `file:line:column` (1-based column) and the count of
 * the others; importing a Node built-in, or a file outside the function's project (see
 * bundle-confinement.ts), is such an error
 */
export async function bundleFunction(input: BundleInput): Promise<FunctionBundle> {
  let result;
  try {
    result = await esbuild.build(buildOptions(input));
  } catch (error) {
    throw toBundleError(input, error);
  }
  return toBundle(input, result);
}

/**
 * Rebuilds one function incrementally for the dev loop (an esbuild context: unchanged files are
 * not parsed again). Same output as {@link bundleFunction}. Builds run one at a time, in call order.
 */
export class FunctionBuilder {
  readonly name: string;
  readonly entry: string;
  private readonly input: BundleInput;
  private context: Promise<esbuild.BuildContext<esbuild.BuildOptions & { write: false }>> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(input: BundleInput) {
    this.input = { ...input };
    this.name = input.name;
    this.entry = input.entry;
  }

  /** Builds the current sources. @throws BundleError as {@link bundleFunction} does */
  build(): Promise<FunctionBundle> {
    const run = this.queue.then(() => this.buildNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Frees the esbuild context; later builds fail. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    const context = this.context;
    this.context = undefined;
    if (context !== undefined) await (await context).dispose();
  }

  private async buildNow(): Promise<FunctionBundle> {
    if (this.disposed) throw new Error(`FunctionBuilder for ${this.name} is disposed`);
    // A context that failed to start is dropped, so the next build tries again.
    this.context ??= esbuild.context(buildOptions(this.input)).catch((error: unknown) => {
      this.context = undefined;
      throw error;
    });
    let result;
    try {
      result = await (await this.context).rebuild();
    } catch (error) {
      throw toBundleError(this.input, error);
    }
    return toBundle(this.input, result);
  }
}
