// Line charts on a canvas, shared by lab.html and duel studio: they fill their container's width,
// redraw when the window changes size, mark a cursor at one step, and report clicks as a step.
'use strict';

class DuelChart {
  // options: title, series [{key, name, colour}], logY, yMin, yMax, height, onSeek(step)
  constructor(parent, options) {
    this.o = Object.assign({height: 170, logY: false}, options);
    this.rows = [];
    this.cursor = null;
    this.box = document.createElement('div');
    this.box.className = 'chart';
    this.canvas = document.createElement('canvas');
    this.box.appendChild(this.canvas);
    parent.appendChild(this.box);
    this.canvas.addEventListener('click', (e) => {
      if (!this.o.onSeek || !this.map) return;
      const r = this.canvas.getBoundingClientRect();
      this.o.onSeek(this.map.xInv(e.clientX - r.left));
    });
    DuelChart.all.push(this);
  }

  setRows(rows) { this.rows = rows; this.draw(); }
  setCursor(step) { this.cursor = step; this.draw(); }

  value(row, key) {
    const v = row[key];
    if (typeof v !== 'number' || !isFinite(v)) return null;
    if (this.o.logY && v <= 0) return null;
    return this.o.logY ? Math.log10(v) : v;
  }

  draw() {
    const width = Math.max(200, this.box.clientWidth || 400), height = this.o.height;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
      this.canvas.style.width = width + 'px';
      this.canvas.style.height = height + 'px';
    }
    const g = this.canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = '11px sans-serif';
    const left = 48, right = 10, top = 20, bottom = 22;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const row of this.rows) {
      for (const s of this.o.series) {
        const v = this.value(row, s.key);
        if (v === null) continue;
        x0 = Math.min(x0, row.step); x1 = Math.max(x1, row.step);
        y0 = Math.min(y0, v); y1 = Math.max(y1, v);
      }
    }
    if (this.o.yMin !== undefined) y0 = Math.min(y0, this.o.yMin);
    if (this.o.yMax !== undefined) y1 = Math.max(y1, this.o.yMax);
    if (!isFinite(x0)) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const W = width - left - right, H = height - top - bottom;
    const X = (x) => left + (x - x0) / (x1 - x0) * W, Y = (y) => top + (1 - (y - y0) / (y1 - y0)) * H;
    this.map = {xInv: (px) => x0 + (px - left) / W * (x1 - x0)};
    // Frame, ticks, title, legend.
    g.strokeStyle = '#ccc'; g.lineWidth = 1; g.strokeRect(left, top, W, H);
    g.fillStyle = '#333'; g.textAlign = 'left'; g.fillText(this.o.title, left, 13);
    g.textAlign = 'right';
    const yTicks = this.o.logY ? DuelChart.ticks(Math.floor(y0), Math.ceil(y1), 4).filter((t) => t === Math.round(t))
                               : DuelChart.ticks(y0, y1, 4);
    for (const yv of yTicks) {
      if (yv < y0 || yv > y1) continue;
      const py = Y(yv);
      g.strokeStyle = '#eee'; g.beginPath(); g.moveTo(left, py); g.lineTo(left + W, py); g.stroke();
      g.fillStyle = '#555';
      g.fillText(this.o.logY ? DuelChart.fmt(Math.pow(10, yv)) : DuelChart.fmt(yv), left - 4, py + 4);
    }
    g.textAlign = 'center';
    for (const xv of DuelChart.ticks(x0, x1, 5)) g.fillText(DuelChart.fmt(xv), X(xv), top + H + 14);
    let lx = left + W;
    g.textAlign = 'right';
    for (let k = this.o.series.length - 1; k >= 0; --k) {
      const s = this.o.series[k];
      g.fillStyle = s.colour; g.fillText(s.name, lx, 13);
      lx -= g.measureText(s.name).width + 8;
      g.fillRect(lx + 1, 6, 6, 6);
      lx -= 6;
    }
    // Curves.
    for (const s of this.o.series) {
      g.strokeStyle = s.colour; g.lineWidth = 1.5; g.beginPath();
      let pen = false;
      for (const row of this.rows) {
        const v = this.value(row, s.key);
        if (v === null) continue;  // a row without this value (coverage is measured less often)
        if (pen) g.lineTo(X(row.step), Y(v)); else g.moveTo(X(row.step), Y(v));
        pen = true;
      }
      g.stroke();
    }
    if (this.cursor !== null && this.cursor >= x0 && this.cursor <= x1) {
      g.strokeStyle = '#000'; g.lineWidth = 1; g.setLineDash([4, 3]);
      g.beginPath(); g.moveTo(X(this.cursor), top); g.lineTo(X(this.cursor), top + H); g.stroke();
      g.setLineDash([]);
    }
  }

  // Ticks at 1, 2 or 5 times a power of ten, about `target` of them over [lo, hi].
  static ticks(lo, hi, target) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / target, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    const step = (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  static fmt(v) {
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
    if (a >= 100) return v.toFixed(0);
    return String(+v.toPrecision(3));
  }
}
DuelChart.all = [];
window.addEventListener('resize', () => DuelChart.all.forEach((c) => c.draw()));
