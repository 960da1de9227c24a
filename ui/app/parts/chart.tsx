/**
 * A time-series chart (uPlot) that follows its container's width and the colour scheme.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Series { label: string; values: (number | null)[] }

const PALETTE = ['#3b6fe0', '#e0793b', '#2e9e6a', '#b44fc9', '#c9a227', '#d2455a', '#3aa6b9', '#7a7f8c'];

export function colourOf(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function Chart({ title, times, series, unit }: { title: string; times: number[]; series: Series[]; unit: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('\u0000');

  useEffect(() => {
    const el = box.current!;
    // Colours as functions: read again on every redraw, so a switch of colour scheme follows.
    const axis = { stroke: () => cssVar('--muted'), grid: { stroke: () => cssVar('--grid'), width: 1 }, ticks: { stroke: () => cssVar('--grid'), width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 200,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      // Fewer than two samples span no time: show the last minute rather than uPlot's years-wide default.
      scales: { x: { time: true, range: (_u, min, max) => (min === null || max === null || max - min < 1 ? [(max ?? Date.now() / 1000) - 60, max ?? Date.now() / 1000] : [min, max]) }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ ...axis }, { ...axis, size: 56, values: (_u, ticks) => ticks.map((t) => `${t}${unit}`) }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colourOf(i), width: 2, spanGaps: false, points: { show: false } }))],
    };
    plot.current = new uPlot(opts, [times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: 200 }));
    resize.observe(el);
    const scheme = matchMedia('(prefers-color-scheme: dark)');
    const redraw = () => plot.current?.redraw();
    scheme.addEventListener('change', redraw);
    return () => {
      resize.disconnect();
      scheme.removeEventListener('change', redraw);
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, unit]);

  useEffect(() => {
    plot.current?.setData([times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData);
  });

  return (
    <figure class="chart" data-points={times.length}>
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={`${title}: ${series.map((s) => `${s.label} ${s.values.at(-1) ?? '—'}`).join(', ')}`} />
    </figure>
  );
}
