/**
 * Issue 16 findings 4 (the ledger key signs the ledger's own statements for anyone) and 5 (parser
 * differentials), through HTTP on a real store: every refusal is a 4xx problem+json with a stable
 * code and reason, and appends nothing.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_TRANSITION_PREDICATE_TYPE, RESIGN_PREDICATE_TYPE } from '../../src/domain/attestations.ts';
import { CEREMONY_PAYLOAD_TYPE } from '../../src/domain/ceremony.ts';
import { RELEASE_PREDICATE_TYPE, RELEASE_SCOPE } from '../../src/domain/release.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { expectProblem } from '../support/problem.ts';
import { startTestService, type TestService } from '../support/service.ts';

const PLANS = JSON.stringify({ team: { qps: 10_000, burst: 10_000, concurrency: 64, maxArtifactBytes: 1024 * 1024 } });
const SUBJECT = [{ name: 'app.tar.gz', digest: { sha256: 'ab'.repeat(32) } }];
const b64 = (x: string | Uint8Array) => Buffer.from(x).toString('base64');
const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

describe('signing what callers must not have signed (HTTP)', () => {
  let svc: TestService;
  let signer: Record<string, string>;
  let releaser: Record<string, string>;
  let activeKeyId: string;

  const post = (raw: string | Uint8Array, headers = signer) =>
    svc.app.request('/api/v1/signer/sign/dsse', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
  const head = () => svc.ledger.store.headPosition();

  /** The request is refused with `status`/`code`/`reason` and the store has not moved. */
  async function refused(raw: string | Uint8Array, status: number, code: ErrorCode, details: Record<string, unknown>, headers = signer) {
    const before = await head();
    const res = await post(raw, headers);
    await expectProblem(res, status, code, details);
    expect(await head()).toEqual(before);
  }

  beforeAll(async () => {
    svc = await startTestService({ SIGLEDGER_PLANS: PLANS, SIGLEDGER_CHECKPOINT_INTERVAL_MS: '10' });
    signer = await svc.tokens();
    releaser = await svc.tokens({ scopes: ['signer.sign', RELEASE_SCOPE] });
    const keys = (await (await svc.app.request('/api/v1/keys')).json()) as { keyId: string; status: string }[];
    activeKeyId = keys.find((k) => k.status === 'active')!.keyId;
  });
  afterAll(async () => {
    await svc.stop();
  });

  describe('when a signer.sign caller asks for a key-transition or re-signing statement (finding 4)', () => {
    const attacker = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const keyTransition = () => ({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [
        { name: `key:${activeKeyId}`, digest: { sha256: activeKeyId } },
        { name: 'key:attacker', digest: { sha256: 'ee'.repeat(32) } },
      ],
      predicateType: KEY_TRANSITION_PREDICATE_TYPE,
      predicate: { oldKeyId: activeKeyId, newKeyId: 'ee'.repeat(32), newPublicKey: attacker, threshold: 0, approvals: [] },
    });
    const resign = () => ({ _type: 'https://in-toto.io/Statement/v1', subject: SUBJECT, predicateType: RESIGN_PREDICATE_TYPE, predicate: { bundleId: 'x', fromVersion: 1, toVersion: 2 } });

    it('refuses the statement form with 403 reserved_statement, also for the release pipeline', async () => {
      await refused(JSON.stringify({ statement: keyTransition() }), 403, 'forbidden', { reason: 'reserved_statement' });
      await refused(JSON.stringify({ statement: resign() }), 403, 'forbidden', { reason: 'reserved_statement' });
      await refused(JSON.stringify({ statement: keyTransition() }), 403, 'forbidden', { reason: 'reserved_statement' }, releaser);
    });

    it.each(['application/vnd.in-toto+json', 'APPLICATION/VND.IN-TOTO+JSON', 'application/vnd.in-toto+json; charset=utf-8', 'application/vnd.in-toto+json ; x=1', 'application/json', 'application/vnd.acme+json', 'text/plain', 'application/octet-stream'])(
      'refuses the payload form under payloadType %s',
      async (payloadType) => {
        await refused(JSON.stringify({ payloadType, payload: b64(JSON.stringify(keyTransition())) }), 403, 'forbidden', { reason: 'reserved_statement' });
      },
    );

    it('refuses a case-folded predicateType member and a UTF-16 payload that lenient verifiers read', async () => {
      const folded = JSON.stringify({ ...resign(), predicateType: undefined, PredicateType: RESIGN_PREDICATE_TYPE });
      await refused(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: b64(folded) }), 403, 'forbidden', { reason: 'reserved_statement' });
      const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify(resign()), 'utf16le')]);
      await refused(JSON.stringify({ payloadType: 'application/octet-stream', payload: b64(utf16) }), 403, 'forbidden', { reason: 'reserved_statement' });
    });

    it('refuses the ceremony payload type in any spelling with 403 reserved_payload_type', async () => {
      for (const payloadType of [CEREMONY_PAYLOAD_TYPE, 'Application/Vnd.Sigledger.Ceremony+JSON', `${CEREMONY_PAYLOAD_TYPE};v=1`]) {
        await refused(JSON.stringify({ payloadType, payload: b64('{"action":{"type":"rotate-key"}}') }), 403, 'forbidden', { reason: 'reserved_payload_type' });
      }
    });

    it('keeps the release rule: the scope is needed, and other payload types are refused for everyone', async () => {
      const release = { _type: 'https://in-toto.io/Statement/v1', subject: SUBJECT, predicateType: RELEASE_PREDICATE_TYPE, predicate: {} };
      await refused(JSON.stringify({ statement: release }), 403, 'forbidden', { reason: 'missing_scope' });
      await refused(JSON.stringify({ payloadType: 'application/json', payload: b64(JSON.stringify(release)) }), 403, 'forbidden', { reason: 'reserved_statement' }, releaser);
    });
  });

  describe('when a JSON payload is not one strict UTF-8 JSON text (finding 5)', () => {
    it.each([
      ['byte 0xFF in a string', bytes('{"predicateType":"a', [0xff], '"}'), 'invalid_utf8'],
      ['an overlong sequence', bytes('{"predicateType":"', [0xc0, 0xaf], '"}'), 'invalid_utf8'],
      ['CESU-8', bytes('{"a":"', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], '"}'), 'invalid_utf8'],
      ['UTF-16 with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"predicateType":"a"}', 'utf16le')]), 'bom'],
      ['trailing data', bytes('{"predicateType":"a"}x'), 'trailing_data'],
      ['a second object', bytes('{"predicateType":"a"}{"predicateType":"b"}'), 'trailing_data'],
      ['duplicate predicateType keys', bytes('{"predicateType":"https://slsa.dev/provenance/v1","predicateType":"https://example.com/other"}'), 'duplicate_key'],
      ['an escaped lone surrogate', bytes('{"a":"\\udc00"}'), 'lone_surrogate'],
    ])('refuses %s under application/vnd.in-toto+json and other JSON types with 400 invalid_request', async (_name, payload, reason) => {
      for (const payloadType of ['application/vnd.in-toto+json', 'application/json; charset=utf-8', 'application/vnd.acme+json']) {
        await refused(JSON.stringify({ payloadType, payload: b64(payload) }), 400, 'invalid_request', { reason });
      }
    });

    it('refuses statement-form numbers JCS would change with 400 invalid_statement inexact_number', async () => {
      const body = (n: string) => `{"statement":{"_type":"https://in-toto.io/Statement/v1","subject":${JSON.stringify(SUBJECT)},"predicateType":"https://example.com/p","predicate":{"n":${n}}}}`;
      for (const n of ['9007199254740993', '1e400', '0.30000000000000001']) {
        await refused(body(n), 400, 'invalid_statement', { reason: 'inexact_number', field: 'statement.predicate.n' });
      }
    });

    it('reads the request body strictly: a repeated "statement" or an escaped lone surrogate is refused', async () => {
      const a = JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: SUBJECT, predicateType: 'https://example.com/a', predicate: {} });
      const b = JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: SUBJECT, predicateType: RESIGN_PREDICATE_TYPE, predicate: {} });
      await refused(`{"statement":${a},"statement":${b}}`, 400, 'bad_request', { reason: 'malformed_json', json: 'duplicate_key' });
      await refused(`{"payloadType":"text/plain","payload":"aGk=","payload":"aGk="}`, 400, 'bad_request', { reason: 'malformed_json', json: 'duplicate_key' });
      await refused(`{"payloadType":"text/plain\\ud800","payload":"aGk="}`, 400, 'bad_request', { reason: 'malformed_json', json: 'lone_surrogate' });
      await refused(`{"payloadType":"text/plain","payload":"aGk="} {}`, 400, 'bad_request', { reason: 'malformed_json', json: 'trailing_data' });
    });

    it('refuses a 1 MiB body nested without end with 400, not a stack overflow', async () => {
      await refused('['.repeat(1 << 20), 400, 'bad_request', { reason: 'malformed_json', json: 'too_deep' });
    });
  });

  describe('when the payload is legitimate', () => {
    it('still signs statements with exact numbers and JSON payloads, as given', async () => {
      const statement = { _type: 'https://in-toto.io/Statement/v1', subject: SUBJECT, predicateType: 'https://slsa.dev/provenance/v1', predicate: { n: 0.1, big: 9007199254740992 } };
      const res = await post(`{"statement":{"_type":"${statement._type}","subject":${JSON.stringify(SUBJECT)},"predicateType":"${statement.predicateType}","predicate":{"n":0.1,"big":9007199254740992}}}`);
      expect(res.status).toBe(201);
      const body = (await res.json()) as { bundle: { dsseEnvelope: { payload: string } } };
      expect(Buffer.from(body.bundle.dsseEnvelope.payload, 'base64').toString()).toContain('"predicate":{"big":9007199254740992,"n":0.1}');
      const payload = '{"predicateType":"https://slsa.dev/provenance/v1","s":"\\ud83d\\ude00 é"}';
      const res2 = await post(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: b64(payload) }));
      expect(res2.status).toBe(201);
    });
  });
});
