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

const PAGES = ['sign-in', 'runs', 'review', 'run', 'monitoring', 'audit', 'admin'];

/** Shows one page (section) and hides the others. */
function show(page) {
  for (const id of PAGES) $(id).hidden = id !== page;
  $('nav').hidden = page === 'sign-in';
  $('sign-out').hidden = page === 'sign-in';
}

function showSignIn(message = '') {
  session = null;
  notice(message);
  $('who').textContent = '';
  show('sign-in');
  $('token').focus();
}

const el = (tag, text, attributes = {}) => {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  return node;
};
const fixed = (x, digits = 4) => (typeof x === 'number' ? x.toFixed(digits) : '–');
/** For a run whose records say running but whose workflow the Temporal server says stopped (terminated, lost). */
const stoppedOnServer = (r) =>
  r.serverStatus && r.serverStatus !== 'RUNNING' && !r.serverStatus.startsWith('unknown')
    ? `its workflow is ${r.serverStatus} on Temporal: it will not end by itself`
    : '';
const runLink = (runId) => el('a', runId, { href: `#run/${encodeURIComponent(runId)}` });

const may = (permission) => session?.permissions.includes(permission);

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

/**
 * Draws a chart from its compiled vega spec (interactive: hovering a mark shows its values), or shows `fallback`
 * (the server-rendered SVG) when the spec or the chart library cannot be had.
 */
let chartLibrary = null;
async function drawChart(container, specPath, fallback) {
  try {
    chartLibrary ??= import('/console/charts.js');
    const [{ renderChart }, spec] = await Promise.all([chartLibrary, api('GET', specPath)]);
    container.replaceChildren();
    await renderChart(container, spec);
    // vega names every chart "Vega visualization": name it as its fallback image would be.
    container.setAttribute('aria-label', fallback.alt);
    container.dataset.chart = 'interactive';
  } catch {
    container.replaceChildren(el('img', undefined, fallback));
    container.dataset.chart = 'static';
  }
}

async function showRuns() {
  show('runs');
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
    cell(row, '').append(runLink(r.runId));
    const state = cell(row, r.state, 'state');
    const stopped = stoppedOnServer(r);
    if (stopped) state.append(el('span', ` (${stopped})`, { class: 'stopped' }));
    else if (r.state === 'running') state.append(el('span', '', { class: 'progress', 'data-run': r.runId }));
    cell(row, r.startedAt ?? '–');
    cell(row, r.rocAuc === null ? '–' : r.rocAuc.toFixed(4));
    cell(row, r.accuracy === null ? '–' : r.accuracy.toFixed(4));
    const actions = cell(row, '');
    if (r.state === 'running' && !stopped && may('cancel_run')) {
      const cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.dataset.action = 'cancel';
      cancel.textContent = 'Cancel';
      cancel.setAttribute('aria-label', `Cancel run ${r.runId}`);
      cancel.addEventListener('click', () => cancelRun(r.runId));
      actions.append(cancel);
    }
  }
  await followProgress();
}

/** Live progress of the running runs on the runs page, every 2 s while any runs (the list every 10 s otherwise). */
let progressTimer = null;
async function followProgress() {
  clearTimeout(progressTimer);
  const spans = [...document.querySelectorAll('#runs-table .progress')];
  if ($('runs').hidden) return;
  // Nothing running: look again now and then for runs started meanwhile.
  if (spans.length === 0) return void (progressTimer = setTimeout(() => showRuns().catch(() => undefined), 10_000));
  let running = false;
  await Promise.all(
    spans.map(async (span) => {
      const at = await api('GET', `/runs/${encodeURIComponent(span.dataset.run)}/progress`).catch(() => null);
      if (!at) return;
      const p = at.progress;
      running ||= p.status === 'running';
      const folds = p.step === 'train' ? `, folds ${p.folds.done}/${p.folds.total}` : '';
      span.textContent = ` — [${p.stepIndex + 1}/${p.steps.length}] ${p.step}${folds}`;
    }),
  );
  // A run that ended shows its new state at the next refresh of the list.
  progressTimer = setTimeout(() => (running ? followProgress() : showRuns()).catch(() => undefined), 2000);
}

async function showReview() {
  show('review');
  const { runs } = await api('GET', '/runs');
  const pending = runs.filter((r) => r.state === 'pending_review');
  $('review-empty').hidden = pending.length > 0;
  $('review-list').replaceChildren(
    ...pending.map((r) => {
      const item = el('li');
      item.append(runLink(r.runId), ` — started ${r.startedAt ?? '–'}`);
      return item;
    }),
  );
}

/** The bins of one feature in two versions, side by side. */
async function binsDiff(runId, feature, from, to) {
  const table = (version) =>
    api('GET', `/runs/${encodeURIComponent(runId)}/bins?feature=${encodeURIComponent(feature)}&version=${version}`)
      .then((b) => b.tables[0])
      .catch(() => null);
  const [a, b] = await Promise.all([table(from), table(to)]);
  const diff = el('table', undefined, { class: 'bins' });
  diff.append(el('caption', `${feature}: bins of version ${from} and version ${to}`));
  const head = diff.createTHead().insertRow();
  for (const h of [`v${from} bin`, 'n', 'approved', `v${to} bin`, 'n', 'approved'])
    head.append(el('th', h, { scope: 'col' }));
  const rows = Math.max(a?.bins.length ?? 0, b?.bins.length ?? 0);
  const body = diff.createTBody();
  const binCells = (row, bin) => {
    cell(row, bin?.label ?? '');
    cell(row, bin ? String(bin.count) : '');
    cell(row, bin ? `${(100 * bin.approvalRate).toFixed(1)}%` : '');
  };
  for (let i = 0; i < rows; i++) {
    const row = body.insertRow();
    binCells(row, a?.bins[i]);
    binCells(row, b?.bins[i]);
  }
  return diff;
}

/** Approve or reject with a mandatory reason, through the same update the CLI sends. */
function reviewForm(runId, override) {
  const form = el('form', undefined, { class: 'review', 'aria-label': `Review ${override.id}` });
  const id = `reason-${override.id}`;
  form.append(el('label', `Reason for your decision on ${override.id}`, { for: id }));
  const reason = el('textarea', undefined, { id, rows: '2', required: '' });
  form.append(reason);
  for (const [decision, label] of [
    ['approve', 'Approve'],
    ['reject', 'Reject (final)'],
  ]) {
    const button = el('button', label, { type: 'submit', 'data-action': decision, value: decision });
    form.append(button);
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const decision = event.submitter?.value;
    if (!reason.value.trim()) return notice('A reason is required: it is recorded in the audit log.');
    try {
      const verdict = await api(
        'POST',
        `/runs/${encodeURIComponent(runId)}/overrides/${encodeURIComponent(override.id)}/review`,
        { decision, reason: reason.value.trim() },
      );
      notice(`${override.id}: ${verdict.message}; status ${verdict.status}`);
      await showRun(runId);
    } catch (e) {
      notice(e.message);
    }
  });
  return form;
}

async function showRun(runId) {
  show('run');
  const path = `/runs/${encodeURIComponent(runId)}`;
  const [run, lifecycle, artifacts] = await Promise.all([
    api('GET', path),
    api('GET', `${path}/lifecycle`).catch(() => null),
    api('GET', `${path}/artifacts`).catch(() => null),
  ]);
  $('run-title').textContent = `Run ${run.runId}`;
  const m = run.metrics ?? {};
  const ci = run.intervals;
  const interval = (x) => (ci && x ? ` [${fixed(x.lower)}, ${fixed(x.upper)}]` : '');
  const facts = [
    [
      'state',
      lifecycle
        ? `${run.state} (review status ${lifecycle.status})`
        : `${run.state}${stoppedOnServer(run) ? ` (${stoppedOnServer(run)})` : ''}`,
    ],
    ['started', `${run.info.startedAt}${run.info.createdBy ? ` by ${run.info.createdBy.userId}` : ''}`],
    ['OOF ROC-AUC', `${fixed(m.rocAuc)}${interval(ci?.rocAuc)}`],
    ['OOF PR-AUC', fixed(m.prAuc)],
    ['accuracy @ threshold', `${fixed(m.accuracy)}${interval(ci?.accuracy)} @ ${fixed(m.threshold, 3)}`],
  ];
  if (ci) facts.push(['intervals', `${Math.round(ci.level * 100)}% bootstrap over ${ci.unit}`]);
  if (lifecycle?.lock) facts.push(['locked', `by ${lifecycle.lock.locked_by} at ${lifecycle.lock.locked_at}`]);
  $('run-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));

  const versions = $('versions').tBodies[0];
  versions.replaceChildren();
  for (const v of lifecycle?.versions ?? []) {
    const row = versions.insertRow();
    cell(row, `${v.version}${v.version === lifecycle.currentVersion ? ' (current)' : ''}`);
    cell(row, fixed(v.rocAuc));
    cell(row, fixed(v.threshold));
    cell(row, v.overrideId ?? '–');
  }

  const overrides = lifecycle?.overrides ?? [];
  $('overrides-empty').hidden = overrides.length > 0;
  const blocks = [];
  for (const o of overrides) {
    const block = el('article', undefined, { class: 'override', 'aria-label': o.id });
    block.append(
      el('h4', `${o.id}: ${o.change.kind}${o.change.feature ? ` of ${o.change.feature}` : ''} — ${o.status}`),
    );
    block.append(el('p', `Filed by ${o.requestedBy.userId} at ${o.requestedAt}: ${o.reason}`));
    const from = lifecycle.versions.find((v) => v.version === o.version - 1);
    const to = lifecycle.versions.find((v) => v.version === o.version);
    if (to)
      block.append(
        el(
          'p',
          `ROC-AUC ${fixed(from?.rocAuc)} → ${fixed(to.rocAuc)}; threshold ${fixed(from?.threshold)} → ${fixed(to.threshold)}`,
        ),
      );
    if (o.change.feature && to) block.append(await binsDiff(run.runId, o.change.feature, o.version - 1, o.version));
    if (o.review)
      block.append(
        el(
          'p',
          `${o.review.decision === 'approve' ? 'Approved' : 'Rejected'} by ${o.review.by.userId}: ${o.review.reason}`,
        ),
      );
    if (o.status === 'pending_review' && may('approve_deployment')) block.append(reviewForm(run.runId, o));
    blocks.push(block);
  }
  $('overrides').replaceChildren(...blocks);

  showValidation(run.runId, lifecycle);
  // The report's figures of the version shown: interactive charts from the report's vega-lite specs (compiled to
  // vega by the report step), the report's SVG where a figure has no spec (reports written before it had one).
  const all = artifacts?.artifacts ?? [];
  const fileUrl = (p) => `${path}/artifact?path=${encodeURIComponent(p)}&version=${artifacts.version}`;
  const figures = all.filter((a) => a.role === 'report-figure' && a.path.endsWith('.svg'));
  $('figures').replaceChildren();
  await Promise.all(
    figures.map((a) => {
      const name = a.path.split('/').pop().replace('.svg', '').replaceAll('_', ' ');
      const figure = el('figure');
      const chart = el('div', undefined, { class: 'chart' });
      figure.append(chart, el('figcaption', name));
      $('figures').append(figure);
      const fallback = { src: fileUrl(a.path), alt: `${name} of version ${artifacts.version}` };
      const spec = a.path.replace(/\.svg$/, '.vg.json');
      if (!all.some((b) => b.path === spec)) return void chart.append(el('img', undefined, fallback));
      return drawChart(chart, fileUrl(spec), fallback);
    }),
  );
  const card = await fetch(`${path}/model-card`, { credentials: 'same-origin' }).catch(() => null);
  $('model-card').textContent = card?.ok ? await card.text() : 'No model card for this version.';

  const list = $('artifacts').tBodies[0];
  list.replaceChildren();
  for (const a of artifacts?.artifacts ?? []) {
    const row = list.insertRow();
    const link = el('a', a.path, {
      href: `${path}/artifact?path=${encodeURIComponent(a.path)}&version=${artifacts.version}`,
      download: '',
    });
    cell(row, '').append(link);
    cell(row, a.role);
    cell(row, a.sha256.slice(0, 16) + '…');
  }
}

/** A run's monitoring: its schedule, the trend chart, the windows, and one window's drift, metrics and alerts. */
async function showMonitoring(runId, windowId) {
  show('monitoring');
  const { runs } = await api('GET', '/runs');
  const chosen = runId ?? runs.find((r) => r.state === 'deployed')?.runId ?? runs[0]?.runId;
  $('monitoring-run').replaceChildren(
    ...runs.map((r) => new Option(`${r.runId} (${r.state})`, r.runId, false, r.runId === chosen)),
  );
  $('window-detail').hidden = true;
  if (!chosen) return void ($('monitoring-empty').hidden = false);
  const path = `/runs/${encodeURIComponent(chosen)}/monitoring`;
  const [{ windows }, status] = await Promise.all([
    api('GET', path),
    api('GET', `${path}/schedule`).catch((e) => ({ problem: e.message })),
  ]);
  $('monitoring-schedule').textContent = scheduleText(status);
  $('monitoring-empty').hidden = windows.length > 0;
  // A trend needs two windows.
  $('monitoring-figure').hidden = windows.length < 2;
  $('windows').hidden = windows.length === 0;
  if (windows.length >= 2)
    await drawChart($('monitoring-chart'), `${path}/trend.vg.json`, {
      src: `${path}/trend.svg?windows=${windows.length}`,
      alt: `Trend of ${chosen} over ${windows.length} monitored windows`,
    });
  const body = $('windows').tBodies[0];
  body.replaceChildren();
  const flag = (b) => (b === null ? '–' : b ? 'drift' : 'ok');
  for (const w of windows) {
    const row = body.insertRow();
    const link = el('a', w.monitored_at, {
      href: `#monitoring/${encodeURIComponent(chosen)}/${encodeURIComponent(w.window_id)}`,
      'aria-label': `${w.monitored_at}: details of window ${w.label}`,
    });
    cell(row, '').append(link);
    cell(row, w.label);
    cell(row, String(w.rows));
    cell(row, fixed(w.drift_share, 2));
    cell(row, flag(w.dataset_drift));
    cell(row, fixed(w.roc_auc));
    cell(row, fixed(w.brier));
    cell(row, String(w.alerts));
  }
  const shown = windows.find((w) => w.window_id === windowId) ?? windows.at(-1);
  if (shown) await showWindow(chosen, shown.window_id);
}

/** The schedule in one sentence: its plan, whether Temporal has it, the next run. */
function scheduleText(status) {
  if (status.problem) return `Schedule: not known (${status.problem}).`;
  if (!status.plan) return 'Not scheduled: an ADMIN schedules nightly monitoring with access-perm monitor schedule.';
  const plan = `Nightly plan: cron '${status.plan.cron}' on ${status.plan.current}, set by ${status.plan.configuredBy}`;
  const s = status.schedule;
  if (!s) return `${plan}; the Temporal server has no schedule ${status.runId}: an ADMIN sets it again.`;
  const next = s.nextRuns[0] ? `next run ${new Date(s.nextRuns[0]).toLocaleString()}` : 'no next run';
  const missed = s.recentRuns.filter((r) => !r.recorded && r.status !== 'RUNNING');
  const gaps = missed.length
    ? ` ${missed.length} not recorded: ${missed.map((r) => `${new Date(r.startedAt).toLocaleString()} ${r.status}`).join(', ')}.`
    : '';
  return `${plan}; ${s.paused ? `PAUSED${s.note ? ` (${s.note})` : ''}` : next}; ${s.recentRuns.length} recent runs.${gaps}`;
}

/** One window: drift per feature, its metrics against the reference, its alerts and a link to the full report. */
async function showWindow(runId, windowId) {
  const base = `/runs/${encodeURIComponent(runId)}/monitoring/windows/${encodeURIComponent(windowId)}`;
  const { window: w, drift, performance, alerts } = await api('GET', base);
  $('window-title').textContent = `Window ${w.label}: ${w.rows} rows, monitored ${w.startedAt}`;
  $('window-report').href = `${base}/report`;
  const m = performance.current;
  const ref = performance.reference;
  const facts = [
    ['dataset drift', `${drift.dataset.drifted_dataset ? 'yes' : 'no'}: share ${fixed(drift.dataset.share, 2)}`],
    ['ROC-AUC', m ? `${fixed(m.rocAuc)} (training OOF ${fixed(ref?.rocAuc)})` : 'no labels in this window'],
    ['accuracy', m ? `${fixed(m.accuracy)} (training OOF ${fixed(ref?.accuracy)})` : '–'],
    ['calibration', m ? `Brier ${fixed(m.brier)}, log loss ${fixed(m.logloss)}` : '–'],
    ['alerts', alerts.length ? alerts.map((a) => `${a.kind} (${a.subject})`).join('; ') : 'none'],
  ];
  $('window-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
  const body = $('feature-drift').tBodies[0];
  body.replaceChildren();
  for (const f of drift.features) {
    const row = body.insertRow();
    cell(row, f.column);
    cell(row, f.test);
    cell(
      row,
      `${fixed(f.score)} (${f.scoreKind === 'p_value' ? 'p' : 'distance'}; threshold ${fixed(f.threshold, 3)})`,
    );
    cell(row, fixed(f.psi, 3));
    cell(row, f.drifted ? 'DRIFT' : 'ok', f.drifted ? 'state' : undefined);
  }
  $('window-detail').hidden = false;
}

$('monitoring-run').addEventListener('change', () => {
  location.hash = `#monitoring/${encodeURIComponent($('monitoring-run').value)}`;
});

/** The audit query of the filter form, without its empty fields. */
function auditQuery() {
  const query = new URLSearchParams();
  for (const field of $('audit-filters').elements)
    if (field.name && field.value.trim()) query.set(field.name, field.value.trim());
  return query;
}

async function showAudit() {
  show('audit');
  const verification = await api('GET', '/audit-logs/verification').catch((e) => ({ ok: false, problem: e }));
  $('audit-verification').textContent = verification.ok
    ? `Log verified: ${verification.entries} entries, hash chain intact${verification.latest ? `, signed up to entry ${verification.latest.tree_size} at ${verification.latest.timestamp}` : ''}${verification.unsigned?.entries ? `; ${verification.unsigned.entries} not yet under a signed checkpoint` : ''}.`
    : `Log verification FAILED: ${verification.problem?.message ?? 'unknown problem'}`;
  const query = auditQuery();
  query.set('order', 'desc');
  query.set('limit', '200');
  const { entries } = await api('GET', `/audit-logs?${query}`);
  const exportLink = $('audit-export');
  exportLink.hidden = !may('export_audit_logs');
  query.delete('order');
  query.delete('limit');
  query.set('format', 'csv');
  exportLink.href = `/audit-logs/export?${query}`;
  exportLink.setAttribute('download', 'audit.csv');
  const body = $('audit-table').tBodies[0];
  body.replaceChildren();
  $('audit-detail').hidden = true;
  for (const e of entries) {
    const row = body.insertRow();
    const time = el('button', e.timestamp, {
      type: 'button',
      class: 'link',
      'aria-label': `${e.timestamp}, details of ${e.audit_id}`,
    });
    time.addEventListener('click', () => {
      $('audit-detail').textContent = JSON.stringify(e, null, 2);
      $('audit-detail').hidden = false;
      $('audit-detail').focus();
    });
    cell(row, '').append(time);
    cell(row, `${e.user_id} (${e.user_role}${e.temporary_role ? ', temporary' : ''})`);
    cell(row, e.action === 'permission_denied' ? `${e.action}: ${e.attempted_action}` : e.action);
    cell(row, e.status);
    cell(row, e.resource_type ? `${e.resource_type}${e.resource_id ? ` ${e.resource_id}` : ''}` : '–');
    cell(row, e.reason ?? '');
  }
}

async function showAdmin() {
  show('admin');
  const { users } = await api('GET', '/users');
  const body = $('users').tBodies[0];
  body.replaceChildren();
  for (const u of users) {
    const row = body.insertRow();
    cell(row, u.userId);
    cell(row, u.role);
    cell(row, u.effectiveRole === u.role ? u.role : `${u.effectiveRole} until ${u.elevation?.expiresAt}`);
  }
}

/** Runs an administration form's request, then shows the page again with the outcome. */
function adminForm(id, request) {
  $(id).addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      notice(await request());
      await showAdmin();
    } catch (e) {
      notice(e.message);
    }
  });
}

adminForm('add-user', async () => {
  const user = await api('POST', '/users', {
    user_id: $('new-user').value.trim(),
    role: $('new-role').value,
    reason: $('new-reason').value.trim(),
  });
  return `Added ${user.userId} as ${user.role}.`;
});
adminForm('assign-role', async () => {
  const userId = encodeURIComponent($('assign-user').value.trim());
  const role = $('assign-to').value;
  const reason = $('assign-reason').value.trim();
  const hours = $('assign-hours').value.trim();
  if (!hours) {
    const user = await api('PUT', `/users/${userId}/role`, { role, reason });
    return `${user.userId} is now ${user.role}.`;
  }
  const { user } = await api('POST', `/users/${userId}/elevation`, { role, hours: Number(hours), reason });
  return `${user.userId} is ${user.elevation.role} until ${user.elevation.expiresAt}.`;
});
adminForm('issue-token', async () => {
  const issued = await api('POST', '/tokens', { user_id: $('token-user').value.trim(), ttl: $('token-ttl').value });
  $('issued-token').textContent = issued.token;
  $('issued-token').hidden = false;
  return `Token ${issued.jti} for ${issued.userId}, until ${issued.expiresAt}: copy it now, it is shown once.`;
});
adminForm('revoke-token', async () => {
  const done = await api('DELETE', `/tokens/${encodeURIComponent($('revoke-jti').value.trim())}`);
  return `Revoked token ${done.jti}${done.subject ? ` of ${done.subject}` : ''}.`;
});
// The seed-3 roles, lowest first, in every role choice.
for (const select of document.querySelectorAll('select.roles'))
  select.append(...['VIEWER', 'ANALYST', 'MODELER', 'VALIDATOR', 'ADMIN'].map((role) => new Option(role)));

$('audit-filters').addEventListener('submit', (event) => {
  event.preventDefault();
  showAudit().catch((e) => notice(e.message));
});

/** What a lock needs and where the run stands; the actions the role may take (the server checks again). */
function showValidation(runId, lifecycle) {
  const items = [];
  if (!lifecycle) items.push('No lifecycle: the run has not finished training, or Temporal is not reachable.');
  else {
    const r = lifecycle.reproducibility;
    const current = lifecycle.currentVersion;
    items.push(
      lifecycle.job ? `Busy: ${lifecycle.job.detail}.` : `Current version: ${current}.`,
      r && r.version === current
        ? `Reproducibility test of version ${current}: ${r.passed ? 'passed' : 'FAILED'} (${r.by.userId}, ${r.at}).`
        : `Reproducibility test of version ${current}: not run yet (needed for the lock).`,
      lifecycle.overrides.some((o) => o.status === 'pending_review')
        ? 'An override waits for review: review it before the lock.'
        : 'No override waits for review.',
      lifecycle.lock ? `Locked by ${lifecycle.lock.locked_by} at ${lifecycle.lock.locked_at}.` : 'Not locked.',
      lifecycle.deployment
        ? `Deployment approved by ${lifecycle.deployment.approvedBy} at ${lifecycle.deployment.at}.`
        : 'Deployment not approved.',
      'The lock also needs the model card, the scoring spec and a monitoring schedule; a refusal names what is missing.',
    );
  }
  $('preconditions').replaceChildren(...items.map((t) => el('li', t)));
  const form = $('validation-actions');
  const allowed = {
    repro: may('run_reproducibility') && !lifecycle?.lock,
    lock: may('lock_run') && !lifecycle?.lock,
    deploy: may('approve_deployment') && Boolean(lifecycle?.lock) && !lifecycle?.deployment,
  };
  for (const button of form.querySelectorAll('button')) button.hidden = !lifecycle || !allowed[button.value];
  form.hidden = !lifecycle || !Object.values(allowed).some(Boolean);
  form.onsubmit = async (event) => {
    event.preventDefault();
    const action = event.submitter?.value;
    const reason = $('validation-reason').value.trim();
    const base = `/runs/${encodeURIComponent(runId)}`;
    try {
      const verdict =
        action === 'repro'
          ? await api('POST', `${base}/reproducibility`)
          : await api('POST', `${base}/${action === 'lock' ? 'lock' : 'deployment'}`, { reason });
      notice(`${verdict.message}; status ${verdict.status}`);
      await showRun(runId);
    } catch (e) {
      notice(e.message);
    }
  };
}

/** The page the address names: #runs (default), #review, #run/<id>, #monitoring[/<run>[/<window>]], #audit, #admin. */
async function route() {
  if (!session) return;
  $('who').textContent = `${session.userId} (${session.role}), until ${new Date(session.expiresAt).toLocaleString()}`;
  $('nav-audit').hidden = !may('view_audit_logs');
  $('nav-admin').hidden = !may('manage_users');
  const [page, arg, windowArg] = location.hash.slice(1).split('/');
  for (const link of $('nav').querySelectorAll('a'))
    link.toggleAttribute('aria-current', link.getAttribute('href') === `#${page || 'runs'}`);
  // data-ready tells a waiting reader (screenshots, tests) that the page has its data.
  delete document.body.dataset.ready;
  try {
    if (page === 'review') await showReview();
    else if (page === 'audit') await showAudit();
    else if (page === 'monitoring')
      await showMonitoring(...[arg, windowArg].map((a) => (a ? decodeURIComponent(a) : undefined)));
    else if (page === 'admin') await showAdmin();
    else if (page === 'run' && arg) await showRun(decodeURIComponent(arg));
    else await showRuns();
  } catch (e) {
    // A session that ended has already said so on the sign-in page.
    if (session) notice(e.message);
  } finally {
    document.body.dataset.ready = page || 'runs';
  }
  // A keyboard user lands on the new page's heading, unless the focus is still somewhere visible.
  const focused = document.activeElement;
  if (session && (!focused || focused === document.body || focused.closest('[hidden]')))
    document.querySelector('main > section:not([hidden]) h2')?.focus();
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
    await route();
  } catch (e) {
    notice(`Sign-in refused: ${e.message}`);
  }
});

$('sign-out').addEventListener('click', async () => {
  await api('DELETE', '/session').catch(() => undefined);
  showSignIn('Signed out.');
});

$('state-filter').addEventListener('change', () => showRuns().catch((e) => notice(e.message)));

window.addEventListener('hashchange', () => route());

try {
  session = await api('GET', '/session');
  await route();
} catch {
  if (!session) showSignIn();
}
