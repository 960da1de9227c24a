/**
 * Example: a call to an outside API. `network.allow` lists the only host `fetch` may reach; the
 * request carries `ctx.idempotencyKey`, the same on every attempt of this event, because a fetch
 * runs again on each retry (emits and state do not: they commit with the event). A 4xx answer
 * will not change on a retry, so it is a NonRetriableError: the event goes to the dead letters
 * after this one attempt. Nothing in the other examples emits `thread.archived`.
 */
import { defineFunction, NonRetriableError } from 'fnrun';

export default defineFunction<{ reason?: string }>({
  events: ['thread.archived'],
  network: { allow: ['archive.example.com'] },
  retry: { attempts: 5 },
  async handler(event, ctx) {
    const response = await fetch(`https://archive.example.com/v1/threads/${encodeURIComponent(event.key ?? '')}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey },
      body: JSON.stringify({ reason: event.data.reason ?? null, at: event.time }),
    });
    if (response.status >= 400 && response.status < 500) throw new NonRetriableError(`the archive refused thread ${event.key}: ${response.status}`);
    if (!response.ok) throw new Error(`the archive answered ${response.status}; retrying`);
  },
});
