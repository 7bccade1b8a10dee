/**
 * The invented BYOK estate that demo and bench traffic comes from: three tenants, their AWS
 * accounts, regions, keys and the principals that use them. Account ids, IPs and names are
 * synthetic (documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 for outsiders).
 */
export interface DemoKey {
  tenant: string;
  account: string;
  region: string;
  keyId: string; // uuid
  arn: string;
  alias: string;
  origin: 'AWS_KMS' | 'EXTERNAL' | 'AWS_CLOUDHSM' | 'EXTERNAL_KEY_STORE';
  customKeyStoreId?: string;
  spec: 'SYMMETRIC_DEFAULT' | 'RSA_2048' | 'ECC_NIST_P256';
}

export interface DemoRole {
  name: string;
  kind: 'role' | 'user' | 'service';
  /** Which key aliases it uses in normal operation. */
  uses: string[];
  ips: string[];
  userAgent: string;
  opsPerHour: number;
}

export interface DemoTenant {
  name: string;
  accounts: string[];
  regions: string[];
  roles: DemoRole[];
}

export const DEMO_TENANTS: DemoTenant[] = [
  {
    name: 'acme',
    accounts: ['210987654321', '210987654322'],
    regions: ['eu-central-1', 'eu-west-1'],
    roles: [
      { name: 'orders-api', kind: 'role', uses: ['orders', 'payments'], ips: ['10.20.3.14', '10.20.3.15'], userAgent: 'aws-sdk-java/2.25.11 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9', opsPerHour: 40 },
      { name: 'etl-worker', kind: 'role', uses: ['warehouse', 'orders'], ips: ['10.20.7.2'], userAgent: 'aws-sdk-js/3.600.0 ua/2.0 os/linux#5.10 lang/js md/nodejs#20.11.0', opsPerHour: 25 },
      { name: 'kms-admin', kind: 'user', uses: [], ips: ['192.0.2.10'], userAgent: 'aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.debian.12', opsPerHour: 0.3 },
      { name: 's3.amazonaws.com', kind: 'service', uses: ['warehouse'], ips: [], userAgent: 's3.amazonaws.com', opsPerHour: 30 },
    ],
  },
  {
    name: 'globex',
    accounts: ['345678901234'],
    regions: ['us-east-1', 'us-west-2'],
    roles: [
      { name: 'billing-batch', kind: 'role', uses: ['billing', 'ledger'], ips: ['10.60.1.20', '10.60.1.21'], userAgent: 'Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.2', opsPerHour: 30 },
      { name: 'signer', kind: 'role', uses: ['code-signing'], ips: ['10.60.9.4'], userAgent: 'aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1', opsPerHour: 6 },
      { name: 'secops', kind: 'user', uses: [], ips: ['192.0.2.44'], userAgent: 'aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64', opsPerHour: 0.2 },
      { name: 'dynamodb.amazonaws.com', kind: 'service', uses: ['ledger'], ips: [], userAgent: 'dynamodb.amazonaws.com', opsPerHour: 20 },
    ],
  },
  {
    name: 'initech',
    accounts: ['456789012345'],
    regions: ['ap-southeast-2'],
    roles: [
      { name: 'tps-reports', kind: 'role', uses: ['reports', 'hr'], ips: ['10.90.0.8'], userAgent: 'aws-sdk-dotnet-coreclr/3.7.300.53 .NET_Core/8.0.2 OS/Linux', opsPerHour: 15 },
      { name: 'rds.amazonaws.com', kind: 'service', uses: ['hr'], ips: [], userAgent: 'rds.amazonaws.com', opsPerHour: 10 },
      { name: 'lumbergh', kind: 'user', uses: [], ips: ['192.0.2.77'], userAgent: 'aws-cli/2.15.30 Python/3.11.8 Windows/10 exe/AMD64', opsPerHour: 0.1 },
    ],
  },
];

const KEY_ALIASES: Record<string, { aliases: string[]; origin: DemoKey['origin']; spec: DemoKey['spec'] }[]> = {
  acme: [
    { aliases: ['orders'], origin: 'EXTERNAL', spec: 'SYMMETRIC_DEFAULT' },
    { aliases: ['payments'], origin: 'EXTERNAL_KEY_STORE', spec: 'SYMMETRIC_DEFAULT' },
    { aliases: ['warehouse'], origin: 'AWS_KMS', spec: 'SYMMETRIC_DEFAULT' },
  ],
  globex: [
    { aliases: ['billing'], origin: 'AWS_CLOUDHSM', spec: 'SYMMETRIC_DEFAULT' },
    { aliases: ['ledger'], origin: 'EXTERNAL', spec: 'SYMMETRIC_DEFAULT' },
    { aliases: ['code-signing'], origin: 'AWS_KMS', spec: 'ECC_NIST_P256' },
  ],
  initech: [
    { aliases: ['reports'], origin: 'AWS_KMS', spec: 'SYMMETRIC_DEFAULT' },
    { aliases: ['hr'], origin: 'EXTERNAL', spec: 'RSA_2048' },
  ],
};

/** Deterministic key uuid from its coordinates, so the same estate always has the same ARNs. */
function keyUuid(account: string, region: string, alias: string): string {
  let h = 2166136261;
  for (const ch of `${account}/${region}/${alias}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  const hex = (n: number, w: number) => (n >>> 0).toString(16).padStart(w, '0').slice(-w);
  let g = h;
  const next = () => (g = Math.imul(g ^ (g >>> 13), 0x5bd1e995) >>> 0);
  return `${hex(next(), 8)}-${hex(next(), 4)}-4${hex(next(), 3)}-a${hex(next(), 3)}-${hex(next(), 8)}${hex(next(), 4)}`;
}

export function demoKeys(): DemoKey[] {
  const keys: DemoKey[] = [];
  for (const t of DEMO_TENANTS) {
    for (const account of t.accounts) {
      for (const region of t.regions) {
        for (const k of KEY_ALIASES[t.name] ?? []) {
          for (const alias of k.aliases) {
            const keyId = keyUuid(account, region, alias);
            keys.push({
              tenant: t.name,
              account,
              region,
              keyId,
              arn: `arn:aws:kms:${region}:${account}:key/${keyId}`,
              alias,
              origin: k.origin,
              spec: k.spec,
              ...(k.origin === 'AWS_CLOUDHSM' || k.origin === 'EXTERNAL_KEY_STORE'
                ? { customKeyStoreId: `cks-${keyId.replace(/-/g, '').slice(0, 17)}` }
                : {}),
            });
          }
        }
      }
    }
  }
  return keys;
}

/** account -> tenant, the same mapping a user writes in keywatch.config.json. */
export function demoTenantMap(): Record<string, string> {
  const map: Record<string, string> = {};
  for (const t of DEMO_TENANTS) for (const a of t.accounts) map[a] = t.name;
  return map;
}
