/**
 * Talking to the server: settings from the page's meta tags, JSON requests, and the token that
 * changes need (embedded in the page by `fnrun dev`; typed in once per tab for `fnrun start`).
 */
const meta = (name: string): string | null => document.querySelector<HTMLMetaElement>(`meta[name="fnrun-${name}"]`)?.content ?? null;

export const BASE = meta('base') ?? '/';
export const MODE = (meta('mode') ?? 'dev') as 'dev' | 'start';
export const NAMESPACE = meta('namespace') ?? 'fnrun';

const TOKEN_KEY = `fnrun-ui-token:${location.host}${BASE}`;
let token: string | null = meta('token') ?? sessionStorage.getItem(TOKEN_KEY);

export function hasToken(): boolean {
  return token !== null;
}

/** Remembers `value` for this tab (start mode); null forgets it. */
export function setToken(value: string | null): void {
  token = value;
  if (value === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method === 'POST') {
    headers['content-type'] = 'application/json';
    if (token !== null) headers['x-fnrun-token'] = token;
  }
  const res = await fetch(`${BASE}api/${path}`, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text === '' ? null : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, `the server answered ${res.status} with something that is not JSON`);
  }
  if (!res.ok) throw new ApiError(res.status, (data as { error?: string } | null)?.error ?? `HTTP ${res.status}`);
  return data as T;
}

export const get = <T>(path: string): Promise<T> => request<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}): Promise<T> => request<T>('POST', path, body);

/** One path segment, encoded. */
export const seg = (s: string): string => encodeURIComponent(s);
