/**
 * `--env-file` and `--allow-env` for dev and start: the operator says which host variables the
 * functions may read (see runtime/loading/env-policy.ts). A function may read a name that an
 * `--env-file` defines or that an `--allow-env` pattern matches, never `FNRUN_*`; a value set in
 * the process environment wins over the file's, as with `node --env-file`.
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { ConfigError, envPatternProblem, type EnvPolicyOptions } from '../runtime/internal.ts';

export const ENV_OPTIONS = { 'env-file': { type: 'string', multiple: true }, 'allow-env': { type: 'string', multiple: true } } as const;

export const ENV_HELP = `  --env-file FILE    variables (dotenv format) the functions may read, by the names
                     their manifest's env lists; repeatable, later files win
  --allow-env NAME   let functions also read this process environment variable;
                     a pattern such as 'STRIPE_*' allows every match; repeatable
                     Nothing else is visible to functions, and FNRUN_* never is.`;

const NAME_RE = /^[A-Z_][A-Z0-9_]*$/;

/** The RuntimeOptions `env` and `allowEnv` the flags ask for. @throws ConfigError for an unreadable file or a bad pattern */
export function envPolicy(values: Record<string, unknown>, processEnv: NodeJS.ProcessEnv = process.env): Required<EnvPolicyOptions> {
  const patterns = (values['allow-env'] as string[] | undefined) ?? [];
  for (const pattern of patterns) {
    const problem = envPatternProblem(pattern);
    if (problem !== undefined) throw new ConfigError(`--allow-env ${JSON.stringify(pattern)} is invalid: ${problem}`);
  }
  const fromFiles: Record<string, string> = {};
  for (const file of (values['env-file'] as string[] | undefined) ?? []) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`--env-file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    Object.assign(fromFiles, parseEnv(text));
  }
  // Names a manifest cannot declare (lower case, odd characters) could never be read anyway.
  const defined = Object.keys(fromFiles).filter((name) => NAME_RE.test(name));
  return { env: { ...fromFiles, ...processEnv }, allowEnv: [...patterns, ...defined] };
}
