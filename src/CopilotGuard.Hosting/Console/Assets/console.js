// CopilotGuard compliance console. Vanilla JS, same origin only; every data call carries the bearer token the user
// gave (kept in sessionStorage, never logged). The server pages every list and aggregates every chart.
'use strict';

(() => {
  const TOKEN_KEY = 'copilotguard.console.token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#0b5cad', '#8e24aa', '#00897b', '#f4511e', '#6d4c41', '#c0ca33', '#3949ab', '#d81b60', '#546e7a', '#fb8c00'];
  const $ = (id) => document.getElementById(id);
  const state = { labels: null, sources: [] };

  // ---------- DOM helpers (text only: record values never become markup) ----------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key === 'bg') node.style.background = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const fill = (target, ...children) => { const node = typeof target === 'string' ? $(target) : target; node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined)); return node; };
  const fmtTime = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
  const short = (text, n) => (text && text.length > n ? text.slice(0, n - 1) + '…' : text || '');
  const code = (text) => el('code', { text: text ?? '' });
  const table = (headers, rows, caption) => rows.length
    ? el('table', {}, caption ? el('caption', { class: 'visually-hidden', text: caption }) : null,
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c))))))
    : el('p', { class: 'empty', text: 'Nothing to show.' });

  // ---------- messages ----------
  function showMessage(text, kind) {
    const box = $('message');
    box.textContent = text;
    box.className = 'message' + (kind === 'info' ? ' info' : '');
    box.hidden = !text;
  }

  // ---------- token ----------
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  function showWho() {
    const value = token();
    let who = 'no token';
    if (value) {
      try {
        const payload = JSON.parse(atob(value.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
        who = 'token for ' + (payload.sub || 'unknown') + (payload.act && payload.act.sub ? ' via ' + payload.act.sub : '');
      } catch {
        who = 'token set';
      }
    }
    $('who').textContent = who;
  }

  // ---------- API ----------
  class ApiError extends Error {
    constructor(status, title, detail) { super(detail || title || ('HTTP ' + status)); this.status = status; this.title = title; }
  }

  async function api(path, options) {
    if (!token()) throw new ApiError(401, 'Unauthorized', 'Paste a bearer token first (copilotguard token --user cora).');
    const response = await fetch(path, {
      method: (options && options.method) || 'GET',
      headers: { Authorization: 'Bearer ' + token(), Accept: 'application/json, text/csv' },
      credentials: 'omit',
      cache: 'no-store',
    });
    if (!response.ok) {
      let problem = {};
      try { problem = await response.json(); } catch { /* not a problem document */ }
      throw new ApiError(response.status, problem.title, problem.detail);
    }
    return options && options.raw ? response : response.json();
  }

  function fail(error) {
    if (error instanceof ApiError && error.status === 403) {
      showMessage('Access refused (403): ' + error.message);
    } else if (error instanceof ApiError && error.status === 401) {
      showMessage('Not signed in (401): ' + error.message);
    } else {
      showMessage((error && error.message) || String(error));
    }
  }

  async function run(action) {
    showMessage('');
    try { await action(); } catch (error) { fail(error); }
  }

  const qs = (params) => {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined && value !== '') search.set(key, value);
    const text = search.toString();
    return text ? '?' + text : '';
  };

  const localToIso = (value) => (value ? new Date(value).toISOString() : null);
  const isoToLocal = (date) => { const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000); return d.toISOString().slice(0, 16); };

  // ---------- labels ----------
  async function loadLabels() {
    if (state.labels) return state.labels;
    const result = await api('/v1/console/labels');
    state.labels = new Map(result.labels.map((l) => [l.name, l]));
    state.labelList = result.labels;
    state.sources = result.sources;
    return state.labels;
  }

  const labelColor = (name) => (state.labels && state.labels.get(name) && state.labels.get(name).color) || '#777';
  const chip = (name) => el('span', { class: 'label-chip', bg: labelColor(name), text: name });
  const sourceColor = (name) => (state.sources.includes(name) ? PALETTE[state.sources.indexOf(name) % PALETTE.length] : PALETTE[Math.abs([...(name || '')].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7)) % PALETTE.length]);

  // ---------- router ----------
  const VIEWS = ['trace', 'access', 'activity', 'integrity', 'labels'];
  const loaders = {};

  function route() {
    const view = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'trace';
    for (const name of VIEWS) {
      $('view-' + name).hidden = name !== view;
      const link = document.querySelector(`nav a[data-view="${name}"]`);
      if (name === view) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
    }
    document.title = document.querySelector(`nav a[data-view="${view}"]`).textContent + ' · CopilotGuard compliance console';
    if (loaders[view] && token()) run(loaders[view]);
    return view;
  }

  // ---------- pager ----------
  function pager(prefix, load) {
    const pages = { stack: [], current: null, next: null };
    const prev = $(prefix + '-prev');
    const next = $(prefix + '-next');
    const update = () => {
      prev.disabled = pages.stack.length === 0;
      next.disabled = !pages.next;
      $(prefix + '-page').textContent = 'Page ' + (pages.stack.length + 1);
    };
    prev.addEventListener('click', () => run(async () => { pages.current = pages.stack.pop() ?? null; pages.next = await load(pages.current); update(); }));
    next.addEventListener('click', () => run(async () => { pages.stack.push(pages.current); pages.current = pages.next; pages.next = await load(pages.current); update(); }));
    return {
      async first() { pages.stack = []; pages.current = null; pages.next = await load(null); update(); },
    };
  }

  // ---------- charts ----------
  function barChart(options) {
    // options: { title, categories: [label], series: [{ name, color, values: [] }], stacked }
    const width = Math.max(640, Math.min(1200, 90 + options.categories.length * 24));
    const height = 220;
    const left = 48, right = 12, top = 12, bottom = 44;
    const plotW = width - left - right, plotH = height - top - bottom;
    const n = Math.max(1, options.categories.length);
    const totals = options.categories.map((_, i) => options.stacked
      ? options.series.reduce((s, serie) => s + (serie.values[i] || 0), 0)
      : Math.max(0, ...options.series.map((serie) => serie.values[i] || 0)));
    const max = Math.max(1, ...totals);
    const slot = plotW / n;
    const barW = Math.max(2, Math.min(36, slot * 0.8));
    const chart = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': options.title });
    chart.append(svg('title', {}, options.title));
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotH - fraction * plotH;
      chart.append(svg('line', { x1: left, x2: width - right, y1: y, y2: y, stroke: '#d0d7de' }));
      chart.append(svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#57606a' }, String(Math.round(max * fraction))));
    }
    const every = Math.ceil(n / 12);
    options.categories.forEach((category, i) => {
      const x = left + i * slot + (slot - barW) / 2;
      let base = top + plotH;
      const perSeries = options.stacked ? barW : barW / Math.max(1, options.series.length);
      options.series.forEach((serie, s) => {
        const value = serie.values[i] || 0;
        if (!value) return;
        const h = (value / max) * plotH;
        const rx = options.stacked ? x : x + s * perSeries;
        const ry = options.stacked ? base - h : top + plotH - h;
        const rect = svg('rect', { x: rx.toFixed(1), y: ry.toFixed(1), width: Math.max(1, perSeries - (options.stacked ? 0 : 1)).toFixed(1), height: Math.max(1, h).toFixed(1), fill: serie.color });
        rect.append(svg('title', {}, `${category}: ${serie.name} ${value}`));
        chart.append(rect);
        if (options.stacked) base -= h;
      });
      if (i % every === 0) {
        chart.append(svg('text', { x: (left + i * slot + slot / 2).toFixed(1), y: height - bottom + 16, 'text-anchor': 'middle', 'font-size': 10, fill: '#57606a' }, category));
      }
    });
    const legend = el('div', { class: 'legend' }, options.series.map((serie) =>
      el('span', {}, el('span', { class: 'swatch', bg: serie.color }), `${serie.name} (${serie.values.reduce((a, b) => a + b, 0)})`)));
    const data = el('details', {}, el('summary', { text: 'Data table' }),
      table(['bucket', ...options.series.map((s) => s.name)], options.categories
        .map((c, i) => [c, ...options.series.map((s) => String(s.values[i] || 0))])
        .filter((row) => row.slice(1).some((v) => v !== '0'))));
    return el('figure', {}, el('figcaption', { text: options.title }), el('div', { class: 'graph' }, chart), legend, data);
  }

  // ---------- Answer trace ----------
  async function trace(id) {
    fill('trace-summary'); fill('trace-graph'); fill('trace-details');
    await loadLabels();
    const result = await api('/v1/console/trace/' + encodeURIComponent(id));
    const answer = result.answer;
    const documents = new Map(result.documents.map((d) => [d.documentId, d]));
    fill('trace-summary', el('div', { class: 'cards' },
      answer ? el('div', { class: 'card' }, el('h3', { text: 'Answer' }), el('dl', {},
        el('dt', { text: 'id' }), el('dd', { class: 'mono', text: answer.answerId }),
        el('dt', { text: 'time' }), el('dd', { text: fmtTime(answer.time) }),
        el('dt', { text: 'principal' }), el('dd', { text: answer.principal + (answer.agent ? ' via ' + answer.agent : '') }),
        el('dt', { text: 'model' }), el('dd', { text: answer.model || '(not declared)' }),
        el('dt', { text: 'SHA-256' }), el('dd', { class: 'mono', text: answer.answerSha256 }))) : null,
      el('div', { class: 'card' }, el('h3', { text: 'Totals' }), el('dl', {},
        el('dt', { text: 'receipts' }), el('dd', { text: String(result.receipts.length) }),
        el('dt', { text: 'chunks released' }), el('dd', { text: String(result.receipts.reduce((n, r) => n + r.chunks.length, 0)) }),
        el('dt', { text: 'post-filter drops' }), el('dd', { text: String(result.receipts.reduce((n, r) => n + r.postFilterDrops.length, 0)) }),
        el('dt', { text: 'documents' }), el('dd', { text: String(new Set(result.receipts.flatMap((r) => r.chunks.map((c) => c.documentId))).size) }),
        el('dt', { text: 'policy versions' }), el('dd', { text: [...new Set(result.receipts.map((r) => r.policyVersion))].join(', ') }),
        result.answersOfReceipt.length ? el('dt', { text: 'answers bound' }) : null,
        result.answersOfReceipt.length ? el('dd', {}, result.answersOfReceipt.map((a) => el('button', { type: 'button', class: 'linkish', onclick: () => { $('trace-id').value = a; run(() => trace(a)); }, text: a }))) : null))));
    fill('trace-graph', traceGraph(answer, result.receipts, documents));
    fill('trace-details', result.receipts.map((r) => receiptCard(r, documents)));
  }

  function traceGraph(answer, receipts, documents) {
    const columns = [];
    const edges = [];
    const nodes = new Map();
    const add = (col, key, text, color, dashed, tooltip) => {
      if (!nodes.has(key)) { nodes.set(key, { col, text, color, dashed, tooltip, index: (columns[col] = columns[col] || []).length }); columns[col].push(key); }
      return key;
    };
    const start = answer ? 1 : 0;
    if (answer) add(0, 'a:' + answer.answerId, 'answer ' + short(answer.answerId, 18), '#0d2a4a', false, answer.answerId);
    for (const r of receipts) {
      const rk = add(start, 'r:' + r.receiptId, short(r.receiptId, 22), '#37474f', false, `${r.receiptId}\n${r.principal}${r.agent ? ' via ' + r.agent : ''} · purpose ${r.purpose || '-'} · ${r.destination || '-'} · policy ${r.policyVersion}`);
      if (answer) edges.push(['a:' + answer.answerId, rk, false]);
      for (const c of r.chunks) {
        const ck = add(start + 1, 'c:' + c.id, short(c.id, 24), labelColor(c.label), false, `${c.id}\n${c.label}${c.cited === true ? ' · cited' : ''}`);
        edges.push([rk, ck, false]);
        const doc = documents.get(c.documentId);
        const dk = add(start + 2, 'd:' + c.documentId, short((doc && doc.title) || c.documentId, 24), labelColor(c.label), false, `${c.documentId}${doc ? '\n' + doc.title + ' · now ' + doc.labels.join(', ') : ''}`);
        edges.push([ck, dk, false]);
        const source = doc ? doc.source : '(deleted)';
        const sk = add(start + 3, 's:' + source, 'source ' + source, sourceColor(source), false, source);
        edges.push([dk, sk, false]);
      }
      for (const drop of r.postFilterDrops) {
        const xk = add(start + 1, 'x:' + drop, 'dropped ' + short(drop, 16), '#ffffff', true, `${drop}\ndropped by the post-filter${r.pushdownExact ? ' (pushdown miss)' : ''}`);
        edges.push([rk, xk, true]);
      }
    }
    const nodeW = 190, nodeH = 26, gapY = 8, gapX = 60, pad = 16;
    const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
    const width = pad * 2 + columns.length * nodeW + (columns.length - 1) * gapX;
    const height = pad * 2 + 18 + rows * (nodeH + gapY);
    const heads = answer ? ['Answer', 'Receipts', 'Chunks', 'Documents', 'Sources'] : ['Receipt', 'Chunks', 'Documents', 'Sources'];
    const chart = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Trace graph: ${receipts.length} receipt(s), ${nodes.size} nodes` });
    const pos = (key) => {
      const node = nodes.get(key);
      const count = columns[node.col].length;
      const offset = (rows - count) * (nodeH + gapY) / 2;
      return { x: pad + node.col * (nodeW + gapX), y: pad + 18 + offset + node.index * (nodeH + gapY) };
    };
    heads.forEach((h, i) => chart.append(svg('text', { x: pad + i * (nodeW + gapX), y: pad + 4, 'font-size': 12, 'font-weight': 600, fill: '#57606a' }, h)));
    for (const [from, to, dashed] of edges) {
      const a = pos(from), b = pos(to);
      const x1 = a.x + nodeW, y1 = a.y + nodeH / 2, x2 = b.x, y2 = b.y + nodeH / 2;
      chart.append(svg('path', { d: `M${x1},${y1} C${x1 + gapX / 2},${y1} ${x2 - gapX / 2},${y2} ${x2},${y2}`, fill: 'none', stroke: dashed ? '#b3261e' : '#8c959f', 'stroke-width': 1.3, 'stroke-dasharray': dashed ? '4 3' : null }));
    }
    for (const [key, node] of nodes) {
      const p = pos(key);
      const light = node.color === '#ffffff';
      const g = svg('g', {});
      g.append(svg('title', {}, node.tooltip));
      g.append(svg('rect', { x: p.x, y: p.y, width: nodeW, height: nodeH, rx: 5, fill: node.color, stroke: node.dashed ? '#b3261e' : 'rgba(0,0,0,.25)', 'stroke-dasharray': node.dashed ? '4 3' : null }));
      g.append(svg('text', { x: p.x + 8, y: p.y + 17, 'font-size': 11.5, fill: light ? '#b3261e' : '#ffffff' }, node.text));
      chart.append(g);
    }
    const used = [...new Set(receipts.flatMap((r) => r.chunks.map((c) => c.label)))];
    const legend = el('div', { class: 'legend' }, el('strong', { text: 'Labels:' }), used.map((name) => el('span', {}, el('span', { class: 'swatch', bg: labelColor(name) }), name)),
      receipts.some((r) => r.postFilterDrops.length) ? el('span', {}, el('span', { class: 'swatch', bg: '#fff' }), 'dashed red: dropped by the post-filter') : null);
    return el('div', {}, chart, el('div', { class: 'legend-wrap' }, legend));
  }

  function receiptCard(r, documents) {
    const fields = (c) => (c.fieldsWithheld ? el('span', { class: 'tags' }, Object.entries(c.fieldsWithheld).map(([k, v]) => el('span', { text: `${k}: ${v}` }))) : '—');
    const entities = (c) => (c.anonymizedEntities ? el('span', { class: 'tags' }, Object.entries(c.anonymizedEntities).map(([k, v]) => el('span', { text: `${k} × ${v}` }))) : '—');
    return el('article', { class: 'receipt', 'aria-label': 'Receipt ' + r.receiptId },
      el('h3', {}, 'Receipt ', code(r.receiptId), ` · ${r.kind} · #${r.sequence}`),
      el('div', { class: 'card' }, el('dl', {},
        el('dt', { text: 'time' }), el('dd', { text: fmtTime(r.time) }),
        el('dt', { text: 'principal' }), el('dd', { text: r.principal + (r.agent ? ' via agent ' + r.agent : '') }),
        el('dt', { text: 'purpose / destination' }), el('dd', { text: `${r.purpose || '(none)'} → ${r.destination || '(undeclared)'}` }),
        el('dt', { text: 'policy version' }), el('dd', { text: r.policyVersion }),
        el('dt', { text: 'decision' }), el('dd', { text: r.decision }),
        el('dt', { text: 'deciding rules' }), el('dd', { class: 'tags' }, r.decidingRules.length ? r.decidingRules.map((x) => el('span', { text: x })) : '—'),
        el('dt', { text: 'pushed filter' }), el('dd', {}, r.pushedFilter ? el('details', {}, el('summary', { text: `${r.pushedFilter.length} characters` }), code(r.pushedFilter)) : '—'),
        el('dt', { text: 'post-filter drops' }), el('dd', { class: r.postFilterDrops.length ? 'bad' : null, text: r.postFilterDrops.length ? r.postFilterDrops.join(', ') + (r.pushdownExact ? ' (pushdown miss: security event)' : '') : 'none' }))),
      table(['chunk', 'document', 'source', 'label', 'score', 'cited', 'fields withheld', 'entities anonymized', 'subjects'], r.chunks.map((c) => {
        const doc = documents.get(c.documentId);
        return [code(c.id), (doc && doc.title ? doc.title + ' ' : '') + `(${c.documentId} v${c.version})`, doc ? doc.source : '(deleted)', chip(c.label), c.score.toFixed(3),
          c.cited === null || c.cited === undefined ? '—' : c.cited ? 'yes' : 'no', fields(c), entities(c), c.subjects.join(', ') || '—'];
      }), 'Chunks of ' + r.receiptId));
  }

  // ---------- Access timeline ----------
  function accessFilter() {
    const kind = document.querySelector('input[name="access-kind"]:checked').value;
    return {
      [kind]: $('access-id').value.trim(),
      from: localToIso($('access-from').value),
      to: localToIso($('access-to').value),
      principal: $('access-principal').value.trim(),
      purpose: $('access-purpose').value.trim(),
    };
  }

  const accessPager = pager('access', async (cursor) => {
    const filter = accessFilter();
    const result = await api('/v1/console/accesses' + qs({ ...filter, limit: $('access-limit').value, cursor }));
    await loadLabels();
    fill('access-timeline', result.accesses.length ? timeline(result.accesses) : null);
    fill('access-result', table(['time', 'receipt', 'principal', 'agent', 'purpose', 'destination', 'policy', 'chunks'], result.accesses.map((a) => [
      fmtTime(a.time), el('button', { type: 'button', class: 'linkish', text: short(a.receiptId, 20), title: a.receiptId, onclick: () => { $('trace-id').value = a.receiptId; location.hash = '#trace'; run(() => trace(a.receiptId)); } }),
      a.principal, a.agent || '—', a.purpose || '—', a.destination || '—', a.policyVersion,
      el('span', {}, a.chunks.map((c) => el('span', { title: c.id }, chip(c.label), ' ', c.id, el('br')))),
    ]), 'Accesses'));
    return result.nextCursor;
  });

  function timeline(accesses) {
    const times = accesses.map((a) => new Date(a.time).getTime());
    const min = Math.min(...times), max = Math.max(...times);
    const span = Math.max(1, max - min);
    const principals = [...new Set(accesses.map((a) => a.principal + (a.agent ? ' via ' + a.agent : '')))];
    const width = 900, rowH = 26, left = 170, right = 20, top = 20;
    const height = top + principals.length * rowH + 30;
    const chart = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `Timeline of ${accesses.length} retrievals on this page` });
    principals.forEach((p, i) => {
      const y = top + i * rowH + rowH / 2;
      chart.append(svg('text', { x: left - 8, y: y + 4, 'text-anchor': 'end', 'font-size': 11 }, short(p, 26)));
      chart.append(svg('line', { x1: left, x2: width - right, y1: y, y2: y, stroke: '#e1e4e8' }));
    });
    accesses.forEach((a, i) => {
      const row = principals.indexOf(a.principal + (a.agent ? ' via ' + a.agent : ''));
      const x = left + ((times[i] - min) / span) * (width - left - right);
      const y = top + row * rowH + rowH / 2;
      const top1 = a.chunks.map((c) => c.label).sort((x1, y1) => ((state.labels.get(y1) || {}).rank || 0) - ((state.labels.get(x1) || {}).rank || 0))[0];
      const dot = svg('circle', { cx: x.toFixed(1), cy: y, r: 6, fill: labelColor(top1), stroke: '#fff', 'stroke-width': 1.5 });
      dot.append(svg('title', {}, `${fmtTime(a.time)} · ${a.principal} · ${a.purpose || 'no purpose'} · ${a.destination || '-'} · ${a.chunks.length} chunk(s)`));
      chart.append(dot);
    });
    chart.append(svg('text', { x: left, y: height - 8, 'font-size': 10, fill: '#57606a' }, fmtTime(new Date(min).toISOString())));
    chart.append(svg('text', { x: width - right, y: height - 8, 'font-size': 10, fill: '#57606a', 'text-anchor': 'end' }, fmtTime(new Date(max).toISOString())));
    return chart;
  }

  async function exportCsv() {
    const filter = accessFilter();
    if (!filter.document && !filter.subject) { showMessage('Enter a document or subject id first.'); return; }
    const response = await api('/v1/console/accesses.csv' + qs(filter), { raw: true });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = el('a', { href: url, download: `accesses-${(filter.document || filter.subject).replace(/[^A-Za-z0-9_-]/g, '_')}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    showMessage(`CSV exported (${blob.size} bytes).`, 'info');
  }

  // ---------- Activity ----------
  function activityRange() {
    const to = $('activity-to').value ? new Date($('activity-to').value) : new Date(Date.now() + 60000);
    const from = $('activity-from').value ? new Date($('activity-from').value) : new Date(to.getTime() - 24 * 3600 * 1000);
    let bucket = $('activity-bucket').value;
    if (bucket === 'auto') {
      const hours = (to - from) / 3600000;
      bucket = hours <= 3 ? 'minute' : hours <= 24 * 14 ? 'hour' : 'day';
    }
    return { from: from.toISOString(), to: to.toISOString(), bucket };
  }

  async function activity() {
    await loadLabels();
    const range = activityRange();
    const result = await api('/v1/console/activity' + qs(range));
    // Show the buckets from the first with any record, so a sparse day is not a wall of empty bars.
    let buckets = result.buckets;
    const firstUsed = buckets.findIndex((b) => b.retrievals || b.auditQueries || b.denials || b.anomalies || b.suspensions || b.labelChanges || b.resumptions);
    if (firstUsed > 0 && range.bucket !== 'day') buckets = buckets.slice(Math.max(0, firstUsed - 2));
    const lastUsed = buckets.length - 1 - [...buckets].reverse().findIndex((b) => b.retrievals || b.auditQueries || b.denials || b.anomalies || b.suspensions || b.labelChanges || b.resumptions);
    if (lastUsed >= 0 && lastUsed < buckets.length - 3) buckets = buckets.slice(0, lastUsed + 3);
    const categories = buckets.map((b) => {
      const iso = new Date(b.start).toISOString();
      return range.bucket === 'day' ? iso.slice(0, 10) : range.bucket === 'hour' ? iso.slice(5, 13).replace('T', ' ') + 'h' : iso.slice(11, 16);
    });
    const sum = (key) => buckets.reduce((n, b) => n + b[key], 0);
    const card = (title, value, bad) => el('div', { class: 'card' }, el('div', { text: title }), el('div', { class: 'big' + (bad && value ? ' bad' : ''), text: String(value) }));
    fill('activity-totals',
      card('Retrievals', sum('retrievals')), card('Denials', sum('denials'), true), card('Post-filter drops', sum('postFilterDrops'), true),
      card('Pushdown misses', sum('pushdownMisses'), true), card('Anomaly alerts', sum('anomalies'), true), card('Suspensions', sum('suspensions'), true),
      card('Label changes', sum('labelChanges')), card('Audit queries', sum('auditQueries')));
    const sources = [...new Set(buckets.flatMap((b) => Object.keys(b.sources)))].sort();
    const labels = (state.labelList || []).map((l) => l.name).filter((name) => buckets.some((b) => b.labels[name]));
    const extra = [...new Set(buckets.flatMap((b) => Object.keys(b.labels)))].filter((n) => !labels.includes(n));
    fill('activity-charts',
      barChart({ title: `Chunks released per source (per ${range.bucket}, UTC)`, categories, stacked: true, series: sources.map((s) => ({ name: s, color: sourceColor(s), values: buckets.map((b) => b.sources[s] || 0) })) }),
      barChart({ title: `Chunks released per sensitivity label (per ${range.bucket}, UTC)`, categories, stacked: true, series: [...labels, ...extra].map((l) => ({ name: l, color: labelColor(l), values: buckets.map((b) => b.labels[l] || 0) })) }),
      barChart({ title: 'Retrievals, denials and post-filter drops', categories, stacked: false, series: [
        { name: 'retrievals', color: '#0b5cad', values: buckets.map((b) => b.retrievals) },
        { name: 'denials', color: '#b3261e', values: buckets.map((b) => b.denials) },
        { name: 'post-filter drops', color: '#f4511e', values: buckets.map((b) => b.postFilterDrops) }] }),
      barChart({ title: 'Anomaly alerts, suspensions, resumptions and label changes', categories, stacked: false, series: [
        { name: 'anomaly alerts', color: '#8e24aa', values: buckets.map((b) => b.anomalies) },
        { name: 'suspensions', color: '#b3261e', values: buckets.map((b) => b.suspensions) },
        { name: 'resumptions', color: '#1a7f37', values: buckets.map((b) => b.resumptions) },
        { name: 'label changes', color: '#fb8c00', values: buckets.map((b) => b.labelChanges) }] }),
      el('details', {}, el('summary', { text: 'Records by kind in the range' }), table(['kind', 'records'], Object.entries(result.kinds).map(([k, v]) => [k, String(v)]))));
    await eventsPager.first();
  }

  const eventsPager = pager('events', async (cursor) => {
    const range = activityRange();
    const result = await api('/v1/console/events' + qs({ from: range.from, to: range.to, limit: 20, cursor }));
    fill('events-result', table(['time', 'kind', 'principal', 'decision', 'target', 'record'], result.events.map((e) => [
      fmtTime(e.time), e.kind, e.principal + (e.agent ? ' via ' + e.agent : ''), e.decision, e.target || '—', code(e.receiptId)]), 'Events'));
    return result.nextCursor;
  });

  // ---------- Integrity ----------
  function verificationCard(v) {
    if (!v) return el('div', { class: 'card' }, el('h3', { text: 'Last verification' }), el('p', { class: 'empty', text: 'Not verified from the console since this server started. Press Verify now.' }));
    const r = v.result;
    return el('div', { class: 'card', id: 'last-verification' }, el('h3', { text: 'Last verification' }),
      el('p', { class: r.ok ? 'ok' : 'bad', text: r.ok ? '✔ Log intact' : '✘ Log damaged' }),
      el('dl', {},
        el('dt', { text: 'verified at' }), el('dd', { text: fmtTime(v.time) }),
        el('dt', { text: 'by' }), el('dd', { text: v.by }),
        el('dt', { text: 'records' }), el('dd', { text: String(r.records) }),
        el('dt', { text: 'checkpoints' }), el('dd', { text: String(r.checkpoints) }),
        el('dt', { text: 'unanchored' }), el('dd', { text: String(r.unanchored) }),
        el('dt', { text: 'head' }), el('dd', { class: 'mono', text: r.head }),
        el('dt', { text: 'Merkle root' }), el('dd', { class: 'mono', text: r.merkleRoot || '—' }),
        r.problem ? el('dt', { text: 'problem' }) : null, r.problem ? el('dd', { class: 'bad', text: `${r.problem}${r.firstBadSequence ? ' (entry ' + r.firstBadSequence + ')' : ''}${r.firstBadCheckpoint ? ' (checkpoint ' + r.firstBadCheckpoint + ')' : ''}` }) : null));
  }

  async function integrity() {
    const result = await api('/v1/console/integrity');
    const c = result.latestCheckpoint;
    fill('integrity-result',
      verificationCard(result.lastVerification),
      el('div', { class: 'card' }, el('h3', { text: 'Log' }), el('dl', {},
        el('dt', { text: 'records' }), el('dd', { text: String(result.records) }),
        el('dt', { text: 'head' }), el('dd', { class: 'mono', text: result.head || '—' }),
        el('dt', { text: 'checkpoints' }), el('dd', { text: String(result.checkpoints) }))),
      el('div', { class: 'card' }, el('h3', { text: 'Latest signed checkpoint' }), c ? el('dl', {},
        el('dt', { text: 'tree size' }), el('dd', { text: String(c.treeSize) }),
        el('dt', { text: 'time' }), el('dd', { text: fmtTime(c.time) }),
        el('dt', { text: 'chain head' }), el('dd', { class: 'mono', text: c.chainHead }),
        el('dt', { text: 'Merkle root' }), el('dd', { class: 'mono', text: c.merkleRoot }),
        el('dt', { text: 'key id' }), el('dd', { class: 'mono', text: c.keyId }),
        el('dt', { text: 'signature' }), el('dd', { class: 'mono', text: short(c.signature, 64) })) : el('p', { class: 'empty', text: 'No checkpoint yet.' })));
  }

  async function verifyNow() {
    $('verify-status').textContent = 'Verifying…';
    $('verify-now').disabled = true;
    try {
      const v = await api('/v1/console/verify', { method: 'POST' });
      $('verify-status').textContent = v.result.ok ? `Verified ${v.result.records} records: intact.` : 'Verification FAILED: ' + v.result.problem;
      await integrity();
    } finally {
      $('verify-now').disabled = false;
    }
  }

  // ---------- Labels ----------
  async function labelsView() {
    await loadLabels();
    const max = Math.max(1, ...state.labelList.map((l) => l.documents));
    fill('label-summary', el('div', { class: 'summary-bars', role: 'list', 'aria-label': 'Documents per label' }, state.labelList.map((l) => {
      const bar = el('span', { class: 'bar', bg: l.color || '#777' });
      bar.style.width = Math.max(2, (l.documents / max) * 100) + '%';
      return el('button', { type: 'button', role: 'listitem', 'aria-label': `${l.displayName}: ${l.documents} documents; show them`, onclick: () => { $('labels-label').value = l.name; run(() => labelsPager.first()); } },
        el('span', {}, el('span', { class: 'swatch', bg: l.color || '#777' }), l.displayName), el('span', {}, bar), el('span', { text: String(l.documents) }));
    })));
    const labelSelect = $('labels-label');
    if (labelSelect.options.length <= 1) {
      state.labelList.forEach((l) => labelSelect.append(el('option', { value: l.name, text: l.displayName })));
      state.sources.forEach((s) => $('labels-source').append(el('option', { value: s, text: s })));
    }
    await labelsPager.first();
  }

  const labelsPager = pager('labels', async (cursor) => {
    const result = await api('/v1/console/documents' + qs({ label: $('labels-label').value, source: $('labels-source').value, limit: 25, cursor }));
    fill('labels-result', table(['document', 'title', 'source', 'labels', 'version', 'chunks', ''], result.documents.map((d) => [
      code(d.documentId), d.title || '—', d.source, el('span', {}, d.labels.map((l) => [chip(l), ' '])), String(d.version), String(d.chunks),
      el('button', { type: 'button', text: 'History', 'aria-label': 'Label history of ' + d.documentId, onclick: () => { $('history-id').value = d.documentId; run(() => history(d.documentId)); } })]), 'Documents'));
    return result.nextCursor;
  });

  async function history(documentId) {
    await loadLabels();
    const result = await api('/v1/console/documents/' + encodeURIComponent(documentId) + '/label-history' + qs({ limit: 100 }));
    fill('history-result',
      el('p', {}, result.current
        ? ['Now: ', el('strong', { text: result.current.title || documentId }), ` (${result.current.source}, v${result.current.version}) `, result.current.labels.map((l) => chip(l))]
        : 'The document is no longer in the store.'),
      table(['time', 'changed by', 'from', 'to', 'record'], result.changes.map((c) => [
        fmtTime(c.time), c.by, el('span', {}, c.previous.map((l) => [chip(l), ' '])), chip(c.label), code(c.receiptId)]), 'Label history'),
      result.nextCursor ? el('p', { class: 'hint', text: 'More changes exist; the first 100 are shown.' }) : null);
  }

  // ---------- wiring ----------
  function submit(formId, action) {
    $(formId).addEventListener('submit', (event) => { event.preventDefault(); run(action); });
  }

  loaders.activity = activity;
  loaders.integrity = integrity;
  loaders.labels = labelsView;

  document.addEventListener('DOMContentLoaded', () => {
    // Development flow: /console?token=... stores the token for this tab and removes it from the address.
    const params = new URLSearchParams(location.search);
    if (params.has('token')) {
      sessionStorage.setItem(TOKEN_KEY, params.get('token'));
      history.replaceState(null, '', location.pathname + location.hash);
    }

    const now = new Date();
    $('activity-to').value = isoToLocal(new Date(now.getTime() + 3600000));
    $('activity-from').value = isoToLocal(new Date(now.getTime() - 23 * 3600000));
    showWho();

    $('auth-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = $('token').value.trim();
      if (!value) { showMessage('Paste a bearer token first.'); return; }
      sessionStorage.setItem(TOKEN_KEY, value);
      $('token').value = '';
      state.labels = null;
      showWho();
      showMessage('');
      const view = route();
      if (!loaders[view]) run(loadLabels);
    });
    $('forget').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); state.labels = null; showWho(); showMessage('Token forgotten.', 'info'); });

    submit('trace-form', () => trace($('trace-id').value.trim()));
    submit('access-form', () => accessPager.first());
    $('access-csv').addEventListener('click', () => run(exportCsv));
    submit('activity-form', activity);
    $('verify-now').addEventListener('click', () => run(verifyNow));
    submit('labels-form', () => labelsPager.first());
    submit('history-form', () => history($('history-id').value.trim()));

    window.addEventListener('hashchange', () => {
      route();
      const heading = document.querySelector('.view:not([hidden]) h2');
      if (heading) heading.focus();
    });
    route();
  });
})();
