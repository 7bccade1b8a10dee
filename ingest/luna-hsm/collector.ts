import type { Collector } from '../collector.ts';
import { layoutsFromEnv, type CompiledLayouts } from './layouts.ts';
import { lunaSql, type LunaSql } from './normalize-sql.ts';
import { recordSequenceGaps } from './sequence-gaps.ts';

const CLOUDHSM_SOURCE = Buffer.from('thales/cloudhsm/');
const LUNA = Buffer.from('LUNA_');
const ACTOR = /"actor[iI][dD]"\s*:/;

export interface LunaCollectorOptions {
  /** Layouts to read audit lines with; default: those of `KEYWATCH_LUNA_LAYOUTS` (read on first use). */
  layouts?: CompiledLayouts;
}

interface LunaCollector extends Collector {
  /** Replaces the layouts (the next SQL built uses them). */
  useLayouts(layouts: CompiledLayouts): void;
}

/**
 * Thales Luna: DPoD Luna Cloud HSM audit records (JSON) and Luna Network HSM 7 audit lines
 * forwarded by syslog. `layouts` makes a collector for other line layouts (layouts.ts).
 *
 * @example createLunaHsmCollector({ layouts: compileLayouts(JSON.parse(readFileSync('luna-layouts.json', 'utf8'))) })
 */
export function createLunaHsmCollector(opts: LunaCollectorOptions = {}): LunaCollector {
  let layouts = opts.layouts;
  let sql: LunaSql | undefined;
  // The environment is read when SQL is first needed, so that a bad layouts file fails the ingest
  // that uses it, not every command that loads the registry.
  const get = (): LunaSql => (sql ??= lunaSql((layouts ??= layoutsFromEnv())));
  return {
    source: 'luna-hsm',
    formats: ['luna-hsm', 'luna', 'dpod'],
    description: 'Thales Luna: DPoD Luna Cloud HSM audit exports (JSON) and Luna Network HSM 7 audit lines via syslog',
    sniff: (head) =>
      /"source"\s*:\s*"thales\/cloudhsm\//.test(head) ||
      (ACTOR.test(head) && /"action"\s*:\s*"LUNA_/.test(head)) ||
      /\bLUNA_[A-Z_]+\b[\s\S]{0,200}?\b(?:RC|LUNA_RET|CKR)_[A-Z_]+/.test(head),
    sniffRecord: (r) => r.includes(CLOUDHSM_SOURCE) || r.includes(LUNA),
    normalizeSql: (stage) => get().normalize(stage),
    classifySql: (stage) => get().classify(stage),
    afterIngest: recordSequenceGaps,
    useLayouts: (l) => {
      layouts = l;
      sql = undefined;
    },
  };
}

const registered = createLunaHsmCollector();

/** The registered collector (ingest/collectors.ts). */
export const lunaHsmCollector: Collector = registered;

/**
 * The configuration hook: makes the registered collector read audit lines with these layouts
 * instead of those of `KEYWATCH_LUNA_LAYOUTS`. Call it once, after loading the configuration and
 * before ingesting.
 *
 * @example configureLunaHsmLayouts(compileLayouts(JSON.parse(readFileSync(config.ingest.lunaLayoutsFile, 'utf8'))))
 */
export function configureLunaHsmLayouts(layouts: CompiledLayouts): void {
  registered.useLayouts(layouts);
}
