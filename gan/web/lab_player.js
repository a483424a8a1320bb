// The offline lab page: a slider over the embedded frames, charts of the run with a cursor at the
// shown frame's step (clicking a chart jumps to the nearest frame).
'use strict';
(function () {
  const frames = LAB.frames, rows = LAB.metrics;
  const img = document.getElementById('frame'), bar = document.getElementById('bar');
  const label = document.getElementById('label'), stepLabel = document.getElementById('steplabel');
  const box = document.getElementById('charts');
  const seek = (step) => {
    let best = 0;
    frames.forEach((f, i) => { if (Math.abs(f.step - step) < Math.abs(frames[best].step - step)) best = i; });
    show(best);
  };
  const charts = [
    new DuelChart(box, {title: 'modes covered (of ' + LAB.modes + ')', yMin: 0, yMax: LAB.modes, onSeek: seek,
                        series: [{key: 'modes_covered', name: 'modes covered', colour: '#1f77b4'}]}),
    new DuelChart(box, {title: 'fraction of samples within 3 std of the data', yMin: 0, yMax: 1, onSeek: seek,
                        series: [{key: 'high_quality_fraction', name: 'high-quality', colour: '#ff7f0e'}]}),
    new DuelChart(box, {title: 'top mode\'s share of samples (1/' + LAB.modes + ': even, 1: collapsed)',
                        yMin: 0, yMax: 1, onSeek: seek,
                        series: [{key: 'top_mode_share', name: 'share', colour: '#d62728'}]}),
    new DuelChart(box, {title: LAB.probabilistic ? 'D(x) and D(G(z)): the critic\'s probabilities'
                                                 : 'D(x) and D(G(z)): the critic\'s scores',
                        yMin: LAB.probabilistic ? 0 : undefined, yMax: LAB.probabilistic ? 1 : undefined, onSeek: seek,
                        series: [{key: 'D_x', name: 'D(x)', colour: '#1f77b4'},
                                 {key: 'D_G_z', name: 'D(G(z))', colour: '#ff7f0e'}]}),
    new DuelChart(box, {title: 'losses', onSeek: seek,
                        series: [{key: 'loss_D', name: 'loss_D', colour: '#1f77b4'},
                                 {key: 'loss_G', name: 'loss_G', colour: '#ff7f0e'}]}),
    new DuelChart(box, {title: 'gradient norms (log scale)', logY: true, onSeek: seek,
                        series: [{key: 'grad_norm_D', name: 'critic', colour: '#1f77b4'},
                                 {key: 'grad_norm_G', name: 'generator', colour: '#ff7f0e'}]}),
  ];
  charts.forEach((c) => c.setRows(rows));
  const fmt = (v) => (typeof v === 'number' ? DuelChart.fmt(v) : '–');
  function show(i) {
    const f = frames[i], row = rows.find((r) => r.step === f.step) || {};
    img.src = f.src;
    bar.value = i;
    stepLabel.textContent = 'step ' + f.step;
    label.textContent = 'step ' + f.step + ': modes ' + fmt(row.modes_covered) + '/' + LAB.modes + ', D(x) ' +
                        fmt(row.D_x) + ', D(G(z)) ' + fmt(row.D_G_z);
    charts.forEach((c) => c.setCursor(f.step));
  }
  bar.max = Math.max(0, frames.length - 1);
  bar.oninput = () => show(+bar.value);
  let timer = null;
  document.getElementById('play').onclick = function () {
    if (timer) { clearInterval(timer); timer = null; this.textContent = 'play'; return; }
    this.textContent = 'pause';
    timer = setInterval(() => show((+bar.value + 1) % frames.length), 120);
  };
  if (frames.length) show(0);
})();
