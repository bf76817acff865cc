// Time-series plots with uPlot, served from the server's node_modules (/dashboard/vendor/).
/* global getComputedStyle, matchMedia, ResizeObserver */
import UPlot from '/dashboard/vendor/uPlot.esm.js'
import { fmt } from './views.js'

const PALETTE = ['#4c8bf5', '#e8833a', '#3bb273', '#d64545', '#9b6ad6', '#c9a227', '#2bb3c0']
const HEIGHT = 200
// The x axis spans at least this much, so the first few points do not fill the plot.
const MIN_SPAN_SEC = 60

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()

/**
 * One plot in `el`. `update(samples, lines)` draws lines = [{ label, value: (sample) => number }]
 * over samples' `t` (unix seconds); the plot is rebuilt when the set of lines changes (a campaign
 * starts or ends) and resized with its box.
 */
export function timeChart (el) {
  let plot
  let labels = ''

  function build (lines, data) {
    plot?.destroy()
    const axis = { stroke: css('--muted'), grid: { stroke: css('--grid'), width: 1 }, ticks: { stroke: css('--grid') } }
    plot = new UPlot({
      width: el.clientWidth || 300,
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: {
        x: { time: true, range: (_u, min, max) => [Math.min(min, max - MIN_SPAN_SEC), max] },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      axes: [{ ...axis, space: 80, size: 32, values: (_u, ticks) => ticks.map(fmt.clock) }, { ...axis, size: 44 }],
      series: [{}, ...lines.map((l, i) => ({ label: l.label, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: false } }))],
    }, data, el)
  }

  // Axis colours come from the theme: rebuild with the next data when it changes.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { labels = null })
  new ResizeObserver(() => {
    if (plot && el.clientWidth > 0 && Math.abs(plot.width - el.clientWidth) > 1) plot.setSize({ width: el.clientWidth, height: HEIGHT })
  }).observe(el)

  return {
    update (samples, lines) {
      const data = [samples.map((s) => s.t), ...lines.map((l) => samples.map(l.value))]
      const key = lines.map((l) => l.label).join('\n')
      if (plot === undefined || key !== labels) {
        labels = key
        build(lines, data)
      } else {
        plot.setData(data)
      }
    },
  }
}
