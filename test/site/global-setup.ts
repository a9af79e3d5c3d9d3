/**
 * globalSetup of the `site` project: builds the site, bundles the Worker exactly as `wrangler deploy` would
 * (`--dry-run --outdir`), starts `wrangler dev` on that bundle (same bindings and assets as `npm start`) on a random
 * free port with a fresh local KV folder, waits until it answers, provides its URL to the tests and stops it
 * afterwards (by its process group id). Serving the pre-built bundle keeps edits to the sources during a run from
 * restarting the server mid-request.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot } from '../helpers/paths.ts';
import { ensureSiteBuilt } from './build-site.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(`${url}/api/models`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`wrangler dev did not answer within ${timeoutMs / 1000} s:\n${log()}`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureSiteBuilt();
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'leadlight-site-test-'));
  const wrangler = join(repoRoot, 'node_modules/.bin/wrangler');
  const bundle = join(state, 'bundle');
  const childEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' };
  execFileSync(wrangler, ['deploy', '--dry-run', '--outdir', bundle, '--config', join(repoRoot, 'wrangler.toml')], { cwd: repoRoot, env: childEnv, stdio: 'pipe' });
  // The project's config with `main` pointing at the bundle, which wrangler then serves without rebuilding.
  const config = join(state, 'wrangler.toml');
  writeFileSync(
    config,
    readFileSync(join(repoRoot, 'wrangler.toml'), 'utf8')
      .replace(/^main = .*$/mu, `main = ${JSON.stringify(join(bundle, 'index.js'))}\nno_bundle = true`)
      .replace(/^directory = .*$/mu, `directory = ${JSON.stringify(join(repoRoot, 'site/dist'))}`),
  );
  let output = '';
  const child = spawn(
    wrangler,
    ['dev', '--config', config, '--port', String(port), '--ip', '127.0.0.1', '--persist-to', state, '--show-interactive-dev-session=false', '--log-level', 'warn'],
    { cwd: state, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      // wrangler starts workerd as a child: stop the whole group we created.
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => setTimeout(r, 500));
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(state, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(baseUrl, child, () => output.slice(-4000), 120_000);
  } catch (e) {
    await stop();
    throw e;
  }
  project.provide('baseUrl', baseUrl);
  return stop;
}
