// echolens serve: the pages. Plain DOM code over the JSON API; every value from the API is written as text
// (textContent, text nodes), never parsed as markup.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#2060a0', '#c05020', '#208050', '#8040a0', '#a08000', '#008080', '#a02060', '#606060', '#b0b0b0'];
const token = new URLSearchParams(location.search).get('token');
const state = { brush: null, running: null };

// ---- building blocks ---------------------------------------------------------------------------------------

/** An element with attributes (functions become listeners) and children (strings become text nodes). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element, the same way. */
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function fmt(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US', { maximumFractionDigits: 2 }) : (n ?? '');
}

/** A query string from an object whose array values repeat their key. */
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined && one !== null && one !== '') q.append(k, one);
  }
  return q;
}

/** A URL of the API, with the token when one is needed (for links a browser follows on its own). */
function apiUrl(path, params) {
  const q = query(params);
  if (token) q.set('token', token);
  const text = q.toString();
  return text ? `${path}?${text}` : path;
}

/** Call the API; an error answer throws its message. */
async function api(path, params, signal) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(`${path}?${query(params)}`, { headers, signal });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || `${res.status}`);
  return body;
}

/** Selectors typed into a field: split at spaces, except that `where=` takes the rest of the line. */
function selectors(text) {
  const out = [];
  for (const line of (text || '').split('\n')) {
    const at = line.search(/(^|\s)where=/);
    const head = at < 0 ? line : line.slice(0, at);
    out.push(...head.split(/\s+/).filter(Boolean));
    if (at >= 0) out.push(line.slice(at).trim());
  }
  return out;
}

/** The brushed time range as selectors. */
function brushSelectors() {
  return state.brush ? [`since=${state.brush.since}`, `until=${state.brush.until}`] : [];
}

/** A table of rows (objects) over the named columns; `cell(column, row)` may return a node. */
function table(columns, rows, cell) {
  const numeric = (v) => typeof v === 'number' || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v));
  return h('div', { class: 'scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => {
      const v = cell ? cell(c, r) : r[c];
      return h('td', { class: numeric(r[c]) ? 'num' : null }, v instanceof Node ? v : fmt(v));
    }))))));
}

/** A link that saves rows as CSV, made in the page from what it shows. */
function csvLink(name, columns, rows) {
  const quote = (v) => {
    const t = v === null || v === undefined ? '' : (typeof v === 'object' ? JSON.stringify(v) : String(v));
    return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  const text = [columns.join(','), ...rows.map((r) => columns.map((c) => quote(Array.isArray(r) ? r[columns.indexOf(c)] : r[c])).join(','))].join('\n');
  const a = h('a', { class: 'button plain', download: name }, `CSV (${rows.length} rows)`);
  a.href = URL.createObjectURL(new Blob([text + '\n'], { type: 'text/csv' }));
  return a;
}

function download(label, path, params) {
  return h('a', { class: 'button plain', href: apiUrl(path, params) }, label);
}

/** Run `work(signal)`; past a second, show the time it has taken and a button that cancels it. */
async function running(into, label, work) {
  if (state.running) state.running.abort();
  const controller = new AbortController();
  state.running = controller;
  const started = Date.now();
  const line = h('div', { class: 'running', dataset: { running: '1' } });
  const timer = setInterval(() => {
    line.replaceChildren(`${label}: ${Math.round((Date.now() - started) / 1000)} s`,
      h('button', { class: 'plain', type: 'button', onclick: () => controller.abort() }, 'Cancel'));
    if (!line.isConnected) into.append(line);
  }, 1000);
  try {
    return await work(controller.signal);
  } finally {
    clearInterval(timer);
    line.remove();
    if (state.running === controller) state.running = null;
  }
}

function showError(into, e) {
  const text = e.name === 'AbortError' ? 'Cancelled.' : e.message;
  into.append(h('p', { class: 'error', role: 'alert' }, text));
}

function messageList(messages) {
  return h('div', {}, messages.map((m) => h('div', { class: 'message', dataset: { key: m.key } },
    h('div', { class: 'meta' },
      h('span', {}, m.ts),
      h('a', { href: '#messages?' + query({ select: `channel=${m.channel_id}` }) }, `${m.platform}: ${m.channel_name}`),
      m.author_id ? h('a', { href: '#messages?' + query({ select: `author=${m.platform}:${m.author_id}` }) }, m.author_id) : null,
      m.cascade ? h('a', { href: `#cascade/${m.cascade}` }, `cascade ${m.cascade}`) : null,
      m.cluster ? h('a', { href: `#cluster/${m.cluster}?` + query({ account: m.account }) }, `cluster ${m.cluster}`) : null,
      h('span', { class: 'key' }, m.key)),
    h('div', { class: 'text' }, m.text))));
}

// ---- charts --------------------------------------------------------------------------------------------------

/** Lines over periods; dragging across the chart selects a range (`onbrush(first, last)`). */
function lineChart(periods, series, { height = 220, onbrush, marks } = {}) {
  const width = 1000, left = 50, bottom = 24, top = 10;
  const max = Math.max(1, ...series.flatMap((x) => x.values));
  const x = (i) => left + (periods.length <= 1 ? 0 : (i * (width - left - 10)) / (periods.length - 1));
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'chart' });
  for (const t of [0, 0.5, 1]) {
    svg.append(s('line', { x1: left, x2: width - 10, y1: y(max * t), y2: y(max * t), stroke: '#e6e9ed' }),
      s('text', { x: left - 6, y: y(max * t) + 4, 'text-anchor': 'end' }, fmt(Math.round(max * t))));
  }
  const step = Math.max(1, Math.ceil(periods.length / 8));
  periods.forEach((p, i) => { if (i % step === 0) svg.append(s('text', { x: x(i), y: height - 6, 'text-anchor': 'middle' }, p)); });
  series.forEach((one, k) => {
    const points = one.values.map((v, i) => `${x(i)},${y(v)}`).join(' ');
    svg.append(s('polyline', { points, fill: 'none', stroke: one.color || COLORS[k % COLORS.length], 'stroke-width': 1.6 },
      s('title', {}, one.name)));
    for (const i of (marks && one.bursts) || []) {
      svg.append(s('circle', { cx: x(i), cy: y(one.values[i]), r: 4, fill: 'none', stroke: COLORS[k % COLORS.length] },
        s('title', {}, `${one.name}: burst on ${periods[i]} (${one.values[i]} messages)`)));
    }
  });
  if (onbrush && periods.length > 1) {
    const shade = s('rect', { y: top, height: height - top - bottom, fill: '#2060a022', width: 0 });
    svg.append(shade);
    const index = (ev) => {
      const r = svg.getBoundingClientRect();
      const px = ((ev.clientX - r.left) / r.width) * width;
      return Math.max(0, Math.min(periods.length - 1, Math.round(((px - left) / (width - left - 10)) * (periods.length - 1))));
    };
    let from = null;
    svg.addEventListener('mousedown', (ev) => { from = index(ev); ev.preventDefault(); });
    svg.addEventListener('mousemove', (ev) => {
      if (from === null) return;
      const to = index(ev);
      shade.setAttribute('x', x(Math.min(from, to)));
      shade.setAttribute('width', Math.abs(x(to) - x(from)));
    });
    svg.addEventListener('mouseup', (ev) => {
      if (from === null) return;
      const to = index(ev);
      const [a, b] = [Math.min(from, to), Math.max(from, to)];
      from = null;
      onbrush(periods[a], periods[b]);
    });
  }
  return h('div', { class: 'chart' }, svg,
    h('div', { class: 'legend' }, series.map((one, k) => h('span', {},
      h('i', { class: `c${k}`, style: null, dataset: { color: one.color || COLORS[k % COLORS.length] } }), one.name))));
}

/** Colour the legend marks (a style attribute would need 'unsafe-inline'; the CSSOM does not). */
function paintLegends(root) {
  for (const i of root.querySelectorAll('.legend i[data-color]')) i.style.background = i.dataset.color;
}

/** A network drawn with a force layout (a few hundred steps, in the page): nodes are accounts. */
function networkChart(nodes, edges, highlight) {
  const width = 700, height = 460;
  const index = new Map(nodes.map((n, i) => [n, i]));
  const pos = nodes.map((_, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, nodes.length);
    return { x: width / 2 + 180 * Math.cos(a), y: height / 2 + 180 * Math.sin(a), dx: 0, dy: 0 };
  });
  const links = edges.map((e) => [index.get(e.account_a), index.get(e.account_b), Number(e.weight) || 1])
    .filter(([a, b]) => a !== undefined && b !== undefined);
  const k = Math.sqrt((width * height) / Math.max(1, nodes.length)) * 0.6;
  for (let step = 0; step < 250; step++) {
    const t = 20 * (1 - step / 250) + 0.5;
    for (const p of pos) { p.dx = 0; p.dy = 0; }
    for (let i = 0; i < pos.length; i++) {
      for (let j = i + 1; j < pos.length; j++) {
        const dx = pos[i].x - pos[j].x, dy = pos[i].y - pos[j].y;
        const d = Math.max(0.01, Math.hypot(dx, dy)), f = (k * k) / d;
        pos[i].dx += (dx / d) * f; pos[i].dy += (dy / d) * f;
        pos[j].dx -= (dx / d) * f; pos[j].dy -= (dy / d) * f;
      }
    }
    for (const [a, b] of links) {
      const dx = pos[a].x - pos[b].x, dy = pos[a].y - pos[b].y;
      const d = Math.max(0.01, Math.hypot(dx, dy)), f = (d * d) / k;
      pos[a].dx -= (dx / d) * f; pos[a].dy -= (dy / d) * f;
      pos[b].dx += (dx / d) * f; pos[b].dy += (dy / d) * f;
    }
    // Gravity: accounts without a drawn edge stay near the others instead of drifting to the corners.
    for (const p of pos) {
      p.dx -= ((p.x - width / 2) * Math.hypot(p.x - width / 2, p.y - height / 2)) / (k * 3);
      p.dy -= ((p.y - height / 2) * Math.hypot(p.x - width / 2, p.y - height / 2)) / (k * 3);
    }
    for (const p of pos) {
      const d = Math.max(0.01, Math.hypot(p.dx, p.dy));
      p.x = Math.min(width - 15, Math.max(15, p.x + (p.dx / d) * Math.min(d, t)));
      p.y = Math.min(height - 15, Math.max(15, p.y + (p.dy / d) * Math.min(d, t)));
    }
  }
  const max = Math.max(1, ...links.map((l) => l[2]));
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'cluster network' });
  for (const [a, b, w] of links) {
    svg.append(s('line', { x1: pos[a].x, y1: pos[a].y, x2: pos[b].x, y2: pos[b].y, stroke: '#8aa4c0',
      'stroke-width': 0.5 + (2.5 * w) / max, 'stroke-opacity': 0.6 }));
  }
  nodes.forEach((n, i) => {
    svg.append(s('circle', { cx: pos[i].x, cy: pos[i].y, r: n === highlight ? 8 : 5,
      fill: n === highlight ? '#c05020' : '#2060a0' }, s('title', {}, n)));
  });
  return h('div', { class: 'chart' }, svg);
}

// ---- word difference -------------------------------------------------------------------------------------------

/** `text` against `parent`, word by word: what the copy added in <ins>, what it dropped in <del>. */
function difference(parent, text) {
  const a = (parent || '').split(/(\s+)/), b = (text || '').split(/(\s+)/);
  if (a.length * b.length > 4e6) return [h('span', {}, text)];
  const n = a.length, m = b.length;
  const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  }
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push(b[j]); i++; j++; }
    else if (j < m && (i === n || dp[i][j + 1] >= dp[i + 1][j])) { out.push(h('ins', {}, b[j])); j++; }
    else { out.push(h('del', {}, a[i])); i++; }
  }
  return out;
}

// ---- views ---------------------------------------------------------------------------------------------------

const views = {
  async corpus(main) {
    const stats = await api('/api/stats');
    main.append(h('h1', {}, 'Corpus'),
      h('div', { class: 'cards' },
        [['messages', stats.messages], ['channels', stats.channels], ['authors', stats.authors],
          ['quarantined', stats.quarantined]].map(([k, v]) => h('div', { class: 'card' }, h('b', {}, fmt(v)), k)),
        h('div', { class: 'card' }, h('b', {}, `${(stats.first || '').slice(0, 10)} – ${(stats.last || '').slice(0, 10)}`), 'time range')),
      h('p', { class: 'muted' }, 'Platforms: ',
        Object.entries(stats.platforms).map(([p, n]) => `${p} ${fmt(n)}`).join(' · '),
        stats.pseudonymised ? ' · accounts pseudonymised' : ' · accounts shown as they are (--reveal)'));
    const volume = h('div', {});
    main.append(h('h2', {}, 'Messages per day, the busiest channels'), volume);
    const v = await running(volume, 'counting', (signal) => api('/api/volume', { select: brushSelectors() }, signal));
    const series = v.series.map((x) => ({ name: `${x.name} (${x.group})`, values: x.messages, bursts: x.bursts }));
    if (v.rest.channels > 0) series.push({ name: `${v.rest.channels} other channels`, values: v.rest.messages, color: '#b0b0b0' });
    volume.append(lineChart(v.periods, series, {
      marks: true,
      onbrush: (since, until) => setBrush(since, until),
    }), h('p', { class: 'muted' }, 'Circles mark bursts: ', v.burst_method, '. Drag across the chart to select a time range for the other views.'));
    paintLegends(volume);
    const q = await api('/api/quarantine');
    main.append(h('h2', {}, 'Quarantine'),
      q.reasons.length ? table(['format', 'reason', 'records'], q.reasons) : h('p', { class: 'muted' }, 'No record was quarantined.'),
      q.raw_shown ? null : h('p', { class: 'muted' }, 'Raw records are withheld from the pages unless served with --reveal.'));
  },

  async messages(main, params) {
    const form = h('form', { class: 'bar' },
      h('label', {}, 'Words, "a phrase", prefix*', h('input', { type: 'text', name: 'q', value: params.get('q') || '' })),
      h('label', {}, 'Selectors (channel=, author=, platform=, since=, until=, where=)',
        h('input', { type: 'text', name: 'select', value: params.getAll('select').join(' ') })),
      h('button', { type: 'submit' }, 'Search'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      location.hash = 'messages?' + query({ q: form.q.value, select: selectors(form.select.value) });
    });
    main.append(h('h1', {}, 'Messages'), form);
    const q = params.get('q') || '';
    const select = [...params.getAll('select'), ...brushSelectors()];
    if (!q && !select.length) {
      main.append(h('p', { class: 'muted' }, 'Search the normalised text: Persian and Arabic letters match either way.'));
      return;
    }
    const page = Number(params.get('page') || 1);
    const out = h('div', {});
    main.append(out);
    const r = await running(out, 'searching', (signal) => api('/api/search', { q, select, page }, signal));
    const pages = Math.max(1, Math.ceil(r.total / r.per_page));
    const nav = (p, label) => h('a', { class: 'button plain', href: '#messages?' + query({ q, select: params.getAll('select'), page: p }) }, label);
    out.append(h('p', { id: 'search-total' }, `${fmt(r.total)} messages`, r.selection ? ` in ${r.selection}` : '', ` · page ${page} of ${fmt(pages)}`),
      h('div', { class: 'downloads' }, page > 1 ? nav(page - 1, 'Previous') : null, page < pages ? nav(page + 1, 'Next') : null,
        csvLink('messages.csv', ['key', 'ts', 'platform', 'channel_name', 'author_id', 'text'], r.messages)),
      messageList(r.messages));
  },

  async clusters(main) {
    const r = await api('/api/clusters');
    const rows = r.cluster_summary;
    const columns = ['cluster', 'size', 'edges', 'density', 'kinds', 'first_seen', 'last_seen', 'platforms', 'median_specificity'];
    main.append(h('h1', {}, 'Coordination clusters'),
      h('div', { class: 'downloads' }, csvLink('clusters.csv', Object.keys(rows[0] || {}), rows),
        download('STIX 2.1 bundle', '/api/stix')),
      rows.length ? table(columns, rows, (c, row) => (c === 'cluster' ? h('a', { href: `#cluster/${row.cluster}` }, row.cluster) : row[c]))
        : h('p', { class: 'muted' }, 'No cluster was found.'));
  },

  async cluster(main, params, id) {
    const highlight = params.get('account');
    const r = await api(`/api/clusters/${encodeURIComponent(id)}`, { account: highlight });
    const c = r.cluster;
    main.append(h('h1', {}, `Coordination cluster ${c.cluster}`),
      h('p', {}, `${c.size} accounts, ${c.edges} edges (${c.kinds}), density ${fmt(Number(c.density))}, ${c.first_seen} – ${c.last_seen}.`),
      h('div', { class: 'downloads' }, download('GEXF', `/api/clusters/${encodeURIComponent(c.cluster)}/gexf`),
        csvLink(`cluster-${c.cluster}-edges.csv`, Object.keys(r.edges[0] || {}).filter((k) => k !== 'evidence_pairs'), r.edges)),
      networkChart((r.accounts || []).map((a) => a.account), r.edges, highlight));
    const evidence = h('div', { id: 'evidence' });
    const shownEdges = r.edges;
    main.append(evidence,
      h('h2', {}, `Edges (${shownEdges.length} shown of ${r.total_edges}${highlight ? `, those of ${highlight}` : ''}), strongest first`),
      table(['account_a', 'account_b', 'kind', 'weight', 'first_seen', 'last_seen', 'evidence'], shownEdges.slice(0, 100), (col, e) => {
        if (col !== 'evidence') return e[col];
        return h('button', { class: 'plain', type: 'button', dataset: { edge: `${e.account_a} ${e.account_b} ${e.kind}` },
          onclick: () => showEvidence(evidence, e) }, `${e.evidence_pairs.length} pairs`);
      }),
      h('h2', {}, 'Accounts'), table(['account', 'first_on', 'second_on'], r.accounts || []),
      h('h2', {}, 'Window sweep (the whole corpus)'), table(Object.keys(r.sweep[0] || {}), r.sweep));
  },

  async cascades(main) {
    const r = await api('/api/cascades');
    const rows = r.cascade_summary;
    main.append(h('h1', {}, 'Reuse cascades'),
      h('div', { class: 'downloads' }, csvLink('cascades.csv', Object.keys(rows[0] || {}), rows)),
      rows.length ? table(['cascade', 'size', 'channels', 'platforms', 'origin_channel_name', 'start', 'half_channels_s', 'excerpt'], rows.slice(0, 500),
        (c, row) => (c === 'cascade' ? h('a', { href: `#cascade/${row.cascade}` }, row.cascade) : row[c]))
        : h('p', { class: 'muted' }, 'No cascade was found.'));
  },

  async cascade(main, params, id) {
    const r = await api(`/api/cascades/${encodeURIComponent(id)}`);
    const c = r.cascade;
    main.append(h('h1', {}, `Cascade ${c.cascade}`),
      h('p', {}, `${c.size} messages in ${c.channels} channels (${c.platforms}), from ${c.start}; half the channels within ${fmt(Number(c.half_channels_s))} s.`),
      h('div', { class: 'downloads' }, csvLink(`cascade-${c.cascade}.csv`, ['key', 'channel_name', 'ts', 'role', 'parent_key', 'similarity', 'text'], r.members)));
    // Spread: each channel's messages over time.
    const channels = [...new Set(r.members.map((m) => m.channel_name))];
    const times = r.members.map((m) => Date.parse(m.ts));
    const [t0, t1] = [Math.min(...times), Math.max(...times)];
    const width = 1000, row = 16, height = 30 + channels.length * row;
    const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'spread over channels and time' });
    channels.forEach((ch, i) => svg.append(s('text', { x: 4, y: 20 + i * row }, ch.length > 28 ? ch.slice(0, 27) + '…' : ch)));
    r.members.forEach((m, k) => {
      const x = 200 + ((times[k] - t0) / Math.max(1, t1 - t0)) * (width - 220);
      svg.append(s('circle', { cx: x, cy: 16 + channels.indexOf(m.channel_name) * row, r: 4,
        fill: m.role === 'origin' ? '#c05020' : '#2060a0' }, s('title', {}, `${m.channel_name} ${m.ts} ${m.role}`)));
    });
    main.append(h('h2', {}, 'Spread over channels and time'), h('div', { class: 'chart' }, svg));
    // The tree of parents, each copy against its parent.
    const byKey = new Map(r.members.map((m) => [m.key, m]));
    const children = new Map();
    for (const m of r.members) {
      const p = m.parent_key && byKey.has(m.parent_key) ? m.parent_key : null;
      if (!children.has(p)) children.set(p, []);
      children.get(p).push(m);
    }
    const node = (m, depth) => h('li', {},
      h('div', { class: 'message', dataset: { key: m.key } },
        h('div', { class: 'meta' }, h('span', {}, m.ts), h('span', {}, m.channel_name), h('span', {}, m.role),
          m.similarity ? h('span', {}, `similarity ${m.similarity}`) : null, h('span', { class: 'key' }, m.key)),
        h('div', { class: 'text' }, m.text === null ? h('span', { class: 'muted' }, '(text not loaded)')
          : (m.parent_key && byKey.get(m.parent_key) ? difference(byKey.get(m.parent_key).text, m.text) : m.text))),
      depth < 50 && children.get(m.key) ? h('ul', { class: 'tree' }, children.get(m.key).map((x) => node(x, depth + 1))) : null);
    main.append(h('h2', {}, 'Copies, each against its parent (added words marked, dropped words struck)'),
      h('ul', { class: 'tree', id: 'cascade-tree' }, (children.get(null) || []).map((m) => node(m, 0))));
  },

  async vocabulary(main, params) {
    const form = h('form', { class: 'bar' },
      h('label', {}, 'Target (selectors)', h('input', { type: 'text', name: 'target', value: params.getAll('target').join(' ') })),
      h('label', {}, 'Reference (empty: the rest of the corpus)', h('input', { type: 'text', name: 'reference', value: params.getAll('reference').join(' ') })),
      h('button', { type: 'submit' }, 'Compare'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      location.hash = 'vocabulary?' + query({ target: selectors(form.target.value), reference: selectors(form.reference.value) });
    });
    const termForm = h('form', { class: 'bar' },
      h('label', {}, 'A term’s uses and adoption', h('input', { type: 'text', name: 'term', value: params.get('term') || '' })),
      h('button', { type: 'submit' }, 'Follow'));
    termForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      location.hash = 'vocabulary?' + query({ term: termForm.term.value });
    });
    main.append(h('h1', {}, 'Vocabulary'), form, termForm);
    const out = h('div', {});
    main.append(out);
    const target = params.getAll('target');
    if (target.length) {
      const reference = params.getAll('reference');
      const k = await running(out, 'keyness', (signal) => api('/api/keyness', {
        target: [...target, ...brushSelectors()], reference: reference.length ? [...reference, ...brushSelectors()] : [] }, signal));
      out.append(h('h2', {}, `Terms of ${k.target} against ${k.reference}`),
        h('p', { class: 'muted' }, `${fmt(k.messages_target)} against ${fmt(k.messages_reference)} messages; z ≥ ${k.params.min_z ?? ''}.`),
        h('div', { class: 'downloads' }, csvLink('keyness.csv', ['term', 'z', 'count_target', 'count_reference'], k.terms)),
        table(['term', 'z', 'count_target', 'count_reference'], k.terms,
          (c, t) => (c === 'term' ? h('a', { href: '#vocabulary?' + query({ term: t.term }) }, t.term) : t[c])));
    }
    const term = params.get('term');
    if (term) {
      const d = await running(out, 'following the term', (signal) => api('/api/term', { term, select: brushSelectors() }, signal));
      out.append(h('h2', {}, `“${d.term}”: ${fmt(d.summary ? d.summary.uses : 0)} messages in ${fmt(d.summary ? d.summary.channels : 0)} of ${fmt(d.channels)} channels`),
        h('p', {}, h('a', { href: '#messages?' + query({ q: `"${d.term}"` }) }, 'Its messages')),
        d.curve.length ? lineChart(d.curve.map((p) => p.day), [
          { name: 'messages using it per day', values: d.curve.map((p) => p.uses) },
          { name: 'channels that had used it', values: d.curve.map((p) => p.channels) }]) : h('p', { class: 'muted' }, 'No message uses it.'),
        h('h2', {}, d.adopted > d.adopters.length ? `Channels, by first use (the first ${d.adopters.length} of ${fmt(d.adopted)})` : 'Channels, by first use'),
        table(['channel_name', 'platform', 'first_use', 'uses', 'messages', 'first_key'], d.adopters,
          (c, a) => (c === 'channel_name' ? h('a', { href: '#messages?' + query({ q: `"${d.term}"`, select: `channel=${a.channel_id}` }) }, a.channel_name) : a[c])));
      paintLegends(out);
    }
  },

  async sql(main, params) {
    const q = params.get('q') || 'SELECT platform, count(*) AS messages FROM messages GROUP BY platform ORDER BY messages DESC';
    const form = h('form', {}, h('textarea', { name: 'q', spellcheck: 'false', 'aria-label': 'SQL' }, q),
      h('p', {}, h('button', { type: 'submit' }, 'Run'), ' ', h('span', { class: 'muted' }, 'Queries only; accounts are shown as everywhere else.')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      location.hash = 'sql?' + query({ q: form.q.value, run: 1 });
    });
    main.append(h('h1', {}, 'SQL'), form);
    const out = h('div', { id: 'sql-result' });
    main.append(out);
    if (params.get('run')) {
      const r = await running(out, 'running the query', (signal) => api('/api/sql', { q }, signal));
      out.append(h('p', {}, `${r.rows.length} rows${r.truncated ? ` (the first ${r.limit})` : ''}`),
        h('div', { class: 'downloads' }, download('CSV (up to 100,000 rows)', '/api/sql', { q, format: 'csv' })),
        table(r.columns, r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])))));
    }
    const t = await api('/api/tables');
    main.append(h('h2', {}, 'Tables'), table(['name', 'columns'], t.tables.map((x) => ({ name: x.name, columns: x.columns.join(', ') }))));
  },
};

async function showEvidence(into, edge) {
  into.replaceChildren(h('h2', {}, `Evidence: ${edge.account_a} and ${edge.account_b} (${edge.kind})`));
  const keys = edge.evidence_pairs.flat();
  try {
    const r = await api('/api/messages', { key: keys });
    const byKey = new Map(r.messages.map((m) => [m.key, m]));
    const cell = (k) => {
      const m = byKey.get(k);
      return h('div', {}, m ? [h('div', { class: 'meta muted' }, `${m.ts} · ${m.channel_name} · ${m.key}`), m.text]
        : h('span', { class: 'muted' }, `${k} (not in the store)`));
    };
    for (const [a, b] of edge.evidence_pairs) {
      const lag = byKey.get(a) && byKey.get(b) ? Math.abs(Date.parse(byKey.get(b).ts) - Date.parse(byKey.get(a).ts)) / 1000 : null;
      into.append(h('div', { class: 'pair', dataset: { pair: `${a} ${b}` } }, cell(a), cell(b)),
        lag === null ? null : h('p', { class: 'muted' }, `${fmt(lag)} s apart`));
    }
  } catch (e) {
    showError(into, e);
  }
  into.scrollIntoView({ block: 'nearest' });
  document.body.dataset.evidence = String(edge.evidence_pairs.length);
}

function setBrush(since, until) {
  state.brush = since && until ? { since, until } : null;
  renderBrush();
}

function renderBrush() {
  const el = document.getElementById('brush');
  if (!state.brush) { el.hidden = true; el.replaceChildren(); return; }
  el.hidden = false;
  el.replaceChildren(`Selected: ${state.brush.since} – ${state.brush.until} `,
    h('button', { class: 'plain', type: 'button', onclick: () => { setBrush(null); route(); } }, 'Clear'));
}

let generation = 0;

async function route() {
  const [path, q] = (location.hash.slice(1) || 'corpus').split('?');
  const [view, id] = path.split('/');
  const params = new URLSearchParams(q || '');
  const main = document.getElementById('main');
  const mine = ++generation;
  main.replaceChildren();
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    a.classList.toggle('active', target === view || (target === 'clusters' && view === 'cluster') || (target === 'cascades' && view === 'cascade'));
  }
  document.body.dataset.view = view;
  document.body.dataset.state = 'loading';
  delete document.body.dataset.evidence;
  const render = views[view];
  try {
    if (!render) throw new Error(`no page ${view}`);
    await render(main, params, id && decodeURIComponent(id));
    if (mine === generation) document.body.dataset.state = 'ready';
  } catch (e) {
    if (mine !== generation) return;
    showError(main, e);
    document.body.dataset.state = 'error';
  }
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('footer').append('echolens serve · pseudonyms as in every output · ',
    h('a', { href: '#sql' }, 'SQL console'));
  route();
});
