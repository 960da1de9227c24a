/**
 * `work`'s outcome, or `'timeout'` once `ms` passed first. The timer is cleared either way; `work`
 * itself runs on (a late rejection of it is handled here, not unhandled).
 */
export async function withinMs<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
