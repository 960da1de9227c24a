export function renderMessage(thread: string, author: string, posts: number): string {
  return `${author} posted in ${thread} (post ${posts})`;
}
