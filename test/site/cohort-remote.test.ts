/**
 * `npx leadlight cohort --remote URL` (issue 14) against the real `wrangler dev` server of the site project's global
 * setup: a labelled set of real CPSC records (3 AF, 3 NORM by ../shared/data/ecg/labels.csv, plus a row whose file
 * is missing) in a folder as a researcher has it is uploaded, followed to its end and written as DIR/cohort.json and
 * DIR/index.html — with the CSV's own paths, although the server only ever saw `r{row}/{file}` and named the
 * members `record {n}`. A rerun follows the same cohort instead of uploading it again; its token deletes it.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { checkCohort } from '../../functions/core/cohort-schema.ts';
import { ecgDir, repoRoot } from '../helpers/paths.ts';

const baseUrl = inject('baseUrl');
const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const dir = mkdtempSync(join(tmpdir(), 'leadlight-remote-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runCli(args: string[]): string {
  return execFileSync(process.execPath, [join(repoRoot, 'functions/cli/leadlight.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('leadlight cohort --remote', () => {
  const rows: { path: string; label: string }[] = [];
  const name = `remote-${Date.now().toString(36)}`;
  const out = join(dir, 'out');

  it('uploads the set, follows it and writes cohort.json with the CSV’s paths', () => {
    const labels = new Map(readFileSync(join(ecgDir, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')).filter((c) => c[0].startsWith('cpsc2018')).map((c) => [c[1], c[9]]));
    const chosen = [...labels].filter(([, label]) => label === 'AF').slice(0, 3).concat([...labels].filter(([, label]) => label === 'NORM').slice(0, 3));
    mkdirSync(join(dir, 'study', 'ecgs'), { recursive: true });
    for (const [record, label] of chosen) {
      for (const ext of ['hea', 'mat']) copyFileSync(join(cpsc, `${record}.${ext}`), join(dir, 'study', 'ecgs', `${record}.${ext}`));
      rows.push({ path: `ecgs/${record}.hea`, label });
    }
    rows.push({ path: 'ecgs/missing.hea', label: 'NORM' });
    writeFileSync(join(dir, 'study', 'labels.csv'), `path,label\n${rows.map((r) => `${r.path},${r.label}`).join('\n')}\n`);

    runCli(['cohort', '--labels', join(dir, 'study', 'labels.csv'), '--out', out, '--remote', baseUrl, '--name', name, '--method', 'gradient-x-input', '--expiry', '1d']);
    const cohort = checkCohort(JSON.parse(readFileSync(join(out, 'cohort.json'), 'utf8')));
    expect(cohort.records.map((r) => r.path)).toEqual(rows.filter((r) => !r.path.includes('missing')).map((r) => r.path));
    expect(cohort.records.map((r) => r.label)).toEqual(rows.filter((r) => !r.path.includes('missing')).map((r) => r.label));
    expect(cohort.errors).toEqual([expect.objectContaining({ path: 'ecgs/missing.hea', label: 'NORM', code: 'request_invalid' })]);
    expect(cohort.class).toBe('AF');
    expect(cohort.method).toBe('gradient-x-input');
    expect(cohort.labelsFile).toBe(join(dir, 'study', 'labels.csv'));
    expect(cohort.leadTests).toHaveLength(12);
    expect(Object.keys(cohort as object)).not.toContain('progress');
    expect(existsSync(join(out, 'index.html'))).toBe(true);
    const remote = JSON.parse(readFileSync(join(out, 'remote.json'), 'utf8')) as { url: string; name: string; deleteToken: string };
    expect(remote).toMatchObject({ url: baseUrl, name });
  });

  it('follows the same cohort on a rerun instead of uploading it again, and its token deletes it', async () => {
    const before = readFileSync(join(out, 'cohort.json'), 'utf8');
    const stdout = (() => {
      try {
        return execFileSync(process.execPath, [join(repoRoot, 'functions/cli/leadlight.ts'), 'cohort', '--labels', join(dir, 'study', 'labels.csv'), '--out', out, '--remote', baseUrl], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        throw new Error(String((e as { stderr?: string }).stderr));
      }
    })();
    expect(stdout).toBe('');
    expect(readFileSync(join(out, 'cohort.json'), 'utf8')).toBe(before);
    const served = (await (await fetch(`${baseUrl}/api/cohorts/${name}`)).json()) as { progress: { total: number } };
    expect(served.progress.total).toBe(rows.length);
    const { deleteToken } = JSON.parse(readFileSync(join(out, 'remote.json'), 'utf8')) as { deleteToken: string };
    expect((await fetch(`${baseUrl}/api/cohorts/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${deleteToken}` } })).status).toBe(204);
    expect((await fetch(`${baseUrl}/api/cohorts/${name}`)).status).toBe(404);
  });

  it('refuses options that only a local run takes, with exit 2 and one line', () => {
    let failure: { status?: number; stderr?: string } = {};
    try {
      runCli(['cohort', '--labels', join(dir, 'study', 'labels.csv'), '--out', join(dir, 'other'), '--remote', baseUrl, '--runtime', 'native']);
    } catch (e) {
      failure = e as { status?: number; stderr?: string };
    }
    expect(failure.status).toBe(2);
    expect(failure.stderr).toMatch(/^error option_invalid: --runtime applies to a local run/u);
  });
});
