/**
 * Bar charts as plain SVG text, written by the bench itself (no service, no browser): one chart per section of
 * BENCHMARKS.md, groups of horizontal bars (one group per concurrency or size), a dashed line at 1.0 when the
 * values are ratios.
 */

export interface ChartGroup {
  label: string;
  bars: Array<{ name: string; value: number }>;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * An SVG of horizontal bars. `unit` is appended to each value label; `reference` draws a dashed line (1.0 for
 * ratios). Bars of the same name get the same colour in every group, and `highlight` names are drawn bold.
 */
export function barChart(opts: {
  title: string;
  subtitle?: string;
  groups: ChartGroup[];
  unit?: string;
  reference?: number;
  highlight?: string[];
  digits?: number;
}): string {
  const { title, subtitle, groups, unit = '', reference, highlight = [], digits = 2 } = opts;
  const names = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.name)))];
  const colour = (name: string) => PALETTE[names.indexOf(name) % PALETTE.length]!;
  const labelW = 250;
  const chartW = 420;
  const valueW = 90;
  const width = labelW + chartW + valueW;
  const barH = 16;
  const gap = 4;
  const groupGap = 18;
  const top = subtitle ? 52 : 36;
  const finite = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => Number.isFinite(v));
  const max = Math.max(reference ?? 0, ...finite, 1e-9) * 1.05;
  const x = (v: number) => labelW + (Math.max(0, v) / max) * chartW;
  let y = top;
  const parts: string[] = [];
  for (const g of groups) {
    parts.push(`<text x="4" y="${y + 12}" font-weight="bold">${esc(g.label)}</text>`);
    y += 18;
    for (const b of g.bars) {
      const w = Number.isFinite(b.value) ? x(b.value) - labelW : 0;
      const bold = highlight.includes(b.name) ? ' font-weight="bold"' : '';
      parts.push(
        `<text x="${labelW - 6}" y="${y + barH - 4}" text-anchor="end"${bold}>${esc(b.name)}</text>`,
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colour(b.name)}"/>`,
        `<text x="${(labelW + w + 4).toFixed(1)}" y="${y + barH - 4}"${bold}>${Number.isFinite(b.value) ? b.value.toFixed(digits) : '–'}${esc(unit)}</text>`,
      );
      y += barH + gap;
    }
    y += groupGap;
  }
  const height = y + 4;
  if (reference !== undefined) {
    const rx = x(reference).toFixed(1);
    parts.unshift(
      `<line x1="${rx}" y1="${top - 4}" x2="${rx}" y2="${height - groupGap}" stroke="#333" stroke-dasharray="4 3"/>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="4" y="18" font-size="15" font-weight="bold">${esc(title)}</text>`,
    subtitle ? `<text x="4" y="36" fill="#555">${esc(subtitle)}</text>` : '',
    ...parts,
    `</svg>`,
    '',
  ].join('\n');
}
