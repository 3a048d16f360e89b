// Hangar web UI: the little behaviour pages need beyond links and forms.
// Loaded with `defer` from /static (the Content-Security-Policy allows no
// inline script). Every page works without it, except live updates.
'use strict';

(function () {
  const MAX_LOG_LINES = 5000;
  const POLL_MS = 2000;

  function stageClass(stage) {
    if (stage.startsWith('RUNNING')) return stage === 'RUNNING' ? 'running' : 'busy';
    if (stage.includes('ERROR')) return 'error';
    if (stage === 'BUILDING' || stage === 'APP_STARTING') return 'busy';
    return 'idle';
  }

  // The stage badge follows the space's runtime; the App tab reloads when the
  // app starts or stops, so the iframe comes and goes with it.
  function followStage(badge) {
    const app = document.getElementById('app');
    const error = document.getElementById('error');
    let reloading = false;
    async function poll() {
      try {
        const r = await fetch(badge.dataset.runtime, { credentials: 'same-origin', cache: 'no-store' });
        if (!r.ok) return;
        const rt = await r.json();
        const stage = rt.stage || 'STOPPED';
        if (badge.textContent !== stage) {
          badge.textContent = stage;
          badge.className = 'badge stage-' + stageClass(stage);
          document.querySelectorAll('[data-stage-text]').forEach((el) => { el.textContent = stage; });
        }
        if (error) {
          error.textContent = rt.errorMessage || '';
          error.hidden = !rt.errorMessage;
        }
        const running = stage.startsWith('RUNNING') ? '1' : '0';
        if (app && app.dataset.running !== running && !reloading) {
          reloading = true;
          window.location.reload();
        }
      } catch (e) {
        // The daemon restarting or the network away: try again next tick.
      }
    }
    poll();
    setInterval(poll, POLL_MS);
  }

  // A log pane streams the SSE endpoint. Every (re)connection replays the
  // whole log first, so the pane starts over on each open.
  function followLog(pre) {
    const kind = pre.id.replace('log-', '');
    const state = document.querySelector('[data-log-state="' + kind + '"]');
    const say = (text) => { if (state) state.textContent = text; };
    const source = new EventSource(pre.dataset.log);
    let lines = 0;
    source.onopen = () => {
      pre.textContent = '';
      lines = 0;
      say('Live: new lines appear as they are written.');
    };
    source.onmessage = (ev) => {
      let entry;
      try { entry = JSON.parse(ev.data); } catch (e) { entry = { data: ev.data }; }
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      const line = document.createElement('div');
      if (entry.timestamp) {
        const ts = document.createElement('span');
        ts.className = 'ts';
        ts.textContent = entry.timestamp.replace('T', ' ').replace(/\.\d+Z$/, 'Z') + ' ';
        line.appendChild(ts);
      }
      line.appendChild(document.createTextNode(entry.data));
      pre.appendChild(line);
      if (++lines > MAX_LOG_LINES) {
        pre.removeChild(pre.firstChild);
        lines--;
      }
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    };
    source.onerror = () => {
      say(source.readyState === EventSource.CLOSED
        ? 'Disconnected. Reload the page to follow the log again.'
        : 'This log has ended; the next build or run will show here.');
    };
  }

  // Deleting a space: the button waits until its full name is typed.
  function guardDelete(input) {
    const button = input.form.querySelector('button[type=submit]');
    const check = () => { button.disabled = input.value !== input.dataset.confirmMatch; };
    input.addEventListener('input', check);
    check();
  }

  document.addEventListener('DOMContentLoaded', () => {
    const badge = document.getElementById('stage');
    if (badge && badge.dataset.runtime) followStage(badge);
    document.querySelectorAll('pre[data-log]').forEach(followLog);
    document.querySelectorAll('input[data-confirm-match]').forEach(guardDelete);
  });
})();
