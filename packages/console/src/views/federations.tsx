import { useState } from 'preact/hooks';
import type { Federation } from '../api.js';
import { notify } from '../messages.js';
import { clientName, resolveClients, useClientChoices, useNames } from '../names.js';
import { Button, confirmAction, DataList, Link, Section, Time, useAction, useApi, usePermissions, Writes } from '../ui.js';
import { FederationEditor } from './federation-form.js';
import { describeRule } from './federation-model.js';

const KIND_LABELS: Record<string, string> = { workload: 'Workloads (RFC 7523)', subject: 'Token exchange (RFC 8693)' };

function replayText(f: Federation): string {
  const r = f.replayProtection;
  return r.mode === 'single-use' ? 'single use' : r.mode === 'max-age' ? `max age ${r.maxAgeSeconds ?? '?'} s` : 'off';
}

export function FederationsView({ tenant }: { tenant: string }) {
  const api = useApi();
  const [shown, setShown] = useState<string[]>([]);
  const names = useNames(api, tenant, shown);
  // The editor's client menus list the tenant's clients; a viewer has no editor.
  const clients = useClientChoices(api, tenant, usePermissions().canWrite);
  const [reload, setReload] = useState(0);
  const [editing, setEditing] = useState<Federation | null>(null);
  const [busy, run] = useAction();
  const nameOf = (id: string) => clientName(names, id);

  const remove = (f: Federation) =>
    run(async () => {
      const what = f.kind === 'subject'
        ? <p>Clients can no longer exchange users' tokens from <code>{f.issuer}</code>: {f.exchangeRules.length} exchange rule(s) ({f.exchangeRules.map((r) => `${r.audience} for ${r.clients.map(nameOf).join(', ')}`).join('; ')}) stop working.</p>
        : <p>Workloads with tokens from <code>{f.issuer}</code> can no longer act as clients: {f.rules.length} rule(s) ({f.rules.map((r) => describeRule(r, nameOf)).join('; ')}) stop mapping subjects to clients.</p>;
      const ok = await confirmAction({ title: `Delete federation ${f.name}?`, body: what, confirmLabel: 'Delete federation' });
      if (!ok) return;
      await api.deleteFederation(tenant, f.id);
      if (editing?.id === f.id) setEditing(null);
      notify('success', `Federation ${f.name} deleted`);
      setReload((n) => n + 1);
    });
  const done = (saved: Federation | null) => {
    setEditing(null);
    if (saved !== null) setReload((n) => n + 1);
  };
  return (
    <>
      <h1>Federations</h1>
      <p class="hint">Trusted external issuers. Workload federations (Kubernetes, GitHub Actions, a cloud): their workloads' tokens act as the client a rule maps them to (RFC 7523 §2.1). Token-exchange federations: a client exchanges a user's token from the issuer for a Tessera token on the user's behalf (RFC 8693).</p>
      <Writes>
        {editing !== null ? (
          <Section title={`Edit federation ${editing.name}`} id="edit-federation">
            <FederationEditor key={editing.id} tenant={tenant} initial={editing} clients={clients} onDone={done} />
          </Section>
        ) : (
          <Section title="New federation" id="new-federation">
            <FederationEditor key="new" tenant={tenant} initial={null} clients={clients} onDone={done} />
          </Section>
        )}
      </Writes>
      <Section title="All federations" id="all-federations">
        <DataList<Federation>
          label="Federations"
          deps={[tenant]}
          reloadToken={reload}
          load={async () => {
            const page = await api.listFederations(tenant);
            const ids = page.items.flatMap((f) => [...f.rules.map((r) => r.clientId), ...f.exchangeRules.flatMap((r) => r.clients)]);
            await resolveClients(api, tenant, ids);
            setShown(ids);
            return page;
          }}
          search={(f) => `${f.name} ${f.issuer} ${f.kind} ${f.rules.map((r) => describeRule(r, nameOf)).join(' ')} ${f.exchangeRules.map((r) => `${r.audience} ${r.clients.map(nameOf).join(' ')}`).join(' ')}`}
          rowKey={(f) => f.id}
          empty="No federations yet."
          columns={[
            { label: 'Name', sort: (f) => f.name.toLowerCase(), render: (f) => f.name },
            { label: 'Kind', sort: (f) => f.kind, render: (f) => KIND_LABELS[f.kind] ?? f.kind },
            { label: 'Issuer', sort: (f) => f.issuer, render: (f) => <code class="id">{f.issuer}</code> },
            {
              label: 'Rules',
              render: (f) => f.kind === 'subject' ? (
                <ul class="plain">{f.exchangeRules.map((r) => <li>audience <code class="id">{r.audience}</code> → {r.clients.map((id, i) => <>{i > 0 ? ', ' : ''}<Link to={`/t/${tenant}/clients/${id}`}>{nameOf(id)}</Link></>)}{r.claims && Object.keys(r.claims).length > 0 ? <span class="muted"> if {Object.keys(r.claims).join(', ')}</span> : null}</li>)}</ul>
              ) : (
                <ul class="plain">{f.rules.map((r) => <li><code class="id">{r.subject ?? 'any subject'}</code>{r.claims && Object.keys(r.claims).length > 0 ? <span class="muted"> if {Object.keys(r.claims).join(', ')}</span> : null} → <Link to={`/t/${tenant}/clients/${r.clientId}`}>{nameOf(r.clientId)}</Link></li>)}</ul>
              ),
            },
            { label: 'Replay', sort: (f) => f.replayProtection.mode, render: (f) => replayText(f) },
            { label: 'Claims copied', render: (f) => Object.keys(f.claimMappings).length === 0 ? <span class="muted">none</span> : <span class="scopes">{Object.keys(f.claimMappings).map((c) => <code class="scope">{c}</code>)}</span> },
            { label: 'Created', sort: (f) => f.createdAt, render: (f) => <Time at={f.createdAt} /> },
            {
              label: 'Actions',
              render: (f) => (
                <span class="actions-inline">
                  <Button write class="btn-small" onClick={() => { setEditing(f); setTimeout(() => document.getElementById('edit-federation')?.scrollIntoView({ block: 'start' }), 0); }} aria-label={`Edit federation ${f.name}`}>Edit</Button>
                  <Button write kind="danger" class="btn-small" busy={busy} onClick={() => remove(f)} aria-label={`Delete federation ${f.name}`}>Delete</Button>
                </span>
              ),
            },
          ]}
        />
      </Section>
    </>
  );
}
