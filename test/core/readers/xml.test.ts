// The bounded XML parser under the GE MUSE, Philips and HL7 aECG readers: well-formed documents in every
// encoding the exports use, and hostile documents (entity bombs, external entities, deep nesting, truncation)
// that must each end in a stable LeadlightError quickly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LeadlightError } from '../../../functions/core/errors.ts';
import { childOf, decodeBase64, decodeXmlText, descendantsOf, parseXml, sniffXmlRoot, textAt } from '../../../functions/core/readers/xml.ts';
import { ecgDir } from '../../helpers/paths.ts';
import { seededRandom } from '../../helpers/fuzz-xml.ts';

const utf8 = (s: string) => new TextEncoder().encode(s);

function utf16(s: string, bigEndian: boolean, bom = true): Uint8Array {
  const body = (bom ? '\uFEFF' : '') + s;
  const out = new Uint8Array(body.length * 2);
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    out[2 * i + (bigEndian ? 1 : 0)] = c & 0xff;
    out[2 * i + (bigEndian ? 0 : 1)] = c >> 8;
  }
  return out;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(LeadlightError);
    return (e as LeadlightError).code;
  }
  return undefined;
}

describe('parseXml on well-formed documents', () => {
  it('reads elements, attributes, text, CDATA, the predefined entities and character references', () => {
    const root = parseXml(
      utf8(`<?xml version="1.0"?>\n<!-- c --><r:doc xmlns:r="urn:x" a='1' b="x &amp; &lt;y&gt; &#65;&#x42;"><?pi skip?>` +
        `<item n="1">one &quot;q&quot; &apos;</item><item n="2"/><data><![CDATA[<raw & text>]]></data></r:doc>`),
    );
    expect(root.name).toBe('r:doc');
    expect(root.localName).toBe('doc');
    expect(root.attributes).toEqual({ 'xmlns:r': 'urn:x', a: '1', b: 'x & <y> AB' });
    expect(root.children.map((c) => c.localName)).toEqual(['item', 'item', 'data']);
    expect(root.children[0].text).toBe(`one "q" '`);
    expect(root.children[1].attributes.n).toBe('2');
    expect(textAt(root, 'data')).toBe('<raw & text>');
    expect(descendantsOf(root, 'item')).toHaveLength(2);
    expect(childOf(root, 'missing')).toBeUndefined();
  });

  it('decodes UTF-8 with BOM, UTF-16 LE and BE with BOM, BOM-less UTF-16 and declared ISO-8859-1 alike', () => {
    const doc = '<?xml version="1.0"?><ecg unit="µV">Zürich – ü</ecg>';
    const latin1 = Uint8Array.from('<?xml version="1.0" encoding="ISO-8859-1"?><ecg unit="µV">Zürich</ecg>', (c) => c.charCodeAt(0));
    for (const bytes of [utf8('\uFEFF' + doc), utf16(doc, false), utf16(doc, true), utf16(doc, false, false), utf16(doc, true, false)]) {
      const root = parseXml(bytes);
      expect(root.attributes.unit).toBe('µV');
      expect(root.text).toBe('Zürich – ü');
    }
    expect(parseXml(latin1).text).toBe('Zürich');
  });

  it('skips a DOCTYPE with an external identifier without fetching it (as GE MUSE files carry)', () => {
    const root = parseXml(utf8('<?xml version="1.0"?><!DOCTYPE RestingECG SYSTEM "restecg.dtd"><RestingECG><A>1</A></RestingECG>'));
    expect(textAt(root, 'A')).toBe('1');
  });

  it('parses every XML fixture of the ECG folder', () => {
    const files = [
      'other_formats/ge_muse_xml_BRAVEHEART/Example ECGs/example1.xml',
      'other_formats/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures/1_03/129DYPRG.XML',
      'other_formats/philips_xml_sierra-ecg-tools/pysierraecg/tests/fixtures/1_04/3191723_ZZDEMOPTONLY_1-04_orig.xml',
      'other_formats/hl7_aecg_FDA-aecg-python/Example aECG.xml',
    ];
    const roots = files.map((f) => parseXml(new Uint8Array(readFileSync(join(ecgDir, f)))).localName);
    expect(roots).toEqual(['RestingECG', 'restingecgdata', 'restingecgdata', 'AnnotatedECG']);
  });
});

describe('parseXml on hostile documents', () => {
  it('refuses a billion-laughs entity bomb at once instead of expanding it', () => {
    let dtd = '<!ENTITY lol0 "lol">';
    for (let k = 1; k <= 9; k++) dtd += `<!ENTITY lol${k} "${`&lol${k - 1};`.repeat(10)}">`;
    const started = performance.now();
    expect(codeOf(() => parseXml(utf8(`<?xml version="1.0"?><!DOCTYPE lolz [${dtd}]><lolz>&lol9;</lolz>`)))).toBe('xml_invalid');
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('never resolves external or undeclared entities', () => {
    expect(codeOf(() => parseXml(utf8('<!DOCTYPE x SYSTEM "file:///etc/passwd"><x>&xxe;</x>')))).toBe('xml_invalid');
    expect(codeOf(() => parseXml(utf8('<x a="&nbsp;"/>')))).toBe('xml_invalid');
    expect(codeOf(() => parseXml(utf8('<x>AT&T</x>')))).toBe('xml_invalid');
  });

  it('stops 100 000-deep nesting at the depth limit without a stack overflow', () => {
    const deep = '<a>'.repeat(100_000) + '</a>'.repeat(100_000);
    const started = performance.now();
    const error = (() => {
      try {
        parseXml(utf8(deep));
      } catch (e) {
        return e as LeadlightError;
      }
    })();
    expect(error?.code).toBe('xml_invalid');
    expect(error?.message).toMatch(/64 levels/u);
    expect(performance.now() - started).toBeLessThan(500);
    // Just inside the limit parses.
    expect(parseXml(utf8('<a>'.repeat(64) + '</a>'.repeat(64))).localName).toBe('a');
  });

  it('enforces the node, attribute and size limits', () => {
    expect(codeOf(() => parseXml(utf8(`<r>${'<i/>'.repeat(101)}</r>`), { maxNodes: 100 }))).toBe('xml_invalid');
    expect(codeOf(() => parseXml(utf8(`<r ${Array.from({ length: 300 }, (_, k) => `a${k}="1"`).join(' ')}/>`)))).toBe('xml_invalid');
    expect(codeOf(() => parseXml(utf8('<r>0123456789</r>'), { maxBytes: 10 }))).toBe('file_too_large');
  });

  it.each([
    ['a truncated document', '<r><a>1</a><b>'],
    ['a truncated start tag', '<r><a x="1'],
    ['mismatched tags', '<r><a></b></r>'],
    ['an end tag without start', '</r>'],
    ['two document elements', '<r/><s/>'],
    ['text after the document element', '<r/>junk'],
    ['an unquoted attribute', '<r a=1/>'],
    ['a repeated attribute', '<r a="1" a="2"/>'],
    ['an unclosed comment', '<r><!-- x</r>'],
    ['an unclosed CDATA section', '<r><![CDATA[x</r>'],
    ['a forbidden character reference', '<r>&#0;</r>'],
    ['an out-of-range character reference', '<r>&#x110000;</r>'],
    ['an empty document', ''],
    ['plain text', 'hello'],
  ])('reports %s as xml_invalid', (_what, doc) => {
    expect(codeOf(() => parseXml(utf8(doc)))).toBe('xml_invalid');
  });

  it('reports invalid UTF-8 as xml_invalid and an unknown declared encoding as encoding_unsupported', () => {
    expect(codeOf(() => parseXml(Uint8Array.from([0x3c, 0x72, 0x3e, 0xff, 0xfe, 0xfd, 0x3c, 0x2f, 0x72, 0x3e])))).toBe('xml_invalid');
    expect(codeOf(() => parseXml(utf8('<?xml version="1.0" encoding="EBCDIC-CP-US"?><r/>')))).toBe('encoding_unsupported');
  });

  it('ends every one of 500 random byte strings in a root element or a LeadlightError', () => {
    const random = seededRandom(7);
    const alphabet = '<>/="\'&;#x!-[]?abc \n';
    for (let k = 0; k < 500; k++) {
      const s = Array.from({ length: 1 + Math.floor(random() * 60) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      try {
        parseXml(utf8(s));
      } catch (e) {
        expect(e).toBeInstanceOf(LeadlightError);
      }
    }
  });
});

describe('sniffXmlRoot', () => {
  it('finds the document element after BOM, declaration, comments and DOCTYPE', () => {
    expect(sniffXmlRoot(utf8('\uFEFF<?xml version="1.0"?>\n<!-- a -->\n<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n<RestingECG>'))).toBe('RestingECG');
    expect(sniffXmlRoot(utf16('<?xml version="1.0" encoding="utf-16"?><restingecgdata xmlns="x">', false))).toBe('restingecgdata');
    expect(sniffXmlRoot(utf8('<v3:AnnotatedECG xmlns:v3="urn:hl7-org:v3">'))).toBe('AnnotatedECG');
  });

  it('returns undefined, never throws, for non-XML bytes', () => {
    expect(sniffXmlRoot(utf8('0 1 2\n3 4 5'))).toBeUndefined();
    expect(sniffXmlRoot(new Uint8Array(0))).toBeUndefined();
    const random = seededRandom(11);
    for (let k = 0; k < 200; k++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
      expect(() => sniffXmlRoot(bytes)).not.toThrow();
    }
  });
});

describe('decodeBase64 (RFC 4648)', () => {
  it('decodes like Node, ignoring line breaks, with or without padding', () => {
    const random = seededRandom(3);
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
      const text = Buffer.from(bytes).toString('base64');
      expect(decodeBase64(text.replace(/(.{7})/gu, '$1\n'), 1000)).toEqual(bytes);
      expect(decodeBase64(text.replace(/=+$/u, ''), 1000)).toEqual(bytes);
    }
  });

  it('refuses characters outside the alphabet, a wrong length and output above the limit', () => {
    expect(codeOf(() => decodeBase64('AAA*', 100))).toBe('encoding_unsupported');
    expect(codeOf(() => decodeBase64('AA=A', 100))).toBe('encoding_unsupported');
    expect(codeOf(() => decodeBase64('AAAAA', 100))).toBe('encoding_unsupported');
    expect(codeOf(() => decodeBase64('A'.repeat(400), 100))).toBe('file_too_large');
  });

  it('decodeXmlText strips the byte order mark', () => {
    expect(decodeXmlText(utf16('<a/>', true))).toBe('<a/>');
  });
});
