/**
 * Turns a bundle into a running function version: load it in the sandbox, read and validate its
 * manifest, and make sure the isolate runs with the limits and environment the manifest asks for.
 *
 * One load per function in the common case. The limits (memory, timeout) and the environment are
 * fixed when an isolate is loaded, and they come from the manifest, which only the load itself
 * reveals; so the load uses the best guess — the manifest stored at deploy for a deployed
 * version, the defaults otherwise — and only a function whose manifest asks for something else is
 * loaded a second time with it.
 */
import type { FunctionBundle } from './bundler.ts';
import { compileEventMatcher } from '../policy/event-matcher.ts';
import type { FunctionHandle } from './function-handle.ts';
import { parseManifest, MANIFEST_DEFAULTS } from './manifest.ts';
import type { LoadSpec, SandboxHost } from '../sandbox/host/host.ts';
import type { Manifest } from '../types.ts';

/** A bundle from the registry: its manifest was validated at deploy (by a load of the same code). */
export interface DeployedBundle extends FunctionBundle {
  manifest: Manifest;
}

/** Every load gets its own sandbox id, so unloading an old copy can never hit a newer load of the same version. */
let loads = 0;

type Setup = Pick<LoadSpec, 'limits' | 'env'>;

function setupFor(manifest: { timeoutMs: number; memoryMb: number; env: readonly string[] }, envSource: Readonly<Record<string, string | undefined>>): Setup {
  const env: Record<string, string> = {};
  for (const name of manifest.env) {
    const value = envSource[name];
    if (value !== undefined) env[name] = value;
  }
  return { limits: { timeoutMs: manifest.timeoutMs, memoryMb: manifest.memoryMb }, env };
}

function sameSetup(a: Setup, b: Setup): boolean {
  const aEnv = Object.entries(a.env);
  return a.limits.timeoutMs === b.limits.timeoutMs && a.limits.memoryMb === b.limits.memoryMb
    && aEnv.length === Object.keys(b.env).length && aEnv.every(([k, v]) => b.env[k] === v);
}

/** Loads `bundle` under `version`; throws ManifestError or SandboxError (code ERR_SANDBOX_LOAD). */
export async function loadFunction(
  sandbox: SandboxHost,
  bundle: FunctionBundle | DeployedBundle,
  version: string,
  envSource: Readonly<Record<string, string | undefined>>,
): Promise<FunctionHandle> {
  const common = { name: bundle.name, code: bundle.code, sourceMap: bundle.sourceMap, filename: bundle.filename };
  // Without a stored manifest, the guess is the defaults with no environment: a function that
  // declares `env` sees nothing of it until the second load.
  const guess = setupFor('manifest' in bundle ? bundle.manifest : MANIFEST_DEFAULTS, 'manifest' in bundle ? envSource : {});
  let sandboxId = `${bundle.name}@${version}#${++loads}`;
  let manifest: Manifest;
  try {
    const { config } = await sandbox.load({ ...common, id: sandboxId, ...guess });
    manifest = parseManifest(bundle.entry, config);
  } catch (error) {
    await sandbox.unload(sandboxId);
    throw error;
  }
  const wanted = setupFor(manifest, envSource);
  if (!sameSetup(guess, wanted)) {
    await sandbox.unload(sandboxId);
    sandboxId = `${bundle.name}@${version}#${++loads}`;
    await sandbox.load({ ...common, id: sandboxId, ...wanted });
  }
  return {
    name: bundle.name,
    version,
    manifest,
    file: bundle.entry,
    sandboxId,
    matches: compileEventMatcher(manifest.events),
  };
}
