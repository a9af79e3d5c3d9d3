/**
 * The live cohort page (/cohorts/live/?name=<name>): reads the name from the address, fetches
 * `GET /api/cohorts/{name}` (cohort.json, contract.md "Cohorts"; the Worker checked it against the one schema) and
 * renders it with the shared section renderers (functions/core/render/cohort-html.ts), so it looks exactly like the static
 * cohort pages. API errors are shown with the API's message.
 */
import type { CohortOutput } from '../../../functions/core/analysis/cohort-members.ts';
import { cohortTitle, renderCohortSections, renderCohortSummary } from '../../../functions/core/render/cohort-html.ts';
import { readApiError } from './api.ts';

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/u;

export function initLiveCohortPage(): void {
  const $ = (id: string) => document.getElementById(id) as HTMLElement;
  const status = $('cohort-status');
  const error = $('cohort-error');
  const article = $('cohort');
  const input = $('cohort-name') as HTMLInputElement;
  const download = $('cohort-download') as HTMLAnchorElement;
  const name = new URLSearchParams(location.search).get('name') ?? '';
  input.value = name;
  let objectUrl = '';

  const fail = (message: string) => {
    status.hidden = true;
    article.hidden = true;
    error.hidden = false;
    error.textContent = message;
  };

  const load = async () => {
    if (!NAME_PATTERN.test(name)) {
      fail(name === '' ? 'Give the name of a cohort above.' : 'A cohort name is 1 to 64 letters, digits, “_” or “-”; correct the name above.');
      return;
    }
    status.hidden = false;
    status.textContent = `Loading the cohort ${name}…`;
    error.hidden = true;
    let response: Response;
    try {
      response = await fetch(`/api/cohorts/${encodeURIComponent(name)}`, { cache: 'no-store' });
    } catch {
      fail('The server could not be reached; check the connection and reload.');
      return;
    }
    if (!response.ok) {
      const e = await readApiError(response);
      fail(`${e.message} (${e.code})`);
      return;
    }
    const text = await response.text();
    let cohort: CohortOutput;
    try {
      cohort = JSON.parse(text) as CohortOutput;
    } catch {
      fail('The server answered with something that is not a cohort; reload, and report it if it persists.');
      return;
    }
    document.title = `Cohort ${name} · Leadlight`;
    $('cohort-title').textContent = `Cohort ${name}: ${cohortTitle(cohort)}`;
    $('cohort-summary').innerHTML = renderCohortSummary(cohort);
    $('cohort-sections').innerHTML = renderCohortSections(cohort);
    article.dataset.cohort = name;
    article.dataset.records = String(cohort.records.length);
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    download.href = objectUrl;
    download.download = `cohort-${name}.json`;
    download.hidden = false;
    status.hidden = true;
    article.hidden = false;
  };

  $('cohort-reload').addEventListener('click', () => void load());
  void load();
}
