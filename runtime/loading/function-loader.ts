/**
 * Turns a bundle into a running function version: load it in the sandbox, read and validate its
 * manifest, then load it again with the limits and environment the manifest asks for.
 */
import type { FunctionBundle } from './bundler.ts';
import { compileEventMatcher } from '../policy/event-matcher.ts';
import type { FunctionHandle } from './function-handle.ts';
import { parseManifest, MANIFEST_DEFAULTS } from './manifest.ts';
import type { SandboxHost } from '../sandbox/host/host.ts';
import type { EnvAccess } from './env-policy.ts';

/** Every load gets its own sandbox id, so unloading an old copy can never hit a newer load of the same version. */
let loads = 0;

/** Loads `bundle` under `version`; throws ManifestError, EnvNotAllowedError or SandboxError (code ERR_SANDBOX_LOAD). */
export async function loadFunction(
  sandbox: SandboxHost,
  bundle: FunctionBundle,
  version: string,
  envAccess: EnvAccess,
): Promise<FunctionHandle> {
  const instance = ++loads;
  const probeId = `${bundle.name}@${version}#manifest-${instance}`;
  const common = { name: bundle.name, code: bundle.code, sourceMap: bundle.sourceMap, filename: bundle.filename };
  let raw: unknown;
  try {
    ({ config: raw } = await sandbox.load({ ...common, id: probeId, limits: { timeoutMs: MANIFEST_DEFAULTS.timeoutMs, memoryMb: MANIFEST_DEFAULTS.memoryMb, instances: 1 }, network: MANIFEST_DEFAULTS.network, env: {} }));
  } finally {
    await sandbox.unload(probeId);
  }
  const manifest = parseManifest(bundle.entry, raw);
  const env = envAccess.resolve(bundle.name, bundle.entry, manifest.env);
  const sandboxId = `${bundle.name}@${version}#${instance}`;
  await sandbox.load({ ...common, id: sandboxId, limits: { timeoutMs: manifest.timeoutMs, memoryMb: manifest.memoryMb, instances: manifest.instances }, network: manifest.network, env });
  return {
    name: bundle.name,
    version,
    manifest,
    file: bundle.entry,
    sandboxId,
    matches: compileEventMatcher(manifest.events),
  };
}
