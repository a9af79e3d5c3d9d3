// `leadlight cohort` end to end: the real command (node functions/cli/leadlight.ts cohort …, Node 22 from
// node_modules/.bin) on a small real CPSC cohort from ../shared (4 AF + 4 NORM, labels from data/ecg/labels.csv),
// the converted test model cinc2020-ai-strollers (test/helpers/models.ts, via LEADLIGHT_MODELS_DIR) and the cheap
// gradient-x-input method. Expected values: thresholds from the model manifest, the A0003 probability from the
// model's golden file (../shared/models/cinc2020-ai-strollers/golden/A0003.json, computed with Keras), the lead
// tests recomputed with rankSumTest (itself checked against R in test/core/analysis).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rankSumTest } from '../../../functions/core/analysis/ranksum.ts';
import { LEAD_ORDER } from '../../../functions/core/record.ts';
import { ERROR_CODES } from '../../../functions/core/errors.ts';
import { testBuildDir, testModel } from '../../helpers/models.ts';
import { ecgDir, repoRoot, sharedModelsDir } from '../../helpers/paths.ts';

const node = join(repoRoot, 'node_modules/.bin/node');
const cli = join(repoRoot, 'functions/cli/leadlight.ts');
const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');

/** The first 4 AF-only and 4 NORM CPSC records of labels.csv (column `classes`). */
function cohortFromLabelsCsv(): { record: string; label: string }[] {
  const lines = readFileSync(join(ecgDir, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
  const chosen: { record: string; label: string }[] = [];
  const count: Record<string, number> = { AF: 0, NORM: 0 };
  for (const line of lines) {
    const cols = line.split(',');
    const [source, record, , , , , , , , classes] = cols;
    if (!source.startsWith('cpsc2018') || !(classes in count) || count[classes] >= 4) continue;
    count[classes]++;
    chosen.push({ record, label: classes });
  }
  return chosen;
}

function runCli(args: string[]) {
  const r = spawnSync(node, [cli, 'cohort', ...args], {
    env: { ...process.env, LEADLIGHT_MODELS_DIR: testBuildDir },
    encoding: 'utf8',
    timeout: 170_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface CohortFile {
  schema: number;
  model: { id: string; classes: string[]; thresholds: number[] };
  method: string;
  class: string;
  threshold: number;
  groups: { positive: string; control: string };
  records: { path: string; label: string; probability: number; positive: boolean; outcome: string; meanRelevance: number; leadRelevance: Record<string, number> }[];
  leadTests: { lead: string; groupA: string; groupB: string; alternative: string; statistic: number; pValue: number; method: string }[];
  averageBeats: Record<string, Record<string, { signal: number[]; relevance: number[]; variance: number[] }>>;
  errors: { path: string; label: string; code: string; message: string }[];
  criteria: { findings: { id: string; byLabel: Record<string, { agrees: number; disagrees: number; notApplicable: number }> }[] };
  outcomes: Record<string, number>;
}

let dir: string;
let chosen: { record: string; label: string }[];
let first: ReturnType<typeof runCli>;
let second: ReturnType<typeof runCli>;
let cohortText: string;
let cohort: CohortFile;

beforeAll(async () => {
  await testModel('cinc2020-ai-strollers');
  dir = mkdtempSync(join(tmpdir(), 'leadlight-cohort-'));
  chosen = cohortFromLabelsCsv();
  // A truncated copy of A0003 (half its signal bytes) and a path that does not exist.
  mkdirSync(join(dir, 'bad'));
  copyFileSync(join(cpsc, 'A0003.hea'), join(dir, 'bad/A0003.hea'));
  const mat = readFileSync(join(cpsc, 'A0003.mat'));
  writeFileSync(join(dir, 'bad/A0003.mat'), mat.subarray(0, mat.length >> 1));
  // Paths relative to the CSV's folder, a BOM, CRLF line ends, quoted fields and an extra column, as spreadsheets write.
  const rel = (record: string) => relative(dir, join(cpsc, `${record}.hea`));
  const lines = ['"label",path,"note"', ...chosen.map((c, i) => `${c.label},"${rel(c.record)}","row ${i}, quoted"`), 'AF,bad/A0003.hea,truncated', 'NORM,"missing/X0001.hea",'];
  writeFileSync(join(dir, 'labels.csv'), `\ufeff${lines.join('\r\n')}\r\n`);
  const args = ['--labels', join(dir, 'labels.csv'), '--out', join(dir, 'out'), '--model', 'cinc2020-ai-strollers', '--method', 'gradient-x-input'];
  first = runCli(args);
  cohortText = readFileSync(join(dir, 'out/cohort.json'), 'utf8');
  cohort = JSON.parse(cohortText) as CohortFile;
  second = runCli(args);
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('leadlight cohort on 4 AF and 4 NORM CPSC records', () => {
  it('finishes with exit 0 and one progress line per record on a non-terminal stderr', () => {
    expect(first.stderr).not.toMatch(/error internal/u);
    expect(first.status).toBe(0);
    expect(chosen.filter((c) => c.label === 'AF')).toHaveLength(4);
    expect(chosen.filter((c) => c.label === 'NORM')).toHaveLength(4);
    expect(first.stderr.split('\n').filter((l) => /^\[\d+\/10\] /u.test(l))).toHaveLength(10);
  });

  it('writes cohort.json with the contract names', () => {
    expect(cohort).toMatchObject({ schema: 1, method: 'gradient-x-input', class: 'AF', groups: { positive: 'AF', control: 'NORM' } });
    expect(cohort.model).toMatchObject({ id: 'cinc2020-ai-strollers' });
    expect(cohort.model.classes).toContain('AF');
    expect(cohort.records).toHaveLength(8);
    for (const r of cohort.records) {
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['path', 'label', 'probability', 'positive', 'outcome', 'meanRelevance', 'leadRelevance']));
      expect(Object.keys(r.leadRelevance)).toEqual([...LEAD_ORDER]);
      expect(Number.isFinite(r.meanRelevance)).toBe(true);
    }
    expect(cohort.leadTests.map((t) => t.lead)).toEqual([...LEAD_ORDER]);
    for (const label of ['AF', 'NORM']) {
      expect(Object.keys(cohort.averageBeats[label])).toEqual([...LEAD_ORDER]);
      for (const lead of LEAD_ORDER) {
        const b = cohort.averageBeats[label][lead];
        expect(b.signal.length).toBeGreaterThan(100);
        expect(b.relevance).toHaveLength(b.signal.length);
        expect(b.variance).toHaveLength(b.signal.length);
      }
    }
  });

  it('keeps the records in CSV order with the paths as written', () => {
    expect(cohort.records.map((r) => r.path)).toEqual(chosen.map((c) => relative(dir, join(cpsc, `${c.record}.hea`))));
    expect(cohort.records.map((r) => r.label)).toEqual(chosen.map((c) => c.label));
  });

  it('gives A0003 the probability of AF the Keras golden file has', () => {
    const golden = JSON.parse(readFileSync(join(sharedModelsDir, 'cinc2020-ai-strollers/golden/A0003.json'), 'utf8')) as { probabilities: number[] };
    const a0003 = cohort.records.find((r) => r.path.endsWith('A0003.hea') && !r.path.startsWith('bad'));
    expect(a0003?.probability).toBeCloseTo(golden.probabilities[cohort.model.classes.indexOf('AF')], 4);
  });

  it('derives each outcome from the probability, the AF threshold and the label', () => {
    const threshold = cohort.model.thresholds[cohort.model.classes.indexOf('AF')];
    expect(cohort.threshold).toBe(threshold);
    const counts: Record<string, number> = { TP: 0, FP: 0, FN: 0, TN: 0 };
    for (const r of cohort.records) {
      const predicted = r.probability >= threshold;
      expect(r.positive).toBe(predicted);
      expect(r.outcome).toBe(r.label === 'AF' ? (predicted ? 'TP' : 'FN') : (predicted ? 'FP' : 'TN'));
      counts[r.outcome]++;
    }
    expect(cohort.outcomes).toEqual(counts);
  });

  it('tests every lead with the one-sided rank-sum test on the records\' lead relevance', () => {
    for (const t of cohort.leadTests) {
      const af = cohort.records.filter((r) => r.label === 'AF').map((r) => r.leadRelevance[t.lead]);
      const norm = cohort.records.filter((r) => r.label === 'NORM').map((r) => r.leadRelevance[t.lead]);
      const expected = rankSumTest(af, norm, { alternative: 'greater' });
      expect(t).toMatchObject({ groupA: 'AF', groupB: 'NORM', alternative: 'greater', method: expected.method });
      expect(t.statistic).toBe(expected.statistic);
      expect(t.pValue).toBe(expected.pValue);
    }
  });

  it('lists the truncated and the missing record in errors while the others complete', () => {
    expect(cohort.errors.map((e) => e.path)).toEqual(['bad/A0003.hea', 'missing/X0001.hea']);
    for (const e of cohort.errors) {
      expect(Object.keys(ERROR_CODES)).toContain(e.code);
      expect(e.code).not.toBe('internal');
      expect(e.message.length).toBeGreaterThan(10);
      expect(first.stderr).toContain(`${e.path}: error ${e.code}:`);
    }
    expect(cohort.errors[1].code).toBe('request_invalid');
  });

  it('counts per criterion and label how many records agree', () => {
    const ids = cohort.criteria.findings.map((f) => f.id);
    expect(ids).toContain('af-present-p-negative');
    for (const f of cohort.criteria.findings) {
      for (const label of ['AF', 'NORM']) {
        const n = f.byLabel[label];
        expect(n.agrees + n.disagrees + n.notApplicable).toBe(4);
      }
    }
  });

  it('serves a second run from the cache and writes the same cohort.json', () => {
    expect(second.status).toBe(0);
    const run = JSON.parse(readFileSync(join(dir, 'out/run.json'), 'utf8'));
    expect(run).toMatchObject({ records: 10, analysed: 0, cached: 8, failed: 2 });
    expect(second.stderr.split('\n').filter((l) => / cached$/u.test(l))).toHaveLength(8);
    expect(readFileSync(join(dir, 'out/cohort.json'), 'utf8')).toBe(cohortText);
    expect(readdirSync(join(dir, 'out/records')).filter((f) => f.endsWith('.json'))).toHaveLength(8);
  });

  it('writes a self-contained index.html with the scatter, lead tests, average beats, criteria and records', () => {
    const html = readFileSync(join(dir, 'out/index.html'), 'utf8');
    for (const id of ['scatter', 'leads', 'beats', 'criteria', 'records', 'errors']) expect(html).toContain(`<section id="${id}">`);
    expect(html).toContain('class="threshold"');
    expect(html.match(/class="lead-box/gu)).toHaveLength(12);
    expect(html.match(/class="lead-beat[ "]/gu)?.length).toBe(24); // 12 paper-centre + 12 R-aligned
    expect(html).toContain('bad/A0003.hea');
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//iu);
    expect(html).not.toMatch(/<script\b/iu);
    expect(html).toContain('name="viewport"');
  });
});

describe('leadlight cohort refuses bad input before analysing anything', () => {
  let bad: string;
  beforeAll(() => {
    bad = mkdtempSync(join(tmpdir(), 'leadlight-cohort-bad-'));
  });
  afterAll(() => rmSync(bad, { recursive: true, force: true }));
  const hea = () => join(cpsc, 'A0003.hea');

  it('exits 2 with option_invalid when the CSV has no label column', () => {
    writeFileSync(join(bad, 'nolabel.csv'), `path,diagnosis\n${hea()},AF\n`);
    const r = runCli(['--labels', join(bad, 'nolabel.csv'), '--out', join(bad, 'out')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error option_invalid: The labels CSV has no column label/u);
    expect(existsSync(join(bad, 'out'))).toBe(false);
  });

  it('exits 2 with request_invalid for a quote that is never closed', () => {
    writeFileSync(join(bad, 'quote.csv'), `path,label\n"${hea()},AF\n`);
    const r = runCli(['--labels', join(bad, 'quote.csv'), '--out', join(bad, 'out')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error request_invalid: .*quote opened on line 2/u);
  });

  it('exits 2 asking for --class when the labels name two classes', () => {
    writeFileSync(join(bad, 'two.csv'), `path,label\n${hea()},AF\n${hea()},LBBB\n${hea()},NORM\n`);
    const r = runCli(['--labels', join(bad, 'two.csv'), '--out', join(bad, 'out'), '--model', 'cinc2020-ai-strollers']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error option_invalid: Give --class/u);
  });

  it('still writes cohort.json and the report when every record of one group fails, warning that the group is empty', () => {
    writeFileSync(join(bad, 'group.csv'), `path,label\nnowhere/A9999.hea,AF\n${join(cpsc, 'A0002.hea')},NORM\n`);
    const r = runCli(['--labels', join(bad, 'group.csv'), '--out', join(bad, 'group'), '--model', 'cinc2020-ai-strollers', '--method', 'gradient']);
    expect(r.status).toBe(0);
    const c = JSON.parse(readFileSync(join(bad, 'group/cohort.json'), 'utf8')) as CohortFile & { warnings: { code: string }[] };
    expect(c.groups).toEqual({ positive: 'AF', control: 'NORM' });
    expect(c.records.map((x) => x.outcome)).toEqual(['TN']);
    expect(c.leadTests).toEqual([]);
    expect(c.warnings.map((w) => w.code)).toContain('group_empty');
    expect(c.errors.map((e) => e.code)).toEqual(['request_invalid']);
    expect(readFileSync(join(bad, 'group/index.html'), 'utf8')).toContain('No lead tests');
  });

  it('exits 2 for a missing labels file and for --steps with a method other than ig', () => {
    const missing = runCli(['--labels', join(bad, 'none.csv'), '--out', join(bad, 'out')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^error option_invalid: There is no labels file/u);
    writeFileSync(join(bad, 'ok.csv'), `path,label\n${hea()},AF\n${hea()},NORM\n`);
    const steps = runCli(['--labels', join(bad, 'ok.csv'), '--out', join(bad, 'out'), '--model', 'cinc2020-ai-strollers', '--method', 'gradient', '--steps', '8']);
    expect(steps.status).toBe(2);
    expect(steps.stderr).toMatch(/^error option_invalid: --steps applies to ig only/u);
  });
});
