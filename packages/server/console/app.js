// Tessera console: a thin client of the management API (/manage/v1). It signs in with
// the console user's password (POST /console/login) and keeps the short-lived token in
// sessionStorage. Every value from the server is inserted as text, never as HTML.
const API = '/manage/v1';
const $ = (selector) => document.querySelector(selector);
const state = { token: sessionStorage.getItem('tessera.token'), tenant: sessionStorage.getItem('tessera.tenant') || 'default', view: 'clients' };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (value !== false && value != null) el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) if (child != null) el.append(child instanceof Node ? child : String(child));
  return el;
}

function flash(message, kind = 'ok') {
  const el = $('#flash');
  el.className = kind;
  el.textContent = message;
}

async function api(method, path, body) {
  const response = await fetch(API + path, {
    method,
    headers: { authorization: `Bearer ${state.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (response.status === 401) {
    signOut('Your session has ended; sign in again.');
    throw new Error('signed out');
  }
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(`${data?.message ?? response.statusText} (${data?.error ?? response.status})`);
  return data;
}

const when = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '');
const t = () => encodeURIComponent(state.tenant);

function table(headers, rows) {
  return h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length }, 'Nothing here yet.'))));
}

function formOf(title, fields, onSubmit, label = 'Create') {
  const form = h('form', {}, h('h3', {}, title), fields, h('button', { type: 'submit' }, label));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await onSubmit(new FormData(form));
      form.reset();
    } catch (error) {
      if (error.message !== 'signed out') flash(error.message, 'error');
    }
  });
  return form;
}

const input = (name, label, attrs = {}) => h('label', {}, label, h('input', { name, ...attrs }));
const list = (value) => String(value || '').split(/[\s,]+/).filter(Boolean);
const action = (label, fn, cls) => h('button', { class: cls, onclick: async () => { try { await fn(); } catch (error) { if (error.message !== 'signed out') flash(error.message, 'error'); } } }, label);

function showSecret(text, secret) {
  return h('div', { class: 'secret' }, h('strong', {}, text), h('div', { class: 'mono', 'data-secret': '' }, secret), h('div', { class: 'hint' }, 'Copy it now: it is shown only once and stored only as a hash.'));
}

const views = {
  async tenants() {
    const { items } = await api('GET', '/tenants');
    return [
      formOf('New tenant', [input('id', 'Id', { required: true, pattern: '[a-z0-9][a-z0-9-]{0,62}' }), input('name', 'Name')], async (data) => {
        await api('POST', '/tenants', { id: data.get('id'), ...(data.get('name') ? { name: data.get('name') } : {}) });
        flash(`Tenant ${data.get('id')} created.`);
        await loadTenants();
        render();
      }),
      table(['Id', 'Name', 'Issuer', 'Alg', ''], items.map((x) => h('tr', {}, h('td', {}, x.id), h('td', {}, x.name), h('td', { class: 'mono' }, x.issuer), h('td', {}, x.signingAlg),
        h('td', {}, x.id === 'admin' ? '' : action('Delete', async () => { if (confirm(`Delete tenant ${x.id} and everything in it?`)) { await api('DELETE', `/tenants/${x.id}`); flash(`Tenant ${x.id} deleted.`); await loadTenants(); render(); } }, 'danger'))))),
    ];
  },

  async clients(extra) {
    const { items } = await api('GET', `/tenants/${t()}/clients?limit=200`);
    return [
      extra,
      formOf('New client', [input('name', 'Name', { required: true, maxlength: 100 }),
        h('label', {}, 'Authentication', h('select', { name: 'method' }, ['client_secret_basic', 'client_secret_post'].map((m) => h('option', {}, m))))], async (data) => {
        const created = await api('POST', `/tenants/${t()}/clients`, { name: data.get('name'), tokenEndpointAuthMethod: data.get('method') });
        flash(`Client ${created.clientId} created.`);
        render(showSecret(`Secret of ${created.clientId}:`, created.clientSecret));
      }),
      table(['Client id', 'Name', 'Method', 'Secrets', 'Status', ''], items.map((c) => h('tr', {},
        h('td', { class: 'mono' }, c.clientId), h('td', {}, c.name), h('td', {}, c.tokenEndpointAuthMethod),
        h('td', {}, c.secrets.map((s) => h('div', { class: 'mono' }, `${s.id} · created ${when(s.createdAt)}${s.lastUsedAt ? ` · used ${when(s.lastUsedAt)}` : ''} `, c.secrets.length > 1 ? action('×', async () => { await api('DELETE', `/tenants/${t()}/clients/${c.clientId}/secrets/${s.id}`); flash('Secret deleted.'); render(); }, 'quiet') : ''))),
        h('td', {}, c.disabled ? 'disabled' : 'enabled'),
        h('td', {},
          c.tokenEndpointAuthMethod.startsWith('client_secret') ? action('New secret', async () => { const s = await api('POST', `/tenants/${t()}/clients/${c.clientId}/secrets`); render(showSecret(`New secret of ${c.clientId} (the old one keeps working until you delete it):`, s.clientSecret)); }, 'quiet') : '',
          action(c.disabled ? 'Enable' : 'Disable', async () => { await api('PATCH', `/tenants/${t()}/clients/${c.clientId}`, { disabled: !c.disabled }); render(); }, 'quiet'),
          action('Delete', async () => { if (confirm(`Delete client ${c.clientId}? Its tokens end.`)) { await api('DELETE', `/tenants/${t()}/clients/${c.clientId}`); flash('Client deleted.'); render(); } }, 'danger'))))),
    ];
  },

  async apis() {
    const { items } = await api('GET', `/tenants/${t()}/apis?limit=200`);
    return [
      formOf('New API', [input('identifier', 'Identifier (audience)', { required: true, placeholder: 'https://orders.example.com' }), input('scopes', 'Scopes (space-separated)', { placeholder: 'orders:read orders:write' }),
        h('label', {}, 'Tokens', h('select', { name: 'format' }, h('option', {}, 'jwt'), h('option', {}, 'opaque')))], async (data) => {
        await api('POST', `/tenants/${t()}/apis`, { identifier: data.get('identifier'), scopes: list(data.get('scopes')).map((value) => ({ value })), tokenFormat: data.get('format') });
        flash(`API ${data.get('identifier')} created.`);
        render();
      }),
      table(['Identifier', 'Scopes', 'Tokens', 'Introspectors', ''], items.map((a) => h('tr', {}, h('td', { class: 'mono' }, a.identifier), h('td', {}, a.scopes.map((s) => s.value).join(' ')), h('td', {}, a.tokenFormat), h('td', { class: 'mono' }, a.introspectors.join(' ')),
        h('td', {}, action('Delete', async () => { if (confirm(`Delete API ${a.identifier} and its grants?`)) { await api('DELETE', `/tenants/${t()}/apis/${a.id}`); flash('API deleted.'); render(); } }, 'danger'))))),
    ];
  },

  async grants() {
    const [{ items }, clients, apis] = await Promise.all([api('GET', `/tenants/${t()}/grants?limit=200`), api('GET', `/tenants/${t()}/clients?limit=200`), api('GET', `/tenants/${t()}/apis?limit=200`)]);
    return [
      formOf('Grant scopes on an API to a client', [
        h('label', {}, 'Client', h('select', { name: 'clientId', required: true }, clients.items.map((c) => h('option', { value: c.clientId }, `${c.name} (${c.clientId})`)))),
        h('label', {}, 'API', h('select', { name: 'audience', required: true }, apis.items.map((a) => h('option', { value: a.identifier }, a.identifier)))),
        input('scopes', 'Scopes (space-separated)', { required: true }),
      ], async (data) => {
        await api('POST', `/tenants/${t()}/grants`, { clientId: data.get('clientId'), audience: data.get('audience'), scopes: list(data.get('scopes')) });
        flash('Grant created.');
        render();
      }, 'Grant'),
      table(['Client', 'API', 'Scopes', 'Created', ''], items.map((g) => h('tr', {}, h('td', { class: 'mono' }, g.clientId), h('td', { class: 'mono' }, g.audience), h('td', {}, g.scopes.join(' ')), h('td', {}, when(g.createdAt)),
        h('td', {}, action('Revoke', async () => { await api('DELETE', `/tenants/${t()}/grants/${g.id}`); flash('Grant deleted.'); render(); }, 'danger'))))),
    ];
  },

  async keys() {
    const { items } = await api('GET', `/tenants/${t()}/keys`);
    return [
      h('form', {}, h('h3', {}, 'Rotate signing keys'),
        action('Rotate', async () => { await api('POST', `/tenants/${t()}/keys/rotate`, {}); flash('Rotated: the next key now signs; the old one stays published until its tokens expire.'); render(); }),
        action('Emergency rotation', async () => { if (confirm('Remove the active key at once? Tokens it signed stop verifying.')) { await api('POST', `/tenants/${t()}/keys/rotate`, { emergency: true }); flash('Compromised key removed.'); render(); } }, 'danger')),
      table(['Kid', 'Alg', 'Status', 'Created', 'Published until'], items.map((k) => h('tr', {}, h('td', { class: 'mono' }, k.kid), h('td', {}, k.alg), h('td', {}, k.status), h('td', {}, when(k.createdAt)), h('td', {}, when(k.publishUntil))))),
    ];
  },

  async federations() {
    const { items } = await api('GET', `/tenants/${t()}/federations`);
    return [
      h('p', { class: 'hint' }, 'Create federations with the CLI or the management API (see docs/grants.md).'),
      table(['Name', 'Issuer', 'Rules', ''], items.map((f) => h('tr', {}, h('td', {}, f.name), h('td', { class: 'mono' }, f.issuer), h('td', { class: 'mono' }, [...f.rules.map((r) => `${r.subject ?? '(any subject)'} → ${r.clientId}`), ...(f.exchangeRules ?? []).map((r) => `exchange aud ${r.audience} → ${r.clients.join(', ')}`)].join('\n')),
        h('td', {}, action('Delete', async () => { await api('DELETE', `/tenants/${t()}/federations/${f.id}`); render(); }, 'danger'))))),
    ];
  },

  async audit() {
    const { items } = await api('GET', `/tenants/${t()}/audit?limit=100`);
    return [table(['When', 'Actor', 'Action', 'Target', 'Details'], items.map((e) => h('tr', {}, h('td', {}, when(e.at)), h('td', { class: 'mono' }, e.actor), h('td', {}, e.action), h('td', { class: 'mono' }, `${e.targetType} ${e.targetId}`), h('td', { class: 'mono' }, JSON.stringify(e.details)))))];
  },
};

async function render(extra) {
  for (const button of document.querySelectorAll('nav button[data-view]')) button.classList.toggle('active', button.dataset.view === state.view);
  try {
    const content = await views[state.view](extra);
    $('#view').replaceChildren(...[extra && state.view !== 'clients' ? extra : null, ...content].filter(Boolean));
  } catch (error) {
    if (error.message !== 'signed out') flash(error.message, 'error');
  }
}

async function loadTenants() {
  const { items } = await api('GET', '/tenants');
  if (!items.some((x) => x.id === state.tenant)) state.tenant = 'default';
  $('#tenant').replaceChildren(...items.map((x) => h('option', { value: x.id, selected: x.id === state.tenant }, x.id)));
}

function signOut(message) {
  state.token = null;
  sessionStorage.removeItem('tessera.token');
  $('#nav').hidden = true;
  $('#view').replaceChildren();
  $('#login').hidden = false;
  if (message) flash(message, 'error');
}

async function start() {
  $('#login').hidden = true;
  $('#nav').hidden = false;
  await loadTenants();
  await render();
}

$('#login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  const response = await fetch('/console/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: data.get('username'), password: data.get('password') }) });
  const body = await response.json();
  if (!response.ok) return flash(body.message ?? 'Sign-in failed', 'error');
  state.token = body.access_token;
  sessionStorage.setItem('tessera.token', state.token);
  flash('Signed in.');
  await start();
});
$('#signout').addEventListener('click', () => signOut());
$('#tenant').addEventListener('change', (event) => {
  state.tenant = event.target.value;
  sessionStorage.setItem('tessera.tenant', state.tenant);
  flash('');
  render();
});
for (const button of document.querySelectorAll('nav button[data-view]')) {
  button.addEventListener('click', () => {
    state.view = button.dataset.view;
    flash('');
    render();
  });
}

if (state.token) start().catch(() => signOut());
else $('#login').hidden = false;
