/**
 * The OpenAPI 3.1 description served at /openapi.json. A test compares it with the routes the
 * app really registers, so a route cannot be added without being described here.
 */
const problem = { $ref: '#/components/responses/Problem' };
/** Audit routes: an OpTok with scope `ledger.audit` or `ledger.admin` (either requirement suffices), and a PoE. */
const auditSecurity = [{ opTok: ['ledger.audit'], poe: [] }, { opTok: ['ledger.admin'], poe: [] }];
const auditFilterParameters = [
  { name: 'type', in: 'query', required: false, description: 'Only these event types; repeatable and/or comma-separated.', schema: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9._:-]{0,127}$' } }, style: 'form', explode: true },
  { name: 'stream', in: 'query', required: false, description: 'Only these streams; repeatable; an exact stream name, or a prefix when it ends in `*` (e.g. `bundle-*`).', schema: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 257 } }, style: 'form', explode: true },
];
const auditEventSchema = {
  type: 'object',
  required: ['position', 'stream', 'revision', 'type', 'id', 'data', 'metadata', 'hash'],
  properties: {
    position: { type: 'integer', description: 'Global position in commit order' },
    stream: { type: 'string' },
    revision: { type: 'integer', description: '0-based revision within the stream' },
    type: { type: 'string' },
    id: { type: 'string', format: 'uuid' },
    data: {},
    metadata: { type: 'object' },
    hash: { type: 'string', description: 'SHA-256 chaining the event to the previous one of its stream (hex)' },
  },
};

export function openApiDocument(version: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'sigledger',
      version,
      description: 'Append-only, event-sourced signing ledger. Errors are application/problem+json with a stable `code`.',
    },
    paths: {
      '/healthz': {
        get: { summary: 'Liveness', responses: { '200': { description: 'The process is up.' } } },
      },
      '/readyz': {
        get: {
          summary: 'Readiness: the event store answers and every projection has folded up to its head',
          responses: { '200': { description: 'Ready.' }, '503': problem },
        },
      },
      '/metrics': {
        get: { summary: 'Prometheus metrics', responses: { '200': { description: 'Prometheus text format.', content: { 'text/plain': {} } } } },
      },
      '/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 JSON.' } } },
      },
      '/api/v1/signer/sign/dsse': {
        post: {
          summary: 'Sign a payload or an in-toto Statement v1 as a DSSE envelope; returns a Sigstore bundle v0.3',
          description: 'Release attestations (predicateType https://sigledger.dev/attestations/release/v1) need the scope signer.release. With SIGLEDGER_RELEASE_VERIFY=required the caller (unless it holds signer.release) must name a scanner image with a trusted release attestation in the OpTok claim scanner_image.',
          security: [{ opTok: ['signer.sign'], poe: [] }],
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  oneOf: [
                    { type: 'object', required: ['payloadType', 'payload'], properties: { payloadType: { type: 'string' }, payload: { type: 'string', contentEncoding: 'base64' } }, additionalProperties: false },
                    { type: 'object', required: ['statement'], properties: { statement: { type: 'object' } }, additionalProperties: false },
                  ],
                },
              },
            },
          },
          responses: {
            '201': { description: 'Signed: a new bundle.' },
            '200': { description: 'This tenant signed this payload before: the existing latest version; nothing appended.' },
            '400': problem,
            '401': problem,
            '403': problem,
            '413': problem,
            '415': problem,
            '422': problem,
            '429': problem,
            '502': problem,
            '503': problem,
          },
        },
      },
      '/api/v1/signer/verify/referrers': {
        get: {
          summary: 'Release integrity of an OCI image digest: verifies the Sigstore bundles that refer to it (OCI 1.1 referrers API or the sha256-<hex> tag fallback) against the trust anchors in force',
          description:
            'The registry is contacted over HTTPS, or plain HTTP for loopback registries and SIGLEDGER_INSECURE_REGISTRIES; SIGLEDGER_REGISTRIES limits which registries may be contacted. A bundle counts only when it verifies (signature, log inclusion, RFC 3161 timestamp, key validity) and its in-toto statement names the digest. Verdicts are cached for a bounded time (anything but a trusted release at most 30 s).',
          security: [{ opTok: ['signer.verify'], poe: [] }, { opTok: ['signer.sign'], poe: [] }],
          parameters: [
            { name: 'repository', in: 'query', required: true, description: 'HOST[:PORT]/NAME', schema: { type: 'string', maxLength: 255 } },
            { name: 'digest', in: 'query', required: true, schema: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } },
          ],
          responses: {
            '200': {
              description:
                '{digest, repository, trusted, release (a trusted bundle is a release attestation), reason: null|"no_referrers"|"no_trusted_bundle", signer: {keyId, algorithm, status, validFor, signedAt, logIndex, bundleDigest, predicateType}|null, bundles: [{digest, verdict: "trusted"|"untrusted", reason, detail?, keyId?, predicateType?}], unchecked, source: "referrers_api"|"referrers_tag", anchorsVersion, checkedAt}. Bundle reasons: verified, not_a_bundle, subject_mismatch, unknown_key, key_not_valid, bad_signature, log_entry_mismatch, log_inclusion_failed, bad_timestamp, verification_failed, unreadable, not_checked.',
            },
            '400': problem,
            '401': problem,
            '403': problem,
            '429': problem,
            '502': problem,
            '503': problem,
          },
        },
      },
      '/api/v1/bundles/{bundleId}': {
        get: { summary: 'A bundle with its version history and latest version', responses: { '200': { description: 'The bundle.' }, '404': problem } },
      },
      '/api/v1/bundles/{bundleId}/versions/{version}': {
        get: { summary: 'One version of a bundle', responses: { '200': { description: 'That version.' }, '400': problem, '404': problem } },
      },
      '/api/v1/keys': {
        get: { summary: 'The key registry: every published signing key with status and validity window', responses: { '200': { description: 'Array of key entries.' } } },
      },
      '/api/v1/log/checkpoint': {
        get: { summary: 'The latest C2SP checkpoint, a signed note (text/plain)', responses: { '200': { description: 'Signed checkpoint.', content: { 'text/plain': {} } }, '404': problem } },
      },
      '/api/v1/log/entries/{index}': {
        get: { summary: 'One log entry: its canonicalized body and an inclusion proof against the latest checkpoint', responses: { '200': { description: 'The entry.' }, '400': problem, '404': problem } },
      },
      '/api/v1/log/proof/inclusion': {
        get: {
          summary: 'RFC 9162 inclusion proof of leaf `index` in the tree of size `treeSize`',
          parameters: [
            { name: 'index', in: 'query', required: true, schema: { type: 'integer', minimum: 0 } },
            { name: 'treeSize', in: 'query', required: true, schema: { type: 'integer', minimum: 1 } },
          ],
          responses: { '200': { description: '{logIndex, treeSize, rootHash, hashes} (base64).' }, '400': problem },
        },
      },
      '/api/v1/log/proof/consistency': {
        get: {
          summary: 'RFC 9162 consistency proof between tree sizes `from` and `to`',
          parameters: [
            { name: 'from', in: 'query', required: true, schema: { type: 'integer', minimum: 1 } },
            { name: 'to', in: 'query', required: true, schema: { type: 'integer', minimum: 1 } },
          ],
          responses: { '200': { description: '{from, to, hashes} (base64).' }, '400': problem },
        },
      },
      '/api/v1/log/tile/{path}': {
        get: { summary: 'C2SP tlog-tiles: tile/<L>/<N>[.p/<W>] (hash tiles) and tile/entries/<N>[.p/<W>] (entry bundles)', responses: { '200': { description: 'Tile bytes.', content: { 'application/octet-stream': {} } }, '400': problem, '404': problem } },
      },
      '/api/v1/trust/anchors': {
        get: {
          summary: 'Trust anchors: the signing keys to trust, each a Sigstore PublicKey (JSON) with its validity window; `at` answers as of an instant',
          parameters: [{ name: 'at', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } }],
          responses: { '200': { description: 'Anchors (ETag; If-None-Match answers 304).' }, '304': { description: 'Not modified.' }, '400': problem, '404': problem },
        },
      },
      '/api/v1/timestamp': {
        post: {
          summary: 'RFC 3161 Time-Stamp Protocol over HTTP (application/timestamp-query → application/timestamp-reply)',
          requestBody: { required: true, content: { 'application/timestamp-query': {} } },
          responses: {
            '200': { description: 'A TimeStampResp: granted (recorded as an event) or rejected with its failure info.', content: { 'application/timestamp-reply': {} } },
            '401': problem,
            '403': problem,
            '413': problem,
            '415': problem,
            '429': problem,
          },
        },
      },
      '/api/v1/trust/trusted_root.json': {
        get: { summary: 'Sigstore TrustedRoot listing this ledger\'s log', responses: { '200': { description: 'application/vnd.dev.sigstore.trustedroot.v0.2+json' } } },
      },
      '/api/v1/keys/{keyId}': {
        get: { summary: 'One key registry entry', responses: { '200': { description: 'The key.' }, '404': problem } },
      },
      '/api/v1/trust/anchors/versions/{version}': {
        get: {
          summary: 'One anchors version (1..latest): fetch them all to check the chain from version 1 with verifyAnchorsSuccessor',
          parameters: [{ name: 'version', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
          responses: { '200': { description: 'That anchors version.' }, '400': problem, '404': problem },
        },
      },
      '/api/v1/trust/anchors/stream': {
        get: {
          summary: 'Server-Sent Events: one `anchors` event per new anchors version (id = version); resumes after Last-Event-ID',
          responses: { '200': { description: 'text/event-stream', content: { 'text/event-stream': {} } }, '400': problem },
        },
      },
      '/api/v1/ceremonies': {
        post: {
          summary: 'Open a ceremony {action: {type: rotate-key|revoke-key|update-anchors|enroll-approver|remove-approver, ...}, reason}',
          security: [{ opTok: ['ledger.admin'], poe: [] }],
          responses: { '201': { description: 'The ceremony: proposal, proposalDigest, threshold, approvers, state, expiresAt.' }, '400': problem, '401': problem, '403': problem, '404': problem, '409': problem, '415': problem },
        },
      },
      '/api/v1/ceremonies/{id}': {
        get: { summary: 'A ceremony, its proposal and its approvals so far', responses: { '200': { description: 'The ceremony.' }, '404': problem } },
      },
      '/api/v1/ceremonies/{id}/approvals': {
        post: {
          summary: 'Approve: {approverId, signature} where signature is base64 Ed25519 over the DSSE PAE (application/vnd.sigledger.ceremony+json) of the JCS proposal',
          responses: { '200': { description: 'The ceremony after the approval.' }, '400': problem, '404': problem, '409': problem, '415': problem, '422': problem, '429': problem },
        },
      },
      '/api/v1/ceremonies/{id}/cancel': {
        post: { summary: 'Cancel a ceremony that has not been approved', security: [{ opTok: ['ledger.admin'], poe: [] }], responses: { '200': { description: 'The cancelled ceremony.' }, '401': problem, '403': problem, '404': problem, '409': problem } },
      },
      '/api/v1/rotations': {
        post: {
          summary: 'Start a key rotation {reason}: opens a rotate-key ceremony',
          security: [{ opTok: ['ledger.admin'], poe: [] }],
          responses: { '202': { description: '{rotationId, ceremonyId, state}' }, '400': problem, '401': problem, '403': problem, '415': problem },
        },
        get: { summary: 'Every rotation with its state and re-signing progress', responses: { '200': { description: 'Rotations, oldest first.' } } },
      },
      '/api/v1/rotations/{id}': {
        get: {
          summary: 'A rotation: state (awaiting-approval|rotating|resigning|completed|superseded|cancelled|expired), keys and progress {resigned, remaining, failed}',
          responses: { '200': { description: 'The rotation.' }, '404': problem },
        },
      },
      '/api/v1/audit/events': {
        get: {
          summary: 'Audit replay: the raw event history of every tenant, in commit order, paged. Scope `ledger.audit` or `ledger.admin`. A filtered page scans at most 10 × limit events and returns `next` to continue',
          security: auditSecurity,
          parameters: [
            { name: 'after', in: 'query', required: false, description: 'Exclusive position to start after (default 0).', schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
            { name: 'limit', in: 'query', required: false, description: 'Events per page (default 100).', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
            ...auditFilterParameters,
          ],
          responses: {
            '200': {
              description: '`{events, next, head}`: events as the store records them; `next` is the `after` of the next page, null once the page reached `head` (the head position when it was read).',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['events', 'next', 'head'],
                    properties: {
                      events: { type: 'array', items: auditEventSchema },
                      next: { type: ['integer', 'null'] },
                      head: { type: 'integer' },
                    },
                  },
                },
              },
            },
            '400': problem,
            '401': problem,
            '403': problem,
          },
        },
      },
      '/api/v1/audit/events/stream': {
        get: {
          summary: 'Audit live tail (Server-Sent Events): every event after `after` (or Last-Event-ID, which takes precedence), then new ones as they commit; id = position, event = type, data = the event JSON; `: keep-alive` comments while idle. Scope `ledger.audit` or `ledger.admin`',
          security: auditSecurity,
          parameters: [
            { name: 'after', in: 'query', required: false, description: 'Exclusive position to start after (default 0).', schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
            { name: 'Last-Event-ID', in: 'header', required: false, description: 'Resume after this position (precedence over `after`; empty is ignored).', schema: { type: 'string' } },
            ...auditFilterParameters,
          ],
          responses: { '200': { description: 'text/event-stream', content: { 'text/event-stream': {} } }, '400': problem, '401': problem, '403': problem, '429': problem, '503': problem },
        },
      },
    },
    components: {
      securitySchemes: {
        opTok: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'OpTok (EdDSA or ES256), audience "signer"; the scope each operation needs is listed with it (signer.sign, ledger.admin, ledger.audit). Every token-authorised route also needs the PoE.' },
        poe: { type: 'apiKey', in: 'header', name: 'X-Proof-Of-Entitlement', description: 'Entitlement JWT {tenant, plan, exp} bound to the OpTok subject.' },
      },
      responses: {
        Problem: {
          description: 'RFC 9457 problem details',
          content: {
            'application/problem+json': {
              schema: {
                type: 'object',
                required: ['type', 'title', 'status', 'code', 'detail'],
                properties: {
                  type: { type: 'string' },
                  title: { type: 'string' },
                  status: { type: 'integer' },
                  code: { type: 'string' },
                  detail: { type: 'string' },
                },
              },
            },
          },
        },
      },
    },
  } as const;
}
