/**
 * `npm run bench [-- section ...]`: runs every benchmark section (or the named ones)
 * in one process on this machine, so every figure is measured side by side with its
 * reference. Each section prints its own table and ratios.
 */
interface Section {
  name: string;
  load: () => Promise<{ run: () => Promise<void> }>;
}

const sections: Section[] = [
  { name: 'token', load: () => import('./token-endpoint.js') },
  { name: 'verifier', load: () => import('./verifier.js') },
  { name: 'client', load: () => import('./client.js') },
  { name: 'startup', load: () => import('./startup.js') },
  { name: 'registry', load: () => import('./registry.js') },
  { name: 'tenants', load: () => import('./many-tenants.js') },
  { name: 'usage', load: () => import('./usage.js') },
  { name: 'dpop', load: () => import('./dpop.js') },
  { name: 'junk', load: () => import('./junk-tenant.js') },
  { name: 'test-issuer', load: () => import('./test-issuer.js') },
];

const wanted = process.argv.slice(2);
for (const section of sections) {
  if (wanted.length > 0 && !wanted.includes(section.name)) continue;
  let mod: { run: () => Promise<void> };
  try {
    mod = await section.load();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      console.log(`\n## ${section.name}: not present, skipped`);
      continue;
    }
    throw error;
  }
  console.log(`\n## ${section.name}`);
  await mod.run();
}
