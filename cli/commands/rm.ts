/**
 * `fnrun rm FN --yes`.
 */
import { ConfigError, connectRedis, Keys, NotFoundError, Registry } from '../../runtime/internal.ts';
import { clientRedisUrl, COMMON_HELP, parseCommand } from '../options.ts';
import type { Output } from '../output.ts';

export const HELP = `Usage: fnrun rm FN --yes

Removes a deployed function: every kept version and its active pointer. Running fnrun start
processes stop it (the invocations in flight finish). Its consumer groups (cursors), pending
events and dead letters stay in Redis: deploying the name again resumes its cursor.

Options:
  --yes    confirm; without it nothing is removed
${COMMON_HELP}`;

const OPTIONS = { yes: { type: 'boolean' } } as const;

export async function run(argv: string[], out: Output): Promise<number> {
  const { common, values, positionals } = parseCommand(argv, OPTIONS);
  out.json = common.json;
  const [name, ...rest] = positionals;
  if (common.help) return out.help(HELP);
  if (name === undefined) throw new ConfigError('usage: fnrun rm FN --yes (see --help)');
  if (rest.length > 0) throw new ConfigError(`unexpected argument ${JSON.stringify(rest[0])}`);
  if (values.yes !== true) throw new ConfigError(`fnrun rm deletes every version of ${name}; run it again with --yes to confirm (nothing was removed)`);
  const redis = await connectRedis(await clientRedisUrl(common), 'fnrun-cli');
  try {
    if (!(await new Registry(redis, new Keys(common.namespace)).remove(name))) {
      throw new NotFoundError(`function "${name}" is not deployed (see fnrun functions)`);
    }
    out.result({ name, removed: true }, `removed ${name} (its consumer groups and dead letters stay in Redis)`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
