import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Outcome } from '../core/key-event.ts';
import { Operation, OperationClass } from '../core/operations.ts';
import { KeywatchError } from '../core/errors.ts';
import { Duration, durationMs } from './duration.ts';
import { BurnRatePolicy } from './windows.ts';

/*
 * SLO spec files (YAML or JSON), shaped like OpenSLO v1 where that fits (apiVersion, kind,
 * metadata.name, spec.timeWindow, spec.budgetingMethod, spec.objectives[].target) with a keywatch
 * indicator in place of OpenSLO's metric-source queries, because the events are already in the store.
 *
 * @example
 *   apiVersion: keywatch/v1
 *   kind: SLO
 *   metadata: { name: decrypt-success }
 *   spec:
 *     timeWindow: [{ duration: 30d, isRolling: true }]
 *     budgetingMethod: Occurrences
 *     objectives: [{ target: 0.9999 }]
 *     groupBy: [key]
 *     indicator: { ratio: { total: { operation: [decrypt] }, good: { outcome: [success] } } }
 */

const names = z.array(z.string().min(1)).min(1);

/** Events of `key_events` selected by column values; each field is a list of accepted values, fields are ANDed. */
export type EventFilter = {
  tenant?: string[];
  source?: string[];
  region?: string[];
  keyId?: string[];
  operation?: Operation[];
  operationClass?: OperationClass[];
  outcome?: ('success' | 'failure')[];
  errorCode?: string[];
  principalType?: string[];
  /** `server`: failures that are the key service's fault (slo/error-kinds.json); `client`: the other failures. */
  errorKind?: ('server' | 'client')[];
  /** Leaves out the events this filter matches. */
  not?: EventFilter;
};
export const EventFilter: z.ZodType<EventFilter> = z.lazy(() =>
  z
    .object({
      tenant: names.optional(),
      source: names.optional(),
      region: names.optional(),
      keyId: names.optional(),
      operation: z.array(Operation).min(1).optional(),
      operationClass: z.array(OperationClass).min(1).optional(),
      outcome: z.array(Outcome).min(1).optional(),
      errorCode: names.optional(),
      principalType: names.optional(),
      errorKind: z.array(z.enum(['server', 'client'])).min(1).optional(),
      not: EventFilter.optional(),
    })
    .strict(),
);

export const Indicator = z.union([
  /** good / total events; `good` narrows `total`. */
  z.object({ ratio: z.object({ total: EventFilter, good: EventFilter }).strict() }).strict(),
  /** Events with a measured latency; those at or under the threshold are good. */
  z.object({ latency: z.object({ filter: EventFilter.default({}), thresholdMs: z.number().positive() }).strict() }).strict(),
  /** HSM audit records: stored ones are good, ones missing from a sequence (audit_integrity gaps) are bad. */
  z.object({ auditCompleteness: z.object({ source: names.default(['aws-cloudhsm', 'luna-hsm']) }).strict() }).strict(),
  /** Rotations due: completed rotations (rotate_key successes) are good, keys found overdue by the rotation-overdue detector are bad. */
  z.object({ rotation: z.object({ filter: EventFilter.default({}) }).strict() }).strict(),
  /** Detector alerts: resolved within the threshold is good; resolved later, or still open past it, is bad. */
  z
    .object({
      alertRecovery: z
        .object({ thresholdMinutes: z.number().int().positive(), detectors: names.optional(), severities: z.array(z.enum(['info', 'low', 'medium', 'high', 'critical'])).min(1).optional() })
        .strict(),
    })
    .strict(),
]);
export type Indicator = z.infer<typeof Indicator>;

export const GROUP_DIMENSIONS = ['tenant', 'source', 'region', 'key'] as const;
export const GroupDimension = z.enum(GROUP_DIMENSIONS);
export type GroupDimension = z.infer<typeof GroupDimension>;

export const SloSpec = z
  .object({
    apiVersion: z.literal('keywatch/v1'),
    kind: z.literal('SLO'),
    metadata: z
      .object({
        name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, at most 63 characters'),
        displayName: z.string().min(1).optional(),
      })
      .strict(),
    spec: z
      .object({
        description: z.string().min(1).optional(),
        timeWindow: z.array(z.object({ duration: Duration, isRolling: z.literal(true).default(true) }).strict()).length(1, 'exactly one rolling time window'),
        budgetingMethod: z.literal('Occurrences').default('Occurrences'),
        objectives: z.array(z.object({ displayName: z.string().optional(), target: z.number().gt(0).lte(1) }).strict()).length(1, 'exactly one objective'),
        /** One evaluation per distinct value of these columns; none means one for everything. */
        groupBy: z.array(GroupDimension).default([]),
        /** A policy does not fire while its long window holds fewer events than this. */
        minEvents: z.number().int().min(1).default(50),
        /** Nor while it holds fewer bad events than this: with the default 2, one failure never pages or tickets. */
        minBadEvents: z.number().int().min(1).default(2),
        alerting: z
          .object({
            /** Use the period's window table (slo/windows/<period>.json). */
            windowTable: z.boolean().default(true),
            /** Extra policies, e.g. { name: fast-5x, action: page, burnRate: 5, longWindow: 15m, shortWindow: 5m }. */
            policies: z.array(BurnRatePolicy).default([]),
          })
          .strict()
          .default({ windowTable: true, policies: [] }),
        indicator: Indicator,
      })
      .strict()
      .superRefine((s, ctx) => {
        const period = s.timeWindow[0]?.duration ?? '30d';
        s.alerting.policies.forEach((p, i) => {
          if (durationMs(p.longWindow) > durationMs(period)) ctx.addIssue({ code: 'custom', path: ['alerting', 'policies', i, 'longWindow'], message: `longer than the period ${period}` });
        });
        if (new Set(s.groupBy).size !== s.groupBy.length) ctx.addIssue({ code: 'custom', path: ['groupBy'], message: 'a dimension is listed twice' });
        const allowed = allowedGroups(s.indicator);
        for (const g of s.groupBy) if (!allowed.includes(g)) ctx.addIssue({ code: 'custom', path: ['groupBy'], message: `${Object.keys(s.indicator)[0]} indicators group by ${allowed.join(', ') || 'nothing'}, not ${g}` });
      }),
  })
  .strict();
export type SloSpec = z.infer<typeof SloSpec>;

/** Dimensions an indicator's data has. */
export function allowedGroups(i: Indicator): GroupDimension[] {
  if ('auditCompleteness' in i) return ['tenant', 'source'];
  if ('alertRecovery' in i) return ['tenant'];
  // Overdue keys come from alerts, which carry the tenant and key but no source or region.
  if ('rotation' in i) return ['tenant', 'key'];
  return [...GROUP_DIMENSIONS];
}

export const periodOf = (s: SloSpec): string => s.spec.timeWindow[0]?.duration ?? '30d';
export const objectiveOf = (s: SloSpec): number => s.spec.objectives[0]?.target ?? 1;

/** Parses one spec file's text (YAML, of which JSON is a subset); one file may hold several documents. */
export function parseSpecs(text: string, file: string): SloSpec[] {
  let docs: unknown[];
  try {
    docs = text
      .split(/^---\s*$/m)
      .filter((d) => d.trim() !== '')
      .map((d) => parseYaml(d) as unknown);
  } catch (e) {
    throw new KeywatchError('SLO_SPEC_INVALID', `SLO spec ${file} is not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  return docs.map((doc, i) => {
    const r = SloSpec.safeParse(doc);
    if (r.success) return r.data;
    const where = docs.length > 1 ? ` (document ${i + 1})` : '';
    throw new KeywatchError('SLO_SPEC_INVALID', `SLO spec ${file}${where}: ${r.error.issues.map((x) => `${x.path.join('.') || '(root)'}: ${x.message}`).join('; ')}`);
  });
}

/** Specs from files and directories (every .yaml, .yml and .json inside); names must be unique. */
export function loadSpecs(paths: readonly string[]): SloSpec[] {
  const files: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new KeywatchError('INPUT_NOT_FOUND', `SLO spec ${p} does not exist`, { cause: e });
    }
    if (st.isDirectory()) files.push(...readdirSync(p).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => join(p, f)));
    else files.push(p);
  }
  const specs: SloSpec[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    for (const s of parseSpecs(readFileSync(f, 'utf8'), f)) {
      const other = seen.get(s.metadata.name);
      if (other) throw new KeywatchError('SLO_SPEC_INVALID', `SLO ${s.metadata.name} is defined twice: in ${other} and in ${f}`);
      seen.set(s.metadata.name, f);
      specs.push(s);
    }
  }
  return specs;
}

/** The shipped example specs (slo/examples/). */
export const EXAMPLES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'examples');
