/**
 * Waits until a stored result is settled: a server result is stored first and gets its faithfulness curves in a
 * second write (functions/worker/queue.ts `addCurves`); tests that compare stored text wait for that write first.
 */
import { env as workerEnv } from 'cloudflare:workers';
import type { Env } from '../../functions/worker/env.ts';
import { RESULT_KEY_PREFIX } from '../../functions/worker/store.ts';

const env = workerEnv as Env;

/** Resolves once the result of `id` is gone or no longer marked `faithfulnessStatus: "pending"`. */
export async function resultSettled(id: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const text = await env.RESULTS.get(RESULT_KEY_PREFIX + id, 'text');
    if (text === null || !(JSON.parse(text) as { analysis?: { faithfulnessStatus?: string } }).analysis?.faithfulnessStatus) return;
    if (Date.now() > until) throw new Error(`the result ${id} still waits for its curves after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
