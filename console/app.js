// The access-perm console: a client of the control-plane API on the same origin. The session cookie is HttpOnly;
// this page keeps only the session's CSRF token and permissions, and shows an action only to a role the matrix
// allows it (the server decides again on every request).
const $ = (id) => document.getElementById(id);
let session = null;

function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}

/** One API call; a 401 ends the session in this page too. */
async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (session && !['GET', 'HEAD'].includes(method)) headers['x-csrf-token'] = session.csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = res.status === 204 ? null : await res.json().catch(() => ({}));
  if (res.status === 401 && path !== '/session') {
    showSignIn('Your session has ended: sign in again.');
    throw new Error(answer?.message ?? 'not signed in');
  }
  if (!res.ok) throw new Error(answer?.message ?? `${res.status}`);
  return answer;
}

function showSignIn(message = '') {
  session = null;
  notice(message);
  $('who').textContent = '';
  $('sign-out').hidden = true;
  $('runs').hidden = true;
  $('sign-in').hidden = false;
  $('token').focus();
}

const may = (permission) => session?.permissions.includes(permission);

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

async function showRuns() {
  $('sign-in').hidden = true;
  $('runs').hidden = false;
  $('sign-out').hidden = false;
  $('who').textContent = `${session.userId} (${session.role}), until ${new Date(session.expiresAt).toLocaleString()}`;
  const { runs } = await api('GET', '/runs');
  const filter = $('state-filter');
  const chosen = filter.value;
  const states = [...new Set(runs.map((r) => r.state))].sort();
  filter.replaceChildren(new Option('all', ''), ...states.map((s) => new Option(s, s, false, s === chosen)));
  const shown = runs.filter((r) => !filter.value || r.state === filter.value);
  $('runs-empty').hidden = runs.length > 0;
  $('runs-table').hidden = runs.length === 0;
  const body = $('runs-table').tBodies[0];
  body.replaceChildren();
  for (const r of shown) {
    const row = body.insertRow();
    cell(row, r.runId);
    cell(row, r.state, 'state');
    cell(row, r.startedAt ?? '–');
    cell(row, r.rocAuc === null ? '–' : r.rocAuc.toFixed(4));
    cell(row, r.accuracy === null ? '–' : r.accuracy.toFixed(4));
    const actions = cell(row, '');
    if (r.state === 'running' && may('cancel_run')) {
      const cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.dataset.action = 'cancel';
      cancel.textContent = 'Cancel';
      cancel.setAttribute('aria-label', `Cancel run ${r.runId}`);
      cancel.addEventListener('click', () => cancelRun(r.runId));
      actions.append(cancel);
    }
  }
}

async function cancelRun(runId) {
  const reason = window.prompt(`Why cancel ${runId}? (recorded in the audit log)`);
  if (!reason) return;
  try {
    await api('POST', `/runs/${encodeURIComponent(runId)}/cancel`, { reason });
    notice(`Cancellation of ${runId} sent.`);
    await showRuns();
  } catch (e) {
    notice(e.message);
  }
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    session = await api('POST', '/session', { token: $('token').value.trim() });
    $('token').value = '';
    notice('');
    await showRuns();
  } catch (e) {
    notice(`Sign-in refused: ${e.message}`);
  }
});

$('sign-out').addEventListener('click', async () => {
  await api('DELETE', '/session').catch(() => undefined);
  showSignIn('Signed out.');
});

$('state-filter').addEventListener('change', () => showRuns().catch((e) => notice(e.message)));

try {
  session = await api('GET', '/session');
  await showRuns();
} catch {
  if (!session) showSignIn();
}
