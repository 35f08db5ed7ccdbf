// consentd status page: polls the admin API every 2 s and draws what it
// reads. No framework, no build step, no external assets; everything is
// built with DOM calls (no innerHTML), so nothing the daemon returns can
// inject markup, and the page runs under a strict Content-Security-Policy.
'use strict';

(function () {
  const POLL_MS = 2000;
  const TOKEN_KEY = 'consentd.admin-token';
  const BUCKETS = [
    ['granted', 'Granted'], ['pending', 'Pending (double opt-in sent)'],
    ['reconsent_required', 'Re-consent required'], ['withdrawn', 'Withdrawn'],
    ['refused', 'Refused'], ['blocked', 'Blocked'], ['not_asked', 'Never asked'],
  ];
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let busy = false;
  // The history gains a snapshot every 15 minutes and costs the store a
  // read of up to 1000 of them: asked for once a minute, not every poll.
  const HISTORY_MS = 60000;
  let history = null;
  let historyAt = 0;

  // --- small helpers ---------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }
  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    const s = Math.round(ms / 1000);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }
  function clock(ms) {
    if (ms === null || ms === undefined) return '–';
    const d = new Date(ms);
    // Today's times without the date: the page is about now.
    return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString()
      : d.toLocaleString();
  }
  function pill(kind, text) { return el('span', { class: 'pill ' + kind, text }); }
  function fill(tbody, rows) { tbody.replaceChildren(...rows); }
  function cell(label, content, cls) {
    return el('td', { 'data-label': label, class: cls }, content);
  }

  // --- token -----------------------------------------------------------
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function askToken(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    stop();
    history = null;  // asked for again with the next token
    historyAt = 0;
    $('dash').hidden = true;
    $('signout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setConn('Not connected', false);
    $('token').focus();
  }
  class Unauthorized extends Error {}
  async function api(path, options) {
    const res = await fetch(path, Object.assign({
      headers: { 'Authorization': 'Bearer ' + token(), 'Content-Type': 'application/json' },
      cache: 'no-store',
    }, options || {}));
    if (res.status === 401) throw new Unauthorized();
    if (res.status === 404 && options && options.optional) return null;
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const detail = body && (body.detail || body.title);
      throw new Error(path + ': ' + res.status + (detail ? ' ' + detail : ''));
    }
    return body;
  }
  function setConn(text, bad) {
    $('conn').textContent = text;
    $('conn').classList.toggle('bad', !!bad);
  }

  // --- rendering ---------------------------------------------------------
  function coverage(p) {
    if (p.last_checkpoint_age_ms === null) return '';
    if (p.checkpointed_entries >= p.entries) return 'covers every entry';
    const newer = p.entries - p.checkpointed_entries;
    return newer + (newer === 1 ? ' newer entry' : ' newer entries') + ' not yet covered';
  }

  function renderStatus(s) {
    $('k-decisions').textContent = s.throughput.decisions_per_minute;
    $('k-deliveries').textContent = s.throughput.deliveries_per_minute;
    $('k-lag').textContent = s.lag.oldest_pending_age_ms === null
      ? 'nothing waiting' : duration(s.lag.oldest_pending_age_ms);
    $('k-poll').textContent = duration(s.lag.max_poll_lag_ms);
    $('k-proof').textContent = s.proof_log.entries + ' entries';
    $('k-checkpoint').textContent = s.proof_log.last_checkpoint_age_ms === null
      ? 'none yet' : duration(s.proof_log.last_checkpoint_age_ms) + ' ago';
    // A checkpoint is signed only when entries were appended since the last
    // one, so an old checkpoint is normal on a quiet log: say what it covers.
    $('k-checkpoint-covers').textContent = coverage(s.proof_log);

    fill($('connectors').tBodies[0], s.connectors.map((c) => {
      const ready = c.ready ? pill('ok', 'ready') : pill('bad', 'not ready');
      const readyCell = el('span', {}, ready,
        c.ready ? null : el('span', { class: 'small-line', text: c.check }));
      let poll = 'webhooks only';
      if (c.poll.enabled) {
        poll = el('span', {},
          c.poll.last_success_ms === null ? 'no poll yet' : duration(c.poll.lag_ms) + ' ago',
          el('span', { class: 'small-line',
            text: c.poll.caught_up ? 'caught up' : 'reading more pages' }));
      }
      const hooks = el('span', {}, c.webhooks.received + ' received',
        el('span', { class: 'small-line', text: c.webhooks.refused + ' refused · last ' +
          (c.webhooks.last_received_ms === null ? 'never' : clock(c.webhooks.last_received_ms)) }));
      const used = c.budget.used_fraction === null ? 'no limit'
        : Math.round(c.budget.used_fraction * 100) + '% used';
      const budget = el('span', {}, used,
        el('span', { class: 'small-line', text: c.budget.requests_sent + ' requests · ' +
          c.budget.budget_waits + ' waits · ' + c.budget.rate_limited + ' × 429' }));
      const health = { healthy: 'ok', degraded: 'warn', failing: 'bad' }[c.delivery.health] || 'warn';
      const deliv = el('span', {}, pill(health, c.delivery.health),
        el('span', { class: 'small-line', text: c.delivery.per_minute + '/min · ' +
          c.delivery.done + ' done · ' + c.delivery.failed + ' failed' }));
      const name = el('span', {}, el('strong', { text: c.name }),
        el('span', { class: 'small-line', text: [c.role, c.kind].filter(Boolean).join(' · ') }));
      return el('tr', { 'data-connector': c.name },
        cell('Connector', name), cell('Ready', readyCell), cell('Polling', poll),
        cell('Webhooks', hooks), cell('Budget', budget), cell('Deliveries', deliv));
    }));

    fill($('outbox').tBodies[0], s.outbox.map((t) => el('tr', { 'data-target': t.target },
      cell('Target', el('strong', { text: t.target })),
      cell('Pending', t.pending, 'num pending'), cell('In flight', t.inflight, 'num'),
      cell('Dead', t.dead, 'num dead'),
      cell('Oldest pending', duration(t.oldest_pending_age_ms), 'num'))));

    const recent = s.recent_decisions.map((d) => el('li', { 'data-number': d.number },
      el('time', { datetime: new Date(d.at_ms).toISOString(), text: clock(d.at_ms) }),
      el('span', { class: 'sr', text: 'decision ' + d.number + ': ' }), d.text));
    if (recent.length === 0) recent.push(el('li', { text: 'No decisions since consentd started.' }));
    $('recent').replaceChildren(...recent);
  }

  function renderLegend() {
    $('legend').replaceChildren(...BUCKETS.map(([key, label]) =>
      el('li', {}, el('span', { class: 'swatch s-' + key, 'aria-hidden': 'true' }), label)));
  }

  const COLOURS = {
    granted: '#1f7a3d', pending: '#c98a00', reconsent_required: '#0b7f9c', withdrawn: '#7d4ab0',
    refused: '#b3261e', blocked: '#3d3d3d', not_asked: '#b8c0cc', other: '#8892a0',
  };
  function renderCoverage(stats, history) {
    const box = $('coverage');
    if (!stats) { box.replaceChildren(el('p', { text: 'No consent counts yet.' })); return; }
    const known = new Set(BUCKETS.map(([k]) => k));
    const rows = stats.topics.map((t) => {
      const total = t.total || 0;
      const parts = [];
      for (const [key] of BUCKETS) parts.push([key, t.counts[key] || 0]);
      let other = 0;
      for (const [k, v] of Object.entries(t.counts)) if (!known.has(k)) other += v;
      if (other) parts.push(['other', other]);
      const chart = svg('svg', { viewBox: '0 0 1000 24', preserveAspectRatio: 'none',
        role: 'img', 'aria-label': (t.title || t.topic) + ' on ' + t.channel + ': ' +
          parts.filter(([, v]) => v).map(([k, v]) => v + ' ' + k.replace('_', ' ')).join(', ') });
      let x = 0;
      for (const [key, v] of parts) {
        if (!v || !total) continue;
        const w = (v / total) * 1000;
        const r = svg('rect', { x: x.toFixed(2), y: 0, width: w.toFixed(2), height: 24,
          fill: COLOURS[key] });
        const tip = svg('title', {});
        tip.textContent = key.replace('_', ' ') + ': ' + v;
        r.append(tip);
        chart.append(r);
        x += w;
      }
      if (!total) chart.append(svg('rect', { x: 0, y: 0, width: 1000, height: 24, fill: '#e6e9ee' }));
      const counts = parts.filter(([, v]) => v).map(([k, v]) =>
        el('span', { 'data-bucket': k, text: k.replace('_', ' ') + ' ' + v })).flatMap((e, i) =>
        i ? [' · ', e] : [e]);
      const trend = sparkline(history, t.topic, t.channel);
      return el('div', { class: 'topic', 'data-topic': t.topic, 'data-channel': t.channel },
        el('div', { class: 'topic-head' },
          el('strong', { text: (t.title || t.topic) + ' · ' + t.channel }),
          el('span', { text: total + ' people' })),
        chart, el('div', { class: 'counts' }, ...counts), trend);
    });
    box.replaceChildren(...(rows.length ? rows : [el('p', { text: 'No topics mapped.' })]));
    $('coverage-note').textContent = 'Counted ' + clock(stats.computed_at_ms) +
      ' (recounted at most every 10 s).' + (history ? '' : ' No history available.');
  }

  // Granted share over time, from /api/v1/stats/history when it exists.
  function sparkline(history, topic, channel) {
    if (!history || !history.points || history.points.length < 2) return null;
    const pts = [];
    for (const p of history.points) {
      const list = Array.isArray(p.topics) ? p.topics : (p.topics && p.topics.topics) || [];
      const t = list.find((x) => x.topic === topic && x.channel === channel);
      if (t && t.total) pts.push([p.at_ms, (t.counts.granted || 0) / t.total]);
    }
    if (pts.length < 2) return null;
    const t0 = pts[0][0], t1 = pts[pts.length - 1][0] || t0 + 1;
    const d = pts.map(([t, v], i) => (i ? 'L' : 'M') +
      (((t - t0) / Math.max(1, t1 - t0)) * 300).toFixed(1) + ' ' + (30 - v * 28).toFixed(1)).join(' ');
    const s = svg('svg', { viewBox: '0 0 300 32', class: 'spark', role: 'img',
      'aria-label': 'granted share over time, now ' + Math.round(pts[pts.length - 1][1] * 100) + '%' });
    s.append(svg('path', { d, fill: 'none', stroke: COLOURS.granted, 'stroke-width': 2 }));
    return s;
  }

  function renderDeadLetters(d) {
    const rows = d.dead_letters;
    $('dlq-empty').hidden = rows.length > 0;
    $('dlq').hidden = rows.length === 0;
    $('replay-all').hidden = rows.length < 2;
    fill($('dlq').tBodies[0], rows.map((r) => {
      const b = el('button', { type: 'button', class: 'small', 'data-replay': r.id,
        'aria-label': 'Replay dead letter ' + r.id, text: 'Replay' });
      return el('tr', { 'data-id': r.id },
        cell('#', r.id, 'num'), cell('Target', r.target), cell('Key', r.key, 'key'),
        cell('Reason', r.reason, 'reason'), cell('Tries', r.attempts, 'num'),
        cell('Since', clock(r.updated_at_ms)), cell('Action', b));
    }));
  }

  function renderErasures(e) {
    const box = $('erasures');
    if (e === null) {
      box.replaceChildren(el('p', { class: 'hint', text: 'This consentd does not report erasures.' }));
      return;
    }
    const open = (e.erasures || []).filter((x) => x.state !== 'completed' && x.state !== 'done');
    if (!open.length) {
      box.replaceChildren(el('p', { class: 'ok-text', text: 'No erasure in progress.' }));
      return;
    }
    box.replaceChildren(...open.map((x) => el('div', { class: 'erasure', 'data-erasure': x.id },
      el('strong', { text: x.subject }), ' · ', x.state, ' · requested ', clock(x.requested_at_ms),
      ' · due ', el('span', { class: x.overdue ? 'overdue' : null,
        text: clock(x.deadline_ms) + (x.overdue ? ' (overdue)' : '') }),
      el('span', { class: 'small-line', text: (x.targets || []).map((t) =>
        t.target + ': ' + t.state + (t.reason ? ' (' + t.reason + ')' : '')).join(' · ') }))));
  }

  // --- polling -------------------------------------------------------------
  async function refresh() {
    if (busy || !token()) return;
    busy = true;
    try {
      const historyDue = Date.now() - historyAt >= HISTORY_MS;
      const [status, dead, stats, fresh, erasures] = await Promise.all([
        api('/api/v1/status'),
        api('/api/v1/dead-letters'),
        api('/api/v1/stats').catch(() => null),
        historyDue ? api('/api/v1/stats/history', {optional: true}).catch(() => null) : history,
        api('/api/v1/erasures?open=true', {optional: true}).catch(() => null),
      ]);
      if (historyDue) {
        history = fresh;
        historyAt = Date.now();
      }
      renderStatus(status);
      renderDeadLetters(dead);
      renderCoverage(stats, history);
      renderErasures(erasures);
      $('login').hidden = true;
      $('dash').hidden = false;
      $('signout').hidden = false;
      setConn('Live · updated ' + new Date().toLocaleTimeString(), false);
    } catch (err) {
      if (err instanceof Unauthorized) {
        askToken('The token was not accepted. Enter it again.');
      } else {
        setConn('Connection problem: ' + err.message + ' (retrying)', true);
      }
    } finally {
      busy = false;
    }
  }
  function start() {
    stop();
    refresh();
    timer = setInterval(refresh, POLL_MS);
  }
  function stop() { if (timer) clearInterval(timer); timer = null; }

  async function replay(body, label) {
    $('dlq-msg').textContent = 'Replaying ' + label + '…';
    try {
      const r = await api('/api/v1/dead-letters/replay', { method: 'POST', body: JSON.stringify(body) });
      $('dlq-msg').textContent = 'Replayed ' + r.replayed.length + ' dead letter' +
          (r.replayed.length === 1 ? '' : 's') +
          (r.superseded.length ? '; kept ' + r.superseded.length + ' superseded by a newer write' :
                                 '') +
          ((r.refused || []).length ?
               '; kept ' + r.refused.length + ' the target refuses for good' :
               '') +
          '.';
    } catch (err) {
      if (err instanceof Unauthorized) return askToken('The token was not accepted. Enter it again.');
      $('dlq-msg').textContent = 'Replay failed: ' + err.message;
    }
    refresh();
  }

  document.addEventListener('DOMContentLoaded', () => {
    renderLegend();
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('token').value.trim();
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      $('token').value = '';
      $('login-error').textContent = '';
      start();
    });
    $('signout').addEventListener('click', () => askToken(''));
    $('dlq').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-replay]');
      if (b) { b.disabled = true; replay({ id: Number(b.dataset.replay) }, '#' + b.dataset.replay); }
    });
    $('replay-all').addEventListener('click', () => replay({ all: true }, 'all dead letters'));
    for (const id of ['connectors', 'dlq']) $(id).classList.add('stack');
    if (token()) start(); else askToken('');
  });
})();
