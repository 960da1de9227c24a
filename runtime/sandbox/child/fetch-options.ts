/**
 * How the sandbox process resolves names for functions' fetches: the system resolver, unless
 * FNRUN_SANDBOX_DNS_SERVERS (comma-separated `host:port`) names others. Set by the operator (or a
 * test with its own DNS server) on the process that starts the sandbox; a function cannot see it.
 */
import type { FetchExecutorOptions } from './fetch-executor.ts';

export function fetchExecutorOptions(env: NodeJS.ProcessEnv = process.env): FetchExecutorOptions {
  const servers = env.FNRUN_SANDBOX_DNS_SERVERS?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return servers !== undefined && servers.length > 0 ? { resolver: { servers } } : {};
}
