import { useState } from 'preact/hooks';
import { allPages, type Client, type Federation, type Grant } from '../api.js';
import { notify } from '../messages.js';
import { forgetNames, useNames } from '../names.js';
import { navigate } from '../router.js';
import { Button, confirmAction, Copyable, CopyButton, Field, fieldErrorOf, Link, Loading, Section, Time, useAction, useApi, useLoad, Writes } from '../ui.js';
import { CLIENT_FIELDS, ClientFields, type ClientForm, clientInputOf, METHOD_LABELS, SecretOnce } from './clients.js';
import { curlSnippet, sdkSnippet } from './snippets.js';
import { ClientUsage } from './client-usage.js';
import { GrantClaims } from './grant-claims.js';

interface ClientData { client: Client; grants: Grant[]; federations: Federation[]; consoleClientId: string | null }

function formOf(client: Client): ClientForm {
  return {
    name: client.name,
    method: client.tokenEndpointAuthMethod,
    keySource: client.jwksUri !== null ? 'jwksUri' : 'jwks',
    jwks: client.jwks !== null ? JSON.stringify(client.jwks, null, 2) : '',
    jwksUri: client.jwksUri ?? '',
    subjectDn: client.tlsClientAuthSubjectDn ?? '',
    lifetime: client.accessTokenLifetime?.toString() ?? '',
    quota: client.tokenQuotaPerMinute?.toString() ?? '',
    dpop: client.dpopBoundAccessTokens === true,
    txnTokens: client.txnTokenService === true,
    claims: Object.keys(client.customClaims).length === 0 ? '' : JSON.stringify(client.customClaims, null, 2),
  };
}

export function ClientPage({ tenant, clientId, tab = 'overview' }: { tenant: string; clientId: string; tab?: 'overview' | 'usage' }) {
  const api = useApi();
  const names = useNames(api, tenant);
  const { data, error, reload } = useLoad<ClientData>(async () => {
    const [client, grants, federations] = await Promise.all([
      api.getClient(tenant, clientId),
      allPages((c) => api.listGrants(tenant, { clientId }, c)),
      api.listFederations(tenant).then((p) => p.items.filter((f) => f.rules.some((r) => r.clientId === clientId) || f.exchangeRules.some((r) => r.clients.includes(clientId)))),
    ]);
    return { client, grants, federations, consoleClientId: null };
  }, [tenant, clientId]);
  const [busy, run] = useAction();
  const [newSecret, setNewSecret] = useState<string | null>(null);
  const [editing, setEditing] = useState<ClientForm | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [grantForm, setGrantForm] = useState<{ audience: string; scopes: string[] }>({ audience: '', scopes: [] });
  const [snippetAudience, setSnippetAudience] = useState<string | null>(null);

  if (data === undefined) return <><h1>Client</h1><Loading error={error} what="the client" /></>;
  const { client, grants, federations } = data;
  const isSecretClient = client.tokenEndpointAuthMethod.startsWith('client_secret');

  const toggle = () =>
    run(async () => {
      if (!client.disabled) {
        const ok = await confirmAction({
          title: `Disable ${client.name}?`,
          body: <p>{client.name} can no longer get tokens, and the tokens it holds stop being accepted by introspection, until it is enabled again.</p>,
          confirmLabel: 'Disable client',
        });
        if (!ok) return;
      }
      await api.updateClient(tenant, clientId, { disabled: !client.disabled });
      notify('success', `${client.name} ${client.disabled ? 'enabled' : 'disabled'}`);
      reload();
    });
  const remove = () =>
    run(async () => {
      const ok = await confirmAction({
        title: `Delete ${client.name}?`,
        body: <p>The client, its {client.secrets.length} secret(s) and its {grants.length} grant(s) are deleted; it can never get a token again. This cannot be undone.</p>,
        confirmLabel: 'Delete client',
        ...(grants.length > 0 ? { typed: client.name } : {}),
      });
      if (!ok) return;
      await api.deleteClient(tenant, clientId);
      forgetNames(tenant);
      notify('success', `Client ${client.name} deleted`);
      navigate(`/t/${tenant}/clients`);
    });
  const addSecret = () =>
    run(async () => {
      const created = await api.addSecret(tenant, clientId);
      setNewSecret(created.clientSecret ?? null);
      notify('success', 'New secret created: copy it now, it is shown only once');
      reload();
    });
  const deleteSecret = (secretId: string, lastUsedAt: number | undefined) =>
    run(async () => {
      const ok = await confirmAction({
        title: 'Delete this secret?',
        body: <p>Anything still authenticating with secret <code>{secretId}</code> (last used: <Time at={lastUsedAt} />) is refused from now on.</p>,
        confirmLabel: 'Delete secret',
      });
      if (!ok) return;
      await api.deleteSecret(tenant, clientId, secretId);
      setNewSecret(null);
      notify('success', `Secret ${secretId} deleted`);
      reload();
    });
  const revoke = (grant: Grant) =>
    run(async () => {
      const ok = await confirmAction({
        title: `Revoke access to ${names?.apisByIdentifier.get(grant.audience)?.name ?? grant.audience}?`,
        body: <p>{client.name} loses the scopes <strong>{grant.scopes.join(' ') || '(none)'}</strong> on this API and can no longer get tokens for it.</p>,
        confirmLabel: 'Revoke grant',
      });
      if (!ok) return;
      await api.deleteGrant(tenant, grant.id);
      notify('success', 'Grant revoked');
      reload();
    });
  const addGrant = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      if (grantForm.audience === '') {
        setErrors({ audience: 'choose an API' });
        return;
      }
      try {
        await api.createGrant(tenant, { clientId, audience: grantForm.audience, scopes: grantForm.scopes });
        notify('success', 'Access granted');
        setGrantForm({ audience: '', scopes: [] });
        reload();
      } catch (error) {
        const field = fieldErrorOf(error, ['audience', 'scopes']);
        if (field === null) throw error;
        setErrors({ [field.field]: field.message });
      }
    });
  };
  const save = (e: Event) => {
    e.preventDefault();
    if (editing === null) return;
    void run(async () => {
      setErrors({});
      const parsed = clientInputOf(editing);
      if ('field' in parsed) {
        setErrors({ [parsed.field]: parsed.message });
        return;
      }
      const { input } = parsed;
      // Changing the method can drop a credential (the server deletes the secrets of a
      // client that leaves the secret methods) or need a new one: say so before saving.
      const secretMethod = (m: string | undefined) => m === 'client_secret_basic' || m === 'client_secret_post';
      const leavesSecrets = secretMethod(client.tokenEndpointAuthMethod) && !secretMethod(input.tokenEndpointAuthMethod) && client.secrets.length > 0;
      const needsSecret = secretMethod(input.tokenEndpointAuthMethod) && !secretMethod(client.tokenEndpointAuthMethod);
      if (leavesSecrets) {
        const ok = await confirmAction({
          title: `Delete ${client.name}'s secrets?`,
          body: (
            <p>
              Switching to {METHOD_LABELS[input.tokenEndpointAuthMethod ?? client.tokenEndpointAuthMethod]} deletes the client's{' '}
              <strong>{client.secrets.length} secret{client.secrets.length === 1 ? '' : 's'}</strong> ({client.secrets.map((s) => s.id).join(', ')}): whatever
              uses {client.secrets.length === 1 ? 'it' : 'them'} can no longer get tokens. Switching back later needs a new secret.
            </p>
          ),
          confirmLabel: 'Delete secrets and save',
        });
        if (!ok) return;
      }
      try {
        await api.updateClient(tenant, clientId, {
          ...input,
          jwks: input.jwks ?? null,
          jwksUri: input.jwksUri ?? null,
          tlsClientAuthSubjectDn: input.tlsClientAuthSubjectDn ?? null,
        });
        setEditing(null);
        forgetNames(tenant);
        if (needsSecret) {
          // A secret method without a secret cannot authenticate: the client gets one now, shown once.
          const secret = await api.addSecret(tenant, clientId);
          setNewSecret(secret.clientSecret ?? null);
          notify('success', 'Client saved with a new secret: copy it now, it is shown only once');
        } else notify('success', 'Client saved');
        reload();
      } catch (error) {
        const field = fieldErrorOf(error, CLIENT_FIELDS);
        if (field === null) throw error;
        setErrors({ [field.field]: field.message });
      }
    });
  };

  const grantedAudiences = new Set(grants.map((g) => g.audience));
  const available = [...(names?.apis.values() ?? [])].filter((a) => !grantedAudiences.has(a.identifier));
  const chosenApi = names?.apisByIdentifier.get(grantForm.audience);
  const snippetGrant = grants.find((g) => g.audience === snippetAudience) ?? grants[0];
  const target = {
    clientId,
    method: client.tokenEndpointAuthMethod,
    tokenEndpoint: client.tokenEndpoint,
    issuer: client.issuer,
    audience: snippetGrant?.audience ?? null,
    scopes: snippetGrant?.scopes ?? [],
  };

  return (
    <>
      <p class="crumbs"><Link to={`/t/${tenant}/clients`}>Clients</Link> / {client.name}</p>
      <h1>
        {client.name} {client.disabled ? <span class="badge badge-off">disabled</span> : <span class="badge badge-on">enabled</span>}
      </h1>
      <nav class="tabs" aria-label="Client sections">
        <Link to={`/t/${tenant}/clients/${clientId}`} aria-current={tab === 'overview' ? 'page' : undefined}>Overview</Link>
        <Link to={`/t/${tenant}/clients/${clientId}/usage`} aria-current={tab === 'usage' ? 'page' : undefined}>Usage</Link>
      </nav>
      {tab === 'usage' ? <ClientUsage tenant={tenant} client={client} grants={grants} /> : <>
      <div class="actions">
        <Button write onClick={() => setEditing(formOf(client))}>Edit</Button>
        <Button write busy={busy} onClick={toggle}>{client.disabled ? 'Enable' : 'Disable'}</Button>
        <Button write kind="danger" busy={busy} onClick={remove}>Delete client</Button>
      </div>

      <Section title="Credentials" id="credentials">
        <dl class="props">
          <dt>Client ID</dt><dd><Copyable value={client.clientId} label="client ID" /></dd>
          <dt>Authentication</dt><dd>{METHOD_LABELS[client.tokenEndpointAuthMethod]}</dd>
          <dt>Token endpoint</dt><dd><Copyable value={client.tokenEndpoint} label="token endpoint" /></dd>
          <dt>Issuer</dt><dd><Copyable value={client.issuer} label="issuer" /></dd>
          <dt>Token lifetime</dt><dd>{client.accessTokenLifetime === null ? <span class="muted">tenant default</span> : `${client.accessTokenLifetime} s`}</dd>
          {client.tlsClientAuthSubjectDn !== null ? <><dt>Subject DN</dt><dd><Copyable value={client.tlsClientAuthSubjectDn} label="subject DN" /></dd></> : null}
          {client.jwksUri !== null ? <><dt>JWK Set URL</dt><dd><Copyable value={client.jwksUri} label="JWK Set URL" /></dd></> : null}
          <dt>Created</dt><dd><Time at={client.createdAt} /></dd>
        </dl>
      </Section>

      {editing !== null ? (
        <Section title="Edit client" id="edit-client">
          <form class="form-grid" onSubmit={save} noValidate>
            <ClientFields form={editing} setForm={setEditing} errors={errors} />
            <div class="actions">
              <Button type="submit" kind="primary" busy={busy}>Save</Button>
              <Button onClick={() => setEditing(null)}>Cancel</Button>
            </div>
          </form>
        </Section>
      ) : null}

      {isSecretClient ? (
        <Section title="Secrets" id="secrets" actions={<Button write busy={busy} onClick={addSecret} disabled={client.secrets.length >= 2}>New secret</Button>}>
          {newSecret !== null ? <SecretOnce secret={newSecret} clientId={clientId} /> : null}
          <p class="hint">At most two live secrets, so a rotation overlaps: add the new one, deploy it, then delete the old one.</p>
          {client.secrets.length === 0 ? <p class="empty">No secret: this client cannot authenticate.</p> : (
            <ul class="rows">
              {client.secrets.map((s) => (
                <li>
                  <code>{s.id}</code> <span class="muted">created <Time at={s.createdAt} />, last used <Time at={s.lastUsedAt} /></span>
                  <Button write kind="danger" class="btn-small" busy={busy} onClick={() => deleteSecret(s.id, s.lastUsedAt)} aria-label={`Delete secret ${s.id}`}>Delete</Button>
                </li>
              ))}
            </ul>
          )}
        </Section>
      ) : (
        <Section title="Keys" id="keys">
          {client.jwks !== null ? (
            <ul class="rows">{client.jwks.keys.map((k, i) => <li><code>{k.kid ?? `key ${i + 1}`}</code> <span class="muted">{k.kty}{k.crv ? ` ${k.crv}` : ''}{k.alg ? ` · ${k.alg}` : ''}{k.x5c ? ' · certificate' : ''}</span></li>)}</ul>
          ) : client.jwksUri !== null ? <p>Fetched from <code>{client.jwksUri}</code>.</p> : <p class="muted">Authenticates with a CA-issued certificate; no keys are registered.</p>}
        </Section>
      )}

      <Section title="Access (grants)" id="grants">
        {grants.length === 0 ? <p class="empty">No grants: this client cannot get a token for any API.</p> : (
          <ul class="rows">
            {grants.map((g) => {
              const target = names?.apisByIdentifier.get(g.audience);
              return (
                <li>
                  {target ? <Link to={`/t/${tenant}/apis/${target.id}`}>{target.name}</Link> : <code>{g.audience}</code>}{' '}
                  <span class="scopes">{g.scopes.map((s) => <code class="scope">{s}</code>)}</span>
                  <Button write kind="danger" class="btn-small" busy={busy} onClick={() => revoke(g)} aria-label={`Revoke access to ${target?.name ?? g.audience}`}>Revoke</Button>
                  <GrantClaims tenant={tenant} grant={g} who={`${client.name} on ${target?.name ?? g.audience}`} onSaved={reload} />
                </li>
              );
            })}
          </ul>
        )}
        <Writes>
        <form class="form-grid" onSubmit={addGrant} noValidate>
          <Field label="API" error={errors['audience']}>
            {(a) => (
              <select {...a} name="audience" value={grantForm.audience} onChange={(e) => setGrantForm({ audience: (e.target as HTMLSelectElement).value, scopes: [] })}>
                <option value="">Choose an API…</option>
                {available.map((x) => <option value={x.identifier}>{x.name} ({x.identifier})</option>)}
              </select>
            )}
          </Field>
          {chosenApi ? (
            <fieldset class="field">
              <legend>Scopes</legend>
              {chosenApi.scopes.map((s) => (
                <label class="inline">
                  <input type="checkbox" checked={grantForm.scopes.includes(s.value)} onChange={(e) => setGrantForm({ ...grantForm, scopes: (e.target as HTMLInputElement).checked ? [...grantForm.scopes, s.value] : grantForm.scopes.filter((x) => x !== s.value) })} />{' '}
                  <code>{s.value}</code>{s.description ? <span class="muted"> {s.description}</span> : null}
                </label>
              ))}
              {errors['scopes'] ? <p class="field-error">{errors['scopes']}</p> : null}
            </fieldset>
          ) : null}
          <div class="actions"><Button type="submit" kind="primary" busy={busy}>Grant access</Button></div>
        </form>
        </Writes>
      </Section>

      <Section title="Federation rules" id="federation-rules">
        {federations.length === 0 ? <p class="empty">No federation maps an external workload to this client or lets it exchange users' tokens.</p> : (
          <ul class="rows">
            {federations.flatMap((f) => f.rules.filter((r) => r.clientId === clientId).map((r) => (
              <li><Link to={`/t/${tenant}/federations`}>{f.name}</Link> <span class="muted">{f.issuer}</span> subject <code>{r.subject ?? 'any'}</code>{r.claims && Object.keys(r.claims).length > 0 ? <span class="muted"> if {Object.keys(r.claims).join(', ')}</span> : null}</li>
            )))}
            {federations.flatMap((f) => f.exchangeRules.filter((r) => r.clients.includes(clientId)).map((r) => (
              <li><Link to={`/t/${tenant}/federations`}>{f.name}</Link> <span class="muted">{f.issuer}</span> exchanges users' tokens for audience <code>{r.audience}</code> (RFC 8693)</li>
            )))}
          </ul>
        )}
      </Section>

      <Section title="Get a token" id="snippets">
        {grants.length > 1 ? (
          <label class="inline">API{' '}
            <select value={snippetGrant?.audience} onChange={(e) => setSnippetAudience((e.target as HTMLSelectElement).value)}>
              {grants.map((g) => <option value={g.audience}>{names?.apisByIdentifier.get(g.audience)?.name ?? g.audience}</option>)}
            </select>
          </label>
        ) : null}
        <h3>curl</h3>
        <div class="snippet"><pre tabIndex={0} aria-label="curl command"><code>{curlSnippet(target)}</code></pre><CopyButton value={curlSnippet(target)} label="curl command" /></div>
        <h3>@tessera/client</h3>
        <div class="snippet"><pre tabIndex={0} aria-label="@tessera/client snippet"><code>{sdkSnippet(target)}</code></pre><CopyButton value={sdkSnippet(target)} label="SDK snippet" /></div>
      </Section>

      </>}
    </>
  );
}
