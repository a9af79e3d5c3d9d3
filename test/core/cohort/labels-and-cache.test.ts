// The cohort command's pure helpers: the labels CSV reader (RFC 4180 quoting, BOM, CRLF, hostile rows), the
// choice of the one attributed class, the cache key and the report's escaping and rank correlation.
// Expected values are written out by hand from the CSV rules; the Spearman values were computed with
// scipy.stats.spearmanr (test/fixtures/cohort/spearman-scipy.json, provenance inside).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheKey, chooseCohortClass, coreCodeHash, parseCsv, readLabels } from '../../../functions/cli/cohort.ts';
import { escapeHtml, renderCohortReport, spearman } from '../../../functions/cli/cohort-report.ts';
import { ecgDir, repoRoot } from '../../helpers/paths.ts';
import { codeAndMessageOf } from '../../helpers/outcomes.ts';

const CINC_CLASSES = ['AF', 'I-AVB', 'LBBB', 'Normal', 'PAC', 'PVC', 'RBBB', 'STD', 'STE'];
const RIBEIRO_CLASSES = ['1dAVb', 'RBBB', 'LBBB', 'SB', 'AF', 'ST'];

describe('parseCsv', () => {
  it('reads plain rows with LF and CRLF line ends alike', () => {
    expect(parseCsv('path,label\na.hea,AF\nb.hea,NORM\n').map((r) => r.fields)).toEqual([['path', 'label'], ['a.hea', 'AF'], ['b.hea', 'NORM']]);
    expect(parseCsv('path,label\r\na.hea,AF\r\nb.hea,NORM').map((r) => r.fields)).toEqual([['path', 'label'], ['a.hea', 'AF'], ['b.hea', 'NORM']]);
  });

  it('drops a UTF-8 byte order mark and skips blank lines, keeping line numbers', () => {
    const rows = parseCsv('\ufeffpath,label\n\na.hea,AF\n\r\n');
    expect(rows).toEqual([{ line: 1, fields: ['path', 'label'] }, { line: 3, fields: ['a.hea', 'AF'] }]);
  });

  it('unquotes fields with commas, doubled quotes and line breaks inside', () => {
    const rows = parseCsv('path,label\n"dir, with comma/a.hea","A""F"\n"multi\nline.hea",NORM\nx.hea,"NORM"\n');
    expect(rows.map((r) => r.fields)).toEqual([['path', 'label'], ['dir, with comma/a.hea', 'A"F'], ['multi\nline.hea', 'NORM'], ['x.hea', 'NORM']]);
    expect(rows[3].line).toBe(5);
  });

  it('keeps an empty quoted last field and empty unquoted fields', () => {
    expect(parseCsv('a,b,c\n1,,""\n').map((r) => r.fields)).toEqual([['a', 'b', 'c'], ['1', '', '']]);
  });

  it('refuses an unterminated quote and text after a closing quote', () => {
    expect(codeAndMessageOf(() => parseCsv('path,label\n"a.hea,AF\n'))).toMatch(/^request_invalid: .*line 2/u);
    expect(codeAndMessageOf(() => parseCsv('path,label\n"a"b.hea,AF\n'))).toMatch(/^request_invalid: .*after a closing quote on line 2/u);
  });
});

describe('readLabels', () => {
  const dir = mkdtempSync(join(tmpdir(), 'leadlight-labels-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string | Uint8Array) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it('resolves relative paths against the CSV folder and keeps absolute ones, columns in any order and case', () => {
    const rows = readLabels(write('ok.csv', 'Label, PATH ,extra\nAF,sub/a.hea,1\nNORM,/abs/b.hea,2\n'));
    expect(rows).toEqual([
      { path: 'sub/a.hea', file: join(dir, 'sub/a.hea'), label: 'AF', line: 2 },
      { path: '/abs/b.hea', file: '/abs/b.hea', label: 'NORM', line: 3 },
    ]);
  });

  it('names the missing columns and the header it found', () => {
    expect(codeAndMessageOf(() => readLabels(write('nopath.csv', 'file,label\na,AF\n')))).toBe('option_invalid: The labels CSV has no column path (its header is: file, label); add a header with the columns path and label.');
    expect(codeAndMessageOf(() => readLabels(write('none.csv', 'x,y\na,AF\n')))).toMatch(/^option_invalid: The labels CSV has no column path and no column label/u);
  });

  it('refuses empty files, header-only files, rows without a label and text that is not UTF-8', () => {
    expect(codeAndMessageOf(() => readLabels(write('empty.csv', '')))).toMatch(/^option_invalid: The labels CSV is empty/u);
    expect(codeAndMessageOf(() => readLabels(write('header.csv', 'path,label\r\n')))).toMatch(/^option_invalid: .*no ECGs/u);
    expect(codeAndMessageOf(() => readLabels(write('nolabel.csv', 'path,label\na.hea,AF\nb.hea,\n')))).toBe('request_invalid: Line 3 of the labels CSV has no label; fill it in or delete the line.');
    expect(codeAndMessageOf(() => readLabels(write('latin1.csv', new Uint8Array([0x70, 0x61, 0x74, 0x68, 0x2c, 0x6c, 0x61, 0x62, 0x65, 0x6c, 0x0a, 0xe9, 0x2c, 0x41, 0x46]))))).toMatch(/^encoding_unsupported: /u);
    expect(codeAndMessageOf(() => readLabels(join(dir, 'absent.csv')))).toMatch(/^option_invalid: There is no labels file/u);
  });
});

describe('the CPSC cohorts of the README (test/fixtures/cohort/cpsc-*-norm.csv)', () => {
  // Every CPSC record of ../shared/data/ecg/labels.csv whose `classes` is exactly the positive class or NORM.
  const labelsCsv = readFileSync(join(ecgDir, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  for (const [name, positive] of [['cpsc-af-norm.csv', 'AF'], ['cpsc-lbbb-norm.csv', 'LBBB']] as const) {
    it(`${name} lists every ${positive} and NORM CPSC record by a path that exists`, () => {
      const rows = readLabels(join(repoRoot, 'test/fixtures/cohort', name));
      const expected = labelsCsv.filter((c) => c[0].startsWith('cpsc2018') && (c[9] === positive || c[9] === 'NORM')).map((c) => ({ record: c[1], label: c[9] }));
      expect(rows.map((r) => ({ record: basename(r.file, '.hea'), label: r.label }))).toEqual(expected);
      for (const r of rows) expect(existsSync(r.file)).toBe(true);
      expect(chooseCohortClass(rows.map((r) => r.label), CINC_CLASSES)).toBe(positive);
    });
  }
});

describe('chooseCohortClass', () => {
  it('maps the one non-normal label to the model class, directly or by alias', () => {
    expect(chooseCohortClass(['AF', 'NORM', 'AF'], CINC_CLASSES)).toBe('AF');
    expect(chooseCohortClass(['LBBB', 'Normal'], CINC_CLASSES)).toBe('LBBB');
    expect(chooseCohortClass(['AFIB', 'NORM'], RIBEIRO_CLASSES)).toBe('AF');
    expect(chooseCohortClass(['CLBBB', 'NORM'], RIBEIRO_CLASSES)).toBe('LBBB');
    expect(chooseCohortClass(['IAVB', 'NORM'], CINC_CLASSES)).toBe('I-AVB');
    expect(chooseCohortClass(['IAVB', 'NORM'], RIBEIRO_CLASSES)).toBe('1dAVb');
  });

  it('asks for --class when the labels are ambiguous or name no class', () => {
    expect(codeAndMessageOf(() => chooseCohortClass(['AF', 'LBBB', 'NORM'], CINC_CLASSES))).toMatch(/^option_invalid: Give --class: the labels AF, LBBB name more than one class/u);
    expect(codeAndMessageOf(() => chooseCohortClass(['NORM', 'Normal'], CINC_CLASSES))).toMatch(/^option_invalid: Give --class: the cohort has only normal labels/u);
    expect(codeAndMessageOf(() => chooseCohortClass(['MI', 'NORM'], CINC_CLASSES))).toMatch(/^option_invalid: Give --class: no label \(MI\) names a class/u);
    expect(codeAndMessageOf(() => chooseCohortClass(['AF', 'MI', 'NORM'], CINC_CLASSES))).toMatch(/^option_invalid: Give --class/u);
  });
});

describe('cacheKey', () => {
  const files = [{ name: 'A.hea', bytes: new TextEncoder().encode('A 12 500 5000') }, { name: 'A.mat', bytes: new Uint8Array([1, 2, 3]) }];
  const model = { id: 'cinc2020-ai-strollers', converted: { fromFile: 'x', sha256: 'ab', sizeBytes: 1, published: true, at: '' } };
  const base = cacheKey(files, model, 'ig', 'AF', undefined);

  it('is a sha256 hex digest that ignores the order the files come in', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/u);
    expect(cacheKey([files[1], files[0]], model, 'ig', 'AF', undefined)).toBe(base);
  });

  it('changes with the bytes, the model weights, the method, the class and the steps', () => {
    const others = [
      cacheKey([files[0], { name: 'A.mat', bytes: new Uint8Array([1, 2, 4]) }], model, 'ig', 'AF', undefined),
      cacheKey(files, { ...model, converted: { ...model.converted, sha256: 'cd' } }, 'ig', 'AF', undefined),
      cacheKey(files, { ...model, id: 'ribeiro2020' }, 'ig', 'AF', undefined),
      cacheKey(files, model, 'gradient', 'AF', undefined),
      cacheKey(files, model, 'ig', 'LBBB', undefined),
      cacheKey(files, model, 'ig', 'AF', 16),
      cacheKey(files, model, 'ig', 'AF', undefined, 'another core'),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });
});

describe('coreCodeHash', () => {
  it('hashes the .ts sources under a folder by path and content, ignoring other files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leadlight-core-'));
    try {
      mkdirSync(join(dir, 'analysis'));
      writeFileSync(join(dir, 'a.ts'), 'export const a = 1;');
      writeFileSync(join(dir, 'analysis/b.ts'), 'export const b = 2;');
      const before = coreCodeHash(dir);
      expect(before).toMatch(/^[0-9a-f]{64}$/u);
      writeFileSync(join(dir, 'notes.md'), 'not code');
      expect(coreCodeHash(dir)).toBe(before);
      writeFileSync(join(dir, 'analysis/b.ts'), 'export const b = 3;');
      expect(coreCodeHash(dir)).not.toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('defaults to the repository\'s functions/core', () => {
    expect(coreCodeHash()).toBe(coreCodeHash(join(repoRoot, 'functions/core')));
  });
});

describe('the report', () => {
  it('escapes text from the CSV in element content and attributes', () => {
    expect(escapeHtml(`<img src=x onerror="a">&'`)).toBe('&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;');
  });

  it('computes Spearman rank correlations as scipy.stats.spearmanr does', () => {
    const fixture = JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/cohort/spearman-scipy.json'), 'utf8')) as { cases: { x: number[]; y: number[]; rho: number | null }[] };
    for (const c of fixture.cases) {
      const rho = spearman(c.x, c.y);
      if (c.rho === null) expect(rho).toBeNull();
      else expect(rho).toBeCloseTo(c.rho, 12);
    }
  });

  it('renders a cohort whose labels and paths carry markup as text', () => {
    const leadRelevance = { I: 1, II: 2, III: 0, aVR: -1, aVL: 0, aVF: 1, V1: 3, V2: 0, V3: 0, V4: 0, V5: 0, V6: 0 };
    const html = renderCohortReport({
      schema: 1, model: { id: 'm', classes: ['AF'], thresholds: [0.5] }, method: 'ig', class: 'AF', threshold: 0.5,
      groups: { positive: 'AF', control: '<b>N</b>' },
      records: [{ path: '<script>x</script>.hea', label: 'AF', probability: 0.9, positive: true, outcome: 'TP', meanRelevance: 1, leadRelevance }],
      leadTests: [], averageBeats: {}, averageBeatsRAligned: {}, scatter: { threshold: 0.5, points: [{ path: '<script>x</script>.hea', label: 'AF', probability: 0.9, meanRelevance: 1, outcome: 'TP' }] },
      leadBoxPlots: {}, outcomes: { TP: 1, FP: 0, FN: 0, TN: 0 }, significanceLevel: 1e-4, beatAlignment: 'centre', warnings: [],
      steps: null, labelsFile: 'l.csv', errors: [], criteria: { class: 'AF', criteriaClass: 'AF', findings: [] }, details: [],
    });
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>N</b>');
    expect(html).toContain('&lt;script&gt;x&lt;/script&gt;.hea');
  });
});
