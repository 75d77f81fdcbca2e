import { describe, expect, it } from 'vitest';
import { StoreConflictError, StoreUnavailableError, toStoreError } from './errors.js';

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('toStoreError', () => {
  it.each(['08006', '28P01', '3D000', '53300', '57P01', '57P03', '58030'])('PostgreSQL %s means the store is unavailable (503, not 500)', (code) => {
    expect(toStoreError(pgError(code))).toBeInstanceOf(StoreUnavailableError);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'SQLITE_BUSY', 'SQLITE_IOERR_WRITE'])('%s means the store is unavailable', (code) => {
    expect(toStoreError(pgError(code))).toBeInstanceOf(StoreUnavailableError);
  });

  it('maps constraint violations to conflicts, without quoting values', () => {
    const unique = toStoreError(Object.assign(new Error('duplicate key value (secret)=(sha256$abc)'), { code: '23505', constraint: 'clients_pk' }));
    expect(unique).toBeInstanceOf(StoreConflictError);
    expect((unique as Error).message).not.toContain('sha256');
  });

  it('leaves programming errors alone (they are 500s, and logged)', () => {
    const syntax = pgError('42601');
    expect(toStoreError(syntax)).toBe(syntax);
  });
});
