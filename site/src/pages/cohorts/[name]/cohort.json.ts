/**
 * /cohorts/<name>/cohort.json: the checked cohort.json of a static cohort page, for download (same data the page shows).
 */
import type { APIRoute } from 'astro';
import { loadStaticCohorts, type StaticCohort } from '../../../lib/static-cohorts.ts';

export function getStaticPaths() {
  return loadStaticCohorts().map((c) => ({ params: { name: c.name }, props: c }));
}

export const GET: APIRoute = ({ props }) => new Response(`${JSON.stringify((props as StaticCohort).cohort)}\n`, { headers: { 'content-type': 'application/json' } });
