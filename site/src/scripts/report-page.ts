/**
 * The report page (`/r/{id}` or `/report/?id=`): loads the result JSON from GET /api/records/{id} and shows it —
 * prediction vs thresholds, the ECG coloured by relevance, relevance per lead, average beats, model/method/window/
 * completeness/warnings — with downloads (JSON as stored, CSV of relevance per sample and lead, PNG of the plot),
 * copy link, print and delete (token from localStorage). It displays what the API computed; it computes nothing.
 * The upload page also shows results computed in this browser (private mode) through `showLocalResult`.
 */
import './zod-jitless.ts';
import { decodeFloat32, type EncodedArray, type Result } from '../../../functions/core/result.ts';
import { ApiFailure, type SanityState, deleteResult, fetchResult, fetchSanity, followJob, startSanity } from './api.ts';
import { drawLegend } from './colours.ts';
import { type EcgPlotData, type Layout, type Normalisation, drawBeat, drawEcg } from './ecg-plot.ts';
import { drawFaithfulnessCurve } from './faithfulness-plot.ts';
import { forgetResult, tokenFor } from './tokens.ts';


function $(id: string): HTMLElement {
  return document.getElementById(id)!;
}

/** The result id from `/r/{id}` or `?id=`. */
export function resultIdFromLocation(loc: Location = location): string | null {
  const m = /^\/r\/([A-Za-z0-9_-]+)\/?$/u.exec(loc.pathname);
  if (m) return m[1];
  return new URLSearchParams(loc.search).get('id');
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function fmt(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(3);
  return v.toFixed(digits);
}

function download(name: string, type: string, data: BlobPart): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = el('a', '', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The model-input signal stored with the result ([samples, 12] mV), when the result carries it. */
function signalOf(result: Result): Float32Array | null {
  const input = result.input as Record<string, unknown>;
  const encoded = (input.signalMv ?? input.signal) as EncodedArray | undefined;
  if (!encoded || typeof encoded !== 'object' || typeof encoded.data !== 'string') return null;
  try {
    return decodeFloat32(encoded);
  } catch {
    return null;
  }
}

/** CSV of relevance per sample and lead (and the plotted signal when present), one row per model-input sample. */
export function relevanceCsv(result: Result, relevance: Float32Array, signal: Float32Array | null): string {
  const leads = result.record.leads;
  const fs = result.input.samplingRateHz;
  const n = leads.length;
  const header = ['time_s', ...leads.map((l) => `relevance_${l}`), ...(signal ? leads.map((l) => `signal_${l}_mV`) : [])];
  const lines = [header.join(',')];
  for (let s = 0; s < result.input.samples; s++) {
    const row = [(result.input.startS + s / fs).toFixed(6)];
    for (let k = 0; k < n; k++) row.push(String(relevance[s * n + k]));
    if (signal) for (let k = 0; k < n; k++) row.push(String(signal[s * n + k]));
    lines.push(row.join(','));
  }
  return `${lines.join('\n')}\n`;
}

export function initReportPage(): void {
  const id = resultIdFromLocation();
  const fail = (message: string, code?: string) => {
    $('loading').hidden = true;
    const box = $('report-error');
    box.replaceChildren(el('strong', 'The report cannot be shown. '), el('span', message));
    if (code) box.append(' ', el('code', code));
    box.append(el('p', '', {}));
    const back = el('a', 'Upload an ECG', { href: '/' });
    box.lastElementChild!.append(back);
    box.hidden = false;
  };
  if (!id) {
    fail('The address has no report id; open a report from its link.', 'request_invalid');
    return;
  }
  const show = () =>
    fetchResult(id).then(({ text, result, expires }) => {
      $('loading').hidden = true;
      render(id, text, result as Result);
      if ((result as Result).analysis.faithfulnessStatus === 'pending') void waitForCurves(id);
      if (expires) $('expiry-note').textContent = expires === 'never' ? 'Kept until deleted.' : `Kept until ${new Date(expires).toLocaleString()}, then deleted automatically.`;
    });
  show()
    .catch(async (e: unknown) => {
      // No result yet: the analysis may still be queued or running (also after a reload) — follow it, then show it.
      if (!(e instanceof ApiFailure) || e.status !== 404) throw e;
      await followJob(id, showJobEvent).catch((jobError: unknown) => {
        throw jobError instanceof ApiFailure && jobError.status === 404 ? e : jobError;
      });
      await show();
    })
    .catch((e: unknown) => (e instanceof ApiFailure ? fail(e.message, e.code) : fail('The report could not be read; reload the page.')));
}

const STAGE_TEXT: Record<string, string> = {
  received: 'Received',
  queued: 'Waiting for a free analyser…',
  reading: 'Reading the record…',
  classifying: 'Classifying…',
  attributing: 'Computing the relevance of every sample…',
  analysing: 'Relating the relevance to the waves…',
  storing: 'Storing the report…',
};

/** Live progress of a job that is still running: the stage in the loading note, partial maps in the report view. */
function showJobEvent(event: { type: 'progress'; stage: string; done?: number; total?: number } | { type: 'partial'; result: unknown }): void {
  const loading = $('loading');
  if (event.type === 'partial') {
    showPartialResult(event.result as Result);
    return;
  }
  const steps = event.stage === 'attributing' && event.total ? ` ${event.done ?? 0}/${event.total}` : '';
  loading.textContent = `The analysis is running: ${STAGE_TEXT[event.stage] ?? event.stage}${steps}`;
  loading.dataset.stage = event.stage;
  if (event.stage === 'attributing' && event.total) showRefiningSteps(event.done ?? 0, event.total);
}

/** The plot's redraw for the result on show; the layout and scale controls call it. */
let redrawPlot: (() => void) | null = null;
let plotControlsWired = false;

/**
 * Shows a partial result of a streamed upload (pipeline `onPartial`: the first map by gradient × input, then
 * integrated-gradient refinements) in the report view of the upload page, with a note of how far the refinement is.
 */
export function showPartialResult(result: Result): void {
  renderResult(result);
  $('report-actions').hidden = true;
  const progress = (result.attribution as Record<string, unknown>).progress as { preview?: string; done: number; total: number } | undefined;
  const relativeError = (result.attribution.completeness as Record<string, unknown>).relativeError;
  shownPartial = {
    preview: progress?.preview ?? '',
    completeness: typeof relativeError === 'number' ? `; completeness error ${(relativeError * 100).toFixed(1)} %` : '',
  };
  const note = $('refining');
  note.dataset.preview = shownPartial.preview;
  note.dataset.done = String(progress?.done ?? 0);
  showRefiningSteps(progress?.done ?? 0, progress?.total ?? 0);
  $('report').hidden = false;
}

/** The partial result on show: what the refinement note says besides the step count. */
let shownPartial: { preview: string; completeness: string } | null = null;

/** Writes the refinement note with the steps done (also called by progress events between partial results). */
export function showRefiningSteps(done: number, total: number): void {
  if (!shownPartial) return;
  const note = $('refining');
  note.textContent = shownPartial.preview
    ? `First map (${shownPartial.preview}, one pass)${shownPartial.completeness}. Integrated gradients are refining it: ${done}/${total} steps…`
    : `Integrated gradients, ${done}/${total} steps so far${shownPartial.completeness}; refining…`;
  note.hidden = false;
}

/** `--steps auto` (issue 16): how many points IG used and whether it reached its completeness target. */
function autoStepsNote(attribution: Result['attribution']): string {
  const auto = (attribution as Record<string, unknown>).stepsAuto as { tolerance: number; maxPoints: number; reached: boolean } | undefined;
  if (!auto) return '';
  return auto.reached
    ? ` — steps chosen automatically: complete within ${Math.round(auto.tolerance * 100)} %`
    : ` — steps chosen automatically: stopped at ${auto.maxPoints} points before reaching ${Math.round(auto.tolerance * 100)} %`;
}

function render(id: string, text: string, result: Result): void {
  const { relevance, signal, canvas, plotData } = renderResult(result);
  $('refining').hidden = true;
  shownPartial = null;
  $('report-actions').hidden = false;
  wireActions(id, text, result, { relevance, signal, canvas, hasPlot: plotData !== null });
  void initSanity(id, result);
  $('loading').hidden = true;
  $('report').hidden = false;
}

/**
 * Deletion and insertion curves (issue 16): only final results carry them; a server result is stored first and
 * gets them in a second write (`analysis.faithfulnessStatus: "pending"` until then), which `waitForCurves` fetches.
 */
function renderFaithfulness(result: Result): void {
  const a = result.attribution;
  const pending = result.analysis.faithfulnessStatus === 'pending' && !result.analysis.faithfulness;
  $('faithfulness-pending').hidden = !pending;
  $('faithfulness-figures').hidden = pending;
  const faithfulness = result.analysis.faithfulness;
  $('faithfulness-section').hidden = !faithfulness && !pending;
  if (faithfulness) {
    const orders = typeof faithfulness.randomOrders === 'number' ? faithfulness.randomOrders : 'the';
    $('faithfulness-note').textContent =
      `The samples of the recording (all leads, padding excluded) ranked by relevance, highest first, are set to the baseline (deletion) or restored from it (insertion); ` +
      `the line is the logit of ${a.class}. Dashed: the mean of ${orders} random orders (seed ${faithfulness.seed}); grey: their range. ` +
      'A faithful map makes the logit fall faster than random on deletion and rise faster on insertion. The summary is the area between the curve and the random mean (logit × fraction; positive = better than random).';
    for (const kind of ['deletion', 'insertion'] as const) {
      const curve = faithfulness[kind];
      drawFaithfulnessCurve($(`${kind}-curve`) as HTMLCanvasElement, curve, kind);
      const area = curve.areaVsRandom;
      const summary = $(`${kind}-summary`);
      summary.dataset.area = String(area ?? '');
      summary.textContent = `${kind === 'deletion' ? 'Deletion' : 'Insertion'}: area vs random ${typeof area === 'number' ? `${area >= 0 ? '+' : ''}${fmt(area, 3)}` : '—'}`;
    }
  }
}

/**
 * Polls a stored result whose curves are pending until they are there, for up to 5 minutes: after 3 s, then twice as
 * long each time up to 30 s (each poll reads the whole result, ~4 MB for a CinC one).
 */
async function waitForCurves(id: string): Promise<void> {
  for (let waitedMs = 0, delayMs = 3000; waitedMs < 5 * 60_000; waitedMs += delayMs, delayMs = Math.min(2 * delayMs, 30_000)) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    const fetched = await fetchResult(id).catch(() => null);
    if (!fetched) return;
    const result = fetched.result as Result;
    if (result.analysis.faithfulness) {
      renderFaithfulness(result);
      // The JSON download is the stored result as it now is, curves included.
      $('download-json').onclick = () => download(`${downloadBaseName(result)}.json`, 'application/json', fetched.text);
      return;
    }
  }
  $('faithfulness-pending').textContent = 'The deletion and insertion curves are not there yet; reload the page later to see them.';
}

/**
 * The sanity check's button (issue 16, item 2; Adebayo et al. 2018, cascading randomisation), for a result analysed
 * on the server: shows a check already asked for (following it), or offers to start one; says why not for a result
 * computed in the browser or a model without the server-side check (the API's 409 `sanity_unavailable`).
 */
async function initSanity(id: string | null, result: Result): Promise<void> {
  const button = $('sanity-run') as HTMLButtonElement;
  const status = $('sanity-status');
  $('sanity-section').hidden = false;
  $('sanity-table').hidden = true;
  button.disabled = true;
  const local = `npx leadlight sanity FILE --model ${result.model.id} --method ${result.attribution.method} --class ${result.attribution.class}`;
  if (id === null || result.provenance?.computedIn === 'browser') {
    status.textContent = `This result was computed in the browser: the check runs on results analysed on Leadlight's server, or locally with ${local}.`;
    return;
  }
  button.onclick = async () => {
    button.disabled = true;
    status.textContent = 'Starting the sanity check…';
    try {
      await followSanity(id, await startSanity(id));
    } catch (e) {
      button.disabled = false;
      status.textContent = e instanceof ApiFailure ? `The sanity check could not start: ${e.message} (${e.code})` : 'The sanity check could not start; try again.';
    }
  };
  try {
    await followSanity(id, await fetchSanity(id));
  } catch (e) {
    if (e instanceof ApiFailure && e.status === 404) {
      status.textContent = '';
      button.disabled = false;
    } else status.textContent = e instanceof ApiFailure ? `${e.message} (${e.code})` : 'The state of the sanity check could not be read; reload the page.';
  }
}

/** Shows a sanity check's state, polling every 3 s (up to 15 minutes) until it is done or failed. */
async function followSanity(id: string, first: SanityState): Promise<void> {
  const button = $('sanity-run') as HTMLButtonElement;
  const status = $('sanity-status');
  let state = first;
  for (let waitedMs = 0; ; waitedMs += 3000) {
    if (state.status === 'done' && state.result) {
      showSanityTable(state.result);
      status.textContent = `Done (seed ${state.result.seed}).`;
      button.disabled = true;
      return;
    }
    if (state.status === 'failed') {
      status.textContent = `The sanity check failed: ${state.error?.message ?? 'unknown error'} (${state.error?.code ?? 'failed'})`;
      button.disabled = false;
      return;
    }
    if (waitedMs >= 15 * 60_000) {
      status.textContent = 'The sanity check is still not done; reload the page later to see it.';
      return;
    }
    button.disabled = true;
    status.textContent = state.status === 'queued' ? 'Waiting for a free analyser…' : `Running: ${state.progress ? `${state.progress.done} of ${state.progress.total} steps` : 'starting'}…`;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    state = await fetchSanity(id);
  }
}

function showSanityTable(check: NonNullable<SanityState['result']>): void {
  const rows = check.cascadeSteps.map((step) => {
    const tr = el('tr');
    tr.append(el('td', String(step.k + 1)), el('td', `${step.layers.length} (down to ${step.layer})`), el('td', step.spearmanAbs === null ? '—' : fmt(step.spearmanAbs, 3), { class: 'num' }), el('td', fmt(step.ssim, 3), { class: 'num' }));
    return tr;
  });
  const table = $('sanity-table');
  table.querySelector('tbody')!.replaceChildren(...rows);
  table.hidden = false;
}

/** Fills the report view with a result (idempotent: a later result replaces an earlier one). */
function renderResult(result: Result): { relevance: Float32Array; signal: Float32Array | null; canvas: HTMLCanvasElement; plotData: EcgPlotData | null } {
  document.title = `${result.record.name} · ${result.attribution.class} · Leadlight`;
  $('record-name').textContent = result.record.name;
  const relevance = decodeFloat32(result.attribution.relevance);
  const signal = signalOf(result);
  const leads = result.record.leads;
  const fs = result.input.samplingRateHz;

  // Prediction vs thresholds.
  const tbody = $('probabilities').querySelector('tbody')!;
  tbody.replaceChildren();
  const positive = new Set(result.prediction.positive);
  result.model.classes.forEach((c, i) => {
    const p = result.prediction.probabilities[c];
    const t = result.model.thresholds[i];
    const tr = el('tr', undefined, { 'data-class': c, 'data-probability': String(p) });
    const name = el('th', c, { scope: 'row' });
    if (positive.has(c)) name.className = 'positive';
    if (c === result.attribution.class) name.append(' ', el('span', 'explained', { class: 'chip' }));
    const bar = el('div', undefined, { class: 'bar', role: 'img', 'aria-label': `${c}: probability ${fmt(p, 3)}, threshold ${fmt(t, 3)}` });
    const fill = el('span');
    fill.style.left = '0';
    fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
    fill.style.background = p >= t ? 'var(--pos)' : '#90a4ae';
    const mark = el('i');
    mark.style.left = `calc(${Math.max(0, Math.min(1, t)) * 100}% - 1px)`;
    bar.append(fill, mark);
    tr.append(name, el('td', fmt(p), { class: 'num' }), el('td', fmt(t, 3), { class: 'num' }), el('td'));
    tr.lastElementChild!.append(bar);
    tbody.append(tr);
  });
  $('positive-summary').textContent = result.prediction.positive.length
    ? `Positive (probability ≥ threshold): ${result.prediction.positive.join(', ')}.`
    : 'No class reaches its threshold.';

  // Facts.
  const a = result.attribution;
  const relativeError = (a.completeness as Record<string, unknown>).relativeError;
  const modelInfo = result.model as Record<string, unknown>;
  const weights = modelInfo.weights as { published?: boolean } | null | undefined;
  const facts: [string, string][] = [
    ['Model', `${result.model.id}${modelInfo.title ? ` — ${modelInfo.title}` : ''}${weights && weights.published === false ? ' (weights differ from the published file)' : ''}`],
    ['Method', `${a.method}${a.steps ? `, ${a.steps} steps${(a as Record<string, unknown>).rule ? ` (${(a as Record<string, unknown>).rule} rule)` : ''}` : ''}, baseline ${a.baseline}${autoStepsNote(a)}`],
    ['Explained class', `${a.class} (target: ${a.target})`],
    ['Window', `${fmt(result.input.startS, 2)}–${fmt(result.input.startS + result.input.samples / fs, 2)} s of the recording, ${result.input.samples} samples at ${fs} Hz`],
    ['Recording', `${result.record.format}, ${result.record.samplingRateHz} Hz, ${fmt(result.record.durationS, 2)} s`],
    ['Completeness', `Σ relevance ${fmt(a.completeness.sum)} vs f(x) − f(baseline) ${fmt(a.completeness.expected)}${typeof relativeError === 'number' ? ` (relative error ${(relativeError * 100).toFixed(1)} %)` : ''}`],
    ['Heart rate', result.analysis.beats.heartRateBpm === null ? 'not determined' : `${result.analysis.beats.heartRateBpm.toFixed(0)} bpm (${result.analysis.beats.rPeaksS.length} R-peaks)`],
  ];
  // A result shared from private mode: computed in the visitor's browser, checked (not computed) by the server.
  const computedInBrowser = result.provenance?.computedIn === 'browser';
  if (computedInBrowser) facts.push(['Computed', "in the visitor's browser (private mode); Leadlight's server did not compute these numbers"]);
  const provenanceNote = $('provenance-note');
  provenanceNote.hidden = !computedInBrowser;
  provenanceNote.textContent = computedInBrowser
    ? "Computed in the visitor's browser: the ECG never left that computer. Leadlight's server stored this result after checking that it is consistent, but it did not compute it and cannot vouch for the numbers."
    : '';
  const timings = Object.entries(result.timingsMs);
  if (timings.length) facts.push(['Timings', timings.map(([k, v]) => `${k} ${Math.round(v)} ms`).join(', ')]);
  const label = (result as Record<string, unknown>).label ?? (result.record as Record<string, unknown>).label;
  if (typeof label === 'string' && label) facts.push(['Ground truth', label]);
  $('facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
  // A record uploaded to a live cohort links to the cohort's page (/cohorts/live/?name=…).
  const cohort = (result as Record<string, unknown>).cohort;
  if (typeof cohort === 'string' && /^[A-Za-z0-9_-]{1,64}$/u.test(cohort)) {
    const link = el('a', cohort, { href: `/cohorts/live/?name=${encodeURIComponent(cohort)}`, id: 'cohort-link' });
    const dd = el('dd');
    dd.append(link);
    $('facts').append(el('dt', 'Cohort'), dd);
  }
  for (const node of document.querySelectorAll('[data-explained-class]')) node.textContent = a.class;

  // ECG plot.
  const signalSamples = (result.input as Record<string, unknown>).signalSamples;
  const recordedSamples = typeof signalSamples === "number" ? signalSamples : Math.max(0, Math.min(result.input.samples, Math.round((result.record.durationS - result.input.startS) * fs)));
  const plotData: EcgPlotData | null = signal
    ? { samplingRateHz: fs, samples: result.input.samples, leads, signalMv: signal, relevance, recordedSamples }
    : null;
  const canvas = $('ecg') as HTMLCanvasElement;
  const redraw = () => {
    if (!plotData) return;
    const layout = (document.querySelector<HTMLInputElement>('input[name="layout"]:checked')?.value ?? 'rows') as Layout;
    const normalisation = (document.querySelector<HTMLInputElement>('input[name="norm"]:checked')?.value ?? 'ecg') as Normalisation;
    drawEcg(canvas, plotData, { layout, normalisation, fitWidthPx: (canvas.parentElement?.clientWidth ?? 1000) - 2 });
    let maxAbs = 0;
    // The padding's relevance is masked (issue 16, item 7): the scale comes from the recorded samples only.
    for (let i = 0; i < plotData.recordedSamples * leads.length; i++) maxAbs = Math.max(maxAbs, Math.abs(relevance[i]));
    const padded = plotData.samples - plotData.recordedSamples;
    $('legend-note').textContent =
      (normalisation === 'ecg' ? `Scaled by the largest |relevance| of the ECG (${fmt(maxAbs)}).` : 'Each lead scaled by its own largest |relevance|.') +
      (padded > 0 ? ` The last ${fmt(padded / fs, 2)} s of the model window are zero padding (shaded, trace grey: its relevance is masked; only its first second is drawn).` : '');
  };
  drawLegend($('legend') as HTMLCanvasElement);
  redrawPlot = redraw;
  if (!plotControlsWired) {
    plotControlsWired = true;
    for (const input of document.querySelectorAll<HTMLInputElement>('input[name="layout"], input[name="norm"]')) input.addEventListener('change', () => redrawPlot?.());
  }
  if (plotData) {
    canvas.hidden = false;
    $('no-signal').hidden = true;
    redraw();
  } else {
    canvas.hidden = true;
    const note = $('no-signal');
    note.textContent = 'This result does not carry the model-input signal, so the ECG cannot be drawn; the relevance values are in the CSV download.';
    note.hidden = false;
  }

  // Relevance per lead.
  $('mean-relevance').textContent = fmt(result.analysis.meanRelevance);
  const leadValues = leads.map((l) => result.analysis.leadRelevance[l]);
  const leadMax = Math.max(...leadValues.map(Math.abs)) || 1;
  $('lead-relevance').querySelector('tbody')!.replaceChildren(
    ...leads.map((l, k) => {
      const v = leadValues[k];
      const tr = el('tr', undefined, { 'data-lead': l });
      const bar = el('div', undefined, { class: 'bar', role: 'img', 'aria-label': `${l}: ${fmt(v)}` });
      const fill = el('span');
      const w = (Math.abs(v) / leadMax) * 50;
      fill.style.left = v >= 0 ? '50%' : `${50 - w}%`;
      fill.style.width = `${w}%`;
      fill.style.background = v >= 0 ? 'var(--pos)' : 'var(--neg)';
      const zero = el('i');
      zero.style.left = 'calc(50% - 1px)';
      bar.append(fill, zero);
      tr.append(el('th', l, { scope: 'row' }), el('td', fmt(v), { class: 'num' }), el('td'));
      tr.lastElementChild!.append(bar);
      return tr;
    }),
  );

  // Average beats.
  const beat = result.analysis.beats.averageBeat;
  if (beat && beat.timeS.length > 1) {
    $('beats-section').hidden = false;
    $('beats-note').textContent = `Mean of ${beat.beats} beats (${beat.alignment}), signal coloured by mean relevance scaled by the largest |value| over the 12 leads.`;
    let relMax = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (const l of leads) {
      for (const v of beat.relevance[l] ?? []) relMax = Math.max(relMax, Math.abs(v));
      for (const v of beat.signalMv[l] ?? []) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    $('beats').replaceChildren(
      ...leads
        .filter((l) => beat.signalMv[l] && beat.relevance[l])
        .map((l) => {
          const fig = el('figure');
          const c = el('canvas', undefined, { role: 'img', 'aria-label': `Average beat of lead ${l}` });
          drawBeat(c, beat.timeS, beat.signalMv[l], beat.relevance[l], relMax > 0 ? 1 / relMax : 0, [lo, hi]);
          fig.append(c, el('figcaption', l));
          return fig;
        }),
    );
  }

  // Waves and textbook criteria (clinical-criteria.md), as the API compared them.
  const analysis = result.analysis as Result['analysis'] & {
    waves?: { relevanceByLead: Record<string, { p: number; qrs: number; t: number }>; intervals?: { prMs: number | null; qrsMs: number | null; qtMs: number | null; beatsWithP: number }; beatsInWindow: number };
    criteria?: { summary: string[]; findings: { criterion: string; agrees: boolean | 'not-applicable'; sentence: string }[] };
  };
  if (analysis.waves || analysis.criteria) {
    $('waves-section').hidden = false;
    $('criteria-summary').replaceChildren(...(analysis.criteria?.summary ?? []).map((s) => el('li', s)));
    ($('criteria-findings').querySelector('tbody') as HTMLElement).replaceChildren(
      ...(analysis.criteria?.findings ?? []).map((f) => {
        const tr = el('tr');
        const verdict = f.agrees === 'not-applicable' ? 'not applicable' : f.agrees ? 'yes' : 'no';
        tr.append(el('td', f.criterion), el('td', verdict, { class: `verdict ${verdict.replace(' ', '-')}` }), el('td', f.sentence));
        return tr;
      }),
    );
    const iv = analysis.waves?.intervals;
    const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v.toFixed(0)} ms`);
    $('intervals').textContent = iv
      ? `Median PR ${ms(iv.prMs)}, QRS ${ms(iv.qrsMs)}, QT ${ms(iv.qtMs)}; P-waves found before ${iv.beatsWithP} beats. Relevance summed over each wave, for the ${analysis.waves?.beatsInWindow ?? 0} beats inside the model's window:`
      : '';
    ($('wave-relevance').querySelector('tbody') as HTMLElement).replaceChildren(
      ...leads.map((l) => {
        const w = analysis.waves?.relevanceByLead[l];
        const tr = el('tr');
        tr.append(el('th', l, { scope: 'row' }), el('td', w ? fmt(w.p) : '—', { class: 'num' }), el('td', w ? fmt(w.qrs) : '—', { class: 'num' }), el('td', w ? fmt(w.t) : '—', { class: 'num' }));
        return tr;
      }),
    );
  }

  renderFaithfulness(result);

  renderModelInputSteps(result);

  // Warnings.
  const modelWarnings = Array.isArray(modelInfo.warnings) ? (modelInfo.warnings as { code: string; message: string }[]) : [];
  const warnings = [...result.record.warnings, ...modelWarnings];
  if (warnings.length) {
    $('warnings-section').hidden = false;
    $('warnings').replaceChildren(...warnings.map((w) => el('li', `${w.message} (${w.code})`)));
  }
  return { relevance, signal, canvas, plotData };
}

const STEP_TITLE: Record<string, string> = {
  read: 'Read',
  units: 'Units',
  leads: 'Leads',
  invert: 'Inverted lead',
  trim: 'Lengths',
  derive: 'Derived leads',
  resample: 'Resampling',
  window: 'Window',
  pad: 'Padding',
  layout: 'Model input',
};

/**
 * "What the model saw" (issue 16, item 7): the steps from the file to the model input as the core listed them
 * (`input.steps`), in order, each with the codes of its warnings, then the record's warnings.
 */
function renderModelInputSteps(result: Result): void {
  const steps = (result.input.steps ?? []).filter((s) => typeof s.step === 'string' && typeof s.description === 'string');
  $('model-saw-section').hidden = false;
  $('model-saw-note').textContent = steps.length
    ? 'Every step between the uploaded file and the tensor the model classified, in order. Relevance on zero padding is masked in every summary.'
    : 'This result was stored before Leadlight listed its preprocessing steps; the window and the warnings are above and below.';
  const byCode = new Map(result.record.warnings.map((w) => [w.code, w]));
  $('model-steps').replaceChildren(
    ...steps.map((s) => {
      const li = el('li', undefined, { 'data-step': s.step });
      li.append(el('strong', STEP_TITLE[s.step] ?? s.step), ' ', el('span', s.description));
      for (const code of s.warnings ?? []) li.append(' ', el('span', code, { class: 'chip', title: byCode.get(code)?.message ?? code }));
      return li;
    }),
  );
  const warnings = result.record.warnings;
  $('model-saw-warnings-note').hidden = warnings.length === 0;
  $('model-saw-warnings').replaceChildren(...warnings.map((w) => el('li', `${w.message} (${w.code})`)));
}

/** The actions of a stored report: share, downloads, print, delete (with the uploading browser's token). */
/** The file name (without extension) of a report's downloads. */
function downloadBaseName(result: Result): string {
  return `leadlight-${result.record.name}-${result.attribution.class}`.replace(/[^A-Za-z0-9._-]+/gu, '_');
}

function wireActions(id: string | null, text: string, result: Result, view: { relevance: Float32Array; signal: Float32Array | null; canvas: HTMLCanvasElement; hasPlot: boolean }): void {
  const { relevance, signal, canvas } = view;
  const a = result.attribution;

  // Handlers are assigned (not added), so a page that shows several results in turn (private mode) wires each once.
  const status = $('action-status');
  status.textContent = '';
  const shareUrl = `${location.origin}/r/${id}`;
  const copyButton = $('copy-link') as HTMLButtonElement;
  copyButton.hidden = id === null;
  $('copy-link').onclick = async () => {
    try {
      await navigator.clipboard.writeText(shareUrl);
      status.textContent = 'Link copied.';
    } catch {
      status.textContent = shareUrl;
    }
  };
  const base = downloadBaseName(result);
  $('download-json').onclick = () => download(`${base}.json`, 'application/json', text);
  $('download-csv').onclick = () => download(`${base}.csv`, 'text/csv', relevanceCsv(result, relevance, signal));
  const pngButton = $('download-png') as HTMLButtonElement;
  pngButton.disabled = !view.hasPlot;
  pngButton.onclick = () => canvas.toBlob((blob) => blob && download(`${base}.png`, 'image/png', blob), 'image/png');
  $('print').onclick = () => window.print();
  const deleteButton = $('delete') as HTMLButtonElement;
  deleteButton.hidden = id === null;
  const token = id === null ? undefined : tokenFor(id);
  deleteButton.disabled = !token;
  deleteButton.title = token ? '' : 'Only the browser that uploaded this ECG has its delete token.';
  deleteButton.onclick = async () => {
    if (id === null) return;
    if (!token || !confirm('Delete this report for everyone who has the link? This cannot be undone.')) return;
    deleteButton.disabled = true;
    try {
      await deleteResult(id, token);
      forgetResult(id);
      $('report').hidden = true;
      const box = $('report-error');
      box.replaceChildren(el('strong', 'Report deleted. '), el('span', 'The link no longer works. '));
      box.append(el('a', 'Upload another ECG', { href: '/' }));
      box.hidden = false;
    } catch (e) {
      deleteButton.disabled = false;
      status.textContent = e instanceof ApiFailure ? `${e.message} (${e.code})` : 'Deleting failed; try again.';
    }
  };
  ($('share') as HTMLButtonElement).hidden = true;
}

/**
 * Shows a result computed in this browser (private mode) from memory: the same report view, with downloads and a
 * Share button that uploads the result JSON — never the ECG — only when clicked (`share` resolves with the stored
 * report's id). Until then no request carries the result; afterwards the report has a link like any other.
 */
export function showLocalResult(result: Result, share: (text: string) => Promise<{ id: string; url: string }>): void {
  const text = JSON.stringify(result);
  const { relevance, signal, canvas, plotData } = renderResult(result);
  $('refining').hidden = true;
  shownPartial = null;
  $('report-actions').hidden = false;
  const view = { relevance, signal, canvas, hasPlot: plotData !== null };
  wireActions(null, text, result, view);
  void initSanity(null, result);
  $('expiry-note').textContent = 'Computed in this browser and kept in this page only: nothing was uploaded. Share stores the result (not the ECG) on Leadlight’s server.';
  const shareButton = $('share') as HTMLButtonElement;
  shareButton.hidden = false;
  shareButton.disabled = false;
  shareButton.onclick = async () => {
    shareButton.disabled = true;
    const status = $('action-status');
    status.textContent = 'Sharing the result…';
    try {
      const created = await share(text);
      wireActions(created.id, text, result, view);
      const link = el('a', `${location.origin}${created.url}`, { href: created.url, id: 'shared-link' });
      status.replaceChildren('Shared: ', link);
      $('expiry-note').textContent = 'Shared: anyone with the link can open this report.';
    } catch (e) {
      shareButton.disabled = false;
      status.textContent = e instanceof ApiFailure ? `Sharing failed: ${e.message} (${e.code})` : 'Sharing failed; try again.';
    }
  };
  $('report').hidden = false;
}
