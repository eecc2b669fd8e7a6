/**
 * The event store contract against a real EventStoreDB 24.10, started with testcontainers
 * (SPEC §4). It runs wherever a Docker engine answers; where none does the whole suite is
 * reported SKIPPED with the reason (one line on stderr and one skipped test naming it), never
 * passed silently.
 *
 * - SIGLEDGER_TEST_ESDB_URL=esdb://host:2113?tls=false runs it against an already running server
 *   instead of a container (no Docker needed).
 * - SIGLEDGER_ESDB_IMAGE overrides the image (default eventstore/eventstore:24.10).
 * - SIGLEDGER_REQUIRE_ESDB=1 turns the skip into a failure (for CI jobs that must run it).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { withDeadline } from '../../src/store/esdb/deadline.ts';
import { createEsdbEventStore, openEsdbEventStore } from '../../src/store/esdb/esdb-event-store.ts';
import { describeEventStoreContract } from './contract.ts';

const run = promisify(execFile);
const IMAGE = process.env.SIGLEDGER_ESDB_IMAGE || 'eventstore/eventstore:24.10';
const EXTERNAL_URL = process.env.SIGLEDGER_TEST_ESDB_URL || undefined;
const REQUIRED = process.env.SIGLEDGER_REQUIRE_ESDB === '1';
const ESDB_PORT = 2113;

const firstLine = (s: string): string => (s.trim().split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 300);

/** Why no Docker engine answers, or undefined when one does. */
async function noDockerEngine(): Promise<string | undefined> {
  let testcontainers: string;
  try {
    // Honours DOCKER_HOST, ~/.testcontainers.properties and rootless / podman sockets.
    await withDeadline(getContainerRuntimeClient(), 20_000, () => new Error('the container runtime did not answer within 20 s'));
    return undefined;
  } catch (err) {
    testcontainers = firstLine((err as Error)?.message ?? String(err));
  }
  let docker: string;
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 15_000 });
    // The CLI reaches an engine that testcontainers cannot use: run the suite and let it fail loudly.
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    docker =
      e.code === 'ENOENT'
        ? 'docker CLI not installed'
        : e.killed
          ? 'timed out after 15 s'
          : firstLine(e.stderr ?? '') || firstLine(e.message ?? String(err));
  }
  return `docker info: ${docker}; testcontainers: ${testcontainers}`;
}

const skipReason = EXTERNAL_URL ? undefined : await noDockerEngine().then((why) => (why ? `no Docker engine answers (${why})` : undefined));
if (skipReason) process.stderr.write(`[esdb contract] SKIPPED: ${skipReason}\n`);

describe('esdb event store against EventStoreDB', () => {
  if (skipReason && REQUIRED) {
    it('needs a Docker engine (SIGLEDGER_REQUIRE_ESDB=1)', () => {
      throw new Error(`[esdb contract] ${skipReason}`);
    });
  } else if (skipReason) {
    it.skip(`SKIPPED: ${skipReason}`, () => {});
  }

  describe.skipIf(skipReason !== undefined)(EXTERNAL_URL ? 'at SIGLEDGER_TEST_ESDB_URL' : `in a ${IMAGE} container`, () => {
    let container: StartedTestContainer | undefined;
    let url: string;

    beforeAll(async () => {
      if (EXTERNAL_URL) {
        url = EXTERNAL_URL;
      } else {
        container = await new GenericContainer(IMAGE)
          .withEnvironment({
            EVENTSTORE_INSECURE: 'true',
            EVENTSTORE_MEM_DB: 'true',
            EVENTSTORE_RUN_PROJECTIONS: 'None',
            EVENTSTORE_CLUSTER_SIZE: '1',
          })
          .withExposedPorts(ESDB_PORT)
          .withWaitStrategy(Wait.forHttp('/health/live', ESDB_PORT).forStatusCodeMatching((s) => s >= 200 && s < 300))
          .withStartupTimeout(180_000)
          .start();
        url = `esdb://${container.getHost()}:${container.getMappedPort(ESDB_PORT)}?tls=false`;
      }
      await untilWritable(url, 90_000);
    }, 300_000);

    afterAll(async () => {
      await container?.stop();
    }, 60_000);

    describeEventStoreContract('esdb', async () => {
      const store = await openEsdbEventStore(url);
      return { store, cleanup: () => store.close() };
    });
  });
});

/** Waits until the node is leader and takes a (valid, chained) append: /health/live answers a little earlier. */
async function untilWritable(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    const store = createEsdbEventStore(url, { deadlineMs: 5000 });
    try {
      await store.appendToStream(`warmup-${Date.now().toString(36)}`, [{ type: 'Warmup', data: {}, metadata: { time: new Date().toISOString() } }]);
      return;
    } catch (err) {
      last = err;
    } finally {
      await store.close();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`EventStoreDB at ${url} did not accept an append within ${ms / 1000} s: ${(last as Error)?.message ?? String(last)}`);
}
