/**
 * The upload page: files by drag-and-drop or picker, model/method/class from GET /api/models, the expiry choice,
 * then POST /api/records?stream=1 with visible stages (uploading, reading, classifying, attributing n/N, done). For
 * integrated gradients the streamed partial results — the first map, then refinements — are drawn at once in the
 * report view below (report-page.ts), and the stored report opens when the analysis is done.
 * Errors show the API's message and code. The id and delete token are kept in localStorage (tokens.ts).
 *
 * "Where to analyse" (remembered in localStorage; `/?where=browser` preselects the browser): on Leadlight's server as
 * above, or in this browser (private mode) — the analysis runs in a Web Worker (private-analysis-worker.ts) with the
 * same stages and progressive maps, the report is drawn from memory, and nothing of the ECG or the result is sent
 * unless the user clicks Share. `&engine=wasm|webgpu` forces the engine (default: WebGPU when there is an adapter);
 * `&faithfulness=0` leaves out the deletion/insertion curves (108 forward passes; minutes on a software GPU).
 * With "in this browser" chosen, the Web Worker loads the engine and the chosen model's session as soon as the page
 * knows the model (and again when the model or method changes), while the visitor picks a file.
 */
import './zod-jitless.ts';
import { ApiFailure, type ModelInfo, fetchModels, shareResult, uploadRecord } from './api.ts';
import { saveResult, savedResults } from './tokens.ts';
import { showLocalResult, showPartialResult, showRefiningSteps } from './report-page.ts';
import type { Result } from '../../../functions/core/result.ts';
import type { AnalyseMessage, CoresChoice, PrepareMessage, WorkerEvent } from './private-analysis-worker.ts';

type Where = 'server' | 'browser';
const WHERE_KEY = 'leadlight.where.v1';

/** Where to analyse: `?where=` first (and remembered), else the remembered choice, else the server. */
function initialWhere(): Where {
  const asked = new URLSearchParams(location.search).get('where');
  if (asked === 'browser' || asked === 'server') {
    rememberWhere(asked);
    return asked;
  }
  try {
    return localStorage.getItem(WHERE_KEY) === 'browser' ? 'browser' : 'server';
  } catch {
    return 'server';
  }
}

function rememberWhere(where: Where): void {
  try {
    localStorage.setItem(WHERE_KEY, where);
  } catch {
    // storage disabled: the choice holds for this page only
  }
}

/** The private-mode Web Worker, made once per page and kept (its engine, sessions and files stay loaded). */
let analysisWorker: Worker | null = null;
function privateWorker(): Worker {
  if (!analysisWorker) {
    analysisWorker = new Worker(new URL('./private-analysis-worker.ts', import.meta.url), { type: 'module', name: 'leadlight-private-analysis' });
    // The models whose engine and session are loaded (a test may wait for this, as a visitor picking a file would).
    analysisWorker.addEventListener('message', (e: MessageEvent<WorkerEvent>) => {
      if (e.data?.type !== 'prepared') return;
      const ready = new Set((document.body.dataset.prepared ?? '').split(' ').filter(Boolean));
      ready.add(e.data.model);
      document.body.dataset.prepared = [...ready].join(' ');
    });
  }
  return analysisWorker;
}

/** The engine `&engine=wasm|webgpu` asks for, else `auto`. */
function engineChoice(): AnalyseMessage['engine'] {
  const engine = new URLSearchParams(location.search).get('engine');
  return engine === 'wasm' || engine === 'webgpu' ? engine : 'auto';
}

/** How WASM uses the cores: `&cores=engines` runs engines side by side (for a busy machine), else threads. */
function coresChoice(): CoresChoice {
  return new URLSearchParams(location.search).get('cores') === 'engines' ? 'engines' : 'threads';
}

/** Asks the Web Worker to make the engine and `model`'s session now (the file is not chosen yet). */
function prepareInBrowser(model: string, method: string): void {
  const message: PrepareMessage = { type: 'prepare', model, ...(method ? { method } : {}), engine: engineChoice(), cores: coresChoice() };
  privateWorker().postMessage(message);
}

/** Runs one analysis in the Web Worker; resolves with the final result, rejects with an ApiFailure-like error. */
function analyseInBrowser(message: AnalyseMessage, onEvent: (e: WorkerEvent) => void): Promise<Result> {
  const worker = privateWorker();
  return new Promise((resolve, reject) => {
    const onMessage = (e: MessageEvent<WorkerEvent>) => {
      const event = e.data;
      if (event.type === 'result') {
        done();
        onEvent(event);
        resolve(event.result);
      } else if (event.type === 'error') {
        done();
        reject(new ApiFailure({ status: 0, code: event.code, message: event.message }));
      } else onEvent(event);
    };
    const onError = (e: ErrorEvent) => {
      done();
      analysisWorker = null;
      worker.terminate();
      reject(new ApiFailure({ status: 0, code: 'internal', message: `The analysis could not start in this browser: ${e.message || 'the Web Worker failed'}` }));
    };
    const done = () => {
      worker.removeEventListener('message', onMessage);
      worker.removeEventListener('error', onError);
    };
    worker.addEventListener('message', onMessage);
    worker.addEventListener('error', onError);
    worker.postMessage(message, message.files.map((f) => f.bytes));
  });
}

const STAGES = ['uploading', 'reading', 'classifying', 'attributing', 'analysing', 'done'] as const;
const STAGE_WEIGHT: Record<string, [number, number]> = {
  uploading: [0, 10],
  reading: [10, 15],
  classifying: [15, 25],
  attributing: [25, 90],
  analysing: [90, 97],
  done: [100, 100],
};

function $(id: string): HTMLElement {
  return document.getElementById(id)!;
}

function steps(): HTMLElement {
  return $('steps');
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function initUploadPage(): void {
  const form = $('upload-form') as HTMLFormElement;
  const input = $('file-input') as HTMLInputElement;
  const dropzone = $('dropzone');
  const list = $('file-list');
  const modelSelect = $('model') as HTMLSelectElement;
  const methodSelect = $('method') as HTMLSelectElement;
  const classSelect = $('class') as HTMLSelectElement;
  const submit = $('submit') as HTMLButtonElement;
  const submitHint = $('submit-hint');
  const errorBox = $('error');
  let files: File[] = [];
  let models: ModelInfo[] = [];
  let busy = false;
  /** Private mode: the engine and the chosen model's session are made while the visitor picks a file. */
  const prepareHere = () => {
    const model = models.find((m) => m.id === modelSelect.value);
    if (where === 'browser' && model?.available) prepareInBrowser(model.id, methodSelect.value);
  };

  // Where to analyse: the server (as always) or this browser (private mode).
  let where = initialWhere();
  const whereHint = $('where-hint');
  const uploadingStep = steps().querySelector<HTMLElement>('li[data-step="uploading"]')!;
  const uploadingLabel = uploadingStep.firstChild as Text;
  const applyWhere = () => {
    for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="where"]')) radio.checked = radio.value === where;
    const browser = where === 'browser';
    whereHint.textContent = browser
      ? 'Private mode: the analysis runs in this browser and the ECG never leaves this computer. The model is downloaded once and kept by the browser. Nothing is stored unless you click Share on the report.'
      : 'The ECG is uploaded and analysed on Leadlight’s server; the report is stored and can be shared by its link.';
    $('cohort-field').hidden = browser;
    uploadingLabel.textContent = browser ? 'Loading the model in this browser ' : 'Uploading ';
    ($('expiry').previousElementSibling as HTMLElement).textContent = browser ? 'Keep a shared report for' : 'Keep the report for';
    document.body.dataset.where = where;
    prepareHere();
  };
  for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="where"]')) {
    radio.addEventListener('change', () => {
      if (!radio.checked) return;
      where = radio.value === 'browser' ? 'browser' : 'server';
      rememberWhere(where);
      applyWhere();
    });
  }

  const showError = (message: string, code?: string) => {
    errorBox.replaceChildren();
    const strong = document.createElement('strong');
    strong.textContent = 'The ECG could not be analysed. ';
    const text = document.createElement('span');
    text.textContent = message;
    errorBox.append(strong, text);
    if (code) {
      const c = document.createElement('code');
      c.textContent = code;
      errorBox.append(' ', c);
    }
    errorBox.hidden = false;
    errorBox.focus?.();
  };

  const updateSubmit = () => {
    const model = models.find((m) => m.id === modelSelect.value);
    const ready = files.length > 0 && !!model?.available && !busy;
    submit.disabled = !ready;
    submitHint.textContent = busy ? 'Working…' : files.length === 0 ? 'Choose a file first.' : !model?.available ? 'Choose an available model.' : '';
  };

  const title = $('report-title') as HTMLInputElement;
  // The title follows the chosen file until the user edits it: the file's stem (a WFDB record by its header).
  let titleEdited = false;
  title.addEventListener('input', () => (titleEdited = true));
  const setFiles = (chosen: File[]) => {
    files = chosen;
    if (!titleEdited) {
      const main = files.find((f) => /\.hea$/iu.test(f.name)) ?? files[0];
      title.value = main ? main.name.replace(/\.[^.]*$/u, '') : '';
    }
    list.replaceChildren(
      ...files.map((f) => {
        const li = document.createElement('li');
        const name = document.createElement('span');
        name.textContent = f.name;
        const size = document.createElement('span');
        size.className = 'muted';
        size.textContent = formatBytes(f.size);
        li.append(name, size);
        return li;
      }),
    );
    errorBox.hidden = true;
    updateSubmit();
  };

  input.addEventListener('change', () => setFiles([...(input.files ?? [])]));
  for (const type of ['dragenter', 'dragover'] as const) {
    dropzone.addEventListener(type, (e) => {
      e.preventDefault();
      dropzone.classList.add('dragging');
    });
  }
  for (const type of ['dragleave', 'drop'] as const) {
    dropzone.addEventListener(type, (e) => {
      e.preventDefault();
      dropzone.classList.remove('dragging');
    });
  }
  dropzone.addEventListener('drop', (e) => {
    const dropped = [...((e as DragEvent).dataTransfer?.files ?? [])];
    if (dropped.length) setFiles(dropped);
  });

  const fillOptions = (select: HTMLSelectElement, options: { value: string; label: string; disabled?: boolean }[], selected?: string) => {
    select.replaceChildren(
      ...options.map((o) => {
        const opt = document.createElement('option');
        opt.value = o.value;
        opt.textContent = o.label;
        opt.disabled = !!o.disabled;
        if (o.value === selected) opt.selected = true;
        return opt;
      }),
    );
    select.disabled = options.length === 0;
  };

  const onModelChange = () => {
    const model = models.find((m) => m.id === modelSelect.value);
    $('model-hint').textContent = model ? (model.available ? `${model.classes.length} classes · ${model.input.samples} samples at ${model.input.samplingRateHz} Hz` : (model.reason ?? 'Not installed.')) : '';
    fillOptions(methodSelect, (model?.methods ?? []).map((m) => ({ value: m, label: m === 'ig' ? 'ig (integrated gradients)' : m })), 'ig');
    fillOptions(classSelect, [{ value: '', label: 'Highest probability' }, ...(model?.classes ?? []).map((c) => ({ value: c, label: c }))], '');
    updateSubmit();
    prepareHere();
  };
  modelSelect.addEventListener('change', onModelChange);
  methodSelect.addEventListener('change', prepareHere);

  fetchModels()
    .then((response) => {
      models = response.models;
      if (response.serverAnalysis === false) {
        // This deployment analyses in the browser only (private mode).
        where = 'browser';
        const server = document.querySelector<HTMLInputElement>('input[name="where"][value="server"]');
        if (server) server.disabled = true;
        applyWhere();
      }
      fillOptions(
        modelSelect,
        models.map((m) => ({ value: m.id, label: `${m.title || m.id}${m.available ? '' : ' (not installed)'}`, disabled: !m.available })),
        response.defaultModel ?? undefined,
      );
      if (!models.length) {
        fillOptions(modelSelect, []);
        showError('No model is installed on this server; run the install step (npm install) and restart.', 'model_unavailable');
      }
      onModelChange();
    })
    .catch((e: unknown) => showError(e instanceof ApiFailure ? e.message : 'The list of models could not be loaded; reload the page.', e instanceof ApiFailure ? e.code : undefined));

  const stepList = steps();
  const progress = $('progress') as HTMLProgressElement;
  const setStage = (stage: string, detail = '', fraction = 0) => {
    const index = STAGES.indexOf(stage as (typeof STAGES)[number]);
    if (index < 0) return;
    for (const li of stepList.querySelectorAll<HTMLElement>('li')) {
      const i = STAGES.indexOf(li.dataset.step as (typeof STAGES)[number]);
      li.dataset.state = i < index ? 'done' : i === index ? (stage === 'done' ? 'done' : 'active') : '';
      const d = li.querySelector<HTMLElement>('[data-detail]');
      if (d && i === index) d.textContent = detail;
    }
    const [from, to] = STAGE_WEIGHT[stage];
    progress.value = from + (to - from) * Math.min(Math.max(fraction, 0), 1);
  };

  /** Private mode: the analysis in the Web Worker, the report from memory; nothing of it leaves the page. */
  const analyseHere = async () => {
    // The previous report (if any) stays on show until the first map replaces it, but is no longer shareable.
    ($('share') as HTMLButtonElement).hidden = true;
    $('report-actions').hidden = true;
    const request = {
      model: modelSelect.value,
      ...(methodSelect.value ? { method: methodSelect.value } : {}),
      ...(classSelect.value ? { class: classSelect.value } : {}),
      ...(($('label') as HTMLInputElement).value.trim() ? { label: ($('label') as HTMLInputElement).value.trim() } : {}),
      ...(title.value.trim() ? { name: title.value.trim() } : {}),
    };
    const params = new URLSearchParams(location.search);
    const message: AnalyseMessage = {
      type: 'analyse',
      files: await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await f.arrayBuffer() }))),
      request,
      engine: engineChoice(),
      cores: coresChoice(),
      // `&faithfulness=0` leaves out the deletion/insertion curves (for slow software GPUs).
      ...(params.get('faithfulness') === '0' ? { faithfulness: false } : {}),
    };
    const result = await analyseInBrowser(message, (event) => {
      if (event.type === 'engine') {
        const i = event.info;
        const fallback = Object.values(i.cpuFallback).flat();
        $('status').dataset.engine = i.executionProvider;
        $('status').dataset.threads = String(i.numThreads);
        setStage('uploading', `(${i.executionProvider === 'webgpu' ? 'WebGPU' : 'WebAssembly'}, ${i.numThreads} thread${i.numThreads === 1 ? '' : 's'}${fallback.length ? `; on the CPU: ${[...new Set(fallback)].join(', ')}` : ''}${i.webgpuUnavailable ? `; no WebGPU: ${i.webgpuUnavailable}` : ''}${i.webgpuFailed ? `; WebGPU cannot run ${i.webgpuFailed}` : ''})`, 1);
        if (i.webgpuFailed) $('status').dataset.webgpuFailed = i.webgpuFailed;
      } else if (event.type === 'partial') {
        showPartialResult(event.result);
      } else if (event.type === 'progress') {
        if (event.stage === 'engine') setStage('uploading');
        else if (event.stage === 'attributing' && event.total) {
          setStage('attributing', `${event.done ?? 0}/${event.total}`, (event.done ?? 0) / event.total);
          showRefiningSteps(event.done ?? 0, event.total);
        } else if (event.stage === 'done') setStage('analysing', '', 1);
        else setStage(event.stage);
      }
    });
    setStage('done');
    const expiry = ($('expiry') as HTMLSelectElement).value;
    const name = title.value.trim() || files[0]?.name || 'ECG';
    showLocalResult(result, async (text) => {
      const created = await shareResult(text, expiry);
      saveResult({ id: created.id, deleteToken: created.deleteToken, name, createdAt: new Date().toISOString(), expiresAt: created.expiresAt });
      return created;
    });
    $('status').hidden = true;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    busy = true;
    updateSubmit();
    errorBox.hidden = true;
    $('status').hidden = false;
    setStage('uploading');
    if (where === 'browser') {
      try {
        await analyseHere();
      } catch (err) {
        $('status').hidden = true;
        if (err instanceof ApiFailure) showError(err.message, err.code);
        else showError(`Something unexpected happened in this browser: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        busy = false;
        updateSubmit();
      }
      return;
    }
    const data = new FormData();
    for (const f of files) data.append('file', f, f.name);
    data.append('model', modelSelect.value);
    if (methodSelect.value) data.append('method', methodSelect.value);
    if (classSelect.value) data.append('class', classSelect.value);
    data.append('expiry', ($('expiry') as HTMLSelectElement).value);
    const label = ($('label') as HTMLInputElement).value.trim();
    if (label) data.append('label', label);
    if (title.value.trim()) data.append('name', title.value.trim());
    const cohort = ($('cohort') as HTMLInputElement).value.trim();
    if (cohort) data.append('cohort', cohort);
    try {
      const created = await uploadRecord(data, (event) => {
        if (event.type === 'accepted') {
          // Stored and queued: the token is kept now, so a page closed from here on finds its report (/r/{id}).
          saveResult({ id: event.id, deleteToken: event.deleteToken, name: title.value.trim() || files[0]?.name || event.id, createdAt: new Date().toISOString(), expiresAt: event.expiresAt });
        } else if (event.type === 'uploading') {
          setStage('uploading', event.total ? `${formatBytes(event.loaded)} of ${formatBytes(event.total)}` : '', event.total ? event.loaded / event.total : 0);
        } else if (event.type === 'partial') {
          // The first map (then each refinement) is drawn at once, below the progress, while the analysis goes on.
          showPartialResult(event.result as Result);
        } else if (event.stage === 'attributing' && event.total) {
          setStage('attributing', `${event.done ?? 0}/${event.total}`, (event.done ?? 0) / event.total);
          showRefiningSteps(event.done ?? 0, event.total);
        } else if (event.stage === 'done' || event.stage === 'storing') {
          // The analysis finished and the result is being stored; "Done" follows with the 201 body.
          setStage('analysing', '', 1);
        } else if (event.stage !== 'received') {
          setStage(event.stage);
        }
      });
      setStage('done');
      saveResult({ id: created.id, deleteToken: created.deleteToken, name: title.value.trim() || files[0]?.name || created.id, createdAt: new Date().toISOString(), expiresAt: created.expiresAt });
      location.assign(created.url);
    } catch (err) {
      $('status').hidden = true;
      if (err instanceof ApiFailure) showError(err.message, err.code);
      else showError('Something unexpected happened; try again.');
    } finally {
      busy = false;
      updateSubmit();
    }
  });

  applyWhere();

  const recent = savedResults();
  if (recent.length) {
    $('recent-section').hidden = false;
    $('recent').replaceChildren(
      ...recent.slice(0, 10).map((r) => {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = `/r/${r.id}`;
        a.textContent = r.name;
        const when = document.createElement('span');
        when.className = 'muted';
        when.textContent = ` · ${new Date(r.createdAt).toLocaleString()}${r.expiresAt ? ` · expires ${new Date(r.expiresAt).toLocaleDateString()}` : ''}`;
        li.append(a, when);
        return li;
      }),
    );
  }
}
