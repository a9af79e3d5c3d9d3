/**
 * The site's cohort pages in Debian's Chromium.
 * Static: the real `leadlight cohort` (3 AF + 3 NORM CPSC records, labels from ../shared/data/ecg/labels.csv,
 * gradient-x-input to keep it fast) writes a cohort folder into a temporary cohorts/ directory; the site is built
 * from it (LEADLIGHT_COHORTS_DIR, into a temporary outDir) and served by a small static server; the page must show
 * every section at 375 and 1440 px with the numbers of its cohort.json (the box plots with the adjusted p-values),
 * show the average beats of V1 and V6 only until the reader ticks another lead (no script: the stylesheet's lead
 * picker), print the picked figures without the picker, and its sections must be the very same HTML as the
 * standalone DIR/index.html (one renderer). Live: real uploads with the fields cohort and label to the
 * `wrangler dev` server of the global setup, then /cohorts/live/?name=… must render what GET /api/cohorts/{name} says.
 * Screenshots go to test-artifacts/ (gitignored).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LEAD_ORDER } from '../../functions/core/record.ts';
import { ecgDir, repoRoot } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';
import { withSiteBuildLock } from './build-site.ts';

const baseUrl = inject('baseUrl');
const artifacts = join(repoRoot, 'test-artifacts');
const cpsc = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const bin = join(repoRoot, 'node_modules/.bin');
const WIDTHS = [375, 1440] as const;

/** The first `n` AF-only and `n` NORM CPSC records of labels.csv (column `classes`). */
function cpscRecords(n: number): { record: string; label: string }[] {
  const lines = readFileSync(join(ecgDir, 'labels.csv'), 'utf8').trim().split('\n').slice(1);
  const count: Record<string, number> = { AF: 0, NORM: 0 };
  const chosen: { record: string; label: string }[] = [];
  for (const line of lines) {
    const cols = line.split(',');
    const [source, record, , , , , , , , classes] = cols;
    if (!source.startsWith('cpsc2018') || !(classes in count) || count[classes] >= n) continue;
    count[classes]++;
    chosen.push({ record, label: classes });
  }
  return chosen;
}

/** Serves a built site folder (GET only, no path escapes), as a static host would. */
function serveStatic(root: string): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml' };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root + sep) && file !== root) return void res.writeHead(403).end();
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })));
}

/** Builds the site as `npm run build:site` does (astro build), from a given cohorts/ directory into `outDir`. */
async function buildSiteWithCohorts(cohortsDir: string, outDir: string): Promise<void> {
  await withSiteBuildLock(() => {
    // With an outDir outside site/, astro leaves its prerender chunks in <cwd>/.astro: removed again unless it was there.
    const scratch = join(repoRoot, '.astro');
    const hadScratch = existsSync(scratch);
    try {
      const env = { ...process.env, ASTRO_TELEMETRY_DISABLED: '1', LEADLIGHT_COHORTS_DIR: cohortsDir, PATH: `${bin}:${process.env.PATH}` };
      execFileSync(join(bin, 'astro'), ['build', '--root', 'site', '--outDir', outDir, '--silent'], { cwd: repoRoot, env, stdio: 'pipe' });
    } finally {
      if (!hadScratch) rmSync(scratch, { recursive: true, force: true });
    }
  });
}

interface CohortFile {
  class: string;
  groups: { positive: string; control: string };
  records: { path: string; label: string; outcome: string }[];
  leadTests: { lead: string; pValue: number; pAdjusted?: number; significant: boolean }[];
  averageBeats: Record<string, unknown>;
  outcomes: Record<string, number>;
}

/** The leads whose centre-aligned average-beat figures the page shows (laid out with a height). */
function visibleBeatLeads(page: Page): Promise<string[]> {
  return page.$$eval('#beats > .beat-grid > .lead-beat', (figures) => figures.filter((f) => f.getBoundingClientRect().height > 0).map((f) => (f as HTMLElement).dataset.lead ?? ''));
}

/** What the page shows of each section, read in the browser. */
async function sections(page: Page) {
  return page.evaluate(() => {
    const q = (s: string) => document.querySelector(s);
    const visible = (s: string) => {
      const e = q(s) as HTMLElement | null;
      return !!e && e.getBoundingClientRect().height > 0 && getComputedStyle(e).visibility !== 'hidden';
    };
    return {
      visible: ['#scatter', '#leads', '#beats', '#criteria', '#records'].map(visible),
      scatterPoints: document.querySelectorAll('#scatter svg circle, #scatter svg rect[stroke]').length,
      threshold: document.querySelectorAll('#scatter .threshold').length,
      leadBoxes: [...document.querySelectorAll('#leads .lead-box')].map((f) => ({ lead: f.querySelector('b')?.textContent, p: f.querySelector('.p')?.textContent, star: !!f.querySelector('.star') })),
      leadRows: document.querySelectorAll('#leads table tbody tr').length,
      beatFigures: document.querySelectorAll('#beats > .beat-grid > .lead-beat').length,
      beatPanels: document.querySelectorAll('#beats > .beat-grid .beat svg g.trace').length,
      recordRows: [...document.querySelectorAll('#records tbody tr')].map((tr) => [...tr.querySelectorAll('td')].slice(0, 4).map((td) => td.textContent)),
      criteriaRows: document.querySelectorAll('#criteria tbody tr').length,
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      scatterWidth: (q('#scatter svg') as SVGElement).getBoundingClientRect().width,
    };
  });
}

function expectSectionsMatch(shown: Awaited<ReturnType<typeof sections>>, cohort: CohortFile, width: number): void {
  expect(shown.visible).toEqual([true, true, true, true, true]);
  expect(shown.scatterPoints).toBe(cohort.records.length);
  expect(shown.threshold).toBe(1);
  expect(shown.leadBoxes.map((b) => b.lead)).toEqual([...LEAD_ORDER]);
  for (const t of cohort.leadTests) {
    const box = shown.leadBoxes.find((b) => b.lead === t.lead)!;
    const pText = (p: number) => (p < 1e-3 ? p.toExponential(1) : p.toFixed(3));
    expect(t.pAdjusted).toBeDefined();
    expect(box.p).toBe(`padj = ${pText(t.pAdjusted!)}`);
    expect(box.star).toBe(t.pAdjusted! < 1e-4);
  }
  expect(shown.leadRows).toBe(cohort.leadTests.length);
  expect(shown.beatFigures).toBe(12);
  expect(shown.beatPanels).toBe(12 * Object.keys(cohort.averageBeats).length);
  expect(shown.recordRows.map((r) => [r[0], r[1], r[3]])).toEqual(cohort.records.map((r) => [r.path, r.label, r.outcome]));
  expect(shown.criteriaRows).toBeGreaterThan(0);
  // Nothing wider than the screen at 375 px (tables scroll inside their own box).
  expect(shown.overflow).toBeLessThanOrEqual(0);
  expect(shown.scatterWidth).toBeLessThanOrEqual(width);
}

let work: string;
let browser: Awaited<ReturnType<typeof launchChromium>>;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'leadlight-cohort-pages-'));
  browser = await launchChromium({ width: 1440, height: 900 });
});
afterAll(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a static cohort page built from leadlight cohort output', () => {
  let site: { server: Server; url: string };
  let cohort: CohortFile;
  let standalone: string;
  const name = 'af-norm-cpsc';

  beforeAll(async () => {
    const rows = cpscRecords(3);
    expect(rows.filter((r) => r.label === 'AF')).toHaveLength(3);
    writeFileSync(join(work, 'labels.csv'), `path,label\n${rows.map((r) => `${join(cpsc, `${r.record}.hea`)},${r.label}`).join('\n')}\n`);
    const out = join(work, 'cohorts', name);
    const run = spawnSync(join(bin, 'node'), [join(repoRoot, 'functions/cli/leadlight.ts'), 'cohort', '--labels', join(work, 'labels.csv'), '--out', out, '--method', 'gradient-x-input'], { cwd: repoRoot, encoding: 'utf8', timeout: 170_000 });
    expect(run.status, run.stderr).toBe(0);
    cohort = JSON.parse(readFileSync(join(out, 'cohort.json'), 'utf8')) as CohortFile;
    standalone = join(out, 'index.html');
    await buildSiteWithCohorts(join(work, 'cohorts'), join(work, 'dist'));
    site = await serveStatic(join(work, 'dist'));
  });
  afterAll(() => {
    site?.server.close();
  });

  it('lists the cohort on /cohorts/ with a link to its page', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${site.url}/cohorts/`);
    const links = await page.$$eval('#static-cohorts a', (as) => as.map((a) => a.getAttribute('href')));
    expect(links).toEqual([`/cohorts/${name}/`]);
    await page.close();
  });

  for (const width of WIDTHS) {
    it(`renders the scatter, lead box plots with p-values, average beats, criteria and records at ${width} px`, async () => {
      const page = await browser.context.newPage();
      await page.setViewportSize({ width, height: 900 });
      await page.goto(`${site.url}/cohorts/${name}/`);
      const shown = await sections(page);
      expectSectionsMatch(shown, cohort, width);
      await page.screenshot({ path: join(artifacts, `cohort-static-${width}.png`), fullPage: false });
      await page.close();
    });
  }

  it('shows the average beats of V1 and V6 only until the reader ticks another lead, without script', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${site.url}/cohorts/${name}/`);
    expect(await page.$$('script')).toHaveLength(0);
    expect(await visibleBeatLeads(page)).toEqual(['V1', 'V6']);
    await page.check('#beats .beat-picker input[value="aVF"]');
    await page.uncheck('#beats .beat-picker input[value="V6"]');
    expect(await visibleBeatLeads(page)).toEqual(['aVF', 'V1']);
    await page.close();
  });

  it('prints the picked beat figures whole and leaves out the lead picker', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${site.url}/cohorts/${name}/`);
    await page.emulateMedia({ media: 'print' });
    expect(await page.isHidden('#beats .beat-picker')).toBe(true);
    expect(await visibleBeatLeads(page)).toEqual(['V1', 'V6']);
    const breaks = await page.$$eval('#scatter figure, #leads .lead-box, #beats .lead-beat', (fs) => [...new Set(fs.map((f) => getComputedStyle(f).breakInside))]);
    expect(breaks).toEqual(['avoid']);
    await page.pdf({ path: join(artifacts, 'cohort-static-print.pdf') });
    await page.close();
  });

  it('shows the same section HTML as the standalone report of leadlight cohort (one renderer)', async () => {
    const page = await browser.context.newPage();
    const grab = () => page.evaluate(() => ['#scatter', '#leads', '#beats', '#criteria', '#records'].map((s) => document.querySelector(s)!.innerHTML));
    await page.goto(`${site.url}/cohorts/${name}/`);
    const onSite = await grab();
    await page.goto(`file://${standalone}`);
    const inReport = await grab();
    expect(onSite).toEqual(inReport);
    await page.close();
  });

  it('offers the checked cohort.json for download', async () => {
    const response = await fetch(`${site.url}/cohorts/${name}/cohort.json`);
    expect(response.status).toBe(200);
    const served = (await response.json()) as CohortFile;
    expect(served.records).toEqual(cohort.records);
    expect(served.leadTests).toEqual(cohort.leadTests);
  });

  it('fails the build with a clear message when a cohort.json does not match the schema', async () => {
    const bad = join(work, 'bad-cohorts');
    mkdirSync(join(bad, 'broken'), { recursive: true });
    writeFileSync(join(bad, 'broken', 'cohort.json'), JSON.stringify({ ...cohort, leadTests: [{ lead: 'I', pValue: 'small' }] }));
    let message = '';
    try {
      await buildSiteWithCohorts(bad, join(work, 'dist-bad'));
    } catch (e) {
      message = String((e as { stderr?: Buffer }).stderr ?? '') + String((e as { stdout?: Buffer }).stdout ?? '');
    }
    expect(message).toContain('cohorts/broken/cohort.json does not match cohort.json schema');
    expect(existsSync(join(work, 'dist-bad', 'cohorts', 'broken', 'index.html'))).toBe(false);
  });
});

describe('a live cohort page after uploads', () => {
  const name = `live-${Date.now().toString(36)}`;
  let reportLink = '';

  async function upload(record: string, label: string, extra: Record<string, string> = {}): Promise<void> {
    const form = new FormData();
    for (const ext of ['hea', 'mat']) form.append('file', new Blob([readFileSync(join(cpsc, `${record}.${ext}`))]), `${record}.${ext}`);
    form.append('cohort', name);
    form.append('label', label);
    form.append('expiry', '1d');
    for (const [k, v] of Object.entries(extra)) form.append(k, v);
    const response = await fetch(`${baseUrl}/api/records`, { method: 'POST', body: form });
    expect(response.status, await response.clone().text()).toBe(201);
  }

  beforeAll(async () => {
    // An AF record first: a new cohort takes its class from its first label (NORM alone names no class).
    const rows = cpscRecords(2).sort((a, b) => (a.label === 'AF' ? 0 : 1) - (b.label === 'AF' ? 0 : 1));
    const models = (await (await fetch(`${baseUrl}/api/models`)).json()) as { models: { id: string; available: boolean; classes: string[] }[] };
    const model = models.models.find((m) => m.available && m.classes.includes('AF'))!;
    for (const [i, r] of rows.slice(0, 3).entries()) await upload(r.record, r.label, i === 0 ? { model: model.id, method: 'gradient-x-input' } : {});
    // The fourth through the upload page's form (label and cohort fields), as a person would.
    const last = rows[3];
    const page = await browser.context.newPage();
    await page.goto(`${baseUrl}/`);
    await page.waitForFunction(() => (document.getElementById('method') as HTMLSelectElement).options.length > 1);
    await page.selectOption('#model', model.id);
    await page.selectOption('#method', 'gradient-x-input');
    await page.setInputFiles('#file-input', [join(cpsc, `${last.record}.hea`), join(cpsc, `${last.record}.mat`)]);
    await page.fill('#label', last.label);
    await page.fill('#cohort', name);
    await page.click('#submit');
    await page.waitForURL(/\/r\/[A-Za-z0-9_-]{22}$/, { timeout: 280_000 });
    await page.waitForSelector('#report:not([hidden])', { timeout: 30_000 });
    reportLink = (await page.getAttribute('#cohort-link', 'href')) ?? '';
    await page.close();
  });

  it('links the report of a cohort upload to its live cohort page', () => {
    expect(reportLink).toBe(`/cohorts/live/?name=${name}`);
  });

  for (const width of WIDTHS) {
    it(`renders what GET /api/cohorts/{name} returns at ${width} px`, async () => {
      const api = (await (await fetch(`${baseUrl}/api/cohorts/${name}`)).json()) as CohortFile;
      expect(api.records).toHaveLength(4);
      const page = await browser.context.newPage();
      await page.setViewportSize({ width, height: 900 });
      await page.goto(`${baseUrl}/cohorts/live/?name=${name}`);
      await page.waitForSelector('#cohort:not([hidden])', { timeout: 60_000 });
      expect(await page.textContent('#cohort-title')).toContain(`Cohort ${name}: AF vs NORM`);
      expectSectionsMatch(await sections(page), api, width);
      await page.screenshot({ path: join(artifacts, `cohort-live-${width}.png`), fullPage: false });
      await page.close();
    });
  }

  it('shows the API’s message for a cohort nobody uploaded to and for a bad name', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${baseUrl}/cohorts/live/?name=nobody-${name}`);
    await page.waitForSelector('#cohort-error:not([hidden])');
    expect(await page.textContent('#cohort-error')).toMatch(/There is no cohort "nobody-.*not_found/);
    await page.goto(`${baseUrl}/cohorts/live/?name=${encodeURIComponent('bad name!')}`);
    await page.waitForSelector('#cohort-error:not([hidden])');
    expect(await page.textContent('#cohort-error')).toContain('1 to 64 letters');
    expect(await page.isHidden('#cohort')).toBe(true);
    await page.close();
  });
});

describe('the live page of a cohort uploaded with POST /api/cohorts', () => {
  const name = `fanned-${Date.now().toString(36)}`;

  it('shows the progress while the records are analysed, then the report with the failures and cohort.json', async () => {
    // 10 AF + 10 NORM CPSC records in one zip-free form, plus a row whose file is not in the upload.
    const rows = cpscRecords(10);
    const form = new FormData();
    form.append('labels', new Blob([`path,label\n${rows.map((r) => `${r.record}.hea,${r.label}`).join('\n')}\nA9999.hea,AF\n`]), 'labels.csv');
    for (const r of rows) for (const ext of ['hea', 'mat']) form.append('file', new Blob([readFileSync(join(cpsc, `${r.record}.${ext}`))]), `${r.record}.${ext}`);
    form.append('name', name);
    form.append('method', 'gradient-x-input');
    form.append('class', 'AF');
    form.append('expiry', '1d');
    const response = await fetch(`${baseUrl}/api/cohorts`, { method: 'POST', body: form });
    expect(response.status, await response.clone().text()).toBe(202);
    const created = (await response.json()) as { url: string; members: number };
    expect(created.members).toBe(rows.length + 1);

    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(`${baseUrl}${created.url}`);
    await page.waitForSelector('#cohort-progress:not([hidden])', { timeout: 30_000 });
    expect(await page.textContent('#cohort-progress-text')).toMatch(/Analysing: \d+ of 21 ECGs/u);
    const bar = await page.$eval('#cohort-bar', (e) => ({ value: (e as HTMLProgressElement).value, max: (e as HTMLProgressElement).max }));
    expect(bar.max).toBe(21);
    expect(bar.value).toBeLessThan(21);
    await page.screenshot({ path: join(artifacts, 'cohort-fanned-progress.png'), fullPage: false });

    // The page asks again by itself until the cohort has ended, then shows the report.
    await page.waitForSelector('#cohort[data-status="done"]:not([hidden])', { timeout: 240_000 });
    const api = (await (await fetch(`${baseUrl}/api/cohorts/${name}`)).json()) as CohortFile & { progress: { done: number; failed: number; total: number }; errors: { code: string }[] };
    expect(api.progress).toEqual({ done: 20, failed: 1, total: 21 });
    expect(await page.getAttribute('#cohort', 'data-records')).toBe('20');
    expect(await page.textContent('#errors')).toContain('request_invalid');
    expect(await page.isVisible('#cohort-download')).toBe(true);
    await page.screenshot({ path: join(artifacts, 'cohort-fanned-done.png'), fullPage: false });
    await page.close();
  });
});
