import { html, type SafeHtml } from "./html.ts";

/**
 * A bar chart as inline SVG, drawn on the server: one bar per day, a dashed line at the
 * limit, axis labels, and a <title>/<desc> so a screen reader gets the figures too. No script
 * and no external asset, so it passes the portal's CSP and prints as it shows.
 */
export function barChart(options: {
  title: string;
  labels: readonly string[];
  values: readonly number[];
  limit?: number;
  unit: string;
}): SafeHtml {
  const width = 720;
  const height = 240;
  const left = 64;
  const bottom = 28;
  const top = 16;
  const plotW = width - left - 8;
  const plotH = height - top - bottom;
  const peak = Math.max(0, ...options.values);
  // Scaled to the figures, not the limit: 150 tokens against a million-token limit would be an
  // invisible bar. The limit is drawn when it is on the scale and named when it is not.
  const max = Math.max(1, peak * 1.15, options.limit !== undefined && options.limit <= peak * 2 ? options.limit * 1.05 : 0);
  const limitOnScale = options.limit !== undefined && options.limit <= max;
  const barW = plotW / Math.max(1, options.values.length);
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const total = options.values.reduce((s, v) => s + v, 0);
  const fmt = (n: number) => n.toLocaleString("en-US");
  const desc = `${options.title}: ${fmt(total)} ${options.unit} over ${options.values.length} days, at most ${fmt(peak)} in a day${
    options.limit ? `; the limit is ${fmt(options.limit)} a day` : ""
  }.`;
  return html`<svg class="chart" role="img" aria-labelledby="chart-title chart-desc" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
<title id="chart-title">${options.title}</title><desc id="chart-desc">${desc}</desc>
<line x1="${left}" y1="${top + plotH}" x2="${width - 8}" y2="${top + plotH}" stroke="#475569"/>
<text x="${left - 6}" y="${top + 10}" text-anchor="end" font-size="11" fill="#1a1a1a">${fmt(max)}</text>
<text x="${left - 6}" y="${top + plotH}" text-anchor="end" font-size="11" fill="#1a1a1a">0</text>
${options.values.map(
  (v, i) =>
    html`<rect x="${(left + i * barW + 1).toFixed(1)}" y="${y(v).toFixed(1)}" width="${Math.max(1, barW - 2).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="#0b57d0"><title>${options.labels[i] ?? ""}: ${fmt(v)} ${options.unit}</title></rect>`,
)}
${
  options.limit !== undefined && limitOnScale
    ? html`<line x1="${left}" y1="${y(options.limit).toFixed(1)}" x2="${width - 8}" y2="${y(options.limit).toFixed(1)}" stroke="#b91c1c" stroke-dasharray="6 4"/><text x="${width - 10}" y="${(y(options.limit) - 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#b91c1c">limit ${fmt(options.limit)}</text>`
    : options.limit !== undefined
      ? html`<text x="${width - 10}" y="${top + 10}" text-anchor="end" font-size="11" fill="#b91c1c">limit ${fmt(options.limit)} a day: far above this scale</text>`
      : ""
}
<text x="${left}" y="${height - 8}" font-size="11" fill="#1a1a1a">${options.labels[0] ?? ""}</text>
<text x="${width - 8}" y="${height - 8}" text-anchor="end" font-size="11" fill="#1a1a1a">${options.labels.at(-1) ?? ""}</text>
</svg>`;
}
