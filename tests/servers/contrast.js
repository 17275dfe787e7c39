// Contrast of every visible text element: computed `color` against the effective background
// (first ancestor with a non-transparent background-color, blended when translucent; the
// canvas colour when none). WCAG 2 relative luminance. Returns the worst cases first.
(() => {
  const parse = (c) => { const m = c.match(/[\d.]+/g) || [0, 0, 0, 0]; return [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1]; };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const canvas = matchMedia('(prefers-color-scheme: dark)').matches ? [18, 18, 18, 1] : [255, 255, 255, 1];
  const bgOf = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let out = layers.length && layers[layers.length - 1][3] >= 1 ? layers.pop() : canvas;
    while (layers.length) { const c = layers.pop(); out = [0, 1, 2].map((i) => c[i] * c[3] + out[i] * (1 - c[3])).concat(1); }
    return out;
  };
  const rows = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const r = el.getBoundingClientRect(), st = getComputedStyle(el);
    if (r.width < 1 || r.height < 1 || st.visibility === 'hidden' || +st.opacity === 0 || el.closest('[style*="display:none"]')) continue;
    const fg = parse(st.color), bg = bgOf(el);
    const a = lum(fg), b = lum(bg);
    rows.push({ ratio: Math.round(100 * (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)) / 100, tag: el.tagName.toLowerCase(),
      cls: el.className || '', color: st.color, bg: 'rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')',
      text: el.textContent.trim().slice(0, 40) });
  }
  rows.sort((x, y) => x.ratio - y.ratio);
  return JSON.stringify({ dark: matchMedia('(prefers-color-scheme: dark)').matches, n: rows.length, worst: rows.slice(0, 8) });
})()
