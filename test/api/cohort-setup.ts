/**
 * globalSetup for the cohort fan-out test (runs in Node): one labelled set — real CPSC 2018 records of ../shared
 * (5 AF, 5 NORM by ../shared/data/ecg/labels.csv), a file that is no ECG and a row whose file is missing — laid out
 * in a folder as a researcher has it, run through the real `npx leadlight cohort --runtime wasm --lean-memory` (a child
 * process with the Worker's engine and graph variants, so the numbers can be compared to the last bit), and zipped as
 * the same folder for `POST /api/cohorts`. The test receives the labels CSV, the zip and the CLI's cohort.json.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { zipSync } from 'fflate';
import type { TestProject } from 'vitest/node';
import { ecgDir, repoRoot } from '../helpers/paths.ts';

/** The records and their labels (labels.csv `classes`: exactly AF or exactly NORM). */
export const COHORT_RECORDS = [
  ['A0003', 'AF'], ['A0002', 'NORM'], ['A0004', 'AF'], ['A0016', 'NORM'], ['A0007', 'AF'],
  ['A0020', 'NORM'], ['A0009', 'AF'], ['A0029', 'NORM'], ['A0017', 'AF'], ['A0030', 'NORM'],
] as const;
const CPSC = 'cpsc2018_physionet2020_python-classifier-2020/input_directory';

declare module 'vitest' {
  export interface ProvidedContext {
    cohortSet: { labelsCsv: string; zipBase64: string; cliCohortJson: string; rows: { path: string; label: string }[] };
  }
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'leadlight-cohort-set-'));
  const study = join(dir, 'study');
  mkdirSync(join(study, 'cpsc'), { recursive: true });
  mkdirSync(join(study, 'other'), { recursive: true });
  const rows: { path: string; label: string }[] = [];
  const labels = new Map<string, string>();
  for (const line of readFileSync(join(ecgDir, 'labels.csv'), 'utf8').trim().split('\n').slice(1)) {
    const cells = line.split(',');
    if (cells[0].startsWith('cpsc2018')) labels.set(cells[1], cells[9]);
  }
  for (const [record, label] of COHORT_RECORDS) {
    if (labels.get(record) !== label) throw new Error(`${record} is not labelled ${label} in ../shared/data/ecg/labels.csv`);
    for (const ext of ['hea', 'mat']) copyFileSync(join(ecgDir, CPSC, `${record}.${ext}`), join(study, 'cpsc', `${record}.${ext}`));
    rows.push({ path: `cpsc/${record}.hea`, label });
  }
  // A file that is no ECG (refused by every reader) and a row whose file is not there: both fail, the rest aggregate.
  writeFileSync(join(study, 'other', 'notes.txt'), 'These are my notes, not an ECG.\n');
  rows.splice(3, 0, { path: 'other/notes.txt', label: 'NORM' });
  rows.splice(7, 0, { path: 'cpsc/A9999.hea', label: 'AF' });
  const labelsCsv = `path,label\n${rows.map((r) => `${r.path},${r.label}`).join('\n')}\n`;
  writeFileSync(join(study, 'labels.csv'), labelsCsv);

  const out = join(dir, 'out');
  execFileSync(process.execPath, [join(repoRoot, 'functions/cli/leadlight.ts'), 'cohort', '--labels', join(study, 'labels.csv'), '--out', out, '--model', 'cinc2020-ai-strollers', '--method', 'gradient', '--runtime', 'wasm', '--lean-memory'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
  const files: Record<string, Uint8Array> = {};
  for (const r of rows) {
    if (r.path.includes('A9999')) continue;
    const full = join(study, r.path);
    files[relative(study, full)] = new Uint8Array(readFileSync(full));
    if (r.path.endsWith('.hea')) files[r.path.replace(/\.hea$/u, '.mat')] = new Uint8Array(readFileSync(full.replace(/\.hea$/u, '.mat')));
  }
  project.provide('cohortSet', {
    labelsCsv,
    zipBase64: Buffer.from(zipSync(files)).toString('base64'),
    cliCohortJson: readFileSync(join(out, 'cohort.json'), 'utf8'),
    rows,
  });
  return () => rmSync(dir, { recursive: true, force: true });
}
