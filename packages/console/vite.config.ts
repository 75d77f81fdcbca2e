import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Built into the server package, which serves it at /console with a strict CSP: no
// inline script or style, so the module-preload polyfill (an inline helper) is off.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  build: {
    outDir: fileURLToPath(new URL('../server/console', import.meta.url)),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: false,
  },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
});
