/**
 * Example: the plain form. `config` is the manifest; the default export is the handler.
 * Counts posts per thread and announces the new count.
 */
import type { Context, FnEvent } from 'fnrun';

export const config = {
  events: ['post.created'],
  retry: { attempts: 5, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 },
  timeoutMs: 2_000,
};

export default async function handler(event: FnEvent<{ postId: string; author: string }>, ctx: Context) {
  ctx.log.info('post', event.data.postId, 'in thread', event.key);
  await ctx.emit('thread.updated', event.key, { lastPostId: event.data.postId, lastAuthor: event.data.author });
}
