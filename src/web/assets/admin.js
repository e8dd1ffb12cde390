// Progressive enhancement for the operator UI. Every page works without this file; with it:
//  - the dashboard swaps in panels pushed over SSE (/api/stream/dashboard) instead of reloading;
//  - a command run streams its output live (/api/stream/runs/:id);
//  - buttons with data-confirm ask before submitting.
// No eval, no inline handlers: the CSP allows only same-origin scripts with this page's nonce.
(function () {
  'use strict';

  document.addEventListener('submit', function (ev) {
    var btn = ev.submitter;
    var msg = btn && btn.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  function liveDashboard(root) {
    var url = root.getAttribute('data-live-dashboard');
    if (!url || !window.EventSource) return;
    var status = document.querySelector('[data-live-status]');
    var at = document.querySelector('[data-live-at]');
    var es = new EventSource(url);
    es.addEventListener('open', function () {
      if (status) { status.textContent = 'live'; status.className = 'live-dot on'; }
    });
    es.addEventListener('error', function () {
      if (status) { status.textContent = 'reconnecting'; status.className = 'live-dot off'; }
    });
    es.addEventListener('snapshot', function (ev) {
      var data = JSON.parse(ev.data);
      Object.keys(data.panels).forEach(function (id) {
        var el = root.querySelector('[data-panel="' + id + '"]');
        // panels are rendered and escaped on the server by the same templates as the first page load
        if (el) el.innerHTML = data.panels[id];
      });
      if (at) at.textContent = data.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
      document.body.setAttribute('data-snapshot-at', data.at);
    });
  }

  function liveRun(pre) {
    var url = pre.getAttribute('data-live-run');
    if (!url || !window.EventSource) return;
    var es = new EventSource(url);
    var follow = true;
    pre.addEventListener('scroll', function () {
      follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    });
    function append(text) {
      pre.textContent += text;
      if (follow) pre.scrollTop = pre.scrollHeight;
    }
    es.addEventListener('reset', function (ev) {
      pre.textContent = JSON.parse(ev.data);
      if (follow) pre.scrollTop = pre.scrollHeight;
    });
    es.addEventListener('output', function (ev) {
      append(JSON.parse(ev.data));
    });
    es.addEventListener('end', function (ev) {
      var e = JSON.parse(ev.data);
      es.close();
      var st = document.querySelector('[data-run-status]');
      if (st) {
        var tone = e.status === 'succeeded' ? 'ok' : e.status === 'cancelled' ? 'mute' : 'bad';
        st.innerHTML = '';
        var b = document.createElement('span');
        b.className = 'badge tone-' + tone;
        b.textContent = e.status;
        st.appendChild(b);
      }
      var ex = document.querySelector('[data-run-exit]');
      if (ex) ex.textContent = e.exitCode === null || e.exitCode === undefined ? '—' : String(e.exitCode);
      var du = document.querySelector('[data-run-duration]');
      if (du && typeof e.durationMs === 'number') du.textContent = e.durationMs < 1000 ? e.durationMs + ' ms' : (e.durationMs / 1000).toFixed(1) + ' s';
      var cancel = document.querySelector('[data-run-cancel]');
      if (cancel) cancel.remove();
      pre.setAttribute('data-run-finished', e.status);
    });
  }

  function init() {
    var dash = document.querySelector('[data-live-dashboard]');
    if (dash) liveDashboard(dash);
    var run = document.querySelector('pre[data-live-run]');
    if (run) liveRun(run);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
