/**
 * The HTTP ceiling: a Fastify 5 POST route that parses the same form body (with
 * URLSearchParams, as Tessera's parser does) and returns fixed JSON of a token
 * response's size, with the same no-store headers. No auth, no signature.
 */
import Fastify from 'fastify';
import { announce, HOST } from './common.js';

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
  done(null, Object.fromEntries(new URLSearchParams(body as string)));
});

// A signed ES256 token of this size is ~330 characters; answer with as many bytes.
const response = { access_token: 'x'.repeat(330), token_type: 'Bearer', expires_in: 3600, scope: 'orders:read' };

app.post('/token', async (request, reply) => {
  const form = request.body as Record<string, string>;
  if (form['grant_type'] !== 'client_credentials') return reply.code(400).send({ error: 'unsupported_grant_type' });
  return reply.headers({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).send(response);
});

await app.listen({ port: 0, host: HOST });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
announce({ type: 'ready', url: `http://${HOST}:${port}` }, () => app.close());
