/** Ready-to-run snippets for a client: curl and @tessera/client, per authentication method. */
import type { AuthMethod } from '../api.js';

export interface SnippetTarget { clientId: string; method: AuthMethod; tokenEndpoint: string; issuer: string; audience: string | null; scopes: string[] }

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

export function curlSnippet(t: SnippetTarget): string {
  const params = ['-d grant_type=client_credentials'];
  if (t.audience !== null) params.push(`--data-urlencode audience=${quote(t.audience)}`);
  if (t.scopes.length > 0) params.push(`--data-urlencode scope=${quote(t.scopes.join(' '))}`);
  switch (t.method) {
    case 'client_secret_basic':
      return [`curl -s -u ${quote(t.clientId)}:"$CLIENT_SECRET"`, ...params, quote(t.tokenEndpoint)].join(' \\\n  ');
    case 'client_secret_post':
      return [`curl -s -d client_id=${quote(t.clientId)} --data-urlencode client_secret="$CLIENT_SECRET"`, ...params, quote(t.tokenEndpoint)].join(' \\\n  ');
    case 'private_key_jwt':
      return [
        '# CLIENT_ASSERTION: a JWT signed with your private key (RFC 7523 §2.2):',
        `# iss = sub = ${t.clientId}, aud = ${t.tokenEndpoint}, a unique jti, exp within minutes`,
        `curl -s -d client_id=${quote(t.clientId)} \\`,
        '  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \\',
        '  -d client_assertion="$CLIENT_ASSERTION" \\',
        ...params.map((p) => `  ${p} \\`),
        `  ${quote(t.tokenEndpoint)}`,
      ].join('\n');
    default:
      return [`curl -s --cert client.crt --key client.key -d client_id=${quote(t.clientId)}`, ...params, quote(t.tokenEndpoint)].join(' \\\n  ');
  }
}

export function sdkSnippet(t: SnippetTarget): string {
  const auth: Record<AuthMethod, [string, string]> = {
    client_secret_basic: ['clientSecretBasic', 'clientSecretBasic(process.env.CLIENT_SECRET)'],
    client_secret_post: ['clientSecretPost', 'clientSecretPost(process.env.CLIENT_SECRET)'],
    private_key_jwt: ['privateKeyJwt', "privateKeyJwt(readFileSync('private-key.pem', 'utf8'))"],
    tls_client_auth: ['tlsClientAuth', "tlsClientAuth({ cert: readFileSync('client.crt', 'utf8'), key: readFileSync('client.key', 'utf8') })"],
    self_signed_tls_client_auth: ['selfSignedTlsClientAuth', "selfSignedTlsClientAuth({ cert: readFileSync('client.crt', 'utf8'), key: readFileSync('client.key', 'utf8') })"],
  };
  const [name, call] = auth[t.method];
  const needsFs = !t.method.startsWith('client_secret');
  const request = [t.audience !== null ? `audience: ${JSON.stringify(t.audience)}` : '', t.scopes.length > 0 ? `scope: ${JSON.stringify(t.scopes.join(' '))}` : ''].filter(Boolean).join(', ');
  return [
    ...(needsFs ? ["import { readFileSync } from 'node:fs';"] : []),
    `import { createTokenClient, ${name} } from '@tessera/client';`,
    '',
    'const tokens = createTokenClient({',
    `  issuer: ${JSON.stringify(t.issuer)},`,
    `  clientId: ${JSON.stringify(t.clientId)},`,
    `  auth: ${call},`,
    '});',
    `const accessToken = await tokens.getAccessToken({ ${request} });`,
  ].join('\n');
}
