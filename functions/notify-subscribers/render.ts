export function renderMessage(thread: string, author: string): string {
  return `${author} posted in ${thread}`;
}
