import { describe, expect, it } from 'vitest';
import { parseServeArgs, SERVE_OPTION_TABLE, SERVE_OPTIONS, SERVE_USAGE } from './serve-options.js';

describe('the serve option table', () => {
  it('the usage names every flag and every environment variable of the table', () => {
    for (const row of SERVE_OPTION_TABLE) {
      if (row.flag !== undefined) expect(SERVE_USAGE).toContain(`--${row.flag}`);
      if (row.env !== undefined) expect(SERVE_USAGE).toContain(row.env);
    }
    expect(Object.keys(SERVE_OPTIONS)).toEqual(SERVE_OPTION_TABLE.flatMap((row) => (row.flag === undefined ? [] : [row.flag])));
  });

  it('no flag or variable is in the table twice', () => {
    const flags = SERVE_OPTION_TABLE.flatMap((row) => (row.flag === undefined ? [] : [row.flag]));
    const envs = SERVE_OPTION_TABLE.flatMap((row) => (row.env === undefined ? [] : [row.env]));
    expect(new Set(flags).size).toBe(flags.length);
    expect(new Set(envs).size).toBe(envs.length);
  });

  it('a flag wins over its variable; an empty variable counts as unset', async () => {
    expect(await parseServeArgs(['--port', '9000'], { TESSERA_PORT: '9001' })).toMatchObject({ port: 9000 });
    expect(await parseServeArgs([], { TESSERA_PORT: '9001' })).toMatchObject({ port: 9001 });
    expect((await parseServeArgs([], { TESSERA_PORT: '' })).port).toBeUndefined();
    expect(await parseServeArgs([], { TESSERA_MASTER_KEY: Buffer.alloc(32, 1).toString('base64') })).toHaveProperty('masterKey');
  });

  it('repeated flags and comma-separated variables give one list', async () => {
    expect((await parseServeArgs(['--outbound-allow', 'a.test,b.test', '--outbound-allow', '10.0.0.0/8'], {})).outboundAllow).toEqual(['a.test', 'b.test', '10.0.0.0/8']);
    expect((await parseServeArgs([], { TESSERA_TRUSTED_PROXIES: '10.0.0.1, 10.0.0.2' })).trustedProxies).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('switches and nested settings land where the configuration expects them', async () => {
    expect((await parseServeArgs(['--no-metrics', '--metrics-port', '9100'], {})).metrics).toEqual({ enabled: false, port: 9100 });
    expect((await parseServeArgs([], { TESSERA_METRICS: 'OFF' })).metrics).toEqual({ enabled: false });
    expect((await parseServeArgs([], { TESSERA_METRICS: 'on' })).metrics).toEqual({ enabled: true });
    expect((await parseServeArgs(['--rate-limit', '5', '--quota-mode', 'monitor', '--auth-backoff', '0'], {})).rateLimit)
      .toEqual({ tokenRequestsPerWindow: 5, mode: 'monitor', authFailures: { perSource: 0, perClientAndSource: 0, perClient: 0 } });
  });

  it('a bad value names its flag', async () => {
    await expect(parseServeArgs(['--port', 'x'], {})).rejects.toThrow('--port must be a number, got "x"');
    await expect(parseServeArgs([], { TESSERA_LOG_LEVEL: 'loud' })).rejects.toThrow(/--log-level must be one of/);
    await expect(parseServeArgs(['--tls-cert', 'c.pem'], {})).rejects.toThrow('--tls-cert and --tls-key go together');
  });

  it('first-start credentials from the environment: at least 32 characters for the admin secret, 12 for the console password', async () => {
    const secret = 'a'.repeat(32);
    expect((await parseServeArgs([], { TESSERA_BOOTSTRAP_ADMIN_SECRET: secret, TESSERA_BOOTSTRAP_CONSOLE_PASSWORD: 'twelve chars' })).bootstrap)
      .toEqual({ adminSecret: secret, consolePassword: 'twelve chars' });
    await expect(parseServeArgs([], { TESSERA_BOOTSTRAP_ADMIN_SECRET: 'a'.repeat(31) })).rejects.toThrow('TESSERA_BOOTSTRAP_ADMIN_SECRET must be at least 32 characters (it has 31)');
    await expect(parseServeArgs([], { TESSERA_BOOTSTRAP_ADMIN_SECRET: `${secret}\n` })).rejects.toThrow(/printable characters/);
    await expect(parseServeArgs([], { TESSERA_BOOTSTRAP_CONSOLE_PASSWORD: 'short' })).rejects.toThrow(/TESSERA_BOOTSTRAP_CONSOLE_PASSWORD must be at least 12/);
  });
});
