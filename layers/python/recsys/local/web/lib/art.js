// Product pictures drawn here (inline SVG), so the shop shows no image from anywhere else:
// a colour from the category, a motif from the product id, the title's initials.

function hash(text) {
  let h = 2166136261;
  for (const ch of String(text)) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

const escape = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

export function productArt(item) {
  const cat = String(item.category || "Other").split(">")[0].trim();
  const hue = hash(cat) % 360;
  const h = hash(item.product_id);
  const words = String(item.title || item.product_id).split(/\s+/).filter((w) => /[A-Za-z]/.test(w));
  const initials = escape(words.slice(0, 2).map((w) => w[0]).join("").toUpperCase() || "?");
  const shapes = [];
  for (let i = 0; i < 5; i += 1) {
    const x = (h >> (i * 3)) % 320;
    const y = (h >> (i * 5 + 2)) % 240;
    const r = 18 + ((h >> (i * 4)) % 46);
    const light = 62 + ((h >> i) % 20);
    const shape =
      (h >> (i + 7)) % 3 === 0
        ? `<rect x="${x - r / 2}" y="${y - r / 2}" width="${r}" height="${r}" rx="6" transform="rotate(${(h >> i) % 90} ${x} ${y})"`
        : `<circle cx="${x}" cy="${y}" r="${r / 1.6}"`;
    shapes.push(`${shape} fill="hsl(${(hue + i * 24) % 360} 55% ${light}%)" opacity=".55"/>`);
  }
  return `<svg viewBox="0 0 320 240" role="img" aria-label="${escape(item.title || item.product_id)}">
    <rect width="320" height="240" fill="hsl(${hue} 45% 90%)"/>${shapes.join("")}
    <text x="160" y="140" text-anchor="middle" font-size="64" font-weight="700"
      font-family="Georgia, serif" fill="hsl(${hue} 40% 30%)">${initials}</text>
    <text x="12" y="228" font-size="13" fill="hsl(${hue} 30% 35%)" font-family="sans-serif">${escape(cat)}</text>
  </svg>`;
}
