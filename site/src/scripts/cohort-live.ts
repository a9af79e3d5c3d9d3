/**
 * The live cohort page (/cohorts/live/?name=<name>): reads the name from the address, fetches
 * `GET /api/cohorts/{name}` (cohort.json with `status` and `progress`, contract.md "Additions (2026-12)") and, while
 * the cohort's records are still analysed, shows the progress (done, failed, total, a bar) and the failures so far,
 * asking again every few seconds; once it ends, it renders cohort.json with the shared section renderers
 * (functions/core/render/cohort-html.ts), so it looks exactly like the static cohort pages, and offers it as a
 * download. The leads ticked in the average-beat picker stay ticked when a running cohort is drawn again. API errors
 * are shown with the API's message.
 */
import type { CohortError, CohortOutput } from '../../../functions/core/analysis/cohort-members.ts';
import type { LeadName } from '../../../functions/core/record.ts';
import { cohortTitle, errorTable, renderCohortSections, renderCohortSummary } from '../../../functions/core/render/cohort-html.ts';
import { readApiError } from './api.ts';

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/u;
/** How often a running cohort is asked again. */
const POLL_MS = 3000;

/** What GET /api/cohorts/{name} answers: cohort.json once a member is done, always with status and progress. */
type ServedCohort = Partial<CohortOutput> & {
  status?: 'running' | 'done';
  progress?: { done: number; failed: number; total: number };
  errors?: CohortError[];
};

export function initLiveCohortPage(): void {
  const $ = (id: string) => document.getElementById(id) as HTMLElement;
  const status = $('cohort-status');
  const error = $('cohort-error');
  const article = $('cohort');
  const input = $('cohort-name') as HTMLInputElement;
  const download = $('cohort-download') as HTMLAnchorElement;
  const progressPanel = $('cohort-progress');
  const bar = $('cohort-bar') as HTMLProgressElement;
  const progressText = $('cohort-progress-text');
  const failures = $('cohort-failures');
  const name = new URLSearchParams(location.search).get('name') ?? '';
  input.value = name;
  let objectUrl = '';
  let timer: ReturnType<typeof setTimeout> | undefined;

  const fail = (message: string) => {
    status.hidden = true;
    article.hidden = true;
    progressPanel.hidden = true;
    error.hidden = false;
    error.textContent = message;
  };

  const showProgress = (cohort: ServedCohort) => {
    const p = cohort.progress;
    if (!p) {
      progressPanel.hidden = true;
      return;
    }
    const ended = p.done + p.failed;
    bar.max = Math.max(1, p.total);
    bar.value = ended;
    progressText.textContent = cohort.status === 'running'
      ? `Analysing: ${ended} of ${p.total} ECGs (${p.done} done, ${p.failed} failed). This page follows it; it can be closed and opened again.`
      : `All ${p.total} ECGs ended: ${p.done} analysed, ${p.failed} could not be analysed.`;
    // The failures while there is no report yet (the report lists them itself).
    failures.innerHTML = !cohort.records && cohort.errors && cohort.errors.length > 0 ? errorTable({ errors: cohort.errors } as CohortOutput) : '';
    progressPanel.hidden = cohort.status !== 'running' && Boolean(cohort.records);
    article.dataset.status = cohort.status ?? 'done';
  };

  const render = (cohort: CohortOutput, text: string) => {
    document.title = `Cohort ${name} · Leadlight`;
    $('cohort-title').textContent = `Cohort ${name}: ${cohortTitle(cohort)}`;
    $('cohort-summary').innerHTML = renderCohortSummary(cohort);
    // The reader's picks of beat leads survive the redraws while the cohort runs (the defaults on the first one).
    const picker = $('cohort-sections').querySelectorAll<HTMLInputElement>('.beat-picker input');
    const beatLeads = picker.length > 0 ? [...picker].filter((i) => i.checked).map((i) => i.value as LeadName) : undefined;
    $('cohort-sections').innerHTML = renderCohortSections(cohort, beatLeads ? { beatLeads } : {});
    article.dataset.cohort = name;
    article.dataset.records = String(cohort.records.length);
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    download.href = objectUrl;
    download.download = `cohort-${name}.json`;
    download.hidden = false;
    article.hidden = false;
  };

  const load = async () => {
    clearTimeout(timer);
    if (!NAME_PATTERN.test(name)) {
      fail(name === '' ? 'Give the name of a cohort above.' : 'A cohort name is 1 to 64 letters, digits, “_” or “-”; correct the name above.');
      return;
    }
    if (article.hidden) {
      status.hidden = false;
      status.textContent = `Loading the cohort ${name}…`;
    }
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
    let cohort: ServedCohort;
    try {
      cohort = JSON.parse(text) as ServedCohort;
    } catch {
      fail('The server answered with something that is not a cohort; reload, and report it if it persists.');
      return;
    }
    status.hidden = true;
    showProgress(cohort);
    if (cohort.records) render(cohort as CohortOutput, text);
    if (cohort.status === 'running') timer = setTimeout(() => void load(), POLL_MS);
  };

  $('cohort-reload').addEventListener('click', () => void load());
  void load();
}
