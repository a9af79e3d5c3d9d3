/**
 * Starts Debian's Chromium (/usr/bin/chromium, or LEADLIGHT_CHROMIUM) headless through playwright-core with a fresh
 * profile; never a browser downloaded by a test tool.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = process.env.LEADLIGHT_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run', '--disable-component-update', '--disable-sync'];

/** Chromium's software WebGPU adapter (SwiftShader): WebGPU on a machine without a GPU, for private mode's tests. */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

/** A persistent context in a fresh user-data dir; `close` removes the dir. `webgpu`: with the software adapter. */
export async function launchChromium(viewport = { width: 1440, height: 900 }, options: { webgpu?: boolean } = {}): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'leadlight-chromium-'));
  const args = options.webgpu ? [...ARGS.filter((a) => a !== '--disable-gpu'), ...WEBGPU_ARGS] : ARGS;
  const context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args, viewport, acceptDownloads: true });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
