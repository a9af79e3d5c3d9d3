// The three figures of Bender et al. 2023 in the cohort report (issue 16, item 6), on a real cohort: the real
// `leadlight cohort` (node functions/cli/leadlight.ts cohort …) on 3 AF + 3 NORM CPSC records of ../shared (labels
// from data/ecg/labels.csv), the converted test model cinc2020-ai-strollers and gradient-x-input. The report's
// index.html is read as text: (a) the scatter's caption carries cohort.json's Spearman ρ and bootstrap interval,
// (b) each lead's box plot shows leadTests[].pAdjusted (and the raw p and the AUC interval), marked on the adjusted
// p, (c) the beat picker ticks V1 and V6 unless `--beat-leads` names others, and a bad lead name stops the command.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CohortOutput } from '../../../functions/core/analysis/cohort-members.ts';
import { LEAD_ORDER } from '../../../functions/core/record.ts';
import { COHORT_CSS, fmt, parseBeatLeads, renderCohortSections } from '../../../functions/core/render/cohort-html.ts';
import { testBuildDir, testModel } from '../../helpers/models.ts';
import { ecgDir, repoRoot } from '../../helpers/paths.ts';

const node = join(repoRoot, 'node_modules/.bin/node');
const cli = join(repoRoot, 'functions/cli/leadlight.ts');
const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');

/** The first `n` AF-only and `n` NORM CPSC records of labels.csv (column `classes`). */
function cpscRecords(n: number): { record: string; label: string }[] {
  const lines = readFileSync(join(ecgDir, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
  const count: Record<string, number> = { AF: 0, NORM: 0 };
  const chosen: { record: string; label: string }[] = [];
  for (const line of lines) {
    const [source, record, , , , , , , , classes] = line.split(',');
    if (!source.startsWith('cpsc2018') || !(classes in count) || count[classes] >= n) continue;
    count[classes]++;
    chosen.push({ record, label: classes });
  }
  return chosen;
}

function runCohortCli(args: string[]) {
  const r = spawnSync(node, [cli, 'cohort', ...args], { env: { ...process.env, LEADLIGHT_MODELS_DIR: testBuildDir }, encoding: 'utf8', timeout: 170_000 });
  return { status: r.status, stderr: r.stderr };
}

/** A p-value as the report prints it (3 decimals, or 2 significant digits in exponent notation below 1e-3). */
const pText = (p: number) => (p < 1e-3 ? p.toExponential(1) : p.toFixed(3));

/** The box-plot card of one lead in the report's HTML. */
function boxCard(html: string, lead: string): string {
  const card = new RegExp(`<figure class="lead-box[^"]*"><figcaption><b>${lead}</b>.*?</figure>`, 'su').exec(html);
  expect(card, `the box plot of lead ${lead}`).not.toBeNull();
  return (card as RegExpExecArray)[0];
}

/** The leads ticked in the average-beat picker. */
const checkedBeatLeads = (html: string) => [...html.matchAll(/<input type="checkbox" name="beat-lead" value="([^"]+)" checked>/gu)].map((m) => m[1]);

let dir: string;
let cohort: CohortOutput;
let report: string;
let reportWithOtherLeads: string;
let otherLeadsRun: ReturnType<typeof runCohortCli>;
let badLeadRun: ReturnType<typeof runCohortCli>;

beforeAll(async () => {
  await testModel('cinc2020-ai-strollers');
  dir = mkdtempSync(join(tmpdir(), 'leadlight-cohort-figures-'));
  const rows = cpscRecords(3);
  writeFileSync(join(dir, 'labels.csv'), `path,label\n${rows.map((r) => `${join(cpsc, `${r.record}.hea`)},${r.label}`).join('\n')}\n`);
  const common = ['--labels', join(dir, 'labels.csv'), '--model', 'cinc2020-ai-strollers', '--method', 'gradient-x-input', '--class', 'AF'];
  const first = runCohortCli([...common, '--out', join(dir, 'out')]);
  expect(first.status, first.stderr).toBe(0);
  cohort = JSON.parse(readFileSync(join(dir, 'out/cohort.json'), 'utf8')) as CohortOutput;
  report = readFileSync(join(dir, 'out/index.html'), 'utf8');
  // The same folder again: every record comes from the cache, only the report's picked leads differ.
  otherLeadsRun = runCohortCli([...common, '--out', join(dir, 'out'), '--beat-leads', 'avf, II']);
  reportWithOtherLeads = readFileSync(join(dir, 'out/index.html'), 'utf8');
  badLeadRun = runCohortCli([...common, '--out', join(dir, 'bad'), '--beat-leads', 'V1,V7']);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('figure (a): mean relevance vs probability', () => {
  it('draws one point per ECG, coloured by its outcome', () => {
    const svg = /<figure class="scatter">(<svg .*?<\/svg>)/su.exec(report)?.[1] ?? '';
    expect(svg).toContain('role="img"');
    expect(svg).toMatch(/aria-label="Mean relevance against probability of AF, one point per ECG coloured by outcome/u);
    expect(svg.match(/<title>/gu)).toHaveLength(cohort.records.length);
    for (const r of cohort.records) expect(svg).toContain(`${r.path} (${r.label}): ${r.outcome}`);
  });

  it("captions Spearman's ρ with the bootstrap interval of cohort.json", () => {
    const rv = cohort.relevanceVsProbability!;
    expect(rv.rho).not.toBeNull();
    const caption = /<figure class="scatter">.*?<figcaption>(.*?)<\/figcaption>/su.exec(report)?.[1] ?? '';
    expect(caption).toContain(`<span class="rho">${fmt(rv.rho)}</span>`);
    expect(caption).toContain(`<span class="rho-ci">[${fmt(rv.ci95![0])}, ${fmt(rv.ci95![1])}]</span>`);
    expect(caption).toContain(`(${rv.resamples} resamples, seed ${rv.seed})`);
  });
});

describe('figure (b): lead relevance per group as box plots', () => {
  it('shows under each lead the Benjamini–Hochberg adjusted p of cohort.json, the raw p and the AUC interval', () => {
    expect(cohort.leadTests).toHaveLength(12);
    for (const t of cohort.leadTests) {
      expect(t.pAdjusted).toBeDefined();
      const card = boxCard(report, t.lead);
      expect(card).toMatch(/<svg [^>]*role="img" aria-label="Lead [^"]+: lead relevance per group as box plots; adjusted p = /u);
      expect(card).toContain(`<div class="p" title="one-sided rank-sum p = ${pText(t.pValue)}, Benjamini–Hochberg adjusted over the 12 leads: ${pText(t.pAdjusted!)}">p<sub>adj</sub> = ${pText(t.pAdjusted!)}</div>`);
      expect(card).toContain(`<div class="p-raw">raw p = ${pText(t.pValue)}</div>`);
      expect(card).toContain(`AUC ${fmt(t.effect!.auc)} [${fmt(t.effect!.ci95[0])}, ${fmt(t.effect!.ci95[1])}]`);
    }
  });

  it('marks a lead as significant by its adjusted p, not its raw p', () => {
    const [first, second] = cohort.leadTests;
    const edited: CohortOutput = {
      ...cohort,
      leadTests: cohort.leadTests.map((t) => {
        if (t === first) return { ...t, pValue: 1e-6, pAdjusted: 5e-5 };
        if (t === second) return { ...t, pValue: 1e-6, pAdjusted: 0.2 };
        return t;
      }),
    };
    const html = renderCohortSections(edited);
    expect(boxCard(html, first.lead)).toMatch(/^<figure class="lead-box significant">.*★/su);
    expect(boxCard(html, second.lead)).not.toContain('★');
    expect(boxCard(html, second.lead)).toMatch(/^<figure class="lead-box">/u);
  });

  it('shows the raw p of a cohort.json written before adjusted p-values existed', () => {
    const old: CohortOutput = { ...cohort, leadTests: cohort.leadTests.map(({ pAdjusted: _p, effect: _e, ...t }) => t) };
    delete old.relevanceVsProbability;
    const html = renderCohortSections(old);
    for (const t of cohort.leadTests) {
      expect(boxCard(html, t.lead)).toContain(`>p = ${pText(t.pValue)}</div>`);
      expect(boxCard(html, t.lead)).not.toContain('p-raw');
    }
    // ρ recomputed from the records, without an interval.
    expect(html).toContain(`<span class="rho">${fmt(cohort.relevanceVsProbability!.rho)}</span>`);
    expect(html).toContain('no bootstrap interval');
  });
});

describe('figure (c): average beats for the picked leads', () => {
  it('draws all 12 leads with every group side by side, and ticks V1 and V6 by default', () => {
    const groups = Object.keys(cohort.averageBeats).length;
    expect(groups).toBe(2);
    for (const lead of LEAD_ORDER) expect(report).toContain(`<figure class="lead-beat lead-${lead} cols-${groups}" data-lead="${lead}">`);
    expect(report.match(/role="img" aria-label="Average beat of /gu)?.length).toBe(2 * 12 * groups); // centre- and R-aligned
    expect(checkedBeatLeads(report)).toEqual(['V1', 'V6']);
    expect(report).not.toMatch(/<script\b|style="/iu);
  });

  it('ticks the leads given with --beat-leads instead, in lead order', () => {
    expect(otherLeadsRun.status, otherLeadsRun.stderr).toBe(0);
    expect(checkedBeatLeads(reportWithOtherLeads)).toEqual(['II', 'aVF']);
    expect(reportWithOtherLeads.replace(/ checked>/gu, '>')).toBe(report.replace(/ checked>/gu, '>'));
  });

  it('refuses an unknown lead name before analysing anything, naming the valid leads', () => {
    expect(badLeadRun.status).toBe(2);
    expect(badLeadRun.stderr).toContain('"V7" is not a lead');
    expect(badLeadRun.stderr).toContain(LEAD_ORDER.join(', '));
    expect(existsSync(join(dir, 'bad'))).toBe(false);
    expect(() => parseBeatLeads(' , ')).toThrow(/--beat-leads takes one or more of the leads I, II, III/u);
  });

  it('hides the unpicked leads and the picker in the stylesheet alone, and prints the picked figures whole', () => {
    expect(COHORT_CSS).toContain('.cohort-report section:has(> .beat-picker) .lead-beat{display:none}');
    expect(COHORT_CSS).toContain('.cohort-report section:has(> .beat-picker input[value="V1"]:checked) .lead-beat.lead-V1');
    const print = COHORT_CSS.slice(COHORT_CSS.indexOf('@media print'));
    expect(print).toContain('.cohort-report .beat-picker{display:none}');
    expect(print).toMatch(/\.cohort-report figure,\.cohort-report svg[^{]*\{break-inside:avoid/u);
  });
});
