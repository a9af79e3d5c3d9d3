// Leadlight's site: static pages (no server output) served by the same Worker as the API (wrangler.toml [assets]).
// Build with `npm run build:site` from the repository root (astro build + copy of the installed models).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'astro/config';
import { defaultClientConditions } from 'vite';

// Static cohort pages (site/src/lib/static-cohorts.ts) come from the repository's optional cohorts/ directory
// (`leadlight cohort --out cohorts/<name>`); LEADLIGHT_COHORTS_DIR points the build at another one.
process.env.LEADLIGHT_COHORTS_DIR ??= fileURLToPath(new URL('../cohorts/', import.meta.url));

export default defineConfig({
  output: 'static',
  outDir: './dist',
  // No inline styles or scripts: the Content-Security-Policy (site/public/_headers) allows the site's own files only.
  build: { format: 'directory', inlineStylesheets: 'never' },
  trailingSlash: 'ignore',
  compressHTML: true,
  devToolbar: { enabled: false },
  vite: {
    // The pages share small pure helpers with the core (functions/core): allow reading them from outside site/.
    server: { fs: { allow: ['..'] } },
    build: { chunkSizeWarningLimit: 600 },
    // Private mode's engine (functions/platform/ort-browser.ts): onnxruntime-web's builds that load their engine
    // from a given URL (/model-files/ort/, copied by site/scripts/copy-models.mjs) instead of the "bundle" builds,
    // whose `new URL('….wasm', import.meta.url)` would put the 14–27 MB binaries into /_astro/ (above the 25 MiB
    // static-asset limit).
    resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
    // The private-mode Web Worker imports the engine builds on demand (code splitting needs ES module workers).
    worker: { format: 'es' },
  },
});
