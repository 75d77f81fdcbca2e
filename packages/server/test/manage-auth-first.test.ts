/**
 * A request without a valid token is 401 before its body is looked at (RFC 6750 §3.1:
 * the request lacks any authentication information): every operation of the OpenAPI
 * document, sent a malformed body and no token, answers 401, never 400.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from './helpers/app.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t.close());

describe('management API: authentication before the body', () => {
  it('every documented route answers 401 to a malformed body without a token', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/manage/v1/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
        .map((method) => ({ method: method.toUpperCase() as 'GET', path: path.replace(/\{[^}]+\}/g, 'x') })),
    );
    expect(operations.length).toBeGreaterThan(30);
    const answers = [];
    for (const { method, path } of operations) {
      const response = await t.app.inject({ method, url: `/manage/v1${path}`, headers: { 'content-type': 'application/json' }, payload: '{not json' });
      answers.push(`${method} ${path} ${response.statusCode}`);
    }
    expect(answers.filter((answer) => !answer.endsWith(' 401'))).toEqual([]);
  });
});
