/**
 * Console single sign-on routes (docs/console.md): /console/oidc says whether it is on,
 * /console/oidc/login sends the browser to the provider, /console/oidc/callback takes
 * its answer and hands the console its session in the URL fragment (never sent to a
 * server, so never in an access log), which the page reads and removes at once.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type ConsoleSso, type PendingSignIn, SsoRefused } from '../domain/console-sso.js';

const COOKIE = 'tessera_console_oidc';
const PENDING_SECONDS = 600;

function cookieOf(header: string | undefined): PendingSignIn | null {
  const raw = (header ?? '').split(/;\s*/).find((part) => part.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1);
  if (raw === undefined) return null;
  try {
    const value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<PendingSignIn>;
    return typeof value.state === 'string' && typeof value.nonce === 'string' && typeof value.verifier === 'string' ? { state: value.state, nonce: value.nonce, verifier: value.verifier } : null;
  } catch {
    return null;
  }
}

export async function consoleSsoRoutes(app: FastifyInstance, deps: { sso: ConsoleSso | null; publicUrl: string; headers: Record<string, string> }): Promise<void> {
  const secure = deps.publicUrl.startsWith('https:') ? '; Secure' : '';
  const redirectUri = `${deps.publicUrl}/console/oidc/callback`;
  const cookie = (value: string, maxAge: number) => `${COOKIE}=${value}; Path=/console/oidc; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`;
  const refuse = (reply: FastifyReply, message: string) =>
    reply.code(302).headers({ ...deps.headers, 'Cache-Control': 'no-store', 'Set-Cookie': cookie('', 0) }).redirect(`/console/#sso_error=${encodeURIComponent(message)}`);

  app.get('/console/oidc', { schema: { hide: true } }, async (_request, reply) => reply.headers({ 'Cache-Control': 'no-store' }).send({ enabled: deps.sso !== null }));

  app.get('/console/oidc/login', { schema: { hide: true } }, async (request, reply) => {
    if (deps.sso === null) return reply.code(404).send({ error: 'not_found', message: 'single sign-on is not configured (--console-oidc-issuer)' });
    try {
      const { url, pending } = await deps.sso.start(redirectUri);
      return reply
        .headers({ ...deps.headers, 'Cache-Control': 'no-store', 'Set-Cookie': cookie(Buffer.from(JSON.stringify(pending)).toString('base64url'), PENDING_SECONDS) })
        .redirect(url);
    } catch (error) {
      request.log.warn({ err: error }, 'console single sign-on: the OpenID Provider cannot be reached');
      return refuse(reply, 'the identity provider cannot be reached; try again, or sign in with a console user');
    }
  });

  app.get('/console/oidc/callback', { schema: { hide: true } }, async (request, reply) => {
    if (deps.sso === null) return reply.code(404).send({ error: 'not_found', message: 'single sign-on is not configured' });
    const pending = cookieOf(request.headers.cookie);
    if (pending === null) return refuse(reply, 'the sign-in took too long or started in another browser; try again');
    try {
      const { session, username } = await deps.sso.finish(new URL(request.url, deps.publicUrl), pending);
      const fragment = new URLSearchParams({ sso_token: session.accessToken, expires_in: String(session.expiresIn), user: username });
      return reply.code(302).headers({ ...deps.headers, 'Cache-Control': 'no-store', 'Set-Cookie': cookie('', 0) }).redirect(`/console/#${fragment.toString()}`);
    } catch (error) {
      if (error instanceof SsoRefused) return refuse(reply, error.message);
      throw error;
    }
  });
}
