/**
 * Method agreement (issue 16, item 3): how alike the relevance maps of several attribution methods are for one
 * record and class — pairwise Spearman correlations of the maps (signed and |relevance|) over the samples of the
 * recording (zero padding excluded) and of the 12 lead relevances. Storås et al. (JAMIA 2025) and Arends et al.
 * (EHJ-DH 2026) found ECG attribution methods to disagree, and ask for several methods side by side.
 */
import { LEAD_ORDER } from '../record.ts';
import { decodeFloat32, type Result } from '../result.ts';
import { midRanks } from './ranksum.ts';
import { meanAndMedian } from './sanity-metrics.ts';

export interface MethodMap {
  method: string;
  /** Row-major [samples, 12] relevance on the model-input time base. */
  relevance: Float32Array;
  leadRelevance: Readonly<Record<string, number>>;
}

export interface MethodPair {
  a: string;
  b: string;
  /** Spearman's ρ of the signed maps, of |relevance|, and of the lead relevances (null when a variable is constant). */
  map: number | null;
  absMap: number | null;
  leads: number | null;
}

/** Pearson correlation of two rank vectors (= Spearman's ρ of the values they rank); null for a constant one. */
function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number | null {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx;
    const dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
}

/**
 * Pairwise Spearman correlations (mid-ranks for ties, as scipy.stats.spearmanr) of the methods' maps over the first
 * `signalSamples` rows (12 leads), of their absolute values, and of the lead relevances.
 */
export function methodAgreement(maps: readonly MethodMap[], signalSamples: number, leads = 12): MethodPair[] {
  const n = signalSamples * leads;
  const ranked = maps.map((m) => {
    const signed = Array.from(m.relevance.subarray(0, n));
    return {
      method: m.method,
      map: midRanks(signed).ranks,
      absMap: midRanks(signed.map(Math.abs)).ranks,
      leads: midRanks(LEAD_ORDER.map((l) => m.leadRelevance[l])).ranks,
    };
  });
  const pairs: MethodPair[] = [];
  for (let i = 0; i < ranked.length; i++)
    for (let j = i + 1; j < ranked.length; j++) {
      const [a, b] = [ranked[i], ranked[j]];
      pairs.push({ a: a.method, b: b.method, map: pearson(a.map, b.map), absMap: pearson(a.absMap, b.absMap), leads: pearson(a.leads, b.leads) });
    }
  return pairs;
}

/** What `over` says in a method-agreement report: the variables the correlations run over. */
export function agreementOver(signalSamples: number): string {
  return `${signalSamples} samples × 12 leads of the model input (zero padding excluded); leads: the 12 lead relevances`;
}

/**
 * Method agreement of one record's results (one per method, same record, model and class): the pairwise Spearman
 * correlations of `methodAgreement` on the results' decoded maps and lead relevances (Storås et al., JAMIA 2025 —
 * several methods side by side). The same function serves `leadlight compare` and `leadlight cohort --methods`.
 */
export function agreementOfResults(results: readonly Result[]): { pairs: MethodPair[]; signalSamples: number } {
  const signalSamples = (results[0].input as { signalSamples?: number }).signalSamples ?? results[0].input.samples;
  const pairs = methodAgreement(
    results.map((r) => ({ method: r.attribution.method, relevance: decodeFloat32(r.attribution.relevance), leadRelevance: r.analysis.leadRelevance })),
    signalSamples,
  );
  return { pairs, signalSamples };
}

type Centre = { mean: number | null; median: number | null };

/** A method pair's agreement over a cohort: mean and median of each correlation over the records where it is defined. */
export interface MethodPairSummary {
  a: string;
  b: string;
  /** Records with this pair (a correlation left undefined by a constant map is left out of its own mean). */
  n: number;
  map: Centre;
  absMap: Centre;
  leads: Centre;
}

/** Per method pair, the mean and median over records of the pairwise Spearman correlations (cohort.json `methodAgreement`). */
export function summariseAgreement(perRecord: readonly (readonly MethodPair[])[]): MethodPairSummary[] {
  const order: string[] = [];
  const byPair = new Map<string, MethodPair[]>();
  for (const pairs of perRecord)
    for (const p of pairs) {
      const key = `${p.a}\0${p.b}`;
      if (!byPair.has(key)) {
        byPair.set(key, []);
        order.push(key);
      }
      byPair.get(key)!.push(p);
    }
  const centre = (values: (number | null)[]): Centre => {
    const { mean, median } = meanAndMedian(values);
    return { mean, median };
  };
  return order.map((key) => {
    const list = byPair.get(key)!;
    return { a: list[0].a, b: list[0].b, n: list.length, map: centre(list.map((p) => p.map)), absMap: centre(list.map((p) => p.absMap)), leads: centre(list.map((p) => p.leads)) };
  });
}
