// Leadlight's site: static pages (no server output) served by the same Worker as the API (wrangler.toml [assets]).
// Build with `npm run build:site` from the repository root (astro build + copy of the installed models).
import { defineConfig } from 'astro/config';

export default defineConfig({
  output: 'static',
  outDir: './dist',
  build: { format: 'directory', inlineStylesheets: 'auto' },
  trailingSlash: 'ignore',
  compressHTML: true,
  devToolbar: { enabled: false },
  vite: {
    // The pages share small pure helpers with the core (functions/core): allow reading them from outside site/.
    server: { fs: { allow: ['..'] } },
    build: { chunkSizeWarningLimit: 600 },
  },
});
