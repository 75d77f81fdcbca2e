/**
 * Client secrets out of band: never in the configuration file, never in a plan. Apply
 * takes the secrets of the clients it creates from --secrets-from (one file per client
 * id, as `tessera import keycloak --secrets-out` writes them), and gives the ones it
 * has to the person once, or writes them as mode-0600 files or Kubernetes Secrets.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateClientBody } from '@tessera/server';
import { stringify } from 'yaml';

/** As the server requires of a secret it is given. */
export const MIN_SECRET_LENGTH = CreateClientBody.properties.clientSecret.minLength ?? 32;

export interface IssuedSecret {
  tenant: string;
  clientId: string;
  clientSecret: string;
  issuer: string;
  tokenEndpoint: string;
}

export type SecretsFormat = 'files' | 'kubernetes';

/**
 * `DIR/<tenant>/<clientId>` when there is one (a directory for several tenants), else
 * `DIR/<clientId>`; undefined when neither exists. The value is the file's text without
 * its final line break.
 */
export async function readProvidedSecret(dir: string, tenant: string, clientId: string): Promise<{ path: string; value: string } | undefined> {
  for (const path of [join(dir, tenant, clientId), join(dir, clientId)]) {
    try {
      const text = await readFile(path, 'utf8');
      return { path, value: text.replace(/\r?\n$/, '') };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return undefined;
}

/**
 * Writes each secret where --secrets-out says, as owner-only files; returns the paths.
 * With secrets of several tenants, each tenant gets a subdirectory (a client id is
 * unique only within its tenant).
 */
export async function writeSecrets(dir: string, secrets: readonly IssuedSecret[], format: SecretsFormat): Promise<string[]> {
  const tenants = new Set(secrets.map((s) => s.tenant));
  const paths: string[] = [];
  for (const secret of secrets) {
    const folder = tenants.size > 1 ? join(dir, secret.tenant) : dir;
    await mkdir(folder, { recursive: true, mode: 0o700 });
    if (format === 'files') {
      paths.push(await writeSecretFile(folder, secret.clientId, secret.clientSecret));
    } else {
      const name = kubernetesName(`${secret.tenant}-${secret.clientId}`);
      const path = join(folder, `${name}.yaml`);
      await writePrivate(path, kubernetesSecret(name, secret));
      paths.push(path);
    }
  }
  return paths;
}

/** `DIR/<clientId>` holding the secret, owner-only: what --secrets-from reads. */
export async function writeSecretFile(dir: string, clientId: string, secret: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, clientId);
  await writePrivate(path, `${secret}\n`);
  return path;
}

/** One Secret per client (kubectl apply -f DIR), with what a service needs to get tokens. */
export function kubernetesSecret(name: string, secret: IssuedSecret): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      labels: { 'app.kubernetes.io/managed-by': 'tessera' },
      annotations: { 'tessera.dev/tenant': secret.tenant, 'tessera.dev/client-id': secret.clientId },
    },
    type: 'Opaque',
    stringData: {
      'client-id': secret.clientId,
      'client-secret': secret.clientSecret,
      'token-endpoint': secret.tokenEndpoint,
      issuer: secret.issuer,
    },
  });
}

/** An RFC 1123 subdomain, as Kubernetes object names must be: lower case, [a-z0-9.-], at most 253. */
export function kubernetesName(text: string): string {
  const name = text.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return name.slice(0, 253).replace(/[^a-z0-9]+$/, '') || 'tessera-client';
}

/** Written beside, then renamed: a reader never sees half a secret, and nobody else may read it. */
async function writePrivate(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}
