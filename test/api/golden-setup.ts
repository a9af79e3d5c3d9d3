/**
 * globalSetup for the golden test inside workerd (runs in Node): converts the test models with the install step's
 * code and serves them, with the golden files of ../shared/models/<id>/golden/, from a static HTTP server on
 * 127.0.0.1 — workerd has no file system, so the test fetches what it needs from there.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import type { TestProject } from 'vitest/node';
import { TEST_MODEL_IDS, testBuildDir, testModel } from '../helpers/models.ts';
import { sharedModelsDir } from '../helpers/paths.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    goldenServer: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  for (const id of TEST_MODEL_IDS) await testModel(id);
  const roots: Record<string, string> = { models: testBuildDir, golden: sharedModelsDir };
  const server = createServer((request, response) => {
    const [, root, ...rest] = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname).split('/');
    const base = roots[root ?? ''];
    const path = base ? normalize(join(base, ...rest)) : '';
    if (!base || !path.startsWith(base) || !existsSync(path) || !statSync(path).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': statSync(path).size });
    createReadStream(path).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  project.provide('goldenServer', `http://127.0.0.1:${port}`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
