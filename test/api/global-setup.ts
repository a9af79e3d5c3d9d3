/**
 * globalSetup of the `api` project (runs in Node): builds the site and models assets the Worker serves, and hands
 * the Worker tests real ECG files from ../shared (workerd has no file system) and the installed manifests.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ecgDir, repoRoot } from '../helpers/paths.ts';
import { ensureSiteBuilt } from '../site/build-site.ts';

/** Real records: CPSC A0001 (RBBB, .hea + .mat) and A0003 (AF), as base64 so they cross into workerd. */
export const FIXTURE_FILES = {
  'A0001.hea': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0001.hea',
  'A0001.mat': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0001.mat',
  'A0003.hea': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0003.hea',
  'A0003.mat': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0003.mat',
  // Live cohorts (cohorts.test.ts): two more AF (A0004) and two NORM (A0002, A0016) records, labels from labels.csv.
  'A0004.hea': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0004.hea',
  'A0004.mat': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0004.mat',
  'A0002.hea': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0002.hea',
  'A0002.mat': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0002.mat',
  'A0016.hea': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0016.hea',
  'A0016.mat': 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0016.mat',
} as const;

declare module 'vitest' {
  export interface ProvidedContext {
    ecgFiles: Record<string, string>;
    manifests: { id: string; status: string; classes: string[]; thresholds: number[] }[];
  }
}

export default async function setup(project: TestProject): Promise<void> {
  await ensureSiteBuilt();
  const ecgFiles: Record<string, string> = {};
  for (const [name, path] of Object.entries(FIXTURE_FILES)) ecgFiles[name] = readFileSync(join(ecgDir, path)).toString('base64');
  project.provide('ecgFiles', ecgFiles);
  const buildDir = join(repoRoot, 'models/build');
  const manifests = existsSync(buildDir)
    ? readdirSync(buildDir)
        .filter((id) => existsSync(join(buildDir, id, 'manifest.json')))
        .map((id) => JSON.parse(readFileSync(join(buildDir, id, 'manifest.json'), 'utf8')))
    : [];
  project.provide('manifests', manifests);
}
