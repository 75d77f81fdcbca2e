/** docs/cli.md and `tessera --help` list the same commands, so neither drifts from the CLI. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { commands, groups, USAGE } from '../src/main.js';
import { REPO_ROOT } from './helpers/tessera-process.js';

/** `tessera <name>   a | b | c` or `tessera <name>   summary` lines of the first code block. */
async function documentedCommands(): Promise<Map<string, string>> {
  const text = await readFile(`${REPO_ROOT}docs/cli.md`, 'utf8');
  const block = /```\n([\s\S]*?)```/.exec(text)?.[1] ?? '';
  return new Map(block.split('\n').filter(Boolean).map((line) => {
    const [, name = '', rest = ''] = /^tessera (\S+)\s+(.*)$/.exec(line) ?? [];
    return [name, rest];
  }));
}

describe('docs/cli.md', () => {
  it('names every command and group of the CLI, and no other', async () => {
    const documented = await documentedCommands();
    expect([...documented.keys()].sort()).toEqual(['serve', ...Object.keys(groups), ...Object.keys(commands)].sort());
  });

  it('lists each group with exactly its subcommands, as --help does', async () => {
    const documented = await documentedCommands();
    for (const group of Object.values(groups)) {
      const listed = (documented.get(group.name) ?? '').split('|').map((s) => s.trim());
      expect(listed, group.name).toEqual(Object.keys(group.subcommands));
      expect(USAGE, group.name).toContain(Object.keys(group.subcommands).join(' | '));
    }
  });

  it('has a section for every group and command', async () => {
    const text = await readFile(`${REPO_ROOT}docs/cli.md`, 'utf8');
    for (const name of ['serve', ...Object.keys(groups), ...Object.keys(commands)]) expect(text, name).toContain(`\n## ${name}\n`);
  });
});
