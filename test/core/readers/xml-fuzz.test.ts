// Seeded mutation fuzzing of the XML ECG readers: damaged copies of every real XML fixture must each end in a
// record or a LeadlightError (never another exception, never a hang). The suite runs FUZZ_XML_CASES cases per
// fixture (default 200); run more with e.g.
//   FUZZ_XML_CASES=1000 npx vitest run --project core test/core/readers/xml-fuzz.test.ts
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { geMuseXmlReader } from '../../../functions/core/readers/ge-muse-xml.ts';
import { hl7AecgReader } from '../../../functions/core/readers/hl7-aecg.ts';
import { philipsXmlReader } from '../../../functions/core/readers/philips-xml.ts';
import { fuzzXmlReaders } from '../../helpers/fuzz-xml.ts';
import { ecgDir } from '../../helpers/paths.ts';

const CASES = Number(process.env.FUZZ_XML_CASES ?? 200);
const SEED = Number(process.env.FUZZ_XML_SEED ?? 20231123);
const READERS = [geMuseXmlReader, philipsXmlReader, hl7AecgReader];

const FIXTURES = [
  'other_formats/ge_muse_xml_BRAVEHEART/Example ECGs/example2.xml',
  'other_formats/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures/1_03/129DYPRG.XML',
  'other_formats/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures/1_04/3191723_ZZDEMOPTONLY_1-04_orig.xml',
  'other_formats/hl7_aecg_FDA-aecg-python/Example aECG.xml',
];

describe('XML readers under seeded mutation', () => {
  it.each(FIXTURES)(`turns ${CASES} mutations of %s into records or LeadlightErrors only`, async (path) => {
    const bytes = new Uint8Array(readFileSync(join(ecgDir, path)));
    const outcome = await fuzzXmlReaders(READERS, 'fuzz.xml', bytes, SEED, CASES);
    expect(outcome.failures).toEqual([]);
    const errors = Object.values(outcome.errors).reduce((a, b) => a + b, 0);
    expect(outcome.records + errors).toBe(CASES);
    // Both kinds of outcome occur, so the mutations reach the decoders, not only the XML layer.
    expect(outcome.records).toBeGreaterThan(0);
    expect(errors).toBeGreaterThan(0);
    expect(outcome.slowestMs).toBeLessThan(2000);
  });
});
