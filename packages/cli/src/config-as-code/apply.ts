/**
 * Making a plan: one request per change, in the plan's order. Each request changes one
 * object whole (the server makes every change in one transaction, audited), so a
 * failure leaves nothing half-written: it is reported with its object, the objects that
 * needed it are skipped, everything else goes on, and a second apply finishes the job.
 */
import { ApiError, type ManagementApi } from '../management-api.js';
import { type Change, objectKey, type Plan } from './plan.js';
import { type IssuedSecret, MIN_SECRET_LENGTH, readProvidedSecret } from './secrets.js';

export interface Outcome {
  change: Change;
  status: 'applied' | 'failed' | 'skipped';
  error?: string;
}

export interface ApplyResult {
  outcomes: Outcome[];
  /** Secrets the server generated for this apply: to be shown once or written out of band. */
  secrets: IssuedSecret[];
}

/** A secret the caller brings for a change that gives a client one, by change. */
export type ProvidedSecrets = Map<Change, string>;

export class SecretsFromError extends Error {
  constructor(readonly problems: string[]) {
    super(`--secrets-from is incomplete; nothing was changed:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'SecretsFromError';
  }
}

/**
 * The secrets of --secrets-from for every client the plan gives one. A client without
 * its file is refused before anything changes: minting a random secret instead would
 * break the service that expects the one it has.
 */
export async function collectProvidedSecrets(plan: Plan, dir: string): Promise<ProvidedSecrets> {
  const provided: ProvidedSecrets = new Map();
  const problems: string[] = [];
  for (const change of plan.changes) {
    if (change.secretFor === undefined) continue;
    const found = await readProvidedSecret(dir, change.tenant, change.secretFor);
    if (found === undefined) problems.push(`${change.tenant}: client ${change.secretFor} gets a secret, and ${dir} has no file ${change.secretFor} (nor ${change.tenant}/${change.secretFor})`);
    else if (found.value.length < MIN_SECRET_LENGTH) problems.push(`${found.path}: a secret must be at least ${MIN_SECRET_LENGTH} characters`);
    else provided.set(change, found.value);
  }
  if (problems.length > 0) throw new SecretsFromError(problems);
  return provided;
}

export async function applyPlan(api: ManagementApi, plan: Plan, provided: ProvidedSecrets = new Map()): Promise<ApplyResult> {
  const outcomes: Outcome[] = [];
  const secrets: IssuedSecret[] = [];
  const unavailable = new Map<string, string>();
  const createdApiIds = new Map<string, string>();

  for (const change of plan.changes) {
    const missing = change.needs.find((key) => unavailable.has(key));
    if (missing !== undefined) {
      outcomes.push({ change, status: 'skipped', error: unavailable.get(missing) ?? 'a dependency failed' });
      if (change.action === 'create') unavailable.set(objectKey(change.tenant, change.kind, change.name), `needs ${change.kind} ${change.name}, which was not created`);
      continue;
    }
    try {
      if (change.blocked !== undefined) throw new Error(change.blocked);
      const result = await send(api, change, provided.get(change), createdApiIds);
      if (change.kind === 'api' && change.action === 'create') createdApiIds.set(change.name, (result as { id: string }).id);
      const issued = await issuedSecret(api, change, result);
      if (issued !== undefined) secrets.push(issued);
      outcomes.push({ change, status: 'applied' });
    } catch (error) {
      const message = describeFailure(error);
      outcomes.push({ change, status: 'failed', error: message });
      if (change.action === 'create') unavailable.set(objectKey(change.tenant, change.kind, change.name), `needs ${change.kind} ${change.name}, which failed: ${message}`);
    }
  }
  return { outcomes, secrets };
}

async function send(api: ManagementApi, change: Change, secret: string | undefined, createdApiIds: ReadonlyMap<string, string>): Promise<unknown> {
  const { method, body } = change.request;
  let path = change.request.path;
  if (change.createdApi !== undefined) {
    const id = createdApiIds.get(change.createdApi);
    if (id === undefined) throw new Error(`API ${change.createdApi} was not created`);
    path += encodeURIComponent(id);
  }
  const payload = secret === undefined ? body : { ...body, clientSecret: secret };
  if (method === 'POST') return api.post(path, payload);
  if (method === 'PATCH') return api.patch(path, payload);
  await api.delete(path);
  return undefined;
}

/** The secret the server generated for this change, if any (a secret the caller gave is not echoed). */
async function issuedSecret(api: ManagementApi, change: Change, result: unknown): Promise<IssuedSecret | undefined> {
  if (change.secretFor === undefined) return undefined;
  const answer = result as { clientSecret?: string; issuer?: string; tokenEndpoint?: string } | undefined;
  if (answer?.clientSecret === undefined) return undefined;
  let { issuer, tokenEndpoint } = answer;
  if (issuer === undefined || tokenEndpoint === undefined) {
    // POST .../secrets answers with the secret alone: the client says where it gets tokens.
    const client = await api.get<{ issuer: string; tokenEndpoint: string }>(change.request.path.replace(/\/secrets$/, ''));
    ({ issuer, tokenEndpoint } = client);
  }
  return { tenant: change.tenant, clientId: change.secretFor, clientSecret: answer.clientSecret, issuer, tokenEndpoint };
}

function describeFailure(error: unknown): string {
  if (error instanceof ApiError) return `${error.error}: ${error.message} (HTTP ${error.status})`;
  return error instanceof Error ? error.message : String(error);
}
