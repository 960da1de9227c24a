/**
 * Follows a namespace's invocation feed (see feed-publisher.ts) on a connection of its own: a
 * subscribed connection can run nothing else. ioredis subscribes again after a reconnect.
 */
import type { Keys } from '../../redis/keys.ts';
import { connectRedis } from '../../redis/redis.ts';
import { parseFeedMessage, type FeedMessage } from './feed-record.ts';

export interface FeedSubscription {
  /** Unsubscribes and closes the connection. Idempotent. */
  close(): Promise<void>;
}

/** Subscribes to the feed of `keys`' namespace; `onMessage` gets every batch any process publishes. */
export async function subscribeFeed(redisUrl: string, keys: Keys, onMessage: (message: FeedMessage) => void): Promise<FeedSubscription> {
  const redis = await connectRedis(redisUrl, 'fnrun-feed');
  const channel = keys.invocationFeed;
  redis.on('message', (from: string, text: string) => {
    if (from !== channel) return;
    const message = parseFeedMessage(text);
    if (message !== null) onMessage(message);
  });
  try {
    await redis.subscribe(channel);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
