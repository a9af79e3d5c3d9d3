/**
 * Imported first by the page scripts that check results against the schema (functions/core/result.ts): zod's
 * compiled parsers probe `new Function` when schemas are built, which the pages' Content-Security-Policy forbids
 * (no eval; each probe is reported as a violation), so zod runs without them on the site.
 */
import { config } from 'zod';

config({ jitless: true });
