/**
 * Builds the site (astro build + copy of the installed models, as `npm run build:site` does) when site/dist is
 * missing or older than its sources, so the `api` and `site` test projects run against the current pages and
 * models. A directory lock keeps two projects from building at once.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.ts';

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Runs `build` holding site/.build-lock: astro keeps state under site/ that two builds must not share. */
export async function withSiteBuildLock<T>(build: () => Promise<T> | T): Promise<T> {
  const lock = join(repoRoot, 'site/.build-lock');
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (i > 600) throw new Error('site build lock held for 5 minutes; remove site/.build-lock');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await build();
  } finally {
    rmdirSync(lock);
  }
}

export function ensureSiteBuilt(): Promise<void> {
  return withSiteBuildLock(() => {
    const built = join(repoRoot, 'site/dist/index.html');
    const index = join(repoRoot, 'site/dist/model-files/index.json');
    const sources = Math.max(
      newestMtime(join(repoRoot, 'site/src')),
      newestMtime(join(repoRoot, 'site/astro.config.mjs')),
      newestMtime(join(repoRoot, 'site/scripts')),
      newestMtime(join(repoRoot, 'models/build')),
      // The pages import pure core code (e.g. the cohort renderers of functions/core/render).
      newestMtime(join(repoRoot, 'functions/core')),
      // Private mode's Web Worker bundles the ORT adapter's browser backend and the Worker's read options.
      newestMtime(join(repoRoot, 'functions/platform')),
      newestMtime(join(repoRoot, 'functions/worker/read-options.ts')),
    );
    if (existsSync(built) && existsSync(index) && statSync(built).mtimeMs >= sources && statSync(index).mtimeMs >= sources) return;
    const bin = join(repoRoot, 'node_modules/.bin');
    const env = { ...process.env, ASTRO_TELEMETRY_DISABLED: '1', PATH: `${bin}:${process.env.PATH}` };
    execFileSync(join(bin, 'astro'), ['build', '--root', 'site', '--silent'], { cwd: repoRoot, env, stdio: 'inherit' });
    execFileSync(process.execPath, ['site/scripts/copy-models.mjs'], { cwd: repoRoot, env, stdio: 'inherit' });
  });
}
