/**
 * The OpenAPI 3.1 description served at /openapi.json. A test compares it with the routes the
 * app really registers, so a route cannot be added without being described here.
 */
const problem = { $ref: '#/components/responses/Problem' };

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
    },
    components: {
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
