/**
 * Bytes to text, the one decoder of the core (it has no TextDecoder: no DOM or Node types).
 * UTF-8 where the bytes are well-formed UTF-8, else Latin-1 (every byte one character), so a name
 * or a brand string is never lost to a stray byte. Strings are built from chunks of UTF-16 units:
 * one grown a character at a time takes seconds on a large input.
 */

const CHUNK = 0x2000;

/** UTF-8 text, or the Latin-1 reading of the bytes when they are not well-formed UTF-8. */
export function decodeText(bytes: Uint8Array): string {
  let ascii = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return latin1(bytes);
  return utf8(bytes) ?? latin1(bytes);
}

/** A NUL-terminated string (the whole buffer when it has no NUL), decoded as `decodeText`. */
export function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decodeText(end < 0 ? bytes : bytes.subarray(0, end));
}

function latin1(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += CHUNK)
    parts.push(String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]));
  return parts.join("");
}

/** Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF); undefined when malformed. */
function utf8(bytes: Uint8Array): string | undefined {
  const parts: string[] = [];
  const units = new Uint16Array(CHUNK);
  let n = 0;
  const flush = () => {
    parts.push(String.fromCharCode.apply(null, units.subarray(0, n) as unknown as number[]));
    n = 0;
  };
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    const extra = b < 0x80 ? 0 : b >= 0xf8 ? -1 : b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
    if (extra < 0 || i + extra >= bytes.length + (extra === 0 ? 1 : 0)) return undefined;
    let cp = extra === 0 ? b : b & (0x3f >> extra);
    for (let k = 1; k <= extra; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) return undefined;
      cp = (cp << 6) | (c & 0x3f);
    }
    const min = extra === 0 ? 0 : extra === 1 ? 0x80 : extra === 2 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
    if (n + 2 > units.length) flush();
    if (cp >= 0x10000) {
      units[n++] = 0xd800 + ((cp - 0x10000) >> 10);
      units[n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
    } else units[n++] = cp;
    i += extra + 1;
  }
  flush();
  return parts.join("");
}
