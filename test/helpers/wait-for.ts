/** Waits for a condition by polling; tests wait on conditions, never on fixed sleeps. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let lastError: unknown;
  for (;;) {
    try {
      // A check that never settles (a client that lost a reply) must not hang the test: after 10 s
      // (or at the deadline) it counts as a failed check, and the next one is asked.
      const value = await settlesBy(condition(), deadline);
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out waiting: ${opts.message ?? 'condition'}${detail}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}

const CHECK_MS = 10_000;

async function settlesBy<T>(value: T | Promise<T>, deadline: number): Promise<T> {
  if (!(value instanceof Promise)) return value;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the check itself did not settle within 10 s')), Math.min(CHECK_MS, Math.max(0, deadline - Date.now()) + 1));
  });
  try {
    return await Promise.race([value, late]);
  } finally {
    clearTimeout(timer);
  }
}
