/** A plan for people (like `terraform plan`) and for machines (--json). Never a secret: plans hold none. */
import type { Change, Plan } from './plan.js';

const SYMBOL = { create: '+', update: '~', delete: '-' } as const;

export function summarize(plan: Plan): { create: number; update: number; delete: number } {
  const count = (action: Change['action']) => plan.changes.filter((c) => c.action === action).length;
  return { create: count('create'), update: count('update'), delete: count('delete') };
}

export function planText(plan: Plan, options: { prune: boolean; secretsFrom?: boolean }): string {
  const out: string[] = [];
  if (plan.changes.length === 0) {
    out.push('No changes. The server matches the file.');
  } else {
    let tenant: string | undefined;
    for (const change of [...plan.changes].sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0))) {
      if (change.tenant !== tenant) {
        tenant = change.tenant;
        out.push(`tenant ${tenant}`);
      }
      out.push(...changeLines(change, options.secretsFrom === true));
    }
    const { create, update, delete: remove } = summarize(plan);
    out.push('', `Plan: ${create} to create, ${update} to update, ${remove} to delete.`);
  }
  if (!options.prune && plan.unmanaged.length > 0) {
    out.push('', `${plan.unmanaged.length} object(s) on the server are not in the file and stay as they are (apply --prune deletes them):`);
    for (const object of plan.unmanaged) out.push(`  ${object.tenant}: ${object.kind} ${object.name}`);
  }
  return `${out.join('\n')}\n`;
}

export function changeLines(change: Change, secretsFrom = false): string[] {
  const issued = secretsFrom ? 'taken from --secrets-from' : 'shown once after apply, or written to --secrets-out';
  const title = change.kind === 'secret'
    ? `  + secret of client ${change.name} (it authenticates with a secret and has none; ${issued})`
    : `  ${SYMBOL[change.action]} ${change.kind} ${change.name}`;
  const lines = [title];
  for (const field of change.fields) {
    if (change.action === 'create') lines.push(`      ${field.field}: ${show(field.after)}`);
    else lines.push(`      ${field.field}: ${show(field.before)} → ${show(field.after)}`);
  }
  if (change.action === 'create' && change.kind === 'client' && change.secretFor !== undefined) lines.push(`      (its secret: ${issued})`);
  if (change.blocked !== undefined) lines.push(`      ! cannot be applied: ${change.blocked}`);
  return lines;
}

function show(value: unknown): string {
  if (value === undefined || value === null) return '(none)';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return `[${value.join(', ')}]`;
  if (Array.isArray(value) && value.every((v) => typeof v === 'object' && v !== null && 'value' in v)) {
    return `[${(value as { value: string; description?: string }[]).map((s) => (s.description === undefined ? s.value : `${s.value} (${JSON.stringify(s.description)})`)).join(', ')}]`;
  }
  return JSON.stringify(value);
}

/** The plan for machines: every change with its fields, nothing that could hold a secret. */
export function planJson(plan: Plan): Record<string, unknown> {
  return {
    changes: plan.changes.map((c) => ({
      action: c.action,
      kind: c.kind,
      tenant: c.tenant,
      name: c.name,
      fields: c.fields,
      ...(c.blocked !== undefined ? { blocked: c.blocked } : {}),
    })),
    unmanaged: plan.unmanaged,
    summary: summarize(plan),
  };
}
