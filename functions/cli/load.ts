/**
 * `npm run load`: a load run of the service (issue 13, durable analyses) — numbers to read, not a test.
 *
 *   1. Burst: one `ig` and one `gradient` upload alone (the reference results), then IG_COUNT `ig` and GRADIENT_COUNT
 *      `gradient` uploads at once (`POST /api/records`, which waits for its job), then one more upload. Prints the
 *      statuses, latencies (p50, p90, max) and how many results equal the reference (same logits, same relevance).
 *   2. Stream disconnect (`--disconnect`): a streamed `ig` upload whose client goes away after the `accepted` line;
 *      its job must still end `done`.
 *   3. Kill (`--kill`): async `ig` jobs on a server of its own, which is SIGKILLed (its whole process group) while
 *      the first job runs, then started again on the same state; every job must end `done` or `failed` within
 *      5 minutes of the restart (the jobs' alarms send the lost queue messages again).
 *
 * Without `--url` it starts its own `wrangler dev` (the project's wrangler.toml, the built site, a fresh state folder,
 * a free port); `--url http://localhost:8787` drives a running `npm start` instead (burst and disconnect only).
 *
 * Usage: npm run load -- [--url URL] [--ig 10] [--gradient 40] [--model cinc2020-ai-strollers] [--record PATH.hea]
 *          [--disconnect] [--kill] [--kill-jobs 3]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_RECORD = resolve(repoRoot, '../shared/data/ecg/cpsc2018_physionet2020_python-classifier-2020/input_directory/A0100.hea');

interface Options {
  url: string | null;
  ig: number;
  gradient: number;
  model: string;
  record: string;
  disconnect: boolean;
  kill: boolean;
  killJobs: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { url: null, ig: 10, gradient: 40, model: 'cinc2020-ai-strollers', record: DEFAULT_RECORD, disconnect: false, kill: false, killJobs: 3 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--url') options.url = value().replace(/\/$/u, '');
    else if (arg === '--ig') options.ig = Number(value());
    else if (arg === '--gradient') options.gradient = Number(value());
    else if (arg === '--model') options.model = value();
    else if (arg === '--record') options.record = resolve(value());
    else if (arg === '--disconnect') options.disconnect = true;
    else if (arg === '--kill') options.kill = true;
    else if (arg === '--kill-jobs') options.killJobs = Number(value());
    else throw new Error(`unknown option ${arg}; see the comment at the top of functions/cli/load.ts`);
  }
  return options;
}

/** The files of a WFDB record: its header and the signal files it names. */
function recordFiles(hea: string): { name: string; bytes: Uint8Array }[] {
  const header = readFileSync(hea, 'utf8');
  const names = new Set<string>();
  for (const line of header.split(/\r?\n/u).slice(1)) {
    const file = line.trim().split(/\s+/u)[0];
    if (file && !file.startsWith('#')) names.add(file);
  }
  return [{ name: basename(hea), bytes: readFileSync(hea) }, ...[...names].map((n) => ({ name: n, bytes: readFileSync(join(dirname(hea), n)) }))];
}

function formOf(files: { name: string; bytes: Uint8Array }[], model: string, method: string): FormData {
  const form = new FormData();
  for (const f of files) form.append('file', new Blob([f.bytes as Uint8Array<ArrayBuffer>]), f.name);
  form.append('model', model);
  form.append('method', method);
  return form;
}

interface Timed {
  status: number;
  ms: number;
  id?: string;
  code?: string;
}

async function upload(base: string, form: FormData, query = ''): Promise<Timed & { body: Record<string, unknown> }> {
  const t0 = performance.now();
  const response = await fetch(`${base}/api/records${query}`, { method: 'POST', body: form });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: response.status, ms: performance.now() - t0, id: body.id as string | undefined, code: (body.error as { code?: string } | undefined)?.code, body };
}

/** The logits and relevance bytes of a stored result: what must not differ between runs of the same input. */
async function essenceOf(base: string, id: string): Promise<string> {
  const result = (await (await fetch(`${base}/api/records/${id}`)).json()) as { prediction: unknown; attribution: { relevance?: { data: string } } };
  return JSON.stringify([result.prediction, result.attribution.relevance?.data]);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function burst(base: string, options: Options): Promise<boolean> {
  const files = recordFiles(options.record);
  console.log(`burst: ${options.ig} ig + ${options.gradient} gradient uploads of ${basename(options.record)} (${options.model}) at once`);
  const aloneIg = await upload(base, formOf(files, options.model, 'ig'));
  const aloneGradient = await upload(base, formOf(files, options.model, 'gradient'));
  if (aloneIg.status !== 201 || aloneGradient.status !== 201) {
    console.log(`  the uploads alone failed: ig ${aloneIg.status} ${aloneIg.code ?? ''}, gradient ${aloneGradient.status} ${aloneGradient.code ?? ''}`);
    return false;
  }
  console.log(`  alone: ig ${seconds(aloneIg.ms)}, gradient ${seconds(aloneGradient.ms)}`);
  const reference = { ig: await essenceOf(base, aloneIg.id!), gradient: await essenceOf(base, aloneGradient.id!) };
  const methods = [...Array.from({ length: options.ig }, () => 'ig' as const), ...Array.from({ length: options.gradient }, () => 'gradient' as const)];
  const t0 = performance.now();
  const answers = await Promise.all(methods.map(async (method) => ({ method, ...(await upload(base, formOf(files, options.model, method))) })));
  const wall = performance.now() - t0;
  const statuses = new Map<string, number>();
  for (const a of answers) statuses.set(`${a.status}${a.code ? ` ${a.code}` : ''}`, (statuses.get(`${a.status}${a.code ? ` ${a.code}` : ''}`) ?? 0) + 1);
  let equal = 0;
  for (const a of answers) if (a.status === 201 && a.id && (await essenceOf(base, a.id)) === reference[a.method]) equal += 1;
  for (const method of ['ig', 'gradient'] as const) {
    const ms = answers.filter((a) => a.method === method).map((a) => a.ms);
    if (ms.length) console.log(`  ${method}: p50 ${seconds(percentile(ms, 50))}, p90 ${seconds(percentile(ms, 90))}, max ${seconds(Math.max(...ms))}`);
  }
  console.log(`  statuses: ${[...statuses].map(([k, n]) => `${n} × ${k}`).join(', ')}; all answered in ${seconds(wall)}`);
  console.log(`  equal to the upload alone: ${equal}/${answers.length}`);
  for (const a of answers.filter((x) => x.status !== 201).slice(0, 5)) console.log(`  not 201: ${a.method} ${a.status} after ${seconds(a.ms)}: ${JSON.stringify(a.body).slice(0, 200)}`);
  const after = await upload(base, formOf(files, options.model, 'gradient'));
  console.log(`  one more upload afterwards: ${after.status} in ${seconds(after.ms)}`);
  return equal === answers.length && after.status === 201;
}

async function jobStatus(base: string, id: string): Promise<string> {
  try {
    const response = await fetch(`${base}/api/jobs/${id}`);
    if (response.status === 404) return 'unknown';
    return ((await response.json()) as { status: string }).status;
  } catch {
    return 'unreachable';
  }
}

async function untilEnded(base: string, ids: string[], timeoutMs: number): Promise<Map<string, { status: string; ms: number }>> {
  const t0 = performance.now();
  const ended = new Map<string, { status: string; ms: number }>();
  while (ended.size < ids.length && performance.now() - t0 < timeoutMs) {
    for (const id of ids) {
      if (ended.has(id)) continue;
      const status = await jobStatus(base, id);
      if (status === 'done' || status === 'failed') ended.set(id, { status, ms: performance.now() - t0 });
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return ended;
}

async function disconnect(base: string, options: Options): Promise<boolean> {
  const controller = new AbortController();
  const response = await fetch(`${base}/api/records?stream=1`, { method: 'POST', body: formOf(recordFiles(options.record), options.model, 'ig'), signal: controller.signal });
  const reader = response.body!.getReader();
  let text = '';
  while (!text.includes('\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  controller.abort();
  const accepted = JSON.parse(text.split('\n')[0]) as { type: string; id: string };
  const ended = await untilEnded(base, [accepted.id], 300_000);
  const status = ended.get(accepted.id)?.status ?? (await jobStatus(base, accepted.id));
  const stored = (await fetch(`${base}/api/records/${accepted.id}`)).status;
  console.log(`disconnect: the client left after "${accepted.type}"; the job ended ${status}, GET /api/records/{id} ${stored}`);
  return status === 'done' && stored === 200;
}


/** `wrangler dev` in a process group of its own (so a SIGKILL takes workerd with it), on `port` and `stateDir`. */
async function startServer(port: number, stateDir: string, logFile: string): Promise<ChildProcess> {
  const log = openSync(logFile, 'a');
  const child = spawn(join(repoRoot, 'node_modules/.bin/wrangler'), ['dev', '--port', String(port), '--ip', '127.0.0.1', '--persist-to', stateDir, '--show-interactive-dev-session=false'], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' },
  });
  const until = Date.now() + 120_000;
  const logStart = existsSync(logFile) ? readFileSync(logFile, 'utf8').length : 0;
  while (Date.now() < until) {
    try {
      // wrangler restarts its local server once while it starts (without network); "Ready on" comes after that.
      const ready = readFileSync(logFile, 'utf8').slice(logStart).includes('Ready on');
      if (ready && (await fetch(`http://127.0.0.1:${port}/api/models`)).ok) return child;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`wrangler dev did not start; see ${logFile}`);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

async function killRun(options: Options, work: string): Promise<boolean> {
  const port = await freePort();
  const state = join(work, 'state');
  const logFile = join(work, 'wrangler.log');
  const base = `http://127.0.0.1:${port}`;
  let server = await startServer(port, state, logFile);
  const files = recordFiles(options.record);
  const ids: string[] = [];
  for (let i = 0; i < options.killJobs; i++) {
    const accepted = await upload(base, formOf(files, options.model, 'ig'), '?async=1');
    if (accepted.status !== 202 || !accepted.id) throw new Error(`async upload answered ${accepted.status}`);
    ids.push(accepted.id);
  }
  while ((await jobStatus(base, ids[0])) !== 'running') await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 500));
  const before = await Promise.all(ids.map((id) => jobStatus(base, id)));
  killGroup(server, 'SIGKILL');
  console.log(`kill: ${ids.length} async ig jobs (${before.join(', ')}) — wrangler dev and workerd SIGKILLed`);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  server = await startServer(port, state, logFile);
  console.log(`  restarted in ${seconds(performance.now() - t0)}`);
  const ended = await untilEnded(base, ids, 300_000);
  for (const id of ids) {
    const e = ended.get(id);
    console.log(`  ${id}: ${e ? `${e.status} ${seconds(e.ms)} after the restart` : `still ${await jobStatus(base, id)} after 5 min`}`);
  }
  const lost = ids.length - ended.size;
  console.log(`  jobs lost: ${lost}; done: ${[...ended.values()].filter((e) => e.status === 'done').length}/${ids.length}`);
  killGroup(server, 'SIGTERM');
  return lost === 0;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(options.record)) throw new Error(`no record at ${options.record}; give one with --record PATH.hea`);
  if (!existsSync(join(repoRoot, 'site/dist/model-files/index.json'))) throw new Error('the site is not built; run npm run build:site (npm start does it) first');
  const work = mkdtempSync(join(tmpdir(), 'leadlight-load-'));
  let ok = true;
  let own: ChildProcess | null = null;
  try {
    let base = options.url;
    if (!base) {
      const port = await freePort();
      own = await startServer(port, join(work, 'burst-state'), join(work, 'burst-wrangler.log'));
      base = `http://127.0.0.1:${port}`;
    }
    ok = (await burst(base, options)) && ok;
    if (options.disconnect) ok = (await disconnect(base, options)) && ok;
    if (own) killGroup(own, 'SIGTERM');
    own = null;
    if (options.kill) ok = (await killRun(options, work)) && ok;
  } finally {
    if (own) killGroup(own, 'SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
  console.log(ok ? 'load: all held' : 'load: something did not hold (see above)');
  process.exitCode = ok ? 0 : 1;
}

await main();
