/**
 * A report page opened while its analysis is still queued or running (issue 13): `/r/{id}` of an async upload
 * (`POST /api/records?async=1`) follows the job — waiting, then running with its stage — and then shows the finished
 * report, also when the page is reloaded mid-way. Debian's Chromium against `wrangler dev`; real CPSC records
 * (A0001, A0003) with the CinC 2020 model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ecgDir } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';

const baseUrl = inject('baseUrl');
const recordDir = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');

let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium({ width: 1440, height: 900 });
  page = await browser.context.newPage();
});
afterAll(async () => {
  await browser?.close();
});

async function uploadAsync(record: string): Promise<{ id: string; url: string }> {
  const form = new FormData();
  for (const ext of ['hea', 'mat']) form.append('file', new Blob([readFileSync(join(recordDir, `${record}.${ext}`))]), `${record}.${ext}`);
  form.append('model', 'cinc2020-ai-strollers');
  form.append('method', 'ig');
  const response = await fetch(`${baseUrl}/api/records?async=1`, { method: 'POST', body: form });
  expect(response.status).toBe(202);
  return (await response.json()) as { id: string; url: string };
}

/** The texts the loading note shows until the report is there. */
async function loadingTextsUntilReport(p: Page): Promise<string[]> {
  const seen: string[] = [];
  const until = Date.now() + 240_000;
  while (Date.now() < until) {
    const state = await p.evaluate(() => ({
      loading: document.getElementById('loading')!.hidden ? '' : document.getElementById('loading')!.textContent ?? '',
      done: !document.getElementById('report-actions')!.hidden && !document.getElementById('report')!.hidden,
      error: document.getElementById('report-error')!.hidden ? '' : document.getElementById('report-error')!.textContent ?? '',
    }));
    if (state.error) throw new Error(`the page shows an error: ${state.error}`);
    if (state.loading && seen.at(-1) !== state.loading) seen.push(state.loading);
    if (state.done) return seen;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no report after 240 s; seen: ${seen.join(' | ')}`);
}

describe('a report page whose analysis is still running', () => {
  it('shows the job waiting and running, then the finished report with the API probabilities', async () => {
    // A job ahead of ours keeps it queued for a few seconds (the local queue runs one job at a time).
    await uploadAsync('A0003');
    const job = await uploadAsync('A0001');
    await page.goto(`${baseUrl}${job.url}`);
    const seen = await loadingTextsUntilReport(page);
    expect(seen.some((t) => /The analysis is running/.test(t))).toBe(true);
    const result = (await (await fetch(`${baseUrl}/api/records/${job.id}`)).json()) as { prediction: { probabilities: Record<string, number> } };
    const shown = await page.$$eval('#probabilities tbody tr', (trs) => trs.map((tr) => [(tr as HTMLElement).dataset.class, Number((tr as HTMLElement).dataset.probability)] as const));
    expect(shown.length).toBe(Object.keys(result.prediction.probabilities).length);
    for (const [cls, p] of shown) expect(p).toBeCloseTo(result.prediction.probabilities[cls!], 6);
  });

  it('finds the running job again after a reload and ends with its report', async () => {
    await uploadAsync('A0003');
    const job = await uploadAsync('A0001');
    await page.goto(`${baseUrl}${job.url}`);
    await page.waitForFunction(() => /The analysis is running/.test(document.getElementById('loading')!.textContent ?? ''));
    await page.reload();
    await loadingTextsUntilReport(page);
    expect((await fetch(`${baseUrl}/api/records/${job.id}`)).status).toBe(200);
  });
});
