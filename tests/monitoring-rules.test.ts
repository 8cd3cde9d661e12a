import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config';
import { ConfigError } from '../lib/errors';
import { DEFAULT_DRIFT_OPTIONS, alertsFor, driftOptionsOf, historyPath, monitoringTrend } from '../lib/monitor';
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

  it('answers the trend across windows with one query, oldest first, metrics null when unlabelled', async () => {
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
    const lines = [
      entry(2, { rocAuc: 0.91, accuracy: 0.84 }),
      entry(1, null),
      entry(3, { rocAuc: 0.88, accuracy: 0.8 }),
    ];
    await mkdir(join(await resolveRunDir('r1'), 'monitoring'), { recursive: true });
    await writeFile(historyPath(await resolveRunDir('r1')), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    const trend = await monitoringTrend('r1');
    expect(trend.map((r) => [r.label, r.roc_auc, r.drifted_features, r.alerts])).toEqual([
      ['night 1', null, 1, 0],
      ['night 2', 0.91, 2, 0],
      ['night 3', 0.88, 3, 1],
    ]);
    expect((await monitoringTrend('r1', 2)).map((r) => r.label)).toEqual(['night 2', 'night 3']);
    expect(await monitoringTrend('r-none')).toEqual([]);
  });
});
