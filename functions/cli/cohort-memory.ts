/**
 * `npm run memory:cohort -- [N]`: the JS heap of aggregating a cohort of N members (default 10 000) the way its
 * Durable Object does (functions/worker/cohort.ts) — every member's small summary in memory, each average beat read
 * from storage when a pass needs it (here a file read, as SQLite would) — with the same core code
 * (`memberReportOf`, `assembleCohort`). The members are one real analysis (CPSC A0003, CinC model, gradient, the
 * Worker's engine) with seeded scalings of its lead relevance, labels alternating AF / NORM. Numbers, not a test.
 * Run with `--expose-gc` (the npm script does) so the live heap can be told from garbage not yet collected.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { unpackBeat } from '../core/analysis/beat-codec.ts';
import { assembleCohort, memberReportOf, type CohortMember, type StoredSummary } from '../core/analysis/cohort-members.ts';
import { analyzeEcg } from '../core/pipeline.ts';
import { seededRandom } from '../core/random.ts';
import { createNodeRuntime, loadInstalledModels } from '../platform/node.ts';
import { gatherRecordFiles } from './args.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RECORD = resolve(repoRoot, '../shared/data/ecg/cpsc2018_physionet2020_python-classifier-2020/input_directory/A0003.hea');
const members = Number(process.argv[2] ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const heapMb = () => getHeapStatistics().used_heap_size / 1e6;

const runtime = createNodeRuntime('wasm', undefined, 1, true);
const result = await analyzeEcg(gatherRecordFiles([RECORD]), { model: 'cinc2020-ai-strollers', method: 'gradient', class: 'AF' }, { runtime, models: loadInstalledModels(), faithfulness: false });
await runtime.release();
const report = memberReportOf(result, 'AF');
const dir = mkdtempSync(join(tmpdir(), 'leadlight-cohort-memory-'));
writeFileSync(join(dir, 'beats.bin'), report.beats);
const fd = openSync(join(dir, 'beats.bin'), 'r');
let peakMb = 0;
let loads = 0;
const load = (slot: 0 | 1) => () => {
  const bytes = new Uint8Array(report.beats.byteLength);
  readSync(fd, bytes, 0, bytes.byteLength, 0);
  if (++loads % 100 === 0) peakMb = Math.max(peakMb, heapMb());
  return unpackBeat(bytes, slot)!;
};

gc();
const startMb = heapMb();
const list: CohortMember[] = [];
for (let k = 0; k < members; k++) {
  const random = seededRandom(k);
  const { beats, ...summary } = JSON.parse(report.summaryJson) as StoredSummary;
  for (const lead of Object.keys(summary.leadRelevance)) summary.leadRelevance[lead] *= 0.5 + random();
  summary.probability = random();
  list.push({ path: `record ${k + 1}`, label: k % 2 === 0 ? 'AF' : 'NORM', summary: { ...summary, averageBeat: beats[0] ? load(0) : null, averageBeatRAligned: beats[1] ? load(1) : null } });
}
gc();
const summariesMb = heapMb() - startMb;
const started = Date.now();
const cohort = assembleCohort({ model: { id: result.model.id, classes: result.model.classes, thresholds: result.model.thresholds }, method: 'gradient', className: 'AF', steps: null, labelsFile: 'memory', members: list, errors: [] });
peakMb = Math.max(peakMb, heapMb());
const json = JSON.stringify(cohort);
peakMb = Math.max(peakMb, heapMb());
const seconds = (Date.now() - started) / 1000;
gc();
const liveMb = heapMb() - startMb;
closeSync(fd);
rmSync(dir, { recursive: true, force: true });
process.stdout.write(
  `${members} members: summaries ${summariesMb.toFixed(1)} MB of JS heap (${report.summaryJson.length} characters of JSON and ${report.beats.byteLength} bytes of beats each); ` +
    `aggregation ${seconds.toFixed(1)} s, ${loads} beat loads; heap peak ${(peakMb - startMb).toFixed(1)} MB above the start (garbage included), ` +
    `live after it ${liveMb.toFixed(1)} MB with cohort.json (${(json.length / 1e6).toFixed(1)} MB)\n`,
);
