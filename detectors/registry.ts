import type { Detector } from './detector.ts';
import { keyDisabledOrDeleted } from './key-disabled-or-deleted.ts';

/** Every detector, one line each; `detectors/catalogue.test.ts` checks each has its cases. */
export const DETECTORS: readonly Detector[] = [
  keyDisabledOrDeleted,
];
