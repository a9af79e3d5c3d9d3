/**
 * The upload page: files by drag-and-drop or picker, model/method/class from GET /api/models, the expiry choice,
 * then POST /api/records?stream=1 with visible stages (uploading, reading, classifying, attributing n/N, done). For
 * integrated gradients the streamed partial results — the first map, then refinements — are drawn at once in the
 * report view below (report-page.ts), and the stored report opens when the analysis is done.
 * Errors show the API's message and code. The id and delete token are kept in localStorage (tokens.ts).
 */
import './zod-jitless.ts';
import { ApiFailure, type ModelInfo, fetchModels, uploadRecord } from './api.ts';
import { saveResult, savedResults } from './tokens.ts';
import { showPartialResult, showRefiningSteps } from './report-page.ts';
import type { Result } from '../../../functions/core/result.ts';

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
  };
  modelSelect.addEventListener('change', onModelChange);

  fetchModels()
    .then((response) => {
      models = response.models;
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

  const steps = $('steps');
  const progress = $('progress') as HTMLProgressElement;
  const setStage = (stage: string, detail = '', fraction = 0) => {
    const index = STAGES.indexOf(stage as (typeof STAGES)[number]);
    if (index < 0) return;
    for (const li of steps.querySelectorAll<HTMLElement>('li')) {
      const i = STAGES.indexOf(li.dataset.step as (typeof STAGES)[number]);
      li.dataset.state = i < index ? 'done' : i === index ? (stage === 'done' ? 'done' : 'active') : '';
      const d = li.querySelector<HTMLElement>('[data-detail]');
      if (d && i === index) d.textContent = detail;
    }
    const [from, to] = STAGE_WEIGHT[stage];
    progress.value = from + (to - from) * Math.min(Math.max(fraction, 0), 1);
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    busy = true;
    updateSubmit();
    errorBox.hidden = true;
    $('status').hidden = false;
    setStage('uploading');
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
