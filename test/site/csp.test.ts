/**
 * Every page carries the Content-Security-Policy and Permissions-Policy of site/public/_headers (scripts and styles
 * from the site itself only, no inline script or style, `frame-ancestors 'none'`, `object-src 'none'`), the
 * Worker's share links (/r/{id}) too, and no page reports a violation of it while it renders — the upload page, a
 * report of a real CPSC record (A0001), a live cohort of real uploads, the static pages and the 404 page —
 * in Debian's Chromium against `wrangler dev`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ecgDir } from '../helpers/paths.ts';
import { launchChromium } from './browser.ts';

const baseUrl = inject('baseUrl');
const recordDir = join(ecgDir, 'cpsc2018_physionet2020_python-classifier-2020/input_directory');
const COHORT = `csp-${Date.now().toString(36)}`;

let browser: Awaited<ReturnType<typeof launchChromium>>;
let reportPath = '';

async function upload(record: string, fields: Record<string, string>): Promise<{ id: string; url: string }> {
  const form = new FormData();
  for (const ext of ['hea', 'mat']) form.append('file', new Blob([readFileSync(join(recordDir, `${record}.${ext}`))]), `${record}.${ext}`);
  form.append('model', 'cinc2020-ai-strollers');
  form.append('method', 'gradient');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const response = await fetch(`${baseUrl}/api/records`, { method: 'POST', body: form });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; url: string };
}

beforeAll(async () => {
  browser = await launchChromium({ width: 1280, height: 900 });
  reportPath = (await upload('A0001', { name: 'A0001', cohort: COHORT, label: 'RBBB', class: 'RBBB' })).url;
  await upload('A0002', { name: 'A0002', cohort: COHORT, label: 'NORM' });
});
afterAll(async () => {
  await browser?.close();
});

/** Opens `path` in a fresh page and returns the policy violations it reported while it rendered. */
async function violationsOf(path: string, ready: string): Promise<string[]> {
  const page = await browser.context.newPage();
  const violations: string[] = [];
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/iu.test(m.text())) violations.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    const w = window as unknown as { cspViolations: string[] };
    w.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
  });
  await page.goto(`${baseUrl}${path}`);
  await page.waitForSelector(ready, { timeout: 60_000, state: 'attached' });
  await page.waitForTimeout(300);
  violations.push(...(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)));
  await page.close();
  return violations;
}

describe('the Content-Security-Policy of every page', () => {
  const pages: [string, () => string, string][] = [
    ['the upload page', () => '/', '#model option[value="cinc2020-ai-strollers"]'],
    ['a report', () => reportPath, '#report:not([hidden])'],
    ['the models page', () => '/models/', 'main'],
    ['how to read a report', () => '/how-to-read/', 'main'],
    ['the cohorts page', () => '/cohorts/', 'main'],
    ['a live cohort', () => `/cohorts/live/?name=${COHORT}`, '#cohort:not([hidden])'],
    ['a report that does not exist', () => '/r/AAAAAAAAAAAAAAAAAAAAAA', '#report-error:not([hidden])'],
    ['the 404 page', () => '/no-such-page', 'main'],
  ];
  for (const [what, path, ready] of pages) {
    it(`is sent with ${what} and not violated while it renders`, async () => {
      const response = await fetch(`${baseUrl}${path()}`);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(response.headers.get('permissions-policy')).toContain('camera=()');
      expect(await violationsOf(path(), ready)).toEqual([]);
    });
  }
});
