/**
 * Booting one isolate for a function version (at load, and again after an isolate was recycled),
 * with what went wrong told in the user's terms: their top level threw (stack mapped to their
 * sources), ran too long, or outgrew the function's memory.
 */
import { SandboxError } from '../../errors.ts';
import type { ShimLimits } from '../isolate/shim-api.ts';
import { TOP_LEVEL_TIMEOUT_MS, type LoadSpec } from '../protocol.ts';
import { IsolateInstance, type CodeCache, type InstanceEvents } from './isolate-instance.ts';
import type { StackMapper } from './stack-map.ts';

/** Boots an isolate; resolves with it and the function's config as JSON text, or disposes it and rejects with ERR_SANDBOX_LOAD. */
export async function bootInstance(spec: LoadSpec, cache: CodeCache, limits: ShimLimits, mapper: StackMapper, events: InstanceEvents): Promise<{ instance: IsolateInstance; configJson: string }> {
  const instance = new IsolateInstance(spec, events);
  try {
    const answer = JSON.parse(await instance.boot(spec, cache, limits)) as { ok: boolean; config?: unknown; error?: { stack: string } };
    if (!answer.ok) throw new SandboxError(`${spec.name}: top-level code threw: ${mapper.map(answer.error?.stack ?? '')}`, { code: 'ERR_SANDBOX_LOAD' });
    return { instance, configJson: JSON.stringify(answer.config) };
  } catch (e) {
    instance.dispose();
    if (e instanceof SandboxError) throw e;
    const raw = e instanceof Error ? e : new Error(String(e));
    let message = raw.message;
    if (/memory limit|disposed/i.test(message)) message = `top-level code exceeded memoryMb (${spec.limits.memoryMb} MiB)`;
    else if (/timed out/i.test(message)) message = `top-level code ran longer than ${TOP_LEVEL_TIMEOUT_MS} ms (do heavy initialisation lazily, in the handler)`;
    else if (typeof raw.stack === 'string') message = mapper.map(raw.stack);
    throw new SandboxError(`${spec.name}: cannot load: ${message}`, { code: 'ERR_SANDBOX_LOAD', cause: e });
  }
}
