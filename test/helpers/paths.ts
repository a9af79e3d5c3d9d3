/** Where tests find the repository and the shared folder (../shared beside the clone, or LEADLIGHT_SHARED). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = process.env.LEADLIGHT_SHARED ? resolve(process.env.LEADLIGHT_SHARED) : resolve(repoRoot, '../shared');
export const ecgDir = join(sharedDir, 'data/ecg');
export const sharedModelsDir = join(sharedDir, 'models');

if (!existsSync(sharedDir)) {
  throw new Error(`tests need the shared folder at ${sharedDir} (set LEADLIGHT_SHARED to its path)`);
}
