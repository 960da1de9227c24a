/**
 * `fnrun rollback FN [VERSION]`.
 */
import { ConfigError, connectRedis, Keys, Registry } from '../../runtime/internal.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun rollback FN [VERSION]

Makes a kept version of FN active again: VERSION, or by default the newest version older than the
active one (a VERSION newer than the active one rolls forward). Versions are not changed or
renumbered; running fnrun start processes switch to it without a restart. fnrun functions lists
the kept versions.

${COMMON_HELP}`;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, positionals } = parseCommand(argv, {});
  out.json = common.json;
  const [name, versionText, ...rest] = positionals;
  if (common.help) return out.help(HELP);
  if (name === undefined) throw new ConfigError('usage: fnrun rollback FN [VERSION] (see --help)');
  if (rest.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const version = versionText === undefined ? undefined : Number(versionText);
  if (version !== undefined && !(Number.isSafeInteger(version) && version >= 1)) {
    throw new ConfigError(`VERSION must be a version number such as 3, got ${JSON.stringify(versionText)}`);
  }
  const redis = await connectRedis(await clientRedisUrl(common), 'fnrun-cli');
  try {
    const { from, to } = await new Registry(redis, new Keys(common.namespace)).rollback(name, version);
    const moved = to > from ? 'rolled forward' : 'rolled back';
    out.result({ name, from, to }, from === to ? `${name}: version ${to} is already active` : `${name}: ${moved} from version ${from} to ${to}`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
