/**
 * Signing-key lifecycle per tenant: `next` (published, not yet signing) -> `active`
 * (signing) -> `retired` (published until every token it signed has expired) ->
 * deleted. An emergency rotation deletes the active key at once.
 */
import type { MasterKey } from '../crypto/master-key.js';
import { type GeneratedKey, generateSigningKey } from '../crypto/signing.js';
import type { NewAuditEntry, SigningAlg, SigningKey, Store } from '../store/types.js';
import { NotFoundError } from './errors.js';

export interface KeyPolicy {
  rotationInterval: number;
  publishLeadTime: number;
  /** The longest any token can live (seconds): how long a retired key stays published. */
  maxTokenLifetime: number;
}

/** A key as the management API shows it: never the private half. */
export interface KeyView {
  kid: string;
  alg: SigningAlg;
  status: SigningKey['status'];
  publicJwk: Record<string, unknown>;
  createdAt: number;
  activatedAt: number | null;
  retiredAt: number | null;
  publishUntil: number | null;
}

export function toKeyView(key: SigningKey): KeyView {
  const { privateKeyEncrypted: _sealed, tenantId: _tenant, ...view } = key;
  return view;
}

/**
 * Signing keys generated before a transaction begins. Generating one (an RSA key:
 * tens of milliseconds on the thread pool, more on a busy machine) inside a write
 * transaction would hold the database's write lock across that `await`: on SQLite every
 * other statement of the process, and every write of the other workers, would wait.
 * A transaction that finds it needs a key that was not prepared (the algorithm changed
 * in between, a key went missing) generates it then: correct, only not as short.
 */
export class PreparedKeys {
  readonly #ready: GeneratedKey[];
  readonly #generate: (alg: SigningAlg) => Promise<GeneratedKey>;

  constructor(ready: GeneratedKey[], generate: (alg: SigningAlg) => Promise<GeneratedKey>) {
    this.#ready = ready;
    this.#generate = generate;
  }

  take(alg: SigningAlg): Promise<GeneratedKey> {
    const index = this.#ready.findIndex((key) => key.alg === alg);
    if (index === -1) return this.#generate(alg);
    const [key] = this.#ready.splice(index, 1);
    return Promise.resolve(key as GeneratedKey);
  }
}

export class KeyService {
  readonly #store: Store;
  readonly #masterKey: MasterKey;
  readonly #policy: KeyPolicy;
  readonly #now: () => number;

  constructor(options: { store: Store; masterKey: MasterKey; policy: KeyPolicy; now: () => number }) {
    this.#store = options.store;
    this.#masterKey = options.masterKey;
    this.#policy = options.policy;
    this.#now = options.now;
  }

  /** `count` keys of `alg`, generated now: call before the transaction that will write them. */
  async prepare(alg: SigningAlg, count: number): Promise<PreparedKeys> {
    const generate = (a: SigningAlg) => generateSigningKey(a, this.#masterKey);
    return new PreparedKeys(await Promise.all(Array.from({ length: count }, () => generate(alg))), generate);
  }

  /** An active and a next key for a new tenant, written through `tx` (two keys of `alg` prepared). */
  async createInitialKeys(tx: Store, tenantId: string, alg: SigningAlg, actor: string, prepared: PreparedKeys): Promise<void> {
    const now = this.#now();
    const active = await this.#newKey(prepared, tenantId, alg, 'active', now);
    const next = await this.#newKey(prepared, tenantId, alg, 'next', now);
    await tx.insertSigningKey(active, audit(tenantId, actor, 'key.create', active.kid, { status: 'active', alg }));
    await tx.insertSigningKey(next, audit(tenantId, actor, 'key.create', next.kid, { status: 'next', alg }));
  }

  /**
   * Start-up check: the master key must open the signing keys already in the store.
   * A replica started with another TESSERA_MASTER_KEY stops here, with the reason,
   * instead of failing every token request later.
   */
  async checkMasterKey(tenantId: string): Promise<void> {
    const key = (await this.#store.listSigningKeys(tenantId)).find((k) => k.status === 'active');
    if (key === undefined) return;
    try {
      this.#masterKey.decrypt(key.privateKeyEncrypted, key.kid);
    } catch {
      throw new Error('the master key cannot decrypt the signing keys in this store: every replica of a deployment must run with the same TESSERA_MASTER_KEY');
    }
  }

  async list(tenantId: string): Promise<KeyView[]> {
    return (await this.#store.listSigningKeys(tenantId)).map(toKeyView);
  }

  /**
   * Promotes the next key to active and publishes a new next key. The old active key
   * is retired (still published) or, in an emergency, deleted at once.
   */
  async rotate(tenantId: string, options: { emergency: boolean; actor: string }): Promise<KeyView[]> {
    const prepared = await this.#prepareRotation(tenantId);
    await this.#store.withLock(`keys:${tenantId}`, async (tx) => {
      const keys = await tx.listSigningKeys(tenantId);
      if (keys.length === 0 && (await tx.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
      await this.#rotateLocked(tx, tenantId, keys, options, prepared);
    });
    return this.list(tenantId);
  }

  /** The keys a rotation of the tenant will write, as it looks before the lock: a new next key, and an active one if no next key is there to promote. */
  async #prepareRotation(tenantId: string): Promise<PreparedKeys> {
    const tenant = await this.#store.getTenant(tenantId);
    const keys = await this.#store.listSigningKeys(tenantId);
    const alg = tenant?.signingAlg ?? 'ES256';
    return this.prepare(alg, tenant === null ? 0 : keys.some((k) => k.status === 'next') ? 1 : 2);
  }

  async #rotateLocked(tx: Store, tenantId: string, keys: SigningKey[], options: { emergency: boolean; actor: string }, prepared: PreparedKeys): Promise<void> {
    const now = this.#now();
    const active = keys.find((k) => k.status === 'active');
    const next = keys.find((k) => k.status === 'next');
    // New keys use the tenant's algorithm; the published next key signs whatever its own.
    const alg = (await tx.getTenant(tenantId))?.signingAlg ?? next?.alg ?? active?.alg ?? 'ES256';
    const action = options.emergency ? 'key.rotate.emergency' : 'key.rotate';

    if (active !== undefined) {
      if (options.emergency) {
        await tx.deleteSigningKey(tenantId, active.kid, audit(tenantId, options.actor, action, active.kid, { removed: true }));
      } else {
        const publishUntil = now + this.#policy.maxTokenLifetime * 1000 + 60_000;
        await tx.updateSigningKey(tenantId, active.kid, { status: 'retired', retiredAt: now, publishUntil },
          audit(tenantId, options.actor, action, active.kid, { status: 'retired', publishUntil }));
      }
    }
    if (next !== undefined) {
      await tx.updateSigningKey(tenantId, next.kid, { status: 'active', activatedAt: now },
        audit(tenantId, options.actor, action, next.kid, { status: 'active' }));
    } else {
      // Only a store that lost its next key gets here: nothing published to promote.
      const fresh = await this.#newKey(prepared, tenantId, alg, 'active', now);
      await tx.insertSigningKey(fresh, audit(tenantId, options.actor, action, fresh.kid, { status: 'active', alg }));
    }
    const upcoming = await this.#newKey(prepared, tenantId, alg, 'next', now);
    await tx.insertSigningKey(upcoming, audit(tenantId, options.actor, 'key.create', upcoming.kid, { status: 'next', alg }));
  }

  /**
   * A change of the tenant's algorithm: the next key is replaced by one of the new
   * algorithm, published now, which signs from the next rotation on. Nothing ever signs
   * with a key verifiers could not have fetched.
   */
  async replaceNextKey(tx: Store, tenantId: string, alg: SigningAlg, actor: string, prepared: PreparedKeys): Promise<void> {
    const keys = await tx.listSigningKeys(tenantId);
    for (const key of keys.filter((k) => k.status === 'next')) {
      await tx.deleteSigningKey(tenantId, key.kid, audit(tenantId, actor, 'key.delete', key.kid, { replacedBy: alg }));
    }
    const next = await this.#newKey(prepared, tenantId, alg, 'next', this.#now());
    await tx.insertSigningKey(next, audit(tenantId, actor, 'key.create', next.kid, { status: 'next', alg }));
  }

  /**
   * The scheduled step, run by every replica; the per-tenant lock makes exactly one of
   * them act. Rotates when the active key is older than the rotation interval and the
   * next key has been published for the lead time; deletes retired keys whose tokens
   * have all expired.
   */
  async runSchedule(tenantIds: string[]): Promise<void> {
    for (const tenantId of tenantIds) {
      // Keys for a rotation that looks due are generated before the lock is taken.
      const due = this.#rotationDue(await this.#store.listSigningKeys(tenantId), this.#now());
      const prepared = due ? await this.#prepareRotation(tenantId) : await this.prepare('ES256', 0);
      await this.#store.withLock(`keys:${tenantId}`, async (tx) => {
        const now = this.#now();
        const keys = await tx.listSigningKeys(tenantId);
        for (const key of keys) {
          if (key.status === 'retired' && key.publishUntil !== null && key.publishUntil <= now) {
            await tx.deleteSigningKey(tenantId, key.kid, audit(tenantId, 'system', 'key.expire', key.kid, {}));
          }
        }
        if (this.#rotationDue(keys, now)) await this.#rotateLocked(tx, tenantId, keys, { emergency: false, actor: 'system' }, prepared);
      });
    }
  }

  /** The active key is older than the rotation interval and the next one published for the lead time (or a key is missing: repair at once). */
  #rotationDue(keys: SigningKey[], now: number): boolean {
    const active = keys.find((k) => k.status === 'active');
    const next = keys.find((k) => k.status === 'next');
    const due = active === undefined || now - (active.activatedAt ?? active.createdAt) >= this.#policy.rotationInterval * 1000;
    // Without an active key the tenant cannot issue anything: repair at once.
    const nextReady = active === undefined || next === undefined || now - next.createdAt >= this.#policy.publishLeadTime * 1000;
    return due && nextReady;
  }

  /**
   * The scheduled step over the whole store: one query finds the tenants with key work
   * due, and only those are locked and looked at.
   */
  async runDueSchedule(): Promise<void> {
    const now = this.#now();
    await this.runSchedule(await this.#store.tenantsWithKeyWork(now, now - this.#policy.rotationInterval * 1000));
  }

  async #newKey(prepared: PreparedKeys, tenantId: string, alg: SigningAlg, status: 'active' | 'next', now: number): Promise<SigningKey> {
    const generated = await prepared.take(alg);
    return {
      kid: generated.kid,
      tenantId,
      alg,
      status,
      publicJwk: generated.publicJwk as Record<string, unknown>,
      privateKeyEncrypted: generated.privateKeyEncrypted,
      createdAt: now,
      activatedAt: status === 'active' ? now : null,
      retiredAt: null,
      publishUntil: null,
    };
  }
}

function audit(tenantId: string, actor: string, action: string, kid: string, details: Record<string, unknown>): NewAuditEntry {
  return { tenantId, actor, action, targetType: 'key', targetId: kid, details };
}
