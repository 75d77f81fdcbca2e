import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import {
  fastifyProtectedResourceMetadata,
  httpProtectedResourceMetadata,
  protectedResourceMetadata,
  protectedResourceMetadataRoute,
  protectedResourceMetadataUrl,
} from '@tessera/verifier';

const options = { resource: 'https://api.example.com/orders', issuer: 'https://auth.example.com/t/default', scopes: ['orders:read'] };
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => { for (const close of closers) await close(); });

function listen(server: Server): Promise<string> {
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

describe('protected resource metadata (RFC 9728)', () => {
  it('RFC 9728 §2: the document names the resource, its authorization servers, scopes and DPoP algorithms', () => {
    expect(protectedResourceMetadata(options)).toMatchObject({
      resource: 'https://api.example.com/orders',
      authorization_servers: ['https://auth.example.com/t/default'],
      scopes_supported: ['orders:read'],
      bearer_methods_supported: ['header'],
    });
    expect(protectedResourceMetadata(options).dpop_signing_alg_values_supported).toContain('ES256');
  });

  it('RFC 9728 §3.1: the well-known suffix goes between host and path', () => {
    expect(protectedResourceMetadataUrl('https://api.example.com/orders')).toBe('https://api.example.com/.well-known/oauth-protected-resource/orders');
    expect(protectedResourceMetadataUrl('https://api.example.com')).toBe('https://api.example.com/.well-known/oauth-protected-resource');
    expect(protectedResourceMetadataUrl('https://api.example.com/')).toBe('https://api.example.com/.well-known/oauth-protected-resource');
  });

  it('RFC 9728 §1.2: a resource with a fragment is refused', () => {
    expect(() => protectedResourceMetadata({ ...options, resource: 'https://api.example.com/#x' })).toThrow(TypeError);
  });

  it.each([
    ['Express', async () => {
      const app = express();
      app.use(protectedResourceMetadataRoute(options));
      return listen(createServer(app));
    }],
    ['Fastify', async () => {
      const app = Fastify();
      fastifyProtectedResourceMetadata(app, options);
      closers.push(() => app.close());
      return app.listen({ port: 0, host: '127.0.0.1' });
    }],
    ['node:http', async () => {
      const metadata = httpProtectedResourceMetadata(options);
      return listen(createServer((req, res) => {
        if (metadata(req, res)) return;
        res.statusCode = 404;
        res.end();
      }));
    }],
  ])('%s serves it at /.well-known/oauth-protected-resource/orders', async (_name, start) => {
    const base = await start();
    const res = await fetch(`${base}/.well-known/oauth-protected-resource/orders`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as { resource: string }).resource).toBe(options.resource);
  });
});
