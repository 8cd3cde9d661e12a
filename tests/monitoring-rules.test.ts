import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config';
import { ArtifactIntegrityError, ConfigError } from '../lib/errors';
import { RecordSignatureError } from '../lib/keys';
import {
  DEFAULT_DRIFT_OPTIONS,
  alertsFor,
  driftOptionsOf,
  hasMonitoringSchedule,
  historyPath,
  monitoringManifestPath,
  monitoringSchedule,
  monitoringTrend,
  readHistory,
  readMonitoringManifest,
  recordWindow,
  registerSchedule,
  schedulesPath,
} from '../lib/monitor';
import { resolveRunDir } from '../lib/run';
import type { DriftSummary, HistoryEntry, PerformanceSummary } from '../schemas/monitoring';
import { smallConfig, useTempDataDir } from './helpers';

const config = (patch: (c: Record<string, any>) => void = () => {}) =>
  parseConfig(smallConfig('/data', patch), 'test', '/');

const noDrift: DriftSummary = {
  driftedDataset: false,
  share: 0.2,
  threshold: 0.5,
  drifted: ['appId', 'category'],
  targetDrifted: false,
  predictionDrifted: false,
  maxNewCategoryRate: null,
};
const labelled = (rows: number, accuracyChange: number): PerformanceSummary => ({
  labelled: true,
  rows,
  metrics: {
    accuracy: { current: 0.8 + accuracyChange, reference: 0.8, change: accuracyChange },
    rocAuc: { current: 0.9, reference: 0.9, change: 0 },
  },
  flaggedSegments: 0,
});

describe('monitoring config', () => {
  it("defaults to Evidently's thresholds, and they reach computeDrift unchanged", () => {
    const c = config();
    expect(c.monitoring.drift).toMatchObject({ p_value: 0.05, distance: 0.1, psi: 0.1, drift_share: 0.5 });
    const o = { ...DEFAULT_DRIFT_OPTIONS, ...driftOptionsOf(c) };
    expect(o).toEqual(DEFAULT_DRIFT_OPTIONS);
  });

  it('maps every configured threshold onto the drift options', () => {
    const c = config((x) => {
      x.monitoring = {
        drift: { p_value: 0.01, distance: 0.2, drift_share: 0.3, psi_bands: [0.05, 0.2], tests: { appId: 'psi' } },
      };
    });
    expect(driftOptionsOf(c)).toMatchObject({
      pValueThreshold: 0.01,
      distanceThreshold: 0.2,
      datasetDriftShare: 0.3,
      psiBands: [0.05, 0.2],
      tests: { appId: 'psi' },
    });
  });

  it('rejects unknown keys and bad values, naming them', () => {
    expect(() => config((x) => (x.monitoring = { drift: { pvalue: 0.05 } }))).toThrow(/monitoring\.drift/);
    expect(() => config((x) => (x.monitoring = { drift: { psi_bands: [0.25, 0.1] } }))).toThrow(ConfigError);
    expect(() => config((x) => (x.monitoring = { alerts: { metric_drop: { auc: 0.1 } } }))).toThrow(
      /monitoring\.alerts\.metric_drop/,
    );
  });
});

describe('alert rules', () => {
  it('alerts on dataset drift only, not on single drifted features', () => {
    expect(alertsFor(config(), 'w', noDrift, labelled(1000, 0))).toEqual([]);
    const drift = { ...noDrift, driftedDataset: true, share: 0.6 };
    const [alert] = alertsFor(config(), 'night 1', drift, labelled(1000, 0));
    expect(alert).toMatchObject({ kind: 'drift_alert' });
    expect(alert!.subject).toMatch(/night 1: 2 features drifted \(60\.0% ≥ 50\.0%\): appId, category/);
    const off = config((x) => (x.monitoring = { alerts: { dataset_drift: false } }));
    expect(alertsFor(off, 'w', drift, labelled(1000, 0))).toEqual([]);
  });

  it('alerts on a metric drop beyond its tolerance, on labelled windows large enough to judge', () => {
    expect(alertsFor(config(), 'w', noDrift, labelled(1000, -0.04))).toEqual([]);
    const [alert] = alertsFor(config(), 'w', noDrift, labelled(1000, -0.06));
    expect(alert!.kind).toBe('performance_alert');
    expect(alert!.subject).toMatch(/accuracy 0\.7400 vs 0\.8000 \(-0\.0600, tolerance 0\.05\)/);
    expect(alertsFor(config(), 'w', noDrift, labelled(150, -0.3))).toEqual([]);
    const strict = config((x) => (x.monitoring = { alerts: { metric_drop: { accuracy: 0.01 } } }));
    expect(alertsFor(strict, 'w', noDrift, labelled(1000, -0.02))).toHaveLength(1);
  });
});

describe('monitoring history', () => {
  beforeAll(async () => {
    await useTempDataDir('monitoring-history');
  });

  const entry = (i: number, metrics: Record<string, number> | null): HistoryEntry => ({
    window_id: `w${i}`,
    label: `night ${i}`,
    monitored_at: `2026-11-${String(20 + i).padStart(2, '0')}T02:00:00.000Z`,
    source: '/feed.csv',
    source_sha256: 'ab',
    rows: 1000 + i,
    labelled: metrics !== null,
    dataset_drift: i === 3,
    drift_share: i / 10,
    drifted_features: Array.from({ length: i }, (_, k) => `f${k}`),
    target_drift: metrics ? false : null,
    prediction_drift: false,
    mean_score: 0.5,
    approval_rate: metrics ? 0.5 : null,
    feature_scores: {},
    metrics,
    alerts: i === 3 ? ['drift_alert'] : [],
    report_html: `monitoring/windows/w${i}/report.html`,
    report_json: `monitoring/windows/w${i}/result.json`,
  });
  const window = (e: HistoryEntry) => ({
    windowId: e.window_id,
    label: e.label,
    monitoredAt: e.monitored_at,
    reference: 'ref',
    model: 'model',
    artifacts: [],
  });

  it('answers the trend across windows with one query, oldest first, metrics null when unlabelled', async () => {
    const runDir = await resolveRunDir('r1');
    for (const e of [
      entry(2, { rocAuc: 0.91, accuracy: 0.84 }),
      entry(1, null),
      entry(3, { rocAuc: 0.88, accuracy: 0.8 }),
    ])
      await recordWindow('r1', runDir, window(e), e);
    const trend = await monitoringTrend('r1');
    expect(trend.map((r) => [r.label, r.roc_auc, r.drifted_features, r.alerts])).toEqual([
      ['night 1', null, 1, 0],
      ['night 2', 0.91, 2, 0],
      ['night 3', 0.88, 3, 1],
    ]);
    expect((await monitoringTrend('r1', 2)).map((r) => r.label)).toEqual(['night 2', 'night 3']);
    expect(await monitoringTrend('r-none')).toEqual([]);
  });

  it('holds against someone who writes the data directory: history lines, manifest, older copies, schedules', async () => {
    const runDir = await resolveRunDir('r1');
    const manifestFile = monitoringManifestPath(runDir);
    const historyFile = historyPath(runDir);
    const [manifest, history] = await Promise.all([readFile(manifestFile, 'utf8'), readFile(historyFile, 'utf8')]);
    const labels = async () => (await monitoringTrend('r1')).map((r) => r.label);

    // A history line made to say "no drift": the trend, the chart and the recorder refuse the history.
    await writeFile(historyFile, history.replace('"dataset_drift":true', '"dataset_drift":false'));
    await expect(monitoringTrend('r1')).rejects.toThrow(
      /history\.jsonl of run r1 was changed after its windows were recorded/,
    );
    await expect(readHistory(runDir)).rejects.toBeInstanceOf(ArtifactIntegrityError);
    // A line appended without the key (or left by an interrupted write) is not part of the history.
    const planted = JSON.parse(history.split('\n')[0]!) as HistoryEntry;
    await writeFile(historyFile, `${history}${JSON.stringify({ ...planted, window_id: 'w9', label: 'planted' })}\n`);
    expect(await labels()).toEqual(['night 1', 'night 2', 'night 3']);

    // The manifest edited (its signature no longer matches), unsigned, another run's, an older copy, or deleted.
    const signed = JSON.parse(manifest) as Record<string, any>;
    await writeFile(manifestFile, manifest.replace('"night 2"', '"night 7"'));
    await expect(readMonitoringManifest('r1', runDir)).rejects.toThrow(/does not match its signature/);
    const { signature: _s, ...unsigned } = signed;
    await writeFile(manifestFile, JSON.stringify({ ...unsigned, format: 'access-perm/monitoring-manifest@1' }));
    await expect(monitoringTrend('r1')).rejects.toThrow(/monitoring manifest of run r1 .* is not signed/);
    await writeFile(manifestFile, manifest);
    const e4 = entry(4, null);
    await recordWindow('r1', runDir, window(e4), e4);
    expect(await readFile(historyFile, 'utf8')).not.toContain('planted');
    await writeFile(manifestFile, manifest);
    await expect(readHistory(runDir)).rejects.toThrow(/write 3 of 4: an older copy was put back/);
    await rm(manifestFile);
    await expect(monitoringTrend('r1')).rejects.toThrow(/was deleted after windows were recorded/);
    await expect(recordWindow('r1', runDir, window(e4), e4)).rejects.toBeInstanceOf(RecordSignatureError);
    const otherDir = await resolveRunDir('r2');
    await mkdir(join(otherDir, 'monitoring'), { recursive: true });
    await writeFile(monitoringManifestPath(otherDir), manifest);
    await writeFile(historyPath(otherDir), history);
    await expect(monitoringTrend('r2')).rejects.toThrow(/is the manifest of run r1: refused/);

    // The nightly plan pointed at other data is refused, so no window runs on it.
    const plan = {
      runId: 'r1',
      scheduleId: 'monitor-r1',
      cron: '0 2 * * *',
      current: '/feeds/nightly.csv',
      configuredBy: 'admin',
      configuredAt: '2026-12-07T00:00:00.000Z',
    };
    await registerSchedule(plan);
    expect(await monitoringSchedule('r1')).toEqual(plan);
    const schedules = await readFile(schedulesPath(), 'utf8');
    await writeFile(schedulesPath(), schedules.replace('/feeds/nightly.csv', '/tmp/quiet.csv'));
    await expect(monitoringSchedule('r1')).rejects.toThrow(/monitoring schedules .* does not match its signature/);
    await writeFile(schedulesPath(), schedules);
    await registerSchedule({ ...plan, cron: '0 3 * * *' });
    await writeFile(schedulesPath(), schedules);
    await expect(hasMonitoringSchedule('r1')).rejects.toThrow(/older copy was put back/);
  });
});
