/**
 * Encryption of signing keys at rest: AES-256-GCM under the deployment's master key,
 * with the key id as additional authenticated data so a ciphertext cannot be moved
 * to another key record.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileAtomic } from '../data-dir/atomic-file.js';

const VERSION = 'v1';
export const MASTER_KEY_FILE = 'master.key';

export class MasterKey {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the master key must be 32 bytes (base64 of 32 random bytes)');
    this.#key = key;
  }

  static fromBase64(value: string): MasterKey {
    return new MasterKey(Buffer.from(value.trim(), 'base64'));
  }

  /**
   * The master key of an embedded deployment: read from `<dataDir>/master.key`, or
   * generated there (mode 0600) on first start.
   */
  static async loadOrCreate(dataDir: string): Promise<MasterKey> {
    const path = join(dataDir, MASTER_KEY_FILE);
    try {
      return MasterKey.fromBase64(await readFile(path, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    // Created whole or not at all (a kill never leaves an empty master.key); if another
    // process created it meanwhile, use theirs.
    if (await createFileAtomic(path, key.toString('base64') + '\n', 0o600)) return new MasterKey(key);
    return MasterKey.fromBase64(await readFile(path, 'utf8'));
  }

  encrypt(plaintext: string, associatedData: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  decrypt(sealed: string, associatedData: string): string {
    const [version, iv, ciphertext, tag] = sealed.split('.');
    if (version !== VERSION || iv === undefined || ciphertext === undefined || tag === undefined) {
      throw new Error('unrecognised encrypted key format');
    }
    // A full 16-byte tag only: a truncated tag would weaken the authentication.
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }

  /**
   * A 32-byte key for one purpose (HKDF-SHA256, RFC 5869, with `purpose` as info): every
   * replica with the same master key derives the same one, and no purpose sees another's.
   */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `tessera:${purpose}`, 32));
  }

  /** Keeps the key out of logs and JSON by accident. */
  toJSON(): string {
    return '[MasterKey]';
  }
}
