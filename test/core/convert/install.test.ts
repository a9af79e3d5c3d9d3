/**
 * The install step (models/install.ts) finds, verifies and converts model files, offline: a local HTTP server on
 * 127.0.0.1 serves the shared cinc2020 Keras file as is and inside a zip (member `model/model.hdf5`), and the
 * tests check a verified download, a zip download, size and hash mismatches, a dead first mirror, a timeout,
 * the cache, user files with and without the published hash, and that ribeiro2020 is never installed from the
 * layout-random file of the shared folder.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelManifest } from '../../../functions/core/model/manifest.ts';
import { installModel, loadSourceManifest, type InstalledModelRecord } from '../../../models/install.ts';
import { repoRoot, sharedModelsDir } from '../../helpers/paths.ts';

const work = mkdtempSync(join(tmpdir(), 'leadlight-install-'));
const emptyShared = join(work, 'empty-shared');
mkdirSync(emptyShared);
const cincBytes = readFileSync(join(sharedModelsDir, 'cinc2020-ai-strollers', 'ECGCNNX_V4.h5'));
const zipBytes = zipSync({ 'model/README.txt': new TextEncoder().encode('not the model'), 'model/model.hdf5': new Uint8Array(cincBytes) }, { level: 1 });
const requests: string[] = [];
let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/ECGCNNX_V4.h5') res.end(cincBytes);
    else if (req.url === '/model.zip') res.end(Buffer.from(zipBytes));
    else if (req.url === '/hang') {
      /* never answers */
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address() as { port: number };
  base = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
  rmSync(work, { recursive: true, force: true });
});

const cinc = loadSourceManifest('cinc2020-ai-strollers');
const cincSha256 = createHash('sha256').update(cincBytes).digest('hex');
const cincGitBlob = createHash('sha1').update(`blob ${cincBytes.length}\0`).update(cincBytes).digest('hex');

function variant(source: Partial<ModelManifest['source']>): ModelManifest {
  return { ...cinc, source: { ...cinc.source, ...source } };
}

function buildDirFor(name: string): string {
  return join(work, name);
}

describe('downloads', () => {
  it('the published file, verified by size and sha256, and converts it', async () => {
    const buildDir = buildDirFor('raw');
    const rec = await installModel(variant({ downloadUrls: [`${base}/ECGCNNX_V4.h5`] }), { buildDir, sharedModelsDir: emptyShared });
    expect(rec.status).toBe('available');
    expect(rec.converted).toMatchObject({ sha256: cinc.source.sha256, sizeBytes: cinc.source.sizeBytes, published: true, fromFile: 'ECGCNNX_V4.h5' });
    for (const f of [rec.weightsFile!, rec.graphs.classifier!, rec.graphs.gradient!]) expect(existsSync(join(buildDir, cinc.id, f))).toBe(true);
    expect(JSON.parse(readFileSync(join(buildDir, cinc.id, 'manifest.json'), 'utf8'))).toEqual(rec);
  });

  it('a zip and extracts the member named in the manifest, verified by git blob id', async () => {
    const buildDir = buildDirFor('zip');
    const manifest = variant({ downloadUrls: [`${base}/missing.zip`, `${base}/model.zip`], file: 'model/model.hdf5', sha256: undefined, gitBlobSha1: cincGitBlob });
    const rec = await installModel(manifest, { buildDir, sharedModelsDir: emptyShared });
    expect(rec.status).toBe('available');
    expect(rec.converted).toMatchObject({ sha256: cincSha256, published: true, fromFile: 'model.hdf5' });
  });

  it('a file of the wrong size and reports the model unavailable', async () => {
    const rec = await installModel(variant({ downloadUrls: [`${base}/ECGCNNX_V4.h5`], sizeBytes: cinc.source.sizeBytes + 1 }), { buildDir: buildDirFor('size'), sharedModelsDir: emptyShared });
    expect(rec.status).toBe('unavailable');
    expect(rec.reason).toContain(`instead of ${cinc.source.sizeBytes + 1}`);
    expect(rec.reason).toContain(cinc.source.envVar);
    expect(rec.graphs).toEqual({});
  });

  it('a file with another hash and reports the model unavailable', async () => {
    const wrong = 'f'.repeat(64);
    const rec = await installModel(variant({ downloadUrls: [`${base}/ECGCNNX_V4.h5`], sha256: wrong }), { buildDir: buildDirFor('hash'), sharedModelsDir: emptyShared });
    expect(rec.status).toBe('unavailable');
    expect(rec.reason).toContain('sha256');
    const rec2 = await installModel(variant({ downloadUrls: [`${base}/model.zip`], file: 'model/model.hdf5', sha256: undefined, gitBlobSha1: '0'.repeat(40) }), { buildDir: buildDirFor('hash2'), sharedModelsDir: emptyShared });
    expect(rec2.status).toBe('unavailable');
    expect(rec2.reason).toContain('git blob id');
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const rec = await installModel(variant({ downloadUrls: [`${base}/hang`] }), { buildDir: buildDirFor('hang'), sharedModelsDir: emptyShared, downloadTimeoutMs: 300 });
    expect(rec.status).toBe('unavailable');
    expect(rec.reason).toContain('timed out');
  });
});

describe('the cache', () => {
  it('keeps a current build without downloading again', async () => {
    const buildDir = buildDirFor('cache');
    const manifest = variant({ downloadUrls: [`${base}/ECGCNNX_V4.h5`] });
    const first = await installModel(manifest, { buildDir, sharedModelsDir: emptyShared });
    const before = requests.length;
    const started = performance.now();
    const second = await installModel(manifest, { buildDir, sharedModelsDir: emptyShared });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(requests.length).toBe(before);
    expect(second.converted!.at).toBe(first.converted!.at);
  });

  it('uses the shared folder and skips conversion when the hash is unchanged', async () => {
    const buildDir = buildDirFor('shared');
    const first = await installModel(cinc, { buildDir, sharedModelsDir, offline: true });
    expect(first).toMatchObject({ status: 'available', converted: { published: true, sha256: cincSha256 } });
    const second = await installModel(cinc, { buildDir, sharedModelsDir, offline: true });
    expect(second.converted!.at).toBe(first.converted!.at);
  });
});

describe('ribeiro2020', () => {
  const ribeiro = loadSourceManifest('ribeiro2020');
  const randomFile = join(sharedModelsDir, 'ribeiro2020', 'ribeiro2020-layout-random.h5');

  it('is unavailable, with a reason saying how to provide it, when only the layout-random file is shared', async () => {
    const rec = await installModel(ribeiro, { buildDir: buildDirFor('ribeiro-none'), sharedModelsDir, offline: true });
    expect(rec.status).toBe('unavailable');
    expect(rec.reason).toContain(ribeiro.source.envVar);
    expect(rec.reason).toContain('--weights ribeiro2020=');
    expect(rec.reason).toContain(ribeiro.source.url);
    expect(existsSync(join(buildDirFor('ribeiro-none'), 'ribeiro2020', 'classifier.onnx'))).toBe(false);
  });

  it('converts a user file with another hash, recording that it is not the published one', async () => {
    const rec = await installModel(ribeiro, { buildDir: buildDirFor('ribeiro-user'), sharedModelsDir, offline: true, weights: { ribeiro2020: randomFile } });
    expect(rec.status).toBe('available');
    expect(rec.converted).toMatchObject({ published: false, fromFile: 'ribeiro2020-layout-random.h5', sizeBytes: readFileSync(randomFile).length });
    expect((rec as InstalledModelRecord).warnings?.[0]).toContain('not the published');
    expect(rec.parameters).toBeGreaterThan(6_000_000);
  });

  it('takes the user file from the environment variable named in the manifest', async () => {
    const rec = await installModel(ribeiro, { buildDir: buildDirFor('ribeiro-env'), sharedModelsDir: emptyShared, offline: true, env: { [ribeiro.source.envVar]: randomFile } });
    expect(rec).toMatchObject({ status: 'available', converted: { published: false } });
  });

  it('refuses a user file with another layout', async () => {
    const rec = await installModel(ribeiro, { buildDir: buildDirFor('ribeiro-wrong'), sharedModelsDir, offline: true, weights: { ribeiro2020: join(sharedModelsDir, 'cinc2020-ai-strollers', 'ECGCNNX_V4.h5') } });
    expect(rec.status).toBe('unavailable');
    expect(rec.reason).toContain('layout');
  });
});

it('never fails the npm install, even with bad arguments', () => {
  const run = spawnSync(process.execPath, [join(repoRoot, 'models/install.ts'), '--no-such-flag'], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status).toBe(0);
  expect(run.stdout).toContain('skipped');
});
