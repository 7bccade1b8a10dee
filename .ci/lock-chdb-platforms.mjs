#!/usr/bin/env node
// chdb lists its native library for four platforms as optional dependencies. The registry this
// project installs from serves only the linux-x64 one, so `npm install` writes a lock without the
// other three and `npm ci` then refuses the lock ("Missing: @chdb/lib-darwin-arm64@ from lock
// file"). This adds lock entries for them (optional, with os/cpu, so npm never fetches them here).
// Run it after any `npm install` that rewrites package-lock.json: `npm run lock:fix`.
import { readFileSync, writeFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const chdb = lock.packages['node_modules/chdb'];
const platforms = {
  '@chdb/lib-darwin-arm64': { cpu: ['arm64'], os: ['darwin'] },
  '@chdb/lib-darwin-x64': { cpu: ['x64'], os: ['darwin'] },
  '@chdb/lib-linux-arm64-gnu': { cpu: ['arm64'], os: ['linux'], libc: ['glibc'] },
  '@chdb/lib-linux-x64-gnu': { cpu: ['x64'], os: ['linux'], libc: ['glibc'] },
};
let added = 0;
for (const [name, p] of Object.entries(platforms)) {
  const key = `node_modules/${name}`;
  const version = chdb?.optionalDependencies?.[name];
  if (!version || lock.packages[key]) continue;
  lock.packages[key] = { version, ...p, license: chdb.license, optional: true };
  added++;
}
const sorted = {};
for (const k of Object.keys(lock.packages).sort((a, b) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1))) sorted[k] = lock.packages[k];
lock.packages = sorted;
writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
console.log(`lock-chdb-platforms: ${added} entr${added === 1 ? 'y' : 'ies'} added`);
