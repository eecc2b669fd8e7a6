/**
 * Small hand-written stand-ins for what `createApp` is given, so route tests drive the real
 * routes through `app.request()` without a store, keys or a running service.
 */
import { Writable } from 'node:stream';
import type { Readiness, Ledger } from '../../src/app/common/ledger.ts';
import { createLogger } from '../../src/app/common/logger.ts';
import { createMetrics } from '../../src/app/common/metrics.ts';
import type { AppDeps } from '../../src/http/app.ts';

/**
 * A class-typed dependency (the services are classes with private state, so no object literal
 * has their type) made of the given members; any other member the route reaches for fails the
 * test loudly instead of answering undefined.
 */
export function fakeOf<T extends object>(name: string, members: Partial<T>): T {
  return new Proxy(members, {
    get(target, prop) {
      if (prop in target) return target[prop as keyof typeof target];
      // Not a thenable: `await fake` must not look for a then().
      if (prop === 'then' || typeof prop === 'symbol') return undefined;
      throw new Error(`${name}.${String(prop)} is not faked`);
    },
  }) as T;
}

export const READY: Readiness = {
  ready: true,
  checks: { store: { ok: true, kind: 'sqlite', head: 7 }, projections: { ok: true, position: 7, behind: [] } },
};

/** The ops-only app's dependencies, with the log lines it writes (parsed JSON). */
export function baseDeps(readiness: () => Readiness = () => READY): { deps: AppDeps; logLines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const ledger = fakeOf<Ledger>('ledger', { readiness: async () => readiness(), refreshGauges: async () => {} });
  const deps: AppDeps = { ledger, metrics: createMetrics(), logger: createLogger('debug', sink), version: '9.9.9-test' };
  return { deps, logLines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
