// The parts of workerd's `cloudflare:workers` module the api tests use (provided by @cloudflare/vitest-pool-workers).
// Tests cast `env` to the Worker's Env (functions/worker/env.ts).
declare module 'cloudflare:workers' {
  export const env: unknown;
  export const exports: { default: { fetch(request: Request): Promise<Response> } };
}
