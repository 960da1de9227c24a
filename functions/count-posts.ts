/**
 * Example: the plain form. `config` is the manifest; the default export is the handler.
 * Counts posts per thread in the thread's state and announces the new count.
 *
 * The count is exact: the state write commits together with the event (its ack and its emit), so
 * a retry or a crash never counts a post twice, and the thread's next post sees the new count.
 * Try it: `fnrun emit post.created --key thread-42 --data '{"postId":"p1","author":"ada"}'`,
 * then `fnrun state get count-posts thread-42`.
 */
import type { Context, FnEvent } from 'fnrun';

export const config = {
  events: ['post.created'],
  retry: { attempts: 5, backoff: 'exponential', initialDelayMs: 200, maxDelayMs: 30_000 },
  timeoutMs: 2_000,
};

export default async function handler(event: FnEvent<{ postId: string; author: string }>, ctx: Context) {
  // State is kept per event key (here the thread); a post published without one has none.
  if (event.key === null) throw new Error('post.created needs the thread as its key');
  const posts = ((await ctx.state.get<number>('posts')) ?? 0) + 1;
  await ctx.state.set('posts', posts);
  ctx.log.info('post', event.data.postId, 'in thread', event.key, `(${posts} so far)`);
  await ctx.emit('thread.updated', event.key, { posts, lastPostId: event.data.postId, lastAuthor: event.data.author });
}
