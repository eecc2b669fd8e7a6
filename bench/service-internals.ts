/**
 * Bench support: reach the objects `startService` (src/main.ts) wires but does not return — the
 * projection runtime, the keyring (active key handle), the TSA and the rotation service — without
 * editing src/. While armed, the first instance of each class whose start-up method runs is
 * captured (their prototypes are wrapped, then restored). One service per process.
 *
 * A minimal accessor on `Service` (e.g. `internals: { runtime, keyring, tsa, rotations }`) would
 * make this unnecessary.
 */
import { KeyringService } from '../src/app/keyring-service.ts';
import { RotationService } from '../src/app/rotation-service.ts';
import { TsaService } from '../src/app/tsa-service.ts';
import { ProjectionRuntime } from '../src/projections/runtime.ts';

export interface ServiceInternals {
  readonly runtime: ProjectionRuntime;
  readonly keyring: KeyringService;
  readonly tsa: TsaService;
  readonly rotations: RotationService;
}

type Captured = { -readonly [K in keyof ServiceInternals]?: ServiceInternals[K] };

/** Arms the capture; call `take()` once `startService` resolved (it restores the prototypes). */
export function captureServiceInternals(): { take(): ServiceInternals; restore(): void } {
  const captured: Captured = {};
  const restores: (() => void)[] = [];
  function wrap<T extends object, K extends keyof T & string>(proto: T, method: K, slot: keyof Captured): void {
    const original = proto[method] as unknown as (...args: unknown[]) => unknown;
    (proto as Record<string, unknown>)[method] = function (this: never, ...args: unknown[]) {
      (captured as Record<string, unknown>)[slot] ??= this;
      return original.apply(this, args);
    };
    restores.push(() => ((proto as Record<string, unknown>)[method] = original));
  }
  wrap(ProjectionRuntime.prototype, 'start', 'runtime');
  wrap(KeyringService.prototype, 'ensureActiveKey', 'keyring');
  wrap(TsaService.prototype, 'init', 'tsa');
  wrap(RotationService.prototype, 'resume', 'rotations');
  const restore = () => {
    for (const r of restores.splice(0)) r();
  };
  return {
    restore,
    take() {
      restore();
      const missing = (['runtime', 'keyring', 'tsa', 'rotations'] as const).filter((k) => captured[k] === undefined);
      if (missing.length > 0) throw new Error(`startService did not construct: ${missing.join(', ')} (has src/main.ts changed?)`);
      return captured as ServiceInternals;
    },
  };
}
