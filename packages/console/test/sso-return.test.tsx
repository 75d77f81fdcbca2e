// @vitest-environment happy-dom
/** The console picks up a single sign-on session from the URL fragment, and removes it from the address bar. */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { waitFor } from './fake-server.js';

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement('div');
  document.body.append(root);
  sessionStorage.clear();
  globalThis.fetch = (async () => new Response(JSON.stringify({ error: 'not_found', message: 'none' }), { status: 404 })) as typeof fetch;
});
afterEach(() => {
  render(null, root);
  root.remove();
});

describe('single sign-on return', () => {
  it('stores the session from #sso_token, shows who signed in, and clears the fragment', async () => {
    history.replaceState(null, '', '/console/t/default/clients#sso_token=tok123&expires_in=900&user=oidc%3Aalice');
    render(<App />, root);
    await waitFor(() => root.querySelector('.user')?.textContent?.includes('oidc:alice'));
    expect(location.hash).toBe('');
    expect(JSON.parse(sessionStorage.getItem('tessera.console.session') ?? '{}')).toMatchObject({ token: 'tok123', user: 'oidc:alice' });
  });

  it('says why single sign-on was refused, on the sign-in page', async () => {
    history.replaceState(null, '', '/console/#sso_error=the%20ID%20token%20has%20no%20role');
    render(<App />, root);
    await waitFor(() => root.textContent?.includes('Single sign-on: the ID token has no role'));
    expect(root.querySelector('input[name="password"]')).not.toBeNull();
    expect(location.hash).toBe('');
  });
});
