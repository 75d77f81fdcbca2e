import type { SigningKey } from '../api.js';
import { notify } from '../messages.js';
import { Button, confirmAction, Loading, Section, Time, useAction, useApi, useLoad } from '../ui.js';

const ORDER: Record<string, number> = { next: 0, active: 1, retired: 2, revoked: 3 };

/** The keys as a timeline: next, active, retired (still published), removed. */
export function KeysView({ tenant }: { tenant: string }) {
  const api = useApi();
  const { data, error, reload } = useLoad(() => api.listKeys(tenant), [tenant]);
  const [busy, run] = useAction();
  const rotate = (emergency: boolean) =>
    run(async () => {
      if (emergency) {
        const ok = await confirmAction({
          title: 'Emergency rotation?',
          body: <p>The active key is removed at once, not retired: every token it signed stops verifying now, and clients must get new tokens. Use this when the key may be compromised.</p>,
          confirmLabel: 'Rotate in an emergency',
          typed: tenant,
        });
        if (!ok) return;
      }
      await api.rotateKeys(tenant, emergency);
      notify('success', emergency ? 'Emergency rotation done: the old key is gone' : 'Keys rotated: the next key signs now; the old one stays published until its tokens expire');
      reload();
    });
  const keys = [...(data?.items ?? [])].sort((a, b) => (ORDER[a.status] ?? 9) - (ORDER[b.status] ?? 9) || b.createdAt - a.createdAt);
  return (
    <>
      <h1>Signing keys</h1>
      <div class="actions">
        <Button write kind="primary" busy={busy} onClick={() => rotate(false)}>Rotate</Button>
        <Button write kind="danger" busy={busy} onClick={() => rotate(true)}>Emergency rotation</Button>
      </div>
      <Section title="Rotation timeline" id="timeline">
        {data === undefined ? <Loading error={error} what="keys" /> : (
          <ol class="timeline">
            {keys.map((k: SigningKey) => (
              <li class={`key key-${k.status}`}>
                <span class={`badge badge-${k.status}`}>{k.status === 'revoked' ? 'removed' : k.status}</span> <code class="id">{k.kid}</code> <span class="muted">{k.alg}</span>
                <dl class="props compact">
                  <dt>Created</dt><dd><Time at={k.createdAt} /></dd>
                  <dt>Active since</dt><dd><Time at={k.activatedAt} empty={k.status === 'next' ? 'at the next rotation' : '—'} /></dd>
                  <dt>Retired</dt><dd><Time at={k.retiredAt} empty="—" /></dd>
                  <dt>Published until</dt><dd><Time at={k.publishUntil} empty={k.status === 'retired' ? '—' : 'while in use'} /></dd>
                </dl>
              </li>
            ))}
          </ol>
        )}
      </Section>
    </>
  );
}
