/**
 * The first relevance map of an upload is on the page within 1.5 s (issue #6), for the Ribeiro-size network
 * (6.4 M parameters; the shared same-layout file) in the local Worker (`wrangler dev`, workerd, WASM, one thread),
 * and integrated gradients then refine it on the same page until the stored report opens.
 * The server is warm (its model session loaded by one earlier upload), as for every upload but a server's first.
 * The time runs in the page, from the form's submit event to the report view showing the first map.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ecgDir } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';

const baseUrl = inject('testModelsBaseUrl');
const record = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const FIRST_MAP_BUDGET_MS = 1500;

let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
/** The partial results the page showed, in order (reported by the page; kept across its navigation). */
const partials: { done: number; preview: string }[] = [];

beforeAll(async () => {
  browser = await launchChromium({ width: 1440, height: 900 });
  page = await browser.context.newPage();
  await page.exposeFunction('leadlightPartialShown', (entry: { done: number; preview: string }) => partials.push(entry));
  // Warm the server: one upload through the API loads the Ribeiro-size gradient session (a one-pass method).
  const response = await fetch(`${baseUrl}/api/records`, { method: 'POST', body: uploadForm('gradient-x-input') });
  expect(response.status).toBe(201);
  await curvesAdded(((await response.json()) as { id: string }).id);
});

/**
 * Waits until the server has added a result's faithfulness curves (a second write after the report, ~108 forward
 * passes): until then the local server, one isolate, is still busy with that result.
 */
async function curvesAdded(id: string, timeoutMs = 280_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const result = (await (await fetch(`${baseUrl}/api/records/${id}`)).json()) as { analysis?: { faithfulnessStatus?: string } };
    if (!result.analysis?.faithfulnessStatus) return;
    if (Date.now() > until) throw new Error(`the curves of ${id} were not added within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
afterAll(async () => {
  await browser?.close();
});

/** The form of an upload of CPSC A0003 to the Ribeiro-size model. */
function uploadForm(method: string): FormData {
  const form = new FormData();
  for (const name of ['A0003.hea', 'A0003.mat']) form.append('file', new Blob([readFileSync(join(record, name))]), name);
  form.append('model', 'ribeiro2020');
  form.append('method', method);
  return form;
}

/** Opens the upload page, submits A0003 for IG on the Ribeiro-size model and returns the ms from submit to first map. */
async function submitAndTimeFirstMap(): Promise<number> {
  await page.goto(`${baseUrl}/`);
  await page.waitForFunction(() => [...(document.getElementById('model') as HTMLSelectElement).options].some((o) => o.value === 'ribeiro2020' && !o.disabled));
  await page.selectOption('#model', 'ribeiro2020');
  await page.selectOption('#method', 'ig');
  await page.setInputFiles('#file-input', [join(record, 'A0003.hea'), join(record, 'A0003.mat')]);
  // Watch, in the page, for the submit and for every partial result the report view shows.
  await page.evaluate(() => {
    const w = window as unknown as { t0: number; tFirst: number; leadlightPartialShown: (e: { done: number; preview: string }) => void };
    let last = '';
    document.getElementById('upload-form')!.addEventListener('submit', () => (w.t0 = performance.now()), { capture: true });
    const note = document.getElementById('refining')!;
    new MutationObserver(() => {
      if (note.hidden) return;
      w.tFirst ??= performance.now();
      const entry = { done: Number(note.dataset.done), preview: note.dataset.preview ?? '' };
      if (JSON.stringify(entry) !== last) w.leadlightPartialShown(entry);
      last = JSON.stringify(entry);
    }).observe(note, { attributes: true, childList: true, characterData: true, subtree: true });
  });
  await page.click('#submit');
  await page.waitForFunction(() => (window as unknown as { tFirst?: number }).tFirst !== undefined, undefined, { timeout: 60_000 });
  return page.evaluate(() => {
    const w = window as unknown as { t0: number; tFirst: number };
    return w.tFirst - w.t0;
  });
}

describe('the first relevance map of an upload (Ribeiro-size network, integrated gradients)', () => {
  it(`is drawn on the page within ${FIRST_MAP_BUDGET_MS} ms of submitting (median of three uploads)`, async () => {
    // Three uploads, as this shared machine's speed drifts. An analysis is a job that goes on when its page is left,
    // and the local queue runs one job at a time: each upload but the last is followed to its report, and to the
    // curves the server adds after it, before the next is timed, so every first map is timed on an idle server. The
    // third runs to the end in the next test.
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      if (i > 0) {
        await page.waitForURL(/\/r\/[A-Za-z0-9_-]{22}$/, { timeout: 280_000 });
        await curvesAdded(page.url().split('/r/')[1]!);
        partials.length = 0;
      }
      times.push(await submitAndTimeFirstMap());
    }
    const firstMapMs = [...times].sort((a, b) => a - b)[1]!;
    console.log(`first map on the page ${times.map((t) => t.toFixed(0)).join(', ')} ms after submit, median ${firstMapMs.toFixed(0)} ms (Ribeiro-size, workerd, warm)`);
    // The first map is gradient × input, drawn in colour on the ECG, with the running completeness.
    const note = await page.textContent('#refining');
    expect(note).toMatch(/^First map \(gradient-x-input, one pass\); completeness error \d+\.\d %\. Integrated gradients are refining it/u);
    // The trace (pixels neither paper nor grid) is drawn, and parts of it in the relevance colours.
    const { trace, coloured } = await page.evaluate(() => {
      const canvas = document.getElementById('ecg') as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let trace = 0;
      let coloured = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
        if (r > 225 && g > 150 && b > 150 && r >= g) continue;
        trace++;
        if ((r > g + 60 && r > b + 60) || (b > r + 60 && b > g + 20)) coloured++;
      }
      return { trace, coloured };
    });
    expect(trace).toBeGreaterThan(1000);
    expect(coloured).toBeGreaterThan(0);
    expect(await page.isVisible('#report-actions')).toBe(false);
    expect(firstMapMs).toBeLessThan(FIRST_MAP_BUDGET_MS);
  }, 900_000);

  it('is refined by integrated gradients on the same page, then the stored report opens with the final map', async () => {
    await page.waitForURL(/\/r\/[A-Za-z0-9_-]{22}$/, { timeout: 280_000 });
    await page.waitForSelector('#report:not([hidden])');
    // What the page showed before the report opened: the preview, then the IG checkpoints at 4, 8, 16 and 32 points.
    expect(partials).toEqual([{ done: 0, preview: 'gradient-x-input' }, ...[4, 8, 16, 32].map((done) => ({ done, preview: '' }))]);
    const id = page.url().split('/r/')[1]!;
    const stored = (await (await fetch(`${baseUrl}/api/records/${id}`)).json()) as { attribution: { method: string; steps: number; rule: string; progress?: unknown } };
    expect(stored.attribution).toMatchObject({ method: 'ig', steps: 64, rule: 'midpoint' });
    expect(stored.attribution.progress).toBeUndefined();
    expect(await page.isHidden('#refining')).toBe(true);
    expect(await page.textContent('#facts')).toContain('ig, 64 steps (midpoint rule)');
  });

  it('survives a client that goes away mid-analysis: the next upload is analysed and stored', async () => {
    const controller = new AbortController();
    const response = await fetch(`${baseUrl}/api/records?stream=1`, { method: 'POST', body: uploadForm('ig'), signal: controller.signal });
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('"type":"partial"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    await reader.cancel().catch(() => undefined);
    const next = await fetch(`${baseUrl}/api/records`, { method: 'POST', body: uploadForm('gradient-x-input') });
    expect(next.status).toBe(201);
    const { id } = (await next.json()) as { id: string };
    expect((await fetch(`${baseUrl}/api/records/${id}`)).status).toBe(200);
  });
});
