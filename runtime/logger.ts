/**
 * The logger interface fnrun writes to: pino-compatible (`logger.info(obj, msg)`), so a pino
 * instance can be passed in; the default writes one JSON object per line to stderr.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 } as const;
export type LogLevelName = keyof typeof LEVELS;

/** A JSON-lines logger on stderr; `level` filters below it. */
export function createJsonLogger(level: LogLevelName = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = LEVELS[level];
  const at = (name: Exclude<LogLevelName, 'silent'>) => (obj: object, msg?: string) => {
    if (LEVELS[name] < min) return;
    write(`${JSON.stringify({ level: name, time: Date.now(), ...serialisable(obj), ...(msg === undefined ? {} : { msg }) })}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = createJsonLogger('silent');

function serialisable(obj: object): object {
  const err = (obj as { err?: unknown }).err;
  if (!(err instanceof Error)) return obj;
  return { ...obj, err: { name: err.name, message: err.message, stack: err.stack, code: (err as { code?: unknown }).code } };
}
