/**
 * The Worker entry (wrangler.toml `main`): the HTTP API and share links (./app.ts) with the real analysis service
 * (./analyze.ts); every other path is a static asset of the site, served before the Worker runs.
 */
import { handleRequest } from './app.ts';
import { workerServices } from './analyze.ts';
import type { Env } from './env.ts';

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    return handleRequest(request, env, workerServices);
  },
};
