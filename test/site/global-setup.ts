/**
 * globalSetup of the `site` project: builds the site, bundles the Worker exactly as `wrangler deploy` would
 * (`--dry-run --outdir`), starts `wrangler dev` on that bundle (same bindings and assets as `npm start`) on a random
 * free port with a fresh local KV folder, waits until it answers, provides its URL to the tests and stops it
 * afterwards (by its process group id). A second server runs the same bundle with the test models (the
 * Ribeiro-size network among them) for the timing of the first relevance map. Serving the pre-built bundle keeps edits to the sources during a run from
 * restarting the server mid-request.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freePort } from '../../functions/cli/free-port.ts';
import { TEST_MODEL_IDS, testBuildDir, testModel } from '../helpers/models.ts';
import { repoRoot } from '../helpers/paths.ts';
import { ensureSiteBuilt } from './build-site.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Worker with the installed models (`npm install`'s models/build). */
    baseUrl: string;
    /** The same Worker with the test models, the Ribeiro-size network among them. */
    testModelsBaseUrl: string;
  }
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

/** Starts `wrangler dev` on the bundled Worker with the assets of `distDir`; resolves with its URL and a stop function. */
async function startWorker(bundle: string, distDir: string): Promise<{ baseUrl: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'leadlight-site-test-'));
  const wrangler = join(repoRoot, 'node_modules/.bin/wrangler');
  const childEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' };
  // The project's config with `main` pointing at the bundle, which wrangler then serves without rebuilding.
  const config = join(state, 'wrangler.toml');
  writeFileSync(
    config,
    readFileSync(join(repoRoot, 'wrangler.toml'), 'utf8')
      .replace(/^main = .*$/mu, `main = ${JSON.stringify(join(bundle, 'index.js'))}\nno_bundle = true`)
      .replace(/^directory = .*$/mu, `directory = ${JSON.stringify(distDir)}`),
  );
  let output = '';
  const child = spawn(
    wrangler,
    ['dev', '--config', config, '--port', String(port), '--inspector-port', String(inspectorPort), '--ip', '127.0.0.1', '--persist-to', state, '--show-interactive-dev-session=false', '--log-level', 'warn'],
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
  return { baseUrl, stop };
}

/**
 * The built pages with the test models (models/build/.test: the CinC model and the Ribeiro-size network converted
 * from the shared same-layout file, as `--weights` would) instead of the installed ones, which on a machine without
 * the published Ribeiro file lack the Ribeiro-size model.
 */
async function distWithTestModels(work: string): Promise<string> {
  await Promise.all(TEST_MODEL_IDS.map((id) => testModel(id)));
  const dist = join(work, 'dist');
  cpSync(join(repoRoot, 'site/dist'), dist, { recursive: true, filter: (src) => !src.startsWith(join(repoRoot, 'site/dist/model-files')) });
  execFileSync(process.execPath, [join(repoRoot, 'site/scripts/copy-models.mjs'), testBuildDir, dist], { stdio: 'pipe' });
  return dist;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureSiteBuilt();
  const work = mkdtempSync(join(tmpdir(), 'leadlight-site-bundle-'));
  const bundle = join(work, 'bundle');
  const childEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' };
  execFileSync(join(repoRoot, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', bundle, '--config', join(repoRoot, 'wrangler.toml')], { cwd: repoRoot, env: childEnv, stdio: 'pipe' });
  const servers = await Promise.allSettled([startWorker(bundle, join(repoRoot, 'site/dist')), distWithTestModels(work).then((dist) => startWorker(bundle, dist))]);
  const stop = async () => {
    await Promise.all(servers.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    rmSync(work, { recursive: true, force: true });
  };
  const failed = servers.find((s) => s.status === 'rejected');
  if (failed) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const [installed, withTestModels] = servers.map((s) => (s as PromiseFulfilledResult<{ baseUrl: string }>).value);
  project.provide('baseUrl', installed!.baseUrl);
  project.provide('testModelsBaseUrl', withTestModels!.baseUrl);
  return stop;
}
