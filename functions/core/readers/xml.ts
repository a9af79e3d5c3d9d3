/**
 * A small, bounded, non-validating XML 1.0 parser for ECG exports (GE MUSE, Philips, HL7 aECG).
 *
 * Safe by construction: it never reads a DTD or external entity, knows only the five predefined entities and
 * numeric character references (so entity-expansion attacks have nothing to expand), parses iteratively (no
 * recursion, so deep nesting cannot overflow the stack) and enforces limits on depth, node count, attribute count
 * and input size. Every violation is a `LeadlightError('xml_invalid')`. Namespaces are not resolved: elements
 * keep their qualified name and expose the `localName` readers match on.
 * Implements the well-formedness subset of W3C XML 1.0 (5th ed.) that these formats use; encodings UTF-8,
 * UTF-16 LE/BE (by BOM or by the `<?` pattern, XML 1.0 Appendix F) and ISO-8859-1 / windows-1252 / US-ASCII.
 */
import { LeadlightError } from '../errors.ts';

export interface XmlElement {
  /** Qualified name as written (`xsi:foo`, `restingecgdata`). */
  name: string;
  /** Name without its namespace prefix. */
  localName: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (entities and CDATA resolved). */
  text: string;
}

export interface XmlLimits {
  /** Maximum element nesting depth (the root is depth 1). */
  maxDepth: number;
  /** Maximum number of elements plus attributes in the document. */
  maxNodes: number;
  /** Maximum size of the document in bytes before decoding. */
  maxBytes: number;
  /** Maximum number of attributes on one element. */
  maxAttributesPerElement: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = {
  maxDepth: 64,
  maxNodes: 2_000_000,
  maxBytes: 128 * 1024 * 1024,
  maxAttributesPerElement: 256,
};

function invalid(what: string): LeadlightError {
  return new LeadlightError('xml_invalid', `The XML document is not well-formed: ${what}. Check that the file is complete and was exported as XML.`);
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding bytes to text

type XmlEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'latin1';

/** Detects the encoding from the BOM, the first bytes (XML 1.0 Appendix F) and the declaration's `encoding`. */
function detectEncoding(bytes: Uint8Array): { encoding: XmlEncoding; bomBytes: number } {
  const [b0, b1, b2] = bytes;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return { encoding: 'utf-8', bomBytes: 3 };
  if (b0 === 0xff && b1 === 0xfe) return { encoding: 'utf-16le', bomBytes: 2 };
  if (b0 === 0xfe && b1 === 0xff) return { encoding: 'utf-16be', bomBytes: 2 };
  if (b0 === 0x3c && b1 === 0x00) return { encoding: 'utf-16le', bomBytes: 0 };
  if (b0 === 0x00 && b1 === 0x3c) return { encoding: 'utf-16be', bomBytes: 0 };
  // ASCII-compatible: read the declaration's encoding label.
  let head = '';
  const n = Math.min(bytes.length, 200);
  for (let i = 0; i < n; i++) head += String.fromCharCode(bytes[i]);
  const declared = /^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/u.exec(head)?.[1]?.toLowerCase();
  if (!declared || declared === 'utf-8' || declared === 'utf8') return { encoding: 'utf-8', bomBytes: 0 };
  if (/^(iso-?8859-1|latin-?1|l1|windows-1252|cp1252|us-ascii|ascii|iso_8859-1)$/u.test(declared)) return { encoding: 'latin1', bomBytes: 0 };
  if (declared.startsWith('utf-16') || declared === 'unicode') return { encoding: 'utf-8', bomBytes: 0 }; // 8-bit bytes but labelled 16-bit: treat as UTF-8
  throw new LeadlightError('encoding_unsupported', `The XML declares the character encoding "${declared.slice(0, 40)}"; re-export it as UTF-8 or UTF-16.`);
}

function decodeLatin1(bytes: Uint8Array): string {
  let out = '';
  const CHUNK = 8192;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(bytes.length, i + CHUNK)) as unknown as number[]);
  }
  return out;
}

function decodeUtf16(bytes: Uint8Array, bigEndian: boolean): string {
  const even = bytes.length & ~1;
  let units = bytes.subarray(0, even);
  if (bigEndian) {
    const swapped = new Uint8Array(even);
    for (let i = 0; i < even; i += 2) {
      swapped[i] = units[i + 1];
      swapped[i + 1] = units[i];
    }
    units = swapped;
  }
  try {
    return new TextDecoder('utf-16le', { fatal: true, ignoreBOM: true }).decode(units);
  } catch {
    throw invalid('the UTF-16 text contains an unpaired surrogate');
  }
}

/** Decodes XML bytes to a string (BOM removed). Throws `xml_invalid` for malformed UTF-8/UTF-16. */
export function decodeXmlText(bytes: Uint8Array): string {
  const { encoding, bomBytes } = detectEncoding(bytes);
  const body = bytes.subarray(bomBytes);
  if (encoding === 'utf-16le') return decodeUtf16(body, false);
  if (encoding === 'utf-16be') return decodeUtf16(body, true);
  if (encoding === 'latin1') return decodeLatin1(body);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    throw invalid('the text is not valid UTF-8');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sniffing

const SNIFF_BYTES = 16 * 1024;

/**
 * The local name of the document element, read from the first 16 KiB (after BOM, declaration, comments,
 * processing instructions and a DOCTYPE). Undefined when the bytes do not start like XML. Never throws.
 */
export function sniffXmlRoot(bytes: Uint8Array): string | undefined {
  try {
    const { encoding, bomBytes } = detectEncoding(bytes);
    let prefix = bytes.subarray(bomBytes, Math.min(bytes.length, bomBytes + SNIFF_BYTES));
    let text: string;
    if (encoding === 'utf-16le' || encoding === 'utf-16be') {
      prefix = prefix.subarray(0, prefix.length & ~1);
      text = encoding === 'utf-16le' ? new TextDecoder('utf-16le').decode(prefix) : decodeUtf16(prefix, true);
    } else if (encoding === 'latin1') {
      text = decodeLatin1(prefix);
    } else {
      text = new TextDecoder('utf-8').decode(prefix);
    }
    let i = 0;
    for (;;) {
      while (i < text.length && isSpace(text.charCodeAt(i))) i++;
      if (text.charCodeAt(i) !== 0x3c) return undefined;
      if (text.startsWith('<?', i)) {
        const end = text.indexOf('?>', i + 2);
        if (end < 0) return undefined;
        i = end + 2;
      } else if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i + 4);
        if (end < 0) return undefined;
        i = end + 3;
      } else if (text.startsWith('<!DOCTYPE', i)) {
        const end = text.indexOf('>', i);
        if (end < 0) return undefined;
        i = end + 1;
      } else {
        const m = /^<([A-Za-z_][\w.:-]*)/u.exec(text.slice(i, i + 256));
        if (!m) return undefined;
        const colon = m[1].indexOf(':');
        return colon >= 0 ? m[1].slice(colon + 1) : m[1];
      }
    }
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0xc0;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0xb7;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Resolves the five predefined entities and numeric character references; anything else is refused. */
function resolveReferences(raw: string): string {
  if (raw.indexOf('&') < 0) return raw;
  let out = '';
  let from = 0;
  for (;;) {
    const amp = raw.indexOf('&', from);
    if (amp < 0) break;
    out += raw.slice(from, amp);
    const semi = raw.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp > 12) throw invalid('an "&" does not start a valid reference (escape it as &amp;)');
    const ref = raw.slice(amp + 1, semi);
    if (ref.charCodeAt(0) === 0x23) {
      const hex = ref[1] === 'x';
      const digits = ref.slice(hex ? 2 : 1);
      if (!(hex ? /^[0-9A-Fa-f]{1,6}$/u : /^[0-9]{1,7}$/u).test(digits)) throw invalid(`"&${ref};" is not a valid character reference`);
      const cp = parseInt(digits, hex ? 16 : 10);
      const allowed = cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
      if (!allowed) throw invalid(`"&${ref};" refers to a character XML does not allow`);
      out += String.fromCodePoint(cp);
    } else {
      const value = PREDEFINED[ref];
      if (value === undefined) {
        throw invalid(`the entity "&${ref.slice(0, 40)};" is not one of XML's five predefined entities (DTD entities are not processed)`);
      }
      out += value;
    }
    from = semi + 1;
  }
  return out + raw.slice(from);
}

interface OpenElement {
  element: XmlElement;
  textParts: string[];
}

/**
 * Parses an XML document (bytes in any supported encoding, or an already decoded string) into its element
 * tree. Throws `xml_invalid` for malformed or over-limit documents, `encoding_unsupported` for unknown
 * encodings. Comments and processing instructions are dropped; a DOCTYPE without internal subset is skipped
 * (never fetched); an internal subset is refused.
 */
export function parseXml(input: Uint8Array | string, limits: Partial<XmlLimits> = {}): XmlElement {
  const lim: XmlLimits = { ...DEFAULT_XML_LIMITS, ...limits };
  const byteLength = typeof input === 'string' ? input.length : input.length;
  if (byteLength > lim.maxBytes) {
    throw new LeadlightError('file_too_large', `The XML document has ${byteLength} bytes; at most ${lim.maxBytes} are accepted.`);
  }
  const text = typeof input === 'string' ? (input.charCodeAt(0) === 0xfeff ? input.slice(1) : input) : decodeXmlText(input);
  const len = text.length;
  const stack: OpenElement[] = [];
  let root: XmlElement | undefined;
  let nodes = 0;
  let i = 0;
  let sawDoctype = false;

  const readName = (at: number): number => {
    if (at >= len || !isNameStart(text.charCodeAt(at))) throw invalid(`a name was expected at character ${at}`);
    let j = at + 1;
    while (j < len && isNameChar(text.charCodeAt(j))) j++;
    if (j - at > 1024) throw invalid('a name is longer than 1024 characters');
    return j;
  };

  while (i < len) {
    const lt = text.indexOf('<', i);
    const textEnd = lt < 0 ? len : lt;
    if (textEnd > i) {
      const chunk = text.slice(i, textEnd);
      if (stack.length) {
        stack[stack.length - 1].textParts.push(resolveReferences(chunk));
      } else if (!/^[ \t\r\n]*$/u.test(chunk)) {
        throw invalid(root ? 'there is text after the document element' : 'there is text before the document element');
      }
    }
    if (lt < 0) break;
    i = lt;
    const next = text.charCodeAt(i + 1);
    if (next === 0x21 /* ! */) {
      if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i + 4);
        if (end < 0) throw invalid('a comment is not closed (the file may be truncated)');
        i = end + 3;
      } else if (text.startsWith('<![CDATA[', i)) {
        if (!stack.length) throw invalid('a CDATA section is outside the document element');
        const end = text.indexOf(']]>', i + 9);
        if (end < 0) throw invalid('a CDATA section is not closed (the file may be truncated)');
        stack[stack.length - 1].textParts.push(text.slice(i + 9, end));
        i = end + 3;
      } else if (text.startsWith('<!DOCTYPE', i)) {
        if (root || stack.length || sawDoctype) throw invalid('a DOCTYPE appears after the document has started');
        sawDoctype = true;
        // Skip the external identifier (quoted strings may contain '>'); refuse an internal subset.
        let j = i + 9;
        while (j < len) {
          const c = text.charCodeAt(j);
          if (c === 0x22 || c === 0x27) {
            const close = text.indexOf(String.fromCharCode(c), j + 1);
            if (close < 0) break;
            j = close + 1;
          } else if (c === 0x5b /* [ */) {
            throw invalid('the DOCTYPE has an internal subset (entity declarations are not processed for safety); export the ECG without a DTD');
          } else if (c === 0x3e) {
            break;
          } else {
            j++;
          }
        }
        if (j >= len) throw invalid('the DOCTYPE is not closed');
        i = j + 1;
      } else {
        throw invalid(`unexpected markup "${text.slice(i, i + 12)}"`);
      }
    } else if (next === 0x3f /* ? */) {
      const end = text.indexOf('?>', i + 2);
      if (end < 0) throw invalid('a processing instruction is not closed (the file may be truncated)');
      i = end + 2;
    } else if (next === 0x2f /* / */) {
      const nameEnd = readName(i + 2);
      const name = text.slice(i + 2, nameEnd);
      let j = nameEnd;
      while (j < len && isSpace(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) !== 0x3e) throw invalid(`the end tag </${name}> is not closed`);
      const open = stack.pop();
      if (!open) throw invalid(`the end tag </${name}> has no matching start tag`);
      if (open.element.name !== name) throw invalid(`the end tag </${name}> does not match the start tag <${open.element.name}>`);
      finish(open);
      i = j + 1;
    } else {
      if (root && !stack.length) throw invalid('there is more than one document element');
      const nameEnd = readName(i + 1);
      const name = text.slice(i + 1, nameEnd);
      const colon = name.indexOf(':');
      const element: XmlElement = { name, localName: colon >= 0 ? name.slice(colon + 1) : name, attributes: {}, children: [], text: '' };
      if (++nodes > lim.maxNodes) throw invalid(`it has more than ${lim.maxNodes} nodes`);
      let attributeCount = 0;
      let j = nameEnd;
      let selfClosing = false;
      for (;;) {
        const spaceStart = j;
        while (j < len && isSpace(text.charCodeAt(j))) j++;
        if (j >= len) throw invalid(`the start tag <${name}> is not closed (the file may be truncated)`);
        const c = text.charCodeAt(j);
        if (c === 0x3e) {
          j++;
          break;
        }
        if (c === 0x2f) {
          if (text.charCodeAt(j + 1) !== 0x3e) throw invalid(`the start tag <${name}> has a stray "/"`);
          selfClosing = true;
          j += 2;
          break;
        }
        if (j === spaceStart) throw invalid(`attributes of <${name}> must be separated by white space`);
        const attrEnd = readName(j);
        const attrName = text.slice(j, attrEnd);
        j = attrEnd;
        while (j < len && isSpace(text.charCodeAt(j))) j++;
        if (text.charCodeAt(j) !== 0x3d) throw invalid(`the attribute ${attrName} of <${name}> has no value`);
        j++;
        while (j < len && isSpace(text.charCodeAt(j))) j++;
        const quote = text.charCodeAt(j);
        if (quote !== 0x22 && quote !== 0x27) throw invalid(`the value of attribute ${attrName} of <${name}> is not quoted`);
        const close = text.indexOf(String.fromCharCode(quote), j + 1);
        if (close < 0) throw invalid(`the value of attribute ${attrName} of <${name}> is not closed (the file may be truncated)`);
        const rawValue = text.slice(j + 1, close);
        if (rawValue.indexOf('<') >= 0) throw invalid(`the value of attribute ${attrName} of <${name}> contains "<"`);
        if (Object.prototype.hasOwnProperty.call(element.attributes, attrName)) throw invalid(`<${name}> repeats the attribute ${attrName}`);
        if (++attributeCount > lim.maxAttributesPerElement) throw invalid(`<${name}> has more than ${lim.maxAttributesPerElement} attributes`);
        if (++nodes > lim.maxNodes) throw invalid(`it has more than ${lim.maxNodes} nodes`);
        // Attribute-value normalisation (XML 1.0 §3.3.3): literal white space becomes a space.
        element.attributes[attrName] = resolveReferences(rawValue.replace(/[\t\r\n]/gu, ' '));
        j = close + 1;
      }
      if (stack.length) stack[stack.length - 1].element.children.push(element);
      else root = element;
      if (selfClosing) {
        // nothing to keep open
      } else {
        if (stack.length + 1 > lim.maxDepth) throw invalid(`elements are nested more than ${lim.maxDepth} levels deep`);
        stack.push({ element, textParts: [] });
      }
      i = j;
    }
  }
  if (stack.length) throw invalid(`the element <${stack[stack.length - 1].element.name}> is not closed (the file may be truncated)`);
  if (!root) throw invalid('there is no document element');
  return root;
}

function finish(open: OpenElement): void {
  const parts = open.textParts;
  open.element.text = parts.length === 1 ? parts[0] : parts.join('');
}

// ---------------------------------------------------------------------------------------------------------------
// Navigation helpers (match on local names, ignore namespaces)

/** The first child element with this local name. */
export function childOf(element: XmlElement | undefined, localName: string): XmlElement | undefined {
  if (!element) return undefined;
  for (const child of element.children) if (child.localName === localName) return child;
  return undefined;
}

/** All child elements with this local name. */
export function childrenOf(element: XmlElement | undefined, localName: string): XmlElement[] {
  return element ? element.children.filter((c) => c.localName === localName) : [];
}

/** Follows a path of local names (`a/b/c`), taking the first match at each step. */
export function pathOf(element: XmlElement | undefined, path: string): XmlElement | undefined {
  let current = element;
  for (const step of path.split('/')) {
    current = childOf(current, step);
    if (!current) return undefined;
  }
  return current;
}

/** Trimmed text of the element at `path` below `element`, or undefined when absent or empty. */
export function textAt(element: XmlElement | undefined, path: string): string | undefined {
  const found = pathOf(element, path);
  const t = found?.text.trim();
  return t ? t : undefined;
}

/** Every descendant (depth-first, document order) with this local name; iterative. */
export function descendantsOf(element: XmlElement, localName: string): XmlElement[] {
  const out: XmlElement[] = [];
  const stack: XmlElement[] = [...element.children].reverse();
  while (stack.length) {
    const e = stack.pop()!;
    if (e.localName === localName) out.push(e);
    for (let k = e.children.length - 1; k >= 0; k--) stack.push(e.children[k]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Base64 (RFC 4648 §4), strict and bounded

const BASE64_VALUES = (() => {
  const table = new Int16Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let k = 0; k < 64; k++) table[alphabet.charCodeAt(k)] = k;
  return table;
})();

/**
 * Decodes base64 text (RFC 4648 §4; white space ignored, padding optional) into bytes. Throws
 * `encoding_unsupported` for characters outside the alphabet or a size above `maxBytes`.
 */
export function decodeBase64(text: string, maxBytes: number, what = 'waveform'): Uint8Array {
  const len = text.length;
  let upperBound = Math.floor((len * 3) / 4);
  if (upperBound > maxBytes) {
    // The text may be mostly line breaks; count only the characters that carry data before refusing.
    let dataChars = 0;
    for (let k = 0; k < len; k++) if (!isSpace(text.charCodeAt(k))) dataChars++;
    upperBound = Math.floor((dataChars * 3) / 4);
    if (upperBound > maxBytes + 2) {
      throw new LeadlightError('file_too_large', `The ${what} data decodes to more than ${maxBytes} bytes; upload a shorter record.`);
    }
  }
  const out = new Uint8Array(upperBound + 3);
  let acc = 0;
  let bits = 0;
  let n = 0;
  let padding = 0;
  for (let k = 0; k < len; k++) {
    const c = text.charCodeAt(k);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (c === 0x3d /* = */) {
      padding++;
      continue;
    }
    const v = c < 128 ? BASE64_VALUES[c] : -1;
    if (v < 0 || padding > 0) {
      throw new LeadlightError('encoding_unsupported', `The ${what} data is not valid base64 (unexpected character at position ${k}); re-export the ECG.`);
    }
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  if (padding > 2 || bits === 6) {
    throw new LeadlightError('encoding_unsupported', `The ${what} data is not valid base64 (its length is wrong); re-export the ECG.`);
  }
  if (n > maxBytes) throw new LeadlightError('file_too_large', `The ${what} data decodes to more than ${maxBytes} bytes; upload a shorter record.`);
  return out.subarray(0, n);
}
