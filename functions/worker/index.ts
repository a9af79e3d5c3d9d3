/**
 * The Worker entry (wrangler.toml `main`): the fetch routes (./app.ts), the queue consumer that runs the analyses
 * (./queue.ts), both with the real analysis service (./analyze.ts), and the job's Durable Object class
 * (./analysis-job.ts) and the cohort's (./cohort.ts). Every other path is a static asset of the site, served before the Worker runs.
 */
import { handleRequest } from './app.ts';
import { workerServices } from './analyze.ts';
import type { Env, MessageBatch } from './env.ts';
import { consumeJobs } from './queue.ts';

export { AnalysisJob } from './analysis-job.ts';
export { Cohort } from './cohort.ts';

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    return handleRequest(request, env, workerServices);
  },
  queue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
    return consumeJobs(batch, env, workerServices);
  },
};
