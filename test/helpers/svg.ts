/**
 * A small well-formedness check for the SVG the CLI writes: balanced tags, no attribute given twice,
 * quoted attribute values, escaped text. Enough to catch what makes a browser refuse the picture.
 */
import assert from "node:assert/strict";

export function assertWellFormedSvg(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const between = svg.slice(last, m.index);
    assert.ok(!/[<>]/.test(between), `stray markup before ${m[0].slice(0, 60)}`);
    assert.ok(!/&(?!amp;|lt;|gt;|quot;|#\d+;)/.test(between), `unescaped & in ${between.slice(0, 60)}`);
    last = m.index + m[0].length;
    const names = [...m[3]!.matchAll(/([\w:-]+)="/g)].map((a) => a[1]!);
    assert.equal(new Set(names).size, names.length, `attribute given twice in ${m[0].slice(0, 80)}`);
    if (m[1]) assert.equal(stack.pop(), m[2], `unbalanced </${m[2]}>`);
    else if (!m[4]) stack.push(m[2]!);
  }
  assert.ok(!/[<>]/.test(svg.slice(last).trim()), "trailing markup");
  assert.deepEqual(stack, [], "unclosed tags");
}
