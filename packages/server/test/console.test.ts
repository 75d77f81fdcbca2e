import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_SIGN_IN_LIMITS, ConsoleSignIn } from '../src/domain/console.js';
import { createTestServer, type TestServer } from './helpers/app.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t.close());

const login = (username: string, password: string, ip = '127.0.0.1') =>
  t.app.inject({ method: 'POST', url: '/console/login', payload: { username, password }, remoteAddress: ip });

describe('web console', () => {
  it('serves the built app with a strict Content-Security-Policy; deep links get the app, missing files 404', async () => {
    const redirect = await t.app.inject({ method: 'GET', url: '/console' });
    expect(redirect.statusCode).toBe(302);
    const page = await t.app.inject({ method: 'GET', url: '/console/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toBe("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    // No inline script or style: everything the page runs is a file from /console/assets.
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/<style|style=/);
    const script = /<script type="module" crossorigin src="(\/console\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const js = await t.app.inject({ method: 'GET', url: script ?? '' });
    expect(js.headers['content-type']).toContain('javascript');
    expect(js.headers['cache-control']).toContain('immutable');
    const deep = await t.app.inject({ method: 'GET', url: '/console/t/default/clients/abc' });
    expect(deep.statusCode).toBe(200);
    expect(deep.body).toBe(page.body);
    expect((await t.app.inject({ method: 'GET', url: '/console/assets/missing.js' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/console/..%2Fpackage.json' })).statusCode).toBe(404);
  });

  it('signs the console user in with a short-lived management token; the audit log names the user', async () => {
    const res = await login(t.console.user, t.console.password);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const { access_token: token, expires_in: expiresIn } = res.json();
    expect(expiresIn).toBe(900);
    const created = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${token}` }, payload: { id: 'from-console' } });
    expect(created.statusCode).toBe(201);
    const audit = await t.manage('GET', '/tenants/from-console/audit?action=tenant.create');
    expect(audit.body.items[0].actor).toBe(`console:${t.console.user}`);
  });

  it('refuses a wrong password or user alike, and slows down guessing', async () => {
    const wrong = await login(t.console.user, 'nope', '10.0.0.9');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual((await login('ghost', 'nope', '10.0.0.9')).json());
    for (let i = 0; i < 10; i++) await login(t.console.user, 'nope', '10.0.0.9');
    const limited = await login(t.console.user, t.console.password, '10.0.0.9');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await login(t.console.user, t.console.password, '10.0.0.10')).statusCode).toBe(200);
  });

  it('parallel guesses cannot slip past the limit', async () => {
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => login(t.console.user, `guess-${i}`, '10.0.0.77')));
    const statuses = results.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20);
  });

  it('rejects malformed sign-in bodies with 400', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/console/login', payload: { username: 'admin' } });
    expect(res.statusCode).toBe(400);
  });
});

describe('console sign-in limits (issue 7)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await createTestServer();
  });
  afterAll(() => s.close());
  const signIn = (username: string, password: string, ip: string) =>
    s.app.inject({ method: 'POST', url: '/console/login', payload: { username, password }, remoteAddress: ip });

  it('a flood of checks from many addresses slows a real sign-in down but does not refuse it', async () => {
    // Each check is a deliberately slow hash: a dozen is enough to pass the old global cap of 4.
    const flood = Array.from({ length: 12 }, (_, i) => signIn('ghost', `guess-${i}`, `10.1.0.${i + 1}`));
    const real = signIn(s.console.user, s.console.password, '10.2.0.1');
    const [realResult, ...flooded] = await Promise.all([real, ...flood]);
    expect(realResult?.statusCode).toBe(200);
    expect(flooded.every((r) => r.statusCode === 401)).toBe(true);
  }, 60_000);

  it('guesses for one user spread over many addresses: past the per-user limit, addresses that failed are refused, a fresh one still gets its check', async () => {
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => signIn(s.console.user, `wrong-${i}`, `10.3.0.${i + 1}`)));
    expect(guesses.map((r) => r.statusCode)).toEqual(Array.from({ length: 20 }, () => 401));
    const limited = await signIn(s.console.user, 'wrong-again', '10.3.0.1');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await signIn(s.console.user, s.console.password, '10.4.0.1')).statusCode).toBe(200);
    s.clock.advance(61_000);
    expect((await signIn(s.console.user, s.console.password, '10.3.0.1')).statusCode).toBe(200);
  }, 60_000);
});

describe('console sign-in: strangers cannot lock a user out', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await createTestServer();
  });
  afterAll(() => s.close());
  const signIn = (username: string, password: string, ip: string) =>
    s.app.inject({ method: 'POST', url: '/console/login', payload: { username, password }, remoteAddress: ip });

  it('10 wrong passwords from 127.0.0.2 and 10 from 127.0.0.3 do not refuse the right one from 127.0.0.1', async () => {
    for (const ip of ['127.0.0.2', '127.0.0.3']) {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await signIn(s.console.user, `wrong-${i}`, ip)).statusCode);
      // Five checks per (user, source) a minute, then 429 without a check.
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      expect((await signIn(s.console.user, s.console.password, ip)).statusCode).toBe(429);
    }
    expect((await signIn(s.console.user, s.console.password, '127.0.0.1')).statusCode).toBe(200);
  }, 60_000);

  it('a (user, source) pair is limited before its source is: 5 wrong for one user, then other users from there still get checks', async () => {
    for (let i = 0; i < 5; i++) expect((await signIn('ghost', `wrong-${i}`, '127.0.0.9')).statusCode).toBe(401);
    expect((await signIn('ghost', 'wrong', '127.0.0.9')).statusCode).toBe(429);
    expect((await signIn(s.console.user, s.console.password, '127.0.0.9')).statusCode).toBe(200);
  }, 60_000);

  it('failed sign-ins are logged as events with user, source and reason, never the password', async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    const logged = await createTestServer({ config: { logLevel: 'info' }, logStream: stream });
    await logged.app.inject({ method: 'POST', url: '/console/login', payload: { username: logged.console.user, password: 'not-this-one' }, remoteAddress: '127.0.0.5' });
    await logged.close();
    const events = lines.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry['event'] === 'console_sign_in_failed');
    expect(events).toEqual([expect.objectContaining({ user: logged.console.user, source: '127.0.0.5', reason: 'wrong_password' })]);
    expect(lines.join('')).not.toContain('not-this-one');
  }, 60_000);
});

describe('console sign-in: the queue of password checks', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await createTestServer();
  });
  afterAll(() => s.close());

  it('is bounded, drops a check whose client went away, and serves an address that has not failed first', async () => {
    const { registry, issuer, inspector, state } = s.app.tessera;
    const signIn = new ConsoleSignIn(s.store, registry, issuer, inspector, () => s.clock.now, state);
    const { concurrentChecks, queuedChecks } = CONSOLE_SIGN_IN_LIMITS;
    expect((await signIn.signIn('ghost', 'wrong', '10.9.0.1')).ok).toBe(false); // 10.9.0.1 has failed now
    // The running checks hold their places until the queue has been looked at: on a loaded
    // machine a check could otherwise finish and free a place before the waiters are counted.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const getConsoleUser = s.store.getConsoleUser.bind(s.store);
    // Who was given a place, in order: a check looks its user up as soon as it has one.
    const served: string[] = [];
    s.store.getConsoleUser = async (username) => {
      served.push(username);
      if (username !== s.console.user) await held;
      return getConsoleUser(username);
    };
    const finished: string[] = [];
    const track = (label: string, run: Promise<unknown>) => run.then(() => finished.push(label), (error: Error) => finished.push(`${label}:${error.constructor.name}`));
    const running = Array.from({ length: concurrentChecks }, (_, i) => track(`running-${i}`, signIn.signIn('ghost', 'x', `10.9.1.${i}`)));
    const failedWaiter = track('failed', signIn.signIn('ghost', 'x', '10.9.0.1'));
    const gone = new AbortController();
    const abandoned = track('abandoned', signIn.signIn('ghost', 'x', '10.9.2.1', gone.signal));
    const clean = track('clean', signIn.signIn(s.console.user, s.console.password, '10.9.3.1'));
    gone.abort();
    await abandoned;
    expect(finished).toEqual(['abandoned:SignInAbandoned']);
    // Fill the queue with clean waiters: the failed address's waiter gives up its place, the next newcomer is refused.
    const fillers = Array.from({ length: queuedChecks - 1 }, (_, i) => track(`filler-${i}`, signIn.signIn(`ghost-filler-${i}`, 'x', `10.9.4.${i}`)));
    await failedWaiter;
    expect(finished).toContain('failed:TooManyAttempts');
    await expect(signIn.signIn('ghost', 'x', '10.9.5.1')).rejects.toMatchObject({ reason: 'busy' });
    release();
    await Promise.all([...running, clean, ...fillers]);
    s.store.getConsoleUser = getConsoleUser;
    // The clean waiter queued before the fillers and was given a place before them.
    expect(served.indexOf(s.console.user)).toBeLessThan(Math.min(...fillers.map((_, i) => served.indexOf(`ghost-filler-${i}`))));
    expect(Math.min(...fillers.map((_, i) => served.indexOf(`ghost-filler-${i}`)))).toBeGreaterThan(0);
  }, 60_000);
});

describe('console sign-in counters are shared by every process', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await createTestServer();
  });
  afterAll(() => s.close());

  it('failures counted by one process refuse the same address at another once they have synced', async () => {
    const { registry, issuer, inspector, state } = s.app.tessera;
    const [one, two] = [0, 1].map(() => new ConsoleSignIn(s.store, registry, issuer, inspector, () => s.clock.now, state)) as [ConsoleSignIn, ConsoleSignIn];
    for (let i = 0; i < CONSOLE_SIGN_IN_LIMITS.failuresPerSource; i++) expect((await one.signIn(`user-${i}`, 'wrong', '10.8.0.1')).ok).toBe(false);
    await one.sync();
    // A process learns a key's total at its first sync after it saw the key (SharedCounters):
    // one more check at the other process, then the shared count refuses there too.
    expect((await two.signIn('someone', 'wrong', '10.8.0.1')).ok).toBe(false);
    await two.sync();
    await expect(two.signIn(s.console.user, s.console.password, '10.8.0.1')).rejects.toMatchObject({ reason: 'rate_limited' });
    expect((await two.signIn(s.console.user, s.console.password, '10.8.0.2')).ok).toBe(true);
  }, 60_000);
});
