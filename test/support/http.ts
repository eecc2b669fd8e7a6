/** JSON over HTTP against a running test service. */
import type { TestService } from './service.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

/** `fetch` with an optional JSON body; answers the status and the parsed body ({} when empty). */
export async function http(svc: Pick<TestService, 'url'>, path: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${svc.url}${path}`, { ...init, headers, ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}
