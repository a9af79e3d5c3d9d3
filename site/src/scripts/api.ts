/**
 * The browser side of the HTTP API (../shared/docs/contract.md): typed fetches, the error JSON turned into a
 * message a person can act on, and the upload with progress (XMLHttpRequest: upload bytes, then the NDJSON
 * progress events of `POST /api/records?stream=1`).
 */
import { asciiJsonText } from '../../../functions/core/json-ascii.ts';

export interface ApiError {
  status: number;
  code: string;
  message: string;
}

export interface ModelInfo {
  id: string;
  title: string;
  description: string;
  citation: string;
  licence: string;
  source?: string;
  status: 'available' | 'unavailable';
  reason?: string;
  available: boolean;
  classes: string[];
  thresholds: number[];
  input: { samplingRateHz: number; samples: number; leads: string[] };
  methods: string[];
  defaultIgSteps: number;
  parameters?: number;
  weights?: { published: boolean; sha256: string };
}

export interface ModelsResponse {
  models: ModelInfo[];
  defaultModel: string | null;
  defaultMethod: string;
  /** false on a deployment that analyses in the browser only (the Free-plan Worker, functions/worker/free.ts). */
  serverAnalysis?: boolean;
}

export interface Created {
  id: string;
  url: string;
  deleteToken: string;
  expiresAt: string | null;
}

export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(e: ApiError) {
    super(e.message);
    this.status = e.status;
    this.code = e.code;
  }
}

/** Reads `{"error": {"code", "message"}}` from a failed response, or describes the failure without it. */
export async function readApiError(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  return parseApiError(response.status, text);
}

export function parseApiError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code) return { status, code: body.error.code, message: body.error.message ?? body.error.code };
  } catch {
    // not JSON: fall through
  }
  if (status === 0) return { status, code: 'network', message: 'The server could not be reached; check your connection and try again.' };
  return { status, code: `http_${status}`, message: `The server answered ${status}; try again later.` };
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new ApiFailure(await readApiError(response));
  return (await response.json()) as T;
}

export function fetchModels(): Promise<ModelsResponse> {
  return getJson<ModelsResponse>('/api/models');
}

/** The result JSON as text (kept verbatim for the JSON download) and parsed. */
export async function fetchResult(id: string): Promise<{ text: string; result: unknown; expires: string | null }> {
  const response = await fetch(`/api/records/${encodeURIComponent(id)}`, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new ApiFailure(await readApiError(response));
  const text = await response.text();
  return { text, result: JSON.parse(text), expires: response.headers.get('leadlight-expires') };
}

/** A result's sanity check (issue 16; Adebayo et al. 2018): `GET`/`POST /api/records/{id}/sanity`. */
export interface SanityState {
  status: 'queued' | 'running' | 'done' | 'failed';
  progress?: { done: number; total: number };
  error?: { code: string; message: string };
  result?: {
    method: string;
    class: string;
    seed: number;
    cascadeSteps: { k: number; layer: string; layers: string[]; spearmanAbs: number | null; ssim: number; logit: number }[];
  };
}

/** The sanity check's state; 404 when none was started, 409 `sanity_unavailable` when it cannot run on this result. */
export function fetchSanity(id: string): Promise<SanityState> {
  return getJson<SanityState>(`/api/records/${encodeURIComponent(id)}/sanity`);
}

/** Starts the sanity check (or answers the one already asked for). */
export async function startSanity(id: string): Promise<SanityState> {
  const response = await fetch(`/api/records/${encodeURIComponent(id)}/sanity`, { method: 'POST', headers: { accept: 'application/json' } });
  if (!response.ok) throw new ApiFailure(await readApiError(response));
  return (await response.json()) as SanityState;
}

export async function deleteResult(id: string, token: string): Promise<void> {
  const response = await fetch(`/api/records/${encodeURIComponent(id)}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 204) throw new ApiFailure(await readApiError(response));
}

export type UploadEvent =
  | { type: 'uploading'; loaded: number; total: number }
  /** The upload is stored and its analysis queued: the report will exist at `url` even if this page closes now. */
  | { type: 'accepted'; id: string; url: string; deleteToken: string; expiresAt: string | null }
  | { type: 'progress'; stage: string; done?: number; total?: number }
  /** A partial result of integrated gradients (the first map, then refinements), as the result JSON. */
  | { type: 'partial'; result: unknown };

/**
 * Uploads the form to `POST /api/records?stream=1`, reporting upload bytes, the server's stages and partial results; resolves
 * with the 201 body or rejects with an ApiFailure carrying the API's error code and message.
 */
export function uploadRecord(form: FormData, onEvent: (e: UploadEvent) => void): Promise<Created> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let consumed = 0;
    let settled = false;
    const finish = (f: () => void) => {
      if (!settled) {
        settled = true;
        f();
      }
    };
    const consume = () => {
      if (xhr.status !== 200) return;
      const text = xhr.responseText;
      let newline = text.indexOf('\n', consumed);
      while (newline >= 0) {
        const line = text.slice(consumed, newline).trim();
        consumed = newline + 1;
        newline = text.indexOf('\n', consumed);
        if (!line) continue;
        let event: { type?: string; status?: number; body?: Created; error?: { code: string; message: string }; stage?: string; done?: number; total?: number; result?: unknown } & Partial<Created>;
        try {
          event = JSON.parse(line);
        } catch {
          continue;
        }
        if (event.type === 'accepted' && event.id && event.deleteToken) onEvent({ type: 'accepted', id: event.id, url: event.url ?? `/r/${event.id}`, deleteToken: event.deleteToken, expiresAt: event.expiresAt ?? null });
        else if (event.type === 'progress' && event.stage) onEvent({ type: 'progress', stage: event.stage, done: event.done, total: event.total });
        else if (event.type === 'partial' && event.result) onEvent({ type: 'partial', result: event.result });
        else if (event.type === 'result' && event.body) finish(() => resolve(event.body as Created));
        else if (event.type === 'error' && event.error) finish(() => reject(new ApiFailure({ status: event.status ?? 400, ...event.error! })));
      }
    };
    xhr.open('POST', '/api/records?stream=1');
    xhr.upload.onprogress = (e) => onEvent({ type: 'uploading', loaded: e.loaded, total: e.lengthComputable ? e.total : 0 });
    xhr.onprogress = consume;
    xhr.onload = () => {
      if (xhr.status !== 200) {
        finish(() => reject(new ApiFailure(parseApiError(xhr.status, xhr.responseText))));
        return;
      }
      consume();
      finish(() => reject(new ApiFailure({ status: 502, code: 'incomplete', message: 'The analysis stopped without a result; try again.' })));
    };
    xhr.onerror = () => finish(() => reject(new ApiFailure(parseApiError(0, ''))));
    xhr.send(form);
  });
}

/** What `GET /api/jobs/{id}?stream=1` reports while a job runs (the upload's events after `accepted`). */
export type JobEvent = { type: 'progress'; stage: string; done?: number; total?: number } | { type: 'partial'; result: unknown };

/**
 * Follows a queued or running analysis (`GET /api/jobs/{id}?stream=1`): its progress and partial maps until it is
 * done (resolves) or has failed (rejects with the job's error code and message). 404: there is no such job.
 */
export async function followJob(id: string, onEvent: (e: JobEvent) => void): Promise<void> {
  const response = await fetch(`/api/jobs/${encodeURIComponent(id)}?stream=1`, { headers: { accept: 'application/x-ndjson' } });
  if (!response.ok || !response.body) throw new ApiFailure(await readApiError(response));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (!line) continue;
      let event: { type?: string; status?: number; stage?: string; done?: number; total?: number; result?: unknown; error?: { code: string; message: string } };
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      if (event.type === 'progress' && event.stage) onEvent({ type: 'progress', stage: event.stage, done: event.done, total: event.total });
      else if (event.type === 'partial' && event.result) onEvent({ type: 'partial', result: event.result });
      else if (event.type === 'result') return;
      else if (event.type === 'error' && event.error) throw new ApiFailure({ status: event.status ?? 400, ...event.error });
    }
    if (done) throw new ApiFailure({ status: 502, code: 'incomplete', message: 'The connection ended before the analysis did; reload the page to follow it again.' });
  }
}

/**
 * Shares a result computed in this browser (private mode): `POST /api/results` with the result JSON as the body —
 * the only request of private mode that carries anything of the analysis, sent only when the user asks for it. Sent
 * in ASCII (asciiJsonText), which the server decodes far faster: it must fit the Free plan's 10 ms of CPU.
 */
export async function shareResult(resultJson: string, expiry: string): Promise<Created> {
  const response = await fetch(`/api/results?expiry=${encodeURIComponent(expiry)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: asciiJsonText(resultJson) });
  if (response.status !== 201) throw new ApiFailure(await readApiError(response));
  return (await response.json()) as Created;
}
