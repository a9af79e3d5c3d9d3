/**
 * Build-time source of the site's static cohort pages: the folders written by `leadlight cohort --out cohorts/<name>`
 * under the repository's optional `cohorts/` directory (gitignored; LEADLIGHT_COHORTS_DIR overrides it, see
 * site/astro.config.mjs). Each folder with a cohort.json becomes /cohorts/<name>/; every cohort.json is checked
 * against the one schema (functions/core/cohort-schema.ts) so a broken file fails the build with a clear message.
 * Runs in Node during `astro build` only (never shipped to the browser).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CohortOutput } from '../../../functions/core/analysis/cohort-members.ts';
import { checkCohort } from '../../../functions/core/cohort-schema.ts';

/** Folder names that become page addresses: the live cohort names' rule; `live` is the live page's address. */
const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/u;
const RESERVED = new Set(['live']);

export interface StaticCohort {
  name: string;
  cohort: CohortOutput;
}

export function cohortsDir(): string | null {
  const dir = process.env.LEADLIGHT_COHORTS_DIR;
  return dir && existsSync(dir) && statSync(dir).isDirectory() ? dir : null;
}

let cached: { dir: string | null; cohorts: StaticCohort[] } | undefined;

/** The static cohorts, sorted by name; folders without cohort.json are ignored, bad names or files fail the build. */
export function loadStaticCohorts(): StaticCohort[] {
  const dir = cohortsDir();
  if (cached && cached.dir === dir) return cached.cohorts;
  const cohorts: StaticCohort[] = [];
  for (const name of dir ? readdirSync(dir).sort() : []) {
    const file = join(dir as string, name, 'cohort.json');
    if (!existsSync(file)) continue;
    if (!NAME_PATTERN.test(name) || RESERVED.has(name)) {
      throw new Error(`cohorts/${name}: a cohort folder name must be 1 to 64 letters, digits, "_" or "-" and not "live"; rename the folder.`);
    }
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      throw new Error(`cohorts/${name}/cohort.json is not JSON; recreate it with leadlight cohort --out cohorts/${name}.`);
    }
    try {
      cohorts.push({ name, cohort: checkCohort(json, `cohorts/${name}/cohort.json`) });
    } catch (e) {
      throw new Error((e as Error).message);
    }
  }
  cached = { dir, cohorts };
  return cohorts;
}
