/**
 * /cohort.css: the cohort report's stylesheet (functions/core/render/cohort-html.ts, the one renderer the static
 * and live cohort pages and `leadlight cohort` share), written as a file at build: the pages' Content-Security-Policy
 * takes styles from the site's own files only.
 */
import { COHORT_CSS } from '../../../functions/core/render/cohort-html.ts';

export function GET(): Response {
  return new Response(COHORT_CSS, { headers: { 'content-type': 'text/css; charset=utf-8' } });
}
