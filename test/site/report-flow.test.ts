/**
 * The site end to end in Debian's Chromium against `wrangler dev` (the same Worker and assets as `npm start`):
 * upload a real CPSC record through the page, wait for its report, check the ECG is drawn, the probabilities are
 * the API's, the share link opens in a fresh browser, the layout holds at 375 px and 1440 px, errors are shown
 * with the API's message, and the report can be deleted from the uploading browser. Screenshots go to
 * test-artifacts/ (gitignored).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ecgDir, repoRoot } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';

const baseUrl = inject('baseUrl');
const artifacts = join(repoRoot, 'test-artifacts');
const record = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');

let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let reportUrl = '';
let uploadToReportMs = 0;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium({ width: 1440, height: 900 });
  page = await browser.context.newPage();
});
afterAll(async () => {
  await browser?.close();
});

/** Pixels of the canvas that are neither paper nor grid: the drawn trace. */
async function tracePixels(p: Page): Promise<{ trace: number; red: number; blue: number }> {
  return p.evaluate(() => {
    const canvas = document.getElementById('ecg') as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let trace = 0;
    let red = 0;
    let blue = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      const paper = r > 225 && g > 150 && b > 150 && r >= g;
      if (paper) continue;
      trace++;
      if (r > g + 60 && r > b + 60) red++;
      if (b > r + 60 && b > g + 20) blue++;
    }
    return { trace, red, blue };
  });
}

describe('uploading an ECG and reading its report', () => {
  it('fills the model, method and class selects from /api/models', async () => {
    await page.goto(`${baseUrl}/`);
    await page.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length > 0 && !(document.getElementById('model') as HTMLSelectElement).disabled);
    const api = (await (await fetch(`${baseUrl}/api/models`)).json()) as { models: { id: string; available: boolean; classes: string[] }[]; defaultModel: string };
    const options = await page.$$eval('#model option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(options).toEqual(api.models.map((m) => m.id));
    expect(await page.inputValue('#model')).toBe(api.defaultModel);
    const classes = await page.$$eval('#class option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(classes).toEqual(['', ...api.models.find((m) => m.id === api.defaultModel)!.classes]);
    expect(await page.inputValue('#expiry')).toBe('30d');
    // Every control has a label.
    const unlabelled = await page.$$eval('select, input:not([type=hidden])', (els) => els.filter((e) => !(e as HTMLInputElement).labels?.length).map((e) => e.id));
    expect(unlabelled).toEqual([]);
    // Keyboard: Tab reaches every control of the form in order.
    await page.focus('a.brand');
    const focused: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      focused.push(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    const order = ['file-input', 'model', 'method', 'class', 'expiry', 'label'].map((id) => focused.indexOf(id));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('shows the API error message when the file is no ECG, and stores nothing', async () => {
    await page.setInputFiles('#file-input', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('this is not an ECG') });
    await page.click('#submit');
    await page.waitForSelector('#error:not([hidden])');
    const text = await page.textContent('#error');
    expect(text).toContain('unsupported_format');
    expect(text).toMatch(/None of the uploaded files \(notes\.txt\)/);
  });

  it('uploads a WFDB record (two files), shows progress and opens its report', async () => {
    await page.setInputFiles('#file-input', [join(record, 'A0003.hea'), join(record, 'A0003.mat')]);
    expect(await page.$$eval('#file-list li', (li) => li.length)).toBe(2);
    const started = Date.now();
    await page.click('#submit');
    await page.waitForSelector('#status:not([hidden])');
    await page.waitForURL(/\/r\/[A-Za-z0-9_-]{22}$/, { timeout: 280_000 });
    await page.waitForSelector('#report:not([hidden])', { timeout: 30_000 });
    uploadToReportMs = Date.now() - started;
    reportUrl = page.url();
    console.log(`upload → report: ${uploadToReportMs} ms`);
    expect(await page.textContent('#record-name')).toBe('A0003');
  });

  it('draws the ECG on the canvas, coloured by relevance, with a legend', async () => {
    const pixels = await tracePixels(page);
    expect(pixels.trace).toBeGreaterThan(5000);
    expect(pixels.red + pixels.blue).toBeGreaterThan(100);
    await page.check('input[name="norm"][value="lead"]');
    await page.check('input[name="layout"][value="3x4"]');
    const grid = await tracePixels(page);
    expect(grid.trace).toBeGreaterThan(5000);
    expect(await page.textContent('#legend-note')).toContain('own largest');
    await page.screenshot({ path: join(artifacts, 'report-1440.png'), fullPage: true });
    await page.check('input[name="layout"][value="rows"]');
    // The print stylesheet hides the controls and keeps the plot.
    await page.emulateMedia({ media: 'print' });
    expect(await page.isVisible('.actions')).toBe(false);
    expect(await page.isVisible('#ecg')).toBe(true);
    await page.emulateMedia({ media: 'screen' });
  });

  it('shows exactly the probabilities and lead relevance the API returns', async () => {
    const id = reportUrl.split('/r/')[1];
    const result = (await (await fetch(`${baseUrl}/api/records/${id}`)).json()) as {
      model: { classes: string[]; thresholds: number[] };
      prediction: { probabilities: Record<string, number>; positive: string[] };
      analysis: { leadRelevance: Record<string, number> };
    };
    const rows = await page.$$eval('#probabilities tbody tr', (trs) => trs.map((tr) => ({ cls: (tr as HTMLElement).dataset.class, p: (tr as HTMLElement).dataset.probability, text: tr.querySelector('td')!.textContent })));
    expect(rows.map((r) => r.cls)).toEqual(result.model.classes);
    for (const row of rows) {
      const p = result.prediction.probabilities[row.cls!];
      expect(Number(row.p)).toBe(p);
      expect(Number(row.text)).toBeCloseTo(p, 3);
    }
    const positives = await page.$$eval('#probabilities tbody th.positive', (ths) => ths.map((th) => th.firstChild!.textContent));
    expect(positives).toEqual(result.prediction.positive);
    const leads = await page.$$eval('#lead-relevance tbody tr', (trs) => trs.map((tr) => [(tr as HTMLElement).dataset.lead, Number(tr.querySelector('td')!.textContent)] as const));
    for (const [lead, shown] of leads) expect(shown).toBeCloseTo(result.analysis.leadRelevance[lead!], 3);
    // Model, method, window and completeness are stated; average beats are drawn when the API computed them.
    const facts = await page.textContent('#facts');
    const full = (await (await fetch(`${baseUrl}/api/records/${id}`)).json()) as {
      model: { id: string };
      attribution: { method: string };
      analysis: {
        beats: { averageBeat: { signalMv: Record<string, number[]> } | null };
        criteria: { summary: string[]; findings: { criterion: string }[] };
        waves: { relevanceByLead: Record<string, { qrs: number }> };
      };
    };
    expect(facts).toContain(full.model.id);
    expect(facts).toContain(full.attribution.method);
    expect(facts).toMatch(/Window.*samples at/);
    expect(facts).toContain('Completeness');
    const beats = await page.$$eval('#beats canvas', (cs) => cs.length);
    expect(beats).toBe(full.analysis.beats.averageBeat ? Object.keys(full.analysis.beats.averageBeat.signalMv).length : 0);

    // The wave table and the plain-language comparison with the textbook criteria are the API's, verbatim.
    expect(await page.isVisible('#waves-section')).toBe(true);
    expect(await page.$$eval('#criteria-summary li', (li) => li.map((x) => x.textContent))).toEqual(full.analysis.criteria.summary);
    const findings = await page.$$eval('#criteria-findings tbody tr td:first-child', (td) => td.map((x) => x.textContent));
    expect(findings).toEqual(full.analysis.criteria.findings.map((f) => f.criterion));
    const qrsV1 = await page.$eval('#wave-relevance tbody tr:nth-child(7) td:nth-child(3)', (td) => td.textContent);
    expect(Number(qrsV1)).toBeCloseTo(full.analysis.waves.relevanceByLead.V1.qrs, 3);
  });

  it('draws the deletion and insertion curves, which the server adds after the report, with the areas it computed', async () => {
    const id = reportUrl.split('/r/')[1];
    expect(await page.isVisible('#faithfulness-section')).toBe(true);
    // The page shows "computing the curves" until the second write, then draws them without a reload.
    await page.waitForFunction(() => !document.getElementById('faithfulness-figures')!.hidden && Boolean(document.getElementById('deletion-summary')!.dataset.area), null, { timeout: 120_000 });
    expect(await page.isVisible('#faithfulness-pending')).toBe(false);
    const full = (await (await fetch(`${baseUrl}/api/records/${id}`)).json()) as {
      analysis: { faithfulness: { deletion: { areaVsRandom: number }; insertion: { areaVsRandom: number } }; faithfulnessStatus?: string };
    };
    expect(full.analysis.faithfulnessStatus).toBeUndefined();
    for (const kind of ['deletion', 'insertion'] as const) {
      const shown = await page.$eval(`#${kind}-summary`, (e) => Number((e as HTMLElement).dataset.area));
      expect(shown).toBe(full.analysis.faithfulness[kind].areaVsRandom);
      const inked = await page.$eval(`#${kind}-curve`, (c) => {
        const canvas = c as HTMLCanvasElement;
        const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] < 200 || data[i + 1] < 200 || data[i + 2] < 200) n++;
        return n;
      });
      expect(inked).toBeGreaterThan(200);
    }
  });

  it('lists what the model saw: every step from the file to the model input, in order, with the padding masked', async () => {
    const id = reportUrl.split('/r/')[1];
    const full = (await (await fetch(`${baseUrl}/api/records/${id}`)).json()) as { input: { steps: { step: string; description: string }[] } };
    // A0003 lasts 10 s: shorter than either model's window, so the input ends in zero padding.
    const kinds = full.input.steps.map((s) => s.step);
    expect(kinds.slice(0, 3)).toEqual(['read', 'units', 'leads']);
    expect(kinds.slice(-4)).toEqual(['resample', 'window', 'pad', 'layout']);
    expect(await page.isVisible('#model-saw-section')).toBe(true);
    const shown = await page.$$eval('#model-steps li', (li) => li.map((x) => [(x as HTMLElement).dataset.step, x.querySelector('span')!.textContent]));
    expect(shown).toEqual(full.input.steps.map((s) => [s.step, s.description]));
    expect(await page.textContent('#model-steps')).toContain('÷ gain 1000/mV');
    expect(await page.textContent('#legend-note')).toContain('its relevance is masked');
  });

  it('offers the JSON and CSV downloads', async () => {
    const [json] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
    expect(json.suggestedFilename()).toMatch(/^leadlight-A0003-.+\.json$/);
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync((await csv.path())!, 'utf8').trim().split('\n');
    expect(lines[0].split(',').slice(0, 13)).toEqual(['time_s', 'relevance_I', 'relevance_II', 'relevance_III', 'relevance_aVR', 'relevance_aVL', 'relevance_aVF', 'relevance_V1', 'relevance_V2', 'relevance_V3', 'relevance_V4', 'relevance_V5', 'relevance_V6']);
    const id = reportUrl.split('/r/')[1];
    const result = (await (await fetch(`${baseUrl}/api/records/${id}`)).json()) as { input: { samples: number } };
    expect(lines.length).toBe(result.input.samples + 1);
    const [png] = await Promise.all([page.waitForEvent('download'), page.click('#download-png')]);
    expect(readFileSync((await png.path())!).subarray(1, 4).toString()).toBe('PNG');
  });

  it('opens the share link in a fresh browser, where it cannot be deleted', async () => {
    const other = await launchChromium({ width: 1440, height: 900 });
    try {
      const fresh = await other.context.newPage();
      await fresh.goto(reportUrl);
      await fresh.waitForSelector('#report:not([hidden])');
      expect(await fresh.textContent('#record-name')).toBe('A0003');
      expect((await tracePixels(fresh)).trace).toBeGreaterThan(5000);
      expect(await fresh.isDisabled('#delete')).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('stays readable at 375 px: no sideways scrolling except inside the ECG', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.reload();
    await page.waitForSelector('#report:not([hidden])');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(overflow).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(artifacts, 'report-375.png'), fullPage: true });
    await page.goto(`${baseUrl}/`);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(artifacts, 'upload-375.png'), fullPage: true });
    await page.setViewportSize({ width: 1440, height: 900 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1440);
  });

  it('deletes the report from the uploading browser; the link then says it is gone', async () => {
    await page.goto(reportUrl);
    await page.waitForSelector('#report:not([hidden])');
    expect(await page.isDisabled('#delete')).toBe(false);
    page.once('dialog', (d) => void d.accept());
    await page.click('#delete');
    await page.waitForSelector('#report-error:not([hidden])');
    expect(await page.textContent('#report-error')).toContain('Report deleted');
    const id = reportUrl.split('/r/')[1];
    expect((await fetch(`${baseUrl}/api/records/${id}`)).status).toBe(404);
    await page.goto(reportUrl);
    await page.waitForSelector('#report-error:not([hidden])');
    expect(await page.textContent('#report-error')).toContain('not_found');
  });
});

describe('the models page and the guide', () => {
  it('lists every model of /api/models with its classes and thresholds', async () => {
    const api = (await (await fetch(`${baseUrl}/api/models`)).json()) as { models: { id: string; classes: string[]; thresholds: number[] }[] };
    await page.goto(`${baseUrl}/models/`);
    await page.waitForSelector('#models section');
    const shown = await page.$$eval('#models section', (ss) => ss.map((s) => ({ id: (s as HTMLElement).dataset.model, rows: [...s.querySelectorAll('tbody tr')].map((tr) => [tr.querySelector('th')!.textContent, Number(tr.querySelector('td')!.textContent)]) })));
    expect(shown.map((s) => s.id)).toEqual(api.models.map((m) => m.id));
    for (const m of api.models) expect(shown.find((s) => s.id === m.id)!.rows).toEqual(m.classes.map((c, i) => [c, m.thresholds[i]]));
  });

  it('explains how to read a report', async () => {
    await page.goto(`${baseUrl}/how-to-read/`);
    expect(await page.textContent('h1')).toBe('How to read a Leadlight report');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1440);
  });
});
