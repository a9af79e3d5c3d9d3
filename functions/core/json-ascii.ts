/**
 * JSON text in ASCII only. workerd decodes an ASCII body ~50× faster than one holding even a few characters beyond
 * ASCII (0.1 vs 5.2 ms of CPU for a 3.8 MiB CinC result, measured as workerd's process CPU on this machine), which
 * decides whether sharing a result fits the Workers Free plan's 10 ms (issue 15); the share client sends this form.
 */

/**
 * The same JSON text in ASCII only: every character beyond U+007F written as its `\uXXXX` escape (RFC 8259 §7;
 * outside strings JSON text is ASCII, so only string contents change, to the same values). What the share client
 * sends (see parseSharedResult for why).
 */
export function asciiJsonText(json: string): string {
  return json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
