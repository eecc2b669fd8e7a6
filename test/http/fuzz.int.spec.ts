/**
 * Property-based hostile input against the signing and log routes (seeded, reproducible): every
 * answer is a 4xx problem+json or a correct success, never a 5xx, and a refused request appends
 * nothing.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi.ts';
import { closeHostileServers, serveHostile, type Hostile } from '../support/hostile-registry.ts';
import { startTestService, type TestService } from '../support/service.ts';

const SEED = 20261123;

describe('hostile input', () => {
  let svc: TestService;
  let headers: Record<string, string>;
  /** The only registry the service may contact: answers 404 to everything (no referrers). */
  let stub: Hostile;
  beforeAll(async () => {
    stub = await serveHostile((_req, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN"}]}'));
    svc = await startTestService({ SIGLEDGER_CHECKPOINT_INTERVAL_MS: '5', SIGLEDGER_REGISTRIES: stub.host });
    headers = await svc.tokens({ plan: 'unlimited' });
  });
  afterAll(async () => {
    const metrics = await (await svc.app.request('/metrics')).text();
    const requests = metrics.split('\n').filter((l) => l.startsWith('sigledger_http_request_duration_seconds_count')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    console.log(`[fuzz] seed ${SEED}: ${requests} requests answered, none 5xx (asserted per request)`);
    await svc.stop();
    await closeHostileServers();
  });

  const json = fc.jsonValue({ maxDepth: 4 });
  const bodies = fc.oneof(
    json.map((v) => JSON.stringify(v)),
    fc.record({ payloadType: fc.oneof(fc.string(), json), payload: fc.oneof(fc.base64String(), fc.string(), json) }).map((v) => JSON.stringify(v)),
    fc.record({ statement: json }).map((v) => JSON.stringify(v)),
    fc.record({
      statement: fc.record({
        _type: fc.constantFrom('https://in-toto.io/Statement/v1', 'x'),
        subject: fc.array(fc.record({ name: fc.string(), digest: fc.dictionary(fc.string({ maxLength: 8 }), fc.string()) }), { maxLength: 3 }),
        predicateType: fc.oneof(fc.string(), json),
        predicate: json,
      }),
    }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
    json.map((v) => JSON.stringify(v).slice(0, -1)), // truncated
    fc.integer({ min: 1, max: 3000 }).map((d) => '['.repeat(d) + ']'.repeat(d)), // deep nesting
  );

  describe('when the signing route gets arbitrary bodies', () => {
    it('answers 2xx with a bundle or 4xx problem+json, and appends only on success', async () => {
      await fc.assert(
        fc.asyncProperty(bodies, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', ''), async (body, type) => {
          const before = await svc.ledger.store.headPosition();
          const res = await svc.app.request('/api/v1/signer/sign/dsse', { method: 'POST', headers: { ...headers, ...(type ? { 'content-type': type } : {}) }, body });
          expect(res.status).toBeLessThan(500);
          const text = await res.text();
          if (res.status >= 400) {
            expect(res.headers.get('content-type')).toBe('application/problem+json');
            expect(JSON.parse(text)).toHaveProperty('code');
            expect(await svc.ledger.store.headPosition()).toBe(before);
          } else {
            expect(JSON.parse(text)).toHaveProperty('bundle.dsseEnvelope');
          }
        }),
        { seed: SEED, numRuns: 150 },
      );
    });

    it('never signs a reserved statement or a JSON payload that is not one strict UTF-8 JSON text (issue 16 findings 4, 5)', async () => {
      const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
      const predicateType = fc.constantFrom('https://slsa.dev/provenance/v1', 'https://sigledger.dev/attestations/key-transition/v1', 'https://sigledger.dev/attestations/resign/v1', 'HTTPS://SIGLEDGER.DEV/attestations/x', 'https://sigledger.dev/attestations/release/v1');
      const member = fc.constantFrom('predicateType', 'PredicateType', 'predicate_type', 'predicate\\u0054ype');
      const text = fc.tuple(fc.array(fc.tuple(member, predicateType), { minLength: 1, maxLength: 3 }), json).map(([members, extra]) => `{${members.map(([k, v]) => `"${k}":"${v}"`).join(',')},"x":${JSON.stringify(extra)}}`);
      const hostile = fc.constantFrom([], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf], [...Buffer.from('\\ud800')], [...Buffer.from('{}')], [...Buffer.from(' x')]);
      const payload = fc.tuple(text, fc.array(fc.tuple(fc.nat(), hostile), { maxLength: 2 }), fc.boolean()).map(([t, splices, wide]) => {
        let out = wide ? Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(t, 'utf16le')]) : Buffer.from(t);
        for (const [at, piece] of splices) out = Buffer.concat([out.subarray(0, at % (out.length + 1)), Buffer.from(piece), out.subarray(at % (out.length + 1))]);
        return out;
      });
      const payloadType = fc.constantFrom('application/vnd.in-toto+json', 'Application/Vnd.In-Toto+JSON', 'application/vnd.in-toto+json; charset=utf-8', 'application/json', 'application/vnd.x+json', 'text/plain', 'application/vnd.sigledger.ceremony+json');
      await fc.assert(
        fc.asyncProperty(payloadType, payload, async (type, bytes) => {
          const before = await svc.ledger.store.headPosition();
          const res = await svc.app.request('/api/v1/signer/sign/dsse', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ payloadType: type, payload: bytes.toString('base64') }) });
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) {
            expect(res.headers.get('content-type')).toBe('application/problem+json');
            expect(await svc.ledger.store.headPosition()).toBe(before);
            return;
          }
          // Signed: only outside the ledger's namespace, and (for JSON types) exactly one strict JSON text.
          expect(type.toLowerCase()).not.toContain('sigledger');
          // What a JS or Python verifier would read (UTF-8 with or without BOM, UTF-16 with BOM; last duplicate wins).
          const readings: unknown[] = [];
          const attempt = (decode: () => string) => {
            try {
              readings.push(JSON.parse(decode().replace(/^\ufeff/, '')));
            } catch {
              // Not readable this way.
            }
          };
          attempt(() => fatal.decode(bytes));
          if (bytes[0] === 0xff && bytes[1] === 0xfe) attempt(() => new TextDecoder('utf-16le').decode(bytes.subarray(2)));
          for (const r of readings) {
            if (r === null || typeof r !== 'object' || Array.isArray(r)) continue;
            for (const [k, v] of Object.entries(r)) {
              if (k.toLowerCase().replace(/_/g, '') !== 'predicatetype' || typeof v !== 'string') continue;
              const releaseAsAllowed = v === 'https://sigledger.dev/attestations/release/v1' && type === 'application/vnd.in-toto+json';
              if (!releaseAsAllowed) expect(v.toLowerCase()).not.toContain('sigledger.dev');
            }
          }
          if (/json/i.test(type)) {
            const decoded = fatal.decode(bytes);
            expect(decoded.startsWith('\ufeff')).toBe(false);
            expect(() => JSON.parse(decoded)).not.toThrow();
          }
        }),
        { seed: SEED, numRuns: 120 },
      );
    });
  });

  describe('when the referrers route gets arbitrary repositories and digests', () => {
    it('answers a 200 verdict or a 4xx problem+json, contacts only the allowed registry, and appends nothing', async () => {
      const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
      const repository = fc.oneof(
        fc.string({ maxLength: 300 }),
        fc.stringMatching(/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*){0,3}$/).map((n) => `${stub.host}/${n}`),
        fc.tuple(fc.domain(), fc.stringMatching(/^[a-z0-9]{1,20}$/)).map(([d, n]) => `${d}/${n}`),
        fc.constantFrom('127.0.0.1:1/a', '[::1]:5000/a', 'localhost/a', `${stub.host}/A`, `${stub.host}/a//b`, `http://${stub.host}/a`, `${stub.host}/a@sha256:${'0'.repeat(64)}`, '169.254.169.254/latest', '[1]/a', '[fe80::1%25eth0]/a', '[fe80::1%eth0]:5000/a', '[::1]:0/a', 'a..b/c'),
      );
      const digest = fc.oneof(hex64.map((h) => `sha256:${h}`), fc.string({ maxLength: 80 }), fc.constantFrom('sha512:00', 'sha256:', `SHA256:${'a'.repeat(64)}`));
      const contacted = stub.requests.length;
      await fc.assert(
        fc.asyncProperty(repository, digest, fc.boolean(), async (repo, d, extra) => {
          const before = await svc.ledger.store.headPosition();
          const query = `repository=${encodeURIComponent(repo)}&digest=${encodeURIComponent(d)}${extra ? '&repository=x' : ''}`;
          const res = await svc.app.request(`/api/v1/signer/verify/referrers?${query}`, { headers });
          expect([200, 400, 403]).toContain(res.status);
          const body = JSON.parse(await res.text()) as Record<string, unknown>;
          if (res.status === 200) expect(body).toMatchObject({ trusted: false, reason: 'no_referrers', bundles: [] });
          else expect(res.headers.get('content-type')).toBe('application/problem+json');
          if (res.status === 403) expect(body.code).toBe('registry_not_allowed');
          expect(await svc.ledger.store.headPosition()).toBe(before);
        }),
        { seed: SEED, numRuns: 200 },
      );
      // Everything the registry saw came from the allowed host's own repositories.
      expect(stub.requests.length).toBeGreaterThan(contacted);
    });
  });

  describe('when the log routes get arbitrary numbers and paths', () => {
    const numberish = fc.oneof(
      fc.nat().map(String),
      fc.integer().map(String),
      fc.constantFrom('', '-0', '1e3', '0x10', '9007199254740993', '99999999999999999999', ' 1', '1 ', '١', 'NaN', '%00'),
      fc.string({ maxLength: 12 }),
    );
    it('answers proof requests with 200 or 400/404 problem+json', async () => {
      await fc.assert(
        fc.asyncProperty(numberish, numberish, fc.constantFrom('inclusion', 'consistency'), async (a, b, kind) => {
          const q = kind === 'inclusion' ? `index=${encodeURIComponent(a)}&treeSize=${encodeURIComponent(b)}` : `from=${encodeURIComponent(a)}&to=${encodeURIComponent(b)}`;
          const res = await svc.app.request(`/api/v1/log/proof/${kind}?${q}`);
          expect([200, 400, 404]).toContain(res.status);
          if (res.status !== 200) expect(res.headers.get('content-type')).toBe('application/problem+json');
          await res.arrayBuffer();
        }),
        { seed: SEED, numRuns: 200 },
      );
    });

    it('answers tile and entry paths with 200 or 400/404 problem+json', async () => {
      const segment = fc.oneof(fc.constantFrom('0', '1', '000', 'x001', '255', '256', '.p', '..', 'entries', '000.p', '001.p'), fc.string({ maxLength: 6 }));
      await fc.assert(
        fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 6 }), async (parts) => {
          const path = `/api/v1/log/tile/${parts.map(encodeURIComponent).join('/')}`;
          const res = await svc.app.request(path);
          expect([200, 400, 404]).toContain(res.status);
          await res.arrayBuffer();
        }),
        { seed: SEED, numRuns: 200 },
      );
    });
  });

  describe('when query strings repeat a parameter or name an impossible instant (issue 16 finding 9)', () => {
    const names = fc.constantFrom('index', 'treeSize', 'from', 'to', 'x');
    it('refuses any repeated parameter on the log proof routes with 400 repeated_parameter', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(names, fc.nat({ max: 5 }).map(String)), { minLength: 1, maxLength: 5 }), names, fc.constantFrom('inclusion', 'consistency'), fc.boolean(), async (params, twice, kind, encode) => {
          const spelled = encode ? twice.replace(/^./, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) : twice;
          const q = [...params.map(([n, v]) => `${n}=${v}`), `${twice}=0`, `${spelled}=1`].join('&');
          const res = await svc.app.request(`/api/v1/log/proof/${kind}?${q}`);
          expect(res.status).toBe(400);
          expect(await res.json()).toMatchObject({ code: 'bad_request', reason: 'repeated_parameter' });
        }),
        { seed: SEED, numRuns: 100 },
      );
    });

    it('answers anchors ?at= with 400 exactly when the date or time does not exist', async () => {
      const pad = (n: number, w = 2) => String(n).padStart(w, '0');
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1970, max: 2400 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 60 }), async (y, mo, d, h, mi, sec) => {
          const at = `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(sec)}Z`;
          // Independent oracle: the fields survive a round trip through Date.UTC.
          const t = new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
          const real = t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === sec;
          const res = await svc.app.request(`/api/v1/trust/anchors?at=${at}`);
          if (real) expect([200, 404]).toContain(res.status);
          else {
            expect(res.status).toBe(400);
            expect(await res.json()).toMatchObject({ reason: 'invalid_time' });
          }
          await res.arrayBuffer().catch(() => {});
        }),
        { seed: SEED, numRuns: 200 },
      );
    });

    it('refuses a ceremony reason with any control or bidi character, appending nothing', async () => {
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      const unsafe = fc.oneof(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0x7f, max: 0x9f }), fc.constantFrom(0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069));
      await fc.assert(
        fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }), unsafe, fc.nat(), async (text, cp, at) => {
          const i = at % (text.length + 1);
          const reason = `r${text.slice(0, i)}${String.fromCharCode(cp)}${text.slice(i)}`;
          const head = await svc.ledger.store.headPosition();
          const res = await svc.app.request('/api/v1/ceremonies', { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ action: { type: 'update-anchors' }, reason }) });
          expect(res.status).toBe(400);
          expect(await res.json()).toMatchObject({ code: 'invalid_request', reason: 'control_character' });
          expect((await svc.ledger.store.readAll({ after: head })).filter((e) => e.stream !== 'log')).toEqual([]);
        }),
        { seed: SEED, numRuns: 100 },
      );
    });
  });

  describe('when the ceremony and rotation routes get arbitrary bodies, ids and stream positions', () => {
    const problemOrOk = async (res: Response, ok: number[]) => {
      expect(res.status).toBeLessThan(500);
      const text = await res.text();
      if (!ok.includes(res.status)) {
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(JSON.parse(text)).toHaveProperty('code');
      }
    };
    const ceremonyBodies = fc.oneof(
      bodies,
      fc.record({ action: fc.oneof(json, fc.record({ type: fc.constantFrom('rotate-key', 'revoke-key', 'update-anchors', 'enroll-approver', 'remove-approver', 'x'), keyId: fc.oneof(fc.string(), json), publicKey: fc.oneof(fc.base64String(), json), approverId: fc.string(), compromisedSince: fc.oneof(fc.string(), fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString()))), thresholds: json }, { requiredKeys: ['type'] })), reason: fc.oneof(fc.string({ maxLength: 2000 }), json) }).map((v) => JSON.stringify(v)),
    );
    it('opens a ceremony only for a valid request and otherwise answers 4xx problem+json, appending nothing', async () => {
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      await fc.assert(
        fc.asyncProperty(ceremonyBodies, fc.constantFrom('/api/v1/ceremonies', '/api/v1/rotations'), async (body, path) => {
          const before = await svc.ledger.store.headPosition();
          const res = await svc.app.request(path, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body });
          await problemOrOk(res, [201, 202]);
          if (res.status >= 400) expect(await svc.ledger.store.headPosition()).toBe(before);
        }),
        { seed: SEED, numRuns: 150 },
      );
    });

    it('refuses arbitrary approvals with 4xx problem+json and appends nothing', async () => {
      const admin = await svc.tokens({ scopes: ['ledger.admin'] });
      const opened = await svc.app.request('/api/v1/ceremonies', { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ action: { type: 'update-anchors' }, reason: 'fuzz' }) });
      expect(opened.status).toBe(201);
      const { ceremonyId } = (await opened.json()) as { ceremonyId: string };
      const approvals = fc.oneof(bodies, fc.record({ approverId: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.string(), json), signature: fc.oneof(fc.base64String({ maxLength: 120 }), fc.string(), json) }).map((v) => JSON.stringify(v)));
      const ids = fc.oneof(fc.constant(ceremonyId), fc.string({ maxLength: 80 }).map((x) => encodeURIComponent(x) || 'x'), fc.constantFrom('cer-', 'cer-../x', 'cer-%00', 'rot-1'));
      await fc.assert(
        fc.asyncProperty(approvals, ids, async (body, id) => {
          const before = await svc.ledger.store.headPosition();
          const res = await svc.app.request(`/api/v1/ceremonies/${id}/approvals`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await problemOrOk(res, []);
          expect(await svc.ledger.store.headPosition()).toBe(before);
          const got = await svc.app.request(`/api/v1/ceremonies/${id}`);
          await problemOrOk(got, [200]);
          const rotation = await svc.app.request(`/api/v1/rotations/${id}`);
          await problemOrOk(rotation, [200]);
        }),
        { seed: SEED, numRuns: 150 },
      );
    });

    it('answers the anchors stream for a hostile Last-Event-ID with 400 problem+json or a stream', async () => {
      const ids = fc.oneof(fc.nat().map(String), fc.constantFrom('', '-1', '1e3', '99999999999', 'x', '1 ', '%00'), fc.string({ maxLength: 12 }).filter((x) => !/[\r\n\0]/.test(x)));
      await fc.assert(
        fc.asyncProperty(ids, async (id) => {
          const ac = new AbortController();
          const res = await svc.app.request('/api/v1/trust/anchors/stream', { headers: { 'last-event-id': id }, signal: ac.signal });
          expect(res.status).toBeLessThan(500);
          if (res.status === 200) expect(res.headers.get('content-type')).toContain('text/event-stream');
          else await problemOrOk(res, []);
          ac.abort();
          await res.body?.cancel().catch(() => {});
        }),
        { seed: SEED, numRuns: 60 },
      );
    });
  });

  describe('when every described route gets hostile path parameters, query strings, methods and headers', () => {
    const paths = Object.keys(openApiDocument('fuzz').paths);
    const segment = fc.oneof(
      fc.constantFrom('0', '1', '-1', '1e9', '9007199254740993', 'x'.repeat(300), '%00', '%2e%2e', '..', 'cer-1', 'rot-1', 'a'.repeat(64), 'ff'.repeat(32), '000.p', 'entries'),
      fc.string({ maxLength: 40 }).map((x) => encodeURIComponent(x) || 'x'),
    );
    const query = fc.oneof(
      fc.constant(''),
      fc.dictionary(fc.constantFrom('at', 'after', 'limit', 'type', 'stream', 'index', 'treeSize', 'from', 'to', 'digest', 'x'), fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('', '-1', '1e3', '2026-13-45T99:99:99Z', '99999999999999999999'))).map((d) => `?${new URLSearchParams(d).toString()}`),
    );
    it('never answers 5xx; every refusal is problem+json', async () => {
      const admin = await svc.tokens({ scopes: ['ledger.admin', 'ledger.audit'] });
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...paths), segment, query, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD'), fc.boolean(), async (template, value, q, method, withToken) => {
          const path = template.replace(/\{[^}]+\}/g, value);
          const ac = new AbortController();
          const res = await svc.app.request(`${path}${q}`, { method, headers: { ...(withToken ? admin : {}), 'content-type': 'application/json' }, ...(method === 'POST' || method === 'PUT' ? { body: '{}' } : {}), signal: ac.signal });
          expect(res.status, `${method} ${path}${q}`).toBeLessThan(500);
          if (res.status >= 400 && method !== 'HEAD') expect(res.headers.get('content-type'), `${method} ${path}${q}`).toBe('application/problem+json');
          ac.abort();
          await res.body?.cancel().catch(() => {});
        }),
        { seed: SEED, numRuns: 400 },
      );
    });

    it('refuses giant headers and invalid UTF-8 bodies with 4xx, never a 5xx', async () => {
      const big = 'x'.repeat(64 * 1024);
      for (const path of ['/api/v1/signer/sign/dsse', '/api/v1/ceremonies', '/api/v1/rotations', '/api/v1/timestamp']) {
        const giant = await svc.app.request(path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', authorization: `Bearer ${big}` }, body: '{}' });
        expect(giant.status, path).toBeGreaterThanOrEqual(400);
        expect(giant.status, path).toBeLessThan(500);
        const utf8 = await svc.app.request(path, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]) });
        expect(utf8.status, path).toBeGreaterThanOrEqual(400);
        expect(utf8.status, path).toBeLessThan(500);
      }
    });
  });
});
