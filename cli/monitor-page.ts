/**
 * The monitor page: HTML, stylesheet and script, served as they are (no build step).
 *
 * The HTML carries what the script needs in `data-` attributes of <body> (the Bayeux path,
 * the monitor channel, the token the page was opened with); the script is an ES module
 * that imports the CometD client from `<basePath>/cometd/`, subscribes to the monitor
 * channel and renders each snapshot. Nothing is inline, so the page runs under a strict
 * Content-Security-Policy, and every value from the server goes in with `textContent`.
 *
 * Elements the browser spec reads: `#state` (and `data-state` on <html>: `connecting`,
 * `live`, `unauthorized`), `#engine` (`data-status`), `#sessions`, `#rate-in`,
 * `#rate-out`, `#held tbody tr` and `#channels tbody tr` (each with `data-name`, cells
 * name then count), `#chart polyline#line-in` / `#line-out`.
 */

/** What the HTML is built from. */
export interface MonitorPageParams {
  basePath: string;
  bayeuxPath: string;
  channel: string;
  token: string;
  historySeconds: number;
}

/** The page, for one token. */
export function monitorHtml(p: MonitorPageParams): string {
  const minutes = p.historySeconds >= 120 ? `${Math.round(p.historySeconds / 60)} minutes` : `${p.historySeconds} seconds`;
  return `<!doctype html>
<html lang="en" data-state="connecting">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bayeux-server monitor</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${escapeHtml(p.basePath)}/monitor.css">
<script type="module" src="${escapeHtml(p.basePath)}/monitor.js"></script>
</head>
<body data-bayeux="${escapeHtml(p.bayeuxPath)}" data-channel="${escapeHtml(p.channel)}" data-token="${escapeHtml(p.token)}">
<header>
  <h1>bayeux-server monitor</h1>
  <span id="state">connecting…</span>
  <span class="engine">engine <b id="engine" data-status="unknown">–</b></span>
</header>
<main>
  <section class="cards">
    <div class="card"><h2>sessions</h2><output id="sessions">–</output></div>
    <div class="card"><h2>messages/s in</h2><output id="rate-in">–</output></div>
    <div class="card"><h2>messages/s out</h2><output id="rate-out">–</output></div>
    <div class="card">
      <h2>held connects</h2>
      <table id="held"><thead><tr><th>transport</th><th>held</th></tr></thead><tbody></tbody></table>
      <p id="held-none" class="none">none</p>
    </div>
  </section>
  <section class="card">
    <h2>messages/s, last ${minutes} <span class="key in">in</span> <span class="key out">out</span> <small>top <span id="chart-max">0</span>/s</small></h2>
    <svg id="chart" viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="messages per second in and out">
      <polyline id="line-in" class="in" points="" fill="none" vector-effect="non-scaling-stroke"></polyline>
      <polyline id="line-out" class="out" points="" fill="none" vector-effect="non-scaling-stroke"></polyline>
    </svg>
  </section>
  <section class="card">
    <h2>channels</h2>
    <table id="channels"><thead><tr><th>channel</th><th>subscribers</th></tr></thead><tbody></tbody></table>
    <p id="channels-none" class="none">no subscriptions</p>
  </section>
</main>
<footer>updated <time id="updated">never</time> · rates and held connects: this process · sessions: the whole cluster</footer>
</body>
</html>
`;
}

/** The page's stylesheet. */
export const MONITOR_CSS = `:root { font: 14px/1.4 system-ui, sans-serif; color: #1d2330; background: #f4f5f7; }
body { margin: 0 auto; max-width: 960px; padding: 1rem; }
header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 1.25rem; margin: 0; flex: 1; }
h2 { font-size: .85rem; font-weight: 600; color: #5b6475; margin: 0 0 .5rem; }
#state { padding: .1rem .5rem; border-radius: 1rem; background: #e3e6eb; }
[data-state="live"] #state { background: #d9f2df; color: #17692e; }
[data-state="unauthorized"] #state { background: #fbdcdc; color: #9b1c1c; }
#engine { padding: .1rem .5rem; border-radius: .25rem; background: #e3e6eb; }
#engine[data-status="up"] { background: #2f9e4f; color: #fff; }
#engine[data-status="starting"] { background: #e0a526; color: #fff; }
#engine[data-status="down"] { background: #c92a2a; color: #fff; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: .75rem; margin: 1rem 0; }
.card { background: #fff; border-radius: .5rem; padding: .75rem 1rem; box-shadow: 0 1px 2px rgba(0, 0, 0, .08); margin-bottom: .75rem; }
output { font-size: 2rem; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid #eceef2; }
th:last-child, td:last-child { text-align: right; }
td:first-child { font-family: ui-monospace, monospace; word-break: break-all; }
.none { color: #8a93a3; margin: .25rem 0 0; }
.none[hidden] { display: none; }
#chart { width: 100%; height: 140px; background: #fafbfc; border: 1px solid #eceef2; }
polyline { stroke-width: 2; }
.in { stroke: #2b6cb0; color: #2b6cb0; }
.out { stroke: #d9480f; color: #d9480f; }
.key { font-weight: 700; }
small { font-weight: 400; float: right; }
footer { color: #8a93a3; font-size: .8rem; }
`;

/** The page's script (an ES module). */
export const MONITOR_JS = `import { CometD } from './cometd/cometd.js';

const $ = (id) => document.getElementById(id);
const root = document.documentElement;
const { bayeux, channel, token } = document.body.dataset;
const WIDTH = 600;
const HEIGHT = 120;

let points = [];
let windowMs = 300000;
let subscribed = false;

function setState(state, text) {
  root.dataset.state = state;
  $('state').textContent = text;
}

function fillRows(table, entries) {
  table.tBodies[0].replaceChildren(...entries.map(([name, count]) => {
    const tr = document.createElement('tr');
    tr.dataset.name = name;
    for (const value of [name, count]) {
      const td = document.createElement('td');
      td.textContent = String(value);
      tr.append(td);
    }
    return tr;
  }));
}

const rate = (n) => n.toFixed(1);

function drawChart() {
  const end = points.length > 0 ? points[points.length - 1].time : Date.now();
  points = points.filter((p) => p.time >= end - windowMs);
  // Until there is a whole window of history, the chart spans what there is (at least 10 s).
  const span = Math.min(windowMs, Math.max(10000, end - (points.length > 0 ? points[0].time : end)));
  const start = end - span;
  const top = Math.max(1, ...points.map((p) => Math.max(p.in, p.out)));
  const line = (key) => points
    .map((p) => ((WIDTH * (p.time - start)) / span).toFixed(1) + ',' + (HEIGHT - ((HEIGHT - 4) * p[key]) / top).toFixed(1))
    .join(' ');
  $('line-in').setAttribute('points', line('in'));
  $('line-out').setAttribute('points', line('out'));
  $('chart-max').textContent = rate(top);
}

function render(s) {
  $('sessions').textContent = s.sessions === null ? '–' : String(s.sessions);
  $('rate-in').textContent = rate(s.rates.in);
  $('rate-out').textContent = rate(s.rates.out);
  $('engine').textContent = s.engine;
  $('engine').dataset.status = s.engine;
  const held = Object.entries(s.held).sort((a, b) => b[1] - a[1]);
  fillRows($('held'), held);
  $('held-none').hidden = held.length > 0;
  fillRows($('channels'), s.channels.map((c) => [c.channel, c.subscribers]));
  $('channels-none').hidden = s.channels.length > 0;
  const updated = new Date(s.time);
  $('updated').textContent = updated.toLocaleTimeString();
  $('updated').dateTime = updated.toISOString();
  if (s.history) {
    windowMs = s.history.seconds * 1000;
    points = s.history.points.slice();
  } else {
    points.push({ time: s.time, in: s.rates.in, out: s.rates.out });
  }
  drawChart();
}

const cometd = new CometD();
cometd.configure({ url: new URL(bayeux, location.href).href, logLevel: 'warn' });

// A handshake (the first, or again after the session expired) clears the client's
// subscriptions: subscribe after each one.
cometd.addListener('/meta/handshake', (m) => {
  subscribed = false;
  if (!m.successful) return setState('connecting', 'connecting…');
  cometd.subscribe(channel, (message) => render(message.data), { ext: { monitorToken: token } }, (reply) => {
    if (reply.successful) {
      subscribed = true;
      setState('live', 'live');
    } else if (String(reply.error).startsWith('403')) {
      setState('unauthorized', 'unauthorized');
      cometd.disconnect();
    }
  });
});

cometd.addListener('/meta/connect', (m) => {
  if (root.dataset.state === 'unauthorized') return;
  if (!m.successful) setState('connecting', 'reconnecting…');
  else if (subscribed) setState('live', 'live');
});

// Leave at once rather than when the session expires, so the counts drop now.
addEventListener('pagehide', () => cometd.disconnect());

cometd.handshake();
`;

/** Escapes text for an HTML attribute or element. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
