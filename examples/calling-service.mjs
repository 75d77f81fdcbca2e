#!/usr/bin/env node
// A calling service (the "Windows Service" of the seed's app-to-app flow): gets a token
// for the orders API with scope orders:read and calls it. Plain Node.js, no TypeScript loader.
//
//   TESSERA_ISSUER   issuer, e.g. http://127.0.0.1:8080/t/default
//   CLIENT_ID        this service's client id
//   CLIENT_SECRET    its secret (client_secret_basic), or
//   PRIVATE_KEY_FILE a PEM or JWK file with its private key (private_key_jwt)
//   API_AUDIENCE     the API identifier to ask a token for
//   API_URL          what to call (default http://127.0.0.1:3000/orders)
//
// Run with examples/resource-service.mjs listening on API_URL.
import { readFile } from 'node:fs/promises';
import { clientSecretBasic, createTokenClient, privateKeyJwt } from '@tessera/client';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

async function authFromEnvironment() {
  if (process.env.CLIENT_SECRET) return clientSecretBasic(process.env.CLIENT_SECRET);
  const file = process.env.PRIVATE_KEY_FILE;
  if (!file) throw new Error('set CLIENT_SECRET or PRIVATE_KEY_FILE');
  const text = (await readFile(file, 'utf8')).trim();
  // A JWK file starts with "{"; anything else is taken as PEM.
  return privateKeyJwt(text.startsWith('{') ? JSON.parse(text) : text);
}

async function main() {
  const client = createTokenClient({
    issuer: required('TESSERA_ISSUER'),
    clientId: required('CLIENT_ID'),
    auth: await authFromEnvironment(),
  });
  const apiUrl = process.env.API_URL ?? 'http://127.0.0.1:3000/orders';
  const target = { audience: required('API_AUDIENCE'), scope: 'orders:read' };

  const token = await client.getToken(target);
  console.error(`got a ${token.tokenType} token, scope "${token.scope ?? ''}", expires ${new Date(token.expiresAt).toISOString()}`);

  // client.fetch attaches the (cached) token and retries once if the API says invalid_token.
  const response = await client.fetch(apiUrl, { headers: { accept: 'application/json' } }, target);
  const body = await response.text();
  console.log(`${response.status} ${response.statusText}`);
  console.log(body);
  await client.close();
  if (!response.ok) process.exitCode = 1;
}

main().catch((error) => {
  // Every SDK error has a stable code; OAuthError also carries the server's error fields.
  const details = error.code ? ` [${error.code}${error.error ? ` ${error.error}` : ''}${error.status ? ` HTTP ${error.status}` : ''}]` : '';
  console.error(`calling-service failed${details}: ${error.message}`);
  process.exitCode = 1;
});
