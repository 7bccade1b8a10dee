import { readFileSync } from 'node:fs';

const MB = 1024 * 1024;

/** The kernel's high-water mark of this process's resident set (VmHWM), in bytes; 0 where /proc is missing. */
export function vmHwmBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples `process.memoryUsage().rss` every `everyMs` while a run is in progress. `stop()` returns
 * the larger of the highest sample and VmHWM, in MiB: polling can miss a short spike, VmHWM cannot,
 * and the sample still gives a figure where /proc is not there.
 *
 * @example const rss = sampleRss(); await work(); const peakMb = rss.stop();
 */
export function sampleRss(everyMs = 100): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage().rss, vmHwmBytes());
      return Math.round((peak / MB) * 10) / 10;
    },
  };
}
