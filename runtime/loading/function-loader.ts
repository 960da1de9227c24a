/**
 * Turns a bundle into a running function version: load it in the sandbox, read and validate its
 * manifest, and make sure the isolates run with the limits, network and environment the manifest
 * asks for.
 *
 * One load per function in the common case. The limits (memory, timeout, instances), the network
 * policy and the environment are fixed when an isolate is loaded, and they come from the manifest,
 * which only the load itself reveals; so the load uses the best guess — the defaults — and only a
 * function whose manifest asks for something else is loaded a second time with it.
 *
 * A deployed version is different: its manifest was validated at deploy, by a load of the same
 * code (the version is the code's hash), and stored with it. It is loaded lazily: its isolates boot
 * on its first event, so a process with many functions starts without booting an isolate for each
 * (about 7 ms of the sandbox's main thread apiece), and an idle function costs no isolate.
 */
import type { FunctionBundle } from './bundler.ts';
import { compileEventMatcher } from '../policy/event-matcher.ts';
import type { EnvAccess } from './env-policy.ts';
import type { FunctionHandle } from './function-handle.ts';
import { parseManifest, MANIFEST_DEFAULTS } from './manifest.ts';
import type { LoadSpec, SandboxHost } from '../sandbox/host/host.ts';
import type { Manifest } from '../types.ts';

/** A bundle from the registry: its manifest was validated at deploy (by a load of the same code). */
export interface DeployedBundle extends FunctionBundle {
  manifest: Manifest;
}

/** A stored manifest with the fields an older fnrun did not store filled in. */
export function withManifestDefaults(stored: Manifest): Manifest {
  return { ...DEFAULT_MANIFEST, ...stored };
}

const DEFAULT_MANIFEST: Manifest = parseManifest('(defaults)', { events: ['*'] });

/** Every load gets its own sandbox id, so unloading an old copy can never hit a newer load of the same version. */
let loads = 0;

type Setup = Pick<LoadSpec, 'limits' | 'network' | 'env'>;

/** What a load needs from a manifest (one stored by an older fnrun may lack the newer fields). */
function setupFor(manifest: Partial<Pick<Manifest, "timeoutMs" | "memoryMb" | "instances" | "network">>, env: Record<string, string>): Setup {
  return {
    limits: {
      timeoutMs: manifest.timeoutMs ?? MANIFEST_DEFAULTS.timeoutMs,
      memoryMb: manifest.memoryMb ?? MANIFEST_DEFAULTS.memoryMb,
      instances: manifest.instances ?? MANIFEST_DEFAULTS.instances,
    },
    network: manifest.network ?? MANIFEST_DEFAULTS.network,
    env,
  };
}

function sameSetup(a: Setup, b: Setup): boolean {
  const aEnv = Object.entries(a.env);
  return a.limits.timeoutMs === b.limits.timeoutMs && a.limits.memoryMb === b.limits.memoryMb && a.limits.instances === b.limits.instances
    && JSON.stringify(a.network) === JSON.stringify(b.network)
    && aEnv.length === Object.keys(b.env).length && aEnv.every(([k, v]) => b.env[k] === v);
}

/** Loads `bundle` under `version`; throws ManifestError, EnvNotAllowedError or SandboxError (code ERR_SANDBOX_LOAD). */
export async function loadFunction(
  sandbox: SandboxHost,
  bundle: FunctionBundle | DeployedBundle,
  version: string,
  envAccess: EnvAccess,
): Promise<FunctionHandle> {
  const common = { name: bundle.name, code: bundle.code, sourceMap: bundle.sourceMap, filename: bundle.filename };
  let sandboxId = `${bundle.name}@${version}#${++loads}`;
  if ('manifest' in bundle) {
    const manifest = withManifestDefaults(bundle.manifest);
    await sandbox.load({ ...common, id: sandboxId, ...setupFor(manifest, envAccess.resolve(bundle.name, bundle.entry, manifest.env)), lazy: true });
    return handleOf(bundle, version, manifest, sandboxId);
  }
  // The guess is the defaults with no environment: a function that declares `env` sees nothing of
  // it until the second load.
  const guess = setupFor(MANIFEST_DEFAULTS, {});
  let manifest: Manifest;
  let wanted: Setup;
  try {
    const { config } = await sandbox.load({ ...common, id: sandboxId, ...guess });
    manifest = parseManifest(bundle.entry, config);
    wanted = setupFor(manifest, envAccess.resolve(bundle.name, bundle.entry, manifest.env));
  } catch (error) {
    await sandbox.unload(sandboxId);
    throw error;
  }
  if (!sameSetup(guess, wanted)) {
    await sandbox.unload(sandboxId);
    sandboxId = `${bundle.name}@${version}#${++loads}`;
    await sandbox.load({ ...common, id: sandboxId, ...wanted });
  }
  return handleOf(bundle, version, manifest, sandboxId);
}

function handleOf(bundle: FunctionBundle, version: string, manifest: Manifest, sandboxId: string): FunctionHandle {
  return { name: bundle.name, version, manifest, file: bundle.entry, sandboxId, matches: compileEventMatcher(manifest.events) };
}
