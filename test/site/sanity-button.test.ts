/**
 * The report page's sanity check button (issue 16, item 2; Adebayo et al. 2018) in Debian's Chromium against
 * `wrangler dev`: on a server result of a real CPSC record (A0001, CinC 2020 model, gradient) the button starts the
 * check, the page follows it and shows one row per cascade step with the ρ and SSIM the API stored; on a result
 * shared from the browser the button stays off and the page says why. A screenshot goes to test-artifacts/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ecgDir, repoRoot } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';

const baseUrl = inject('baseUrl');
const artifacts = join(repoRoot, 'test-artifacts');
const record = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory/A0001');

let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium({ width: 1440, height: 900 });
  page = await browser.context.newPage();
});
afterAll(async () => {
  await browser?.close();
});

async function uploadA0001(): Promise<string> {
  const form = new FormData();
  for (const ext of ['hea', 'mat']) form.append('file', new File([readFileSync(`${record}.${ext}`)], `A0001.${ext}`));
  form.append('model', 'cinc2020-ai-strollers');
  form.append('method', 'gradient');
  const response = await fetch(`${baseUrl}/api/records`, { method: 'POST', body: form });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

describe('the sanity check on the report page', () => {
  it('runs from the button and shows a row per cascade step with the stored rho and SSIM', async () => {
    const models = (await (await fetch(`${baseUrl}/api/models`)).json()) as { models: { id: string; available: boolean }[] };
    expect(models.models.find((m) => m.id === 'cinc2020-ai-strollers')?.available, 'the CinC model installed (npm install)').toBe(true);
    const id = await uploadA0001();
    await page.goto(`${baseUrl}/r/${id}`);
    await page.waitForSelector('#report:not([hidden])');
    await page.waitForFunction(() => !(document.getElementById('sanity-run') as HTMLButtonElement).disabled);
    expect(await page.isVisible('#sanity-section')).toBe(true);
    expect(await page.textContent('#sanity-note')).toMatch(/fall far below 1/u);
    await page.click('#sanity-run');
    await page.waitForSelector('#sanity-table:not([hidden])', { timeout: 240_000 });
    const rows = await page.$$eval('#sanity-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    const api = (await (await fetch(`${baseUrl}/api/records/${id}/sanity`)).json()) as { status: string; result: { cascadeSteps: { layers: string[]; spearmanAbs: number; ssim: number }[] } };
    expect(api.status).toBe('done');
    expect(rows).toHaveLength(api.result.cascadeSteps.length);
    rows.forEach((row, k) => {
      const step = api.result.cascadeSteps[k];
      expect(row[0]).toBe(String(k + 1));
      expect(row[1]).toMatch(new RegExp(`^${step.layers.length} `, 'u'));
      expect(Number(row[2])).toBeCloseTo(step.spearmanAbs, 3);
      expect(Number(row[3])).toBeCloseTo(step.ssim, 3);
    });
    expect(await (page.locator('#sanity-run')).isDisabled()).toBe(true);
    await page.locator('#sanity-section').screenshot({ path: join(artifacts, 'sanity-check.png') });
    // Opened again, the page shows the finished check without a new one.
    await page.reload();
    await page.waitForSelector('#sanity-table:not([hidden])');
    expect(await page.$$eval('#sanity-table tbody tr', (trs) => trs.length)).toBe(rows.length);
  });

  it('keeps the button off for a result shared from the browser, saying why', async () => {
    const id = await uploadA0001();
    const result = (await (await fetch(`${baseUrl}/api/records/${id}`)).json()) as Record<string, unknown> & { analysis: Record<string, unknown> };
    const { faithfulnessStatus: _pending, ...analysis } = result.analysis;
    const shared = { ...result, analysis, provenance: { computedIn: 'browser', engine: { runtime: 'onnxruntime-web', executionProvider: 'wasm', numThreads: 1 } } };
    const created = await fetch(`${baseUrl}/api/results`, { method: 'POST', body: JSON.stringify(shared), headers: { 'content-type': 'application/json' } });
    expect(created.status).toBe(201);
    const { url } = (await created.json()) as { url: string };
    await page.goto(`${baseUrl}${url}`);
    await page.waitForSelector('#report:not([hidden])');
    await page.waitForFunction(() => (document.getElementById('sanity-status')?.textContent ?? '').length > 0);
    expect(await page.locator('#sanity-run').isDisabled()).toBe(true);
    expect(await page.textContent('#sanity-status')).toMatch(/computed in the browser.*npx leadlight sanity/su);
  });
});
