// duel studio's page: drives one lab session on the server (POST /api/step ...) and draws what
// comes back. The server does all the computing; this file only draws and sends settings.
'use strict';

const $ = (id) => document.getElementById(id);
const FIELDS = ['dist', 'loss', 'opt_g', 'opt_d', 'lr_g', 'lr_d', 'beta1', 'beta2', 'n_critic', 'gp_lambda', 'clip',
                'updates', 'batch'];
const NUMERIC = new Set(['lr_g', 'lr_d', 'beta1', 'beta2', 'n_critic', 'gp_lambda', 'clip', 'batch', 'seed']);

// The lessons: settings and what to look at. The numbers are the ones docs/lab.md measures.
const LESSONS = {
  vanishing: {
    settings: {dist: 'ring8', loss: 'minimax', opt_g: 'adam', opt_d: 'adam', lr_g: 2e-4, lr_d: 1e-3, beta1: 0.5,
               beta2: 0.999, n_critic: 5, updates: 'alternating', batch: 256, z_dim: 2},
    text: 'Minimax loss against a critic with 5 updates per generator update at a 5× learning rate. Within 20 ' +
          'steps D(G(z)) drops near 0 and the generator\'s arrows shrink to nothing: log(1 − D(G(z))) is flat ' +
          'there. Switch the loss to non-saturating and step again: the arrows come back.'},
  collapse: {
    settings: {dist: 'ring8', loss: 'ns', opt_g: 'adam', opt_d: 'adam', lr_g: 1e-3, lr_d: 1e-4, beta1: 0.5,
               beta2: 0.999, n_critic: 1, updates: 'alternating', batch: 512, z_dim: 256},
    text: 'Non-saturating GAN with a generator ten times faster than its critic (the setting of Metz et al.\'s ' +
          'unrolled-GAN experiment). Press play and watch the purple cloud: it sits on one or two modes, the ' +
          'critic paints that region purple, and the whole cloud jumps to another mode. "modes covered" stays ' +
          'near 1 of 8.'},
  'collapse-gp': {
    settings: {dist: 'ring8', loss: 'wgan-gp', opt_g: 'adam', opt_d: 'adam', lr_g: 1e-4, lr_d: 1e-4, beta1: 0.5,
               beta2: 0.9, n_critic: 5, gp_lambda: 0.1, updates: 'alternating', batch: 512, z_dim: 256},
    text: 'The same data, networks and batch with WGAN-GP: the penalised critic keeps a slope towards every ' +
          'mode and the samples spread around the whole ring instead of jumping: the top mode\'s share falls to ' +
          'about 1/8 and stays there (the points are still blurry at 3,000 steps; they sharpen slowly).'},
  converge: {
    settings: {dist: 'ring8', loss: 'ns', opt_g: 'adam', opt_d: 'adam', lr_g: 1e-3, lr_d: 1e-4, beta1: 0.5,
               beta2: 0.999, n_critic: 1, updates: 'simultaneous', batch: 512, z_dim: 256},
    text: 'Simultaneous updates (both networks step from the same parameters) in the hopping setting: the ' +
          'cloud of samples cycles from mode to mode and never settles, the way the Dirac GAN\'s parameters ' +
          'circle their equilibrium (`duel lab dirac --all` draws that). Switch the loss to WGAN-GP and the cycle ' +
          'stops; switching to alternating updates does not stop it here.'},
};

const state = {
  session: null, settings: null, view: null, history: [], playing: false, busy: false, pending: {},
  drawing: null, graphTime: 0, graphWanted: false, collapsed: new Set(), expanded: new Set(),
  selected: null, nodeRequest: 0, graphClusters: [], version: {heat: 0, graph: 0, steps: 0}, errors: [],
};
window.studio = state;  // for tests and the curious: the page's state

// ------------------------------------------------------------------------------------------
// Server calls
// ------------------------------------------------------------------------------------------
async function api(path, body) {
  const init = body === undefined ? {} : {method: 'POST', headers: {'Content-Type': 'application/json'},
                                          body: JSON.stringify(body)};
  const r = await fetch(path, init);
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
  return j;
}

function setStatus(text, error) {
  const s = $('status');
  s.textContent = text;
  s.className = 'status' + (error ? ' error' : '');
  if (error) state.errors.push(text);
}

function pendingSettings() {
  const p = state.pending;
  state.pending = {};
  $('pending').textContent = '';
  return Object.keys(p).length ? p : undefined;
}

async function start() {
  try {
    const r = await api('/api/session', {});
    state.session = r.session;
    accept(r, true);
    setStatus('ready: session ' + r.session.slice(0, 8));
  } catch (e) {
    setStatus('could not start a session: ' + e.message, true);
  }
}

// A click while a request is in flight waits for it (clicks are not dropped); the play loop
// never overlaps itself.
async function whenIdle() {
  while (state.busy) await new Promise((r) => setTimeout(r, 15));
}

async function act(action, count) {
  await whenIdle();
  if (!state.session) return false;
  state.busy = true;
  try {
    const traced = wantGraph();
    const body = {session: state.session, action: action, count: count, trace: traced, since: state.history.length};
    const settings = pendingSettings();
    if (settings) body.settings = settings;
    const r = await api('/api/step', body);
    accept(r, false);
    if (traced) await loadGraph();
    return true;
  } catch (e) {
    setStatus(e.message, true);
    stopPlaying();
    return false;
  } finally {
    state.busy = false;
  }
}

async function reset() {
  await whenIdle();
  state.busy = true;
  try {
    const settings = Object.assign(pendingSettings() || {}, {seed: +$('seed').value});
    const r = await api('/api/reset', {session: state.session, settings: settings});
    state.history = [];
    accept(r, true);
    clearGraph();
    setStatus('reset');
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    state.busy = false;
  }
}

function accept(r, replaceHistory) {
  state.settings = r.settings;
  state.view = r.view;
  state.history = replaceHistory ? r.history : state.history.concat(r.history);
  state.version.steps++;
  fillControls(r.settings, true);
  $('counter').textContent = 'step ' + r.view.step + ' (critic updates ' + r.view.critic_steps + ')';
  drawPlot();
  charts.forEach((c) => c.setRows(state.history));
  setModesTitle();
}

// ------------------------------------------------------------------------------------------
// Controls
// ------------------------------------------------------------------------------------------
function fillControls(s, onlyUntouched) {
  for (const k of FIELDS) {
    if (onlyUntouched && k in state.pending) continue;
    const el = $(k);
    if (el && document.activeElement !== el) el.value = s[k];
  }
}

function markChanged(key, value) {
  state.pending[key] = value;
  $('pending').textContent = 'changed: ' + Object.keys(state.pending).join(', ') + ' (takes effect at the next step)';
}

for (const k of FIELDS) {
  $(k).addEventListener('change', async () => {
    const el = $(k);
    let v = NUMERIC.has(k) ? Number(el.value) : el.value;
    if (NUMERIC.has(k) && !(isFinite(v) && el.value !== '')) { setStatus(k + ': not a number', true); return; }
    if (k === 'dist' && v === 'drawn' && !(state.settings && state.settings.dist === 'drawn') && !state.pending.drawn) {
      startDrawing();
      return;
    }
    markChanged(k, v);
    if (k === 'loss') {  // the new loss's usual settings, still editable before the next step
      try {
        const d = await api('/api/defaults?loss=' + encodeURIComponent(v));
        for (const key of ['opt_g', 'opt_d', 'lr_g', 'lr_d', 'beta1', 'beta2', 'n_critic', 'gp_lambda', 'clip']) {
          $(key).value = d[key];
          markChanged(key, d[key]);
        }
      } catch (e) { setStatus(e.message, true); }
    }
  });
}

function stopPlaying() {
  state.playing = false;
  $('play').textContent = '▶ play';
}

async function playLoop() {
  while (state.playing) {
    const ok = await act('step', 5);
    if (!ok) break;
    await new Promise((r) => setTimeout(r, 10));
  }
}

$('play').onclick = () => {
  if (state.playing) { stopPlaying(); return; }
  state.playing = true;
  $('play').textContent = '❚❚ pause';
  playLoop();
};
$('step').onclick = () => act('step', 1);
$('critic').onclick = () => act('critic', 1);
$('generator').onclick = () => act('generator', 1);
$('reset').onclick = () => { stopPlaying(); reset(); };

document.querySelectorAll('[data-lesson]').forEach((b) => {
  b.onclick = async () => {
    const lesson = LESSONS[b.dataset.lesson];
    stopPlaying();
    for (const [k, v] of Object.entries(lesson.settings)) { if ($(k)) $(k).value = v; markChanged(k, v); }
    $('lesson').textContent = lesson.text;
    await reset();
  };
});

// ------------------------------------------------------------------------------------------
// Drawing the real data
// ------------------------------------------------------------------------------------------
const canvas = $('canvas');
function toData(e) {
  const r = canvas.getBoundingClientRect(), view = 3.0;
  return [((e.clientX - r.left) / r.width * 2 - 1) * view, (1 - (e.clientY - r.top) / r.height * 2) * view];
}
function startDrawing() {
  stopPlaying();
  state.drawing = {points: [], down: false};
  canvas.classList.add('drawing');
  $('drawdone').hidden = $('drawcancel').hidden = false;
  setStatus('draw on the plot with the mouse (several strokes are fine), then "use drawing"');
  drawPlot();
}
function endDrawing(use) {
  const d = state.drawing;
  state.drawing = null;
  canvas.classList.remove('drawing');
  $('drawdone').hidden = $('drawcancel').hidden = true;
  if (use && d.points.length >= 2) {
    const flat = [];
    for (const [x, y] of d.points) flat.push(+Math.max(-3, Math.min(3, x)).toFixed(4), +Math.max(-3, Math.min(3, y)).toFixed(4));
    markChanged('dist', 'drawn');
    markChanged('drawn', flat);
    $('dist').value = 'drawn';
    setStatus('drawing of ' + d.points.length + ' points: it becomes the real data at the next step');
  } else {
    $('dist').value = state.settings ? state.settings.dist : 'ring8';
    if (use) setStatus('draw at least two points', true);
  }
  drawPlot();
}
$('draw').onclick = startDrawing;
$('drawdone').onclick = () => endDrawing(true);
$('drawcancel').onclick = () => endDrawing(false);
canvas.addEventListener('mousedown', (e) => { if (state.drawing) { state.drawing.down = true; addPoint(e); } });
canvas.addEventListener('mousemove', (e) => { if (state.drawing && state.drawing.down) addPoint(e); });
window.addEventListener('mouseup', () => { if (state.drawing) state.drawing.down = false; });
function addPoint(e) {
  const p = toData(e), pts = state.drawing.points, last = pts[pts.length - 1];
  if (!last || Math.hypot(p[0] - last[0], p[1] - last[1]) >= 0.04) { pts.push(p); drawPlot(); }
}

// ------------------------------------------------------------------------------------------
// The plot: heat map, points, transport, arrows
// ------------------------------------------------------------------------------------------
function beliefColour(v) {  // purple (fake, 0) through white to green (real, 1), as the lab's frames
  const t = Math.max(0, Math.min(1, v));
  const fake = [196, 150, 222], real = [140, 214, 160], white = [255, 255, 255];
  const a = t < 0.5 ? fake : real, s = t < 0.5 ? (0.5 - t) * 2 : (t - 0.5) * 2;
  return [0, 1, 2].map((i) => Math.round(white[i] + (a[i] - white[i]) * s));
}

const heatCanvas = document.createElement('canvas');
function drawPlot() {
  const g = canvas.getContext('2d'), W = canvas.width, H = canvas.height, v = state.view;
  g.clearRect(0, 0, W, H);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, W, H);
  if (state.drawing) {
    g.fillStyle = '#e08214';
    const view = 3.0;
    for (const [x, y] of state.drawing.points) {
      g.beginPath(); g.arc((x / view + 1) / 2 * W, (1 - y / view) / 2 * H, 3, 0, 7); g.fill();
    }
    return;
  }
  if (!v) return;
  const view = v.view, X = (x) => (x / view + 1) / 2 * W, Y = (y) => (1 - y / view) / 2 * H;
  if ($('show_heat').checked) {
    const n = v.grid;
    heatCanvas.width = n; heatCanvas.height = n;
    const hg = heatCanvas.getContext('2d'), img = hg.createImageData(n, n);
    v.heat.forEach((b, i) => {
      const c = beliefColour(b);
      img.data.set([c[0], c[1], c[2], 255], i * 4);
    });
    hg.putImageData(img, 0, 0);
    g.imageSmoothingEnabled = true;
    g.drawImage(heatCanvas, 0, 0, W, H);
    state.version.heat++;
  }
  const dots = (arr, colour) => {
    g.fillStyle = colour;
    for (let i = 0; i + 1 < arr.length; i += 2) { g.beginPath(); g.arc(X(arr[i]), Y(arr[i + 1]), 2.2, 0, 7); g.fill(); }
  };
  if ($('show_real').checked) dots(v.real, 'rgba(20,120,50,0.75)');
  if ($('show_transport').checked) {
    const t = v.transport, n = v.transport_size, P = (r, c) => [X(t[2 * (r * n + c)]), Y(t[2 * (r * n + c) + 1])];
    g.strokeStyle = 'rgba(224,130,20,0.8)'; g.lineWidth = 1;
    for (let r = 0; r < n; ++r)
      for (let c = 0; c < n; ++c) {
        const p = P(r, c);
        if (c + 1 < n) { const q = P(r, c + 1); g.beginPath(); g.moveTo(p[0], p[1]); g.lineTo(q[0], q[1]); g.stroke(); }
        if (r + 1 < n) { const q = P(r + 1, c); g.beginPath(); g.moveTo(p[0], p[1]); g.lineTo(q[0], q[1]); g.stroke(); }
      }
  }
  if ($('show_fake').checked) dots(v.fake, 'rgba(110,40,150,0.75)');
  if ($('show_arrows').checked) {
    // The lab's fixed scale (25 px per unit of per-sample gradient on a 480 px frame, at most 40 px):
    // a vanishing gradient shows as a vanishing arrow.
    const px = W / 480;
    g.strokeStyle = '#282828'; g.lineWidth = 1.3;
    for (const [x, y, dx, dy] of v.arrows) {
      const norm = Math.hypot(dx, dy), len = Math.min(40, 25 * norm) * px;
      if (len < 0.5) continue;
      const x0 = X(x), y0 = Y(y), x1 = x0 + dx / norm * len, y1 = y0 - dy / norm * len;
      const a = Math.atan2(y1 - y0, x1 - x0), h = Math.min(6, len / 2);
      g.beginPath(); g.moveTo(x0, y0); g.lineTo(x1, y1);
      g.lineTo(x1 - h * Math.cos(a - 0.45), y1 - h * Math.sin(a - 0.45));
      g.moveTo(x1, y1); g.lineTo(x1 - h * Math.cos(a + 0.45), y1 - h * Math.sin(a + 0.45));
      g.stroke();
    }
  }
}
for (const id of ['show_heat', 'show_real', 'show_fake', 'show_transport', 'show_arrows']) $(id).onchange = drawPlot;

// ------------------------------------------------------------------------------------------
// Curves
// ------------------------------------------------------------------------------------------
const chartBox = $('charts');
const charts = [
  new DuelChart(chartBox, {title: 'modes covered', yMin: 0,
                           series: [{key: 'modes_covered', name: 'modes covered', colour: '#1f77b4'}]}),
  new DuelChart(chartBox, {title: 'high-quality fraction (within 3 std of the data)', yMin: 0, yMax: 1,
                           series: [{key: 'high_quality_fraction', name: 'high-quality', colour: '#ff7f0e'}]}),
  new DuelChart(chartBox, {title: 'top mode\'s share of samples (1: collapsed)', yMin: 0, yMax: 1,
                           series: [{key: 'top_mode_share', name: 'share', colour: '#d62728'}]}),
  new DuelChart(chartBox, {title: 'D(x) and D(G(z))',
                           series: [{key: 'D_x', name: 'D(x)', colour: '#1f77b4'},
                                    {key: 'D_G_z', name: 'D(G(z))', colour: '#ff7f0e'}]}),
  new DuelChart(chartBox, {title: 'losses',
                           series: [{key: 'loss_D', name: 'loss_D', colour: '#1f77b4'},
                                    {key: 'loss_G', name: 'loss_G', colour: '#ff7f0e'}]}),
  new DuelChart(chartBox, {title: 'gradient norms (log scale)', logY: true,
                           series: [{key: 'grad_norm_D', name: 'critic', colour: '#1f77b4'},
                                    {key: 'grad_norm_G', name: 'generator', colour: '#ff7f0e'}]}),
];
function setModesTitle() {
  if (!state.view) return;
  charts[0].o.title = 'modes covered (of ' + state.view.modes + ')';
  charts[0].o.yMax = state.view.modes;
  charts[3].o.title = state.view.probabilistic ? 'D(x) and D(G(z)): probabilities' : 'D(x) and D(G(z)): scores';
  charts[0].draw(); charts[3].draw();
}

// ------------------------------------------------------------------------------------------
// The autograd graph of the last step
// ------------------------------------------------------------------------------------------
function wantGraph() {
  if (!$('show_graph').checked) return false;
  // While playing, a traced step (recorded backward, Graphviz layout) every 2 seconds is enough.
  return !state.playing || performance.now() - state.graphTime > 2000;
}

function clearGraph() {
  $('graph').innerHTML = '';
  $('graphinfo').textContent = '';
  $('node').innerHTML = '<p class="hint">No node selected.</p>';
  state.selected = null;
}

function graphQuery() {
  const view = document.querySelector('input[name=gview]:checked').value;
  const q = new URLSearchParams({session: state.session, view: view, values: $('gvalues').checked ? 1 : 0});
  if (view === 'full' && state.collapsed.size) q.set('collapsed', [...state.collapsed].join(','));
  return q;
}

async function loadGraph() {
  if (!state.session) return;
  try {
    const r = await api('/api/graph?' + graphQuery().toString());
    state.graphTime = performance.now();
    state.graphClusters = r.clusters;
    const box = $('graph');
    box.innerHTML = r.svg.slice(r.svg.indexOf('<svg'));
    const s = r.stats;
    $('graphinfo').textContent = r.title + ': ' + s.forward + ' forward, ' + s.backward + ' backward, ' +
                                 s.double_backward + ' double-backward nodes, ' + s.parameters + ' parameters';
    wireGraph(box);
    state.version.graph++;
    if (state.selected !== null) showNode(state.selected);
  } catch (e) {
    setStatus(e.message, true);
  }
}

function wireGraph(box) {
  box.querySelectorAll('g.node').forEach((n) => {
    const id = n.id || '';
    if (/^n\d+$/.test(id)) {
      n.addEventListener('click', () => showNode(+id.slice(1)));
      if (state.selected !== null && +id.slice(1) === state.selected) n.classList.add('selected');
    } else if (/^c\d+$/.test(id)) {  // a collapsed cluster: expand it
      n.addEventListener('click', () => toggleCluster(+id.slice(1)));
    }
  });
  box.querySelectorAll('g.cluster').forEach((c) => {
    const m = /^cluster_(\d+)$/.exec(c.id || '');
    if (!m) return;
    const title = c.querySelector('text');
    if (title) title.addEventListener('click', () => toggleCluster(+m[1]));
  });
}

function toggleCluster(index) {
  const summary = document.querySelector('input[name=gview]:checked').value === 'summary';
  if (summary) {  // expand one box of the summary: switch to the full view with the others collapsed
    state.collapsed = new Set(state.graphClusters.filter((c) => c.collapsed && c.index !== index).map((c) => c.index));
    document.querySelector('input[name=gview][value=full]').checked = true;
  } else if (state.collapsed.has(index)) {
    state.collapsed.delete(index);
  } else {
    state.collapsed.add(index);
  }
  loadGraph();
}

document.querySelectorAll('input[name=gview]').forEach((r) => { r.onchange = () => { state.collapsed.clear(); loadGraph(); }; });
$('gvalues').onchange = loadGraph;
$('gfit').onchange = () => $('graph').classList.toggle('fit', $('gfit').checked);
$('show_graph').onchange = () => { if ($('show_graph').checked) act('step', 1); else clearGraph(); };

function statsTable(title, s) {
  if (!s) return '<h3>' + title + '</h3><p class="hint">none</p>';
  const f = DuelChart.fmt;
  return '<h3>' + title + ' [' + s.shape.join(', ') + ']</h3><table>' +
         '<tr><td>min</td><td>' + f(s.min) + '</td><td>max</td><td>' + f(s.max) + '</td></tr>' +
         '<tr><td>mean</td><td>' + f(s.mean) + '</td><td>std</td><td>' + f(s.std) + '</td></tr>' +
         '<tr><td>L2 norm</td><td>' + f(s.norm) + '</td><td>non-finite</td><td>' + s.non_finite + '</td></tr></table>';
}

function histogram(s, colour) {
  const c = document.createElement('canvas'), W = 290, H = 60;
  c.width = W; c.height = H + 14;
  const g = c.getContext('2d'), counts = s.histogram.counts, top = Math.max(1, ...counts);
  g.fillStyle = colour;
  counts.forEach((k, i) => {
    const w = W / counts.length, h = k / top * H;
    g.fillRect(i * w + 0.5, H - h, w - 1, h);
  });
  g.fillStyle = '#555'; g.font = '10px sans-serif';
  g.textAlign = 'left'; g.fillText(DuelChart.fmt(s.histogram.lo), 0, H + 12);
  g.textAlign = 'right'; g.fillText(DuelChart.fmt(s.histogram.hi), W, H + 12);
  return c;
}

async function showNode(k) {
  // Requests can finish out of order (a graph reload re-shows the old selection while a click asks
  // for a new one): only the latest request may fill the panel.
  const seq = ++state.nodeRequest;
  try {
    const d = await api('/api/node?session=' + state.session + '&node=' + k);
    if (seq !== state.nodeRequest) return;
    state.selected = k;
    $('graph').querySelectorAll('g.node.selected').forEach((n) => n.classList.remove('selected'));
    const el = document.getElementById('n' + k);
    if (el) el.classList.add('selected');
    const box = $('node');
    const esc = (t) => String(t).replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'})[c]);
    box.innerHTML = '<h3>' + esc(d.label) + '</h3><table>' +
      '<tr><td>kind</td><td>' + esc(d.kind + (d.pass ? ', ' + d.pass : '')) + '</td></tr>' +
      '<tr><td>part</td><td>' + esc(d.cluster) + '</td></tr>' +
      (d.scope ? '<tr><td>scope</td><td>' + esc(d.scope) + '</td></tr>' : '') +
      '<tr><td>inputs</td><td>' + esc(d.inputs.map((i) => i.label + (i.edge ? ' (' + i.edge + ')' : i.gradient ? '' : ' (no grad)')).join(', ') || '–') + '</td></tr>' +
      '<tr><td>gradient from</td><td>' + d.grad_passes + ' backward pass(es)</td></tr></table>' +
      statsTable('value', d.value) + '<div id="hv"></div>' + statsTable('gradient', d.grad) + '<div id="hg"></div>';
    if (d.value) $('hv').appendChild(histogram(d.value, '#4393c3'));
    if (d.grad) $('hg').appendChild(histogram(d.grad, '#d6604d'));
  } catch (e) {
    if (seq === state.nodeRequest) setStatus(e.message, true);
  }
}

window.addEventListener('error', (e) => state.errors.push(String(e.message)));
start().then(() => act('step', 1));
