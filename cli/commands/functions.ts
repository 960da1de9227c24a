/**
 * `fnrun functions`: the deployed functions.
 */
import { ConfigError, connectRedis, Keys, Registry } from '../../runtime/internal.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';
import { formatTable } from '../table.ts';

export const HELP = `Usage: fnrun functions

Lists the deployed functions: the active version, when it was deployed, the events its manifest
subscribes to, and the versions kept (newest first; the last 20 are kept).
With --json, the full summaries, manifests included.

${COMMON_HELP}`;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, positionals } = parseCommand(argv, {}, false);
  out.json = common.json;
  if (common.help) return out.help(HELP);
  if (positionals.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const redis = await connectRedis(await clientRedisUrl(common), 'fnrun-cli');
  try {
    const functions = await new Registry(redis, new Keys(common.namespace)).list();
    const text = functions.length === 0
      ? 'no functions deployed (see fnrun deploy)'
      : formatTable(
        ['FUNCTION', 'ACTIVE', 'DEPLOYED', 'EVENTS', 'VERSIONS'],
        functions.map((f) => [f.name, String(f.active), new Date(f.deployedAt).toISOString(), f.manifest.events.join(','), f.versions.join(',')]),
      );
    out.result(functions, text);
    return 0;
  } finally {
    redis.disconnect();
  }
}
