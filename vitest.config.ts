// Test projects by concept: `core` (pure core and converter, in Node), `api` (the Worker in workerd, real KV),
// `site` (built pages in real Chromium). `npm test` runs them all.
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'core',
          include: ['test/core/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
      {
        // The Worker (wrangler.toml: main, KV, static assets, CompiledWasm rule) running in workerd via Miniflare.
        plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.toml' } })],
        test: {
          name: 'api',
          include: ['test/api/**/*.test.ts'],
          globalSetup: ['test/api/global-setup.ts', 'test/api/golden-setup.ts', 'test/api/cohort-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
      {
        // The built site served by `wrangler dev` (started by the setup), driven in Debian's Chromium.
        test: {
          name: 'site',
          include: ['test/site/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/site/global-setup.ts'],
          fileParallelism: false,
          // After the other projects: the first-map timing (first-map.test.ts) must not share the two cores.
          sequence: { groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
