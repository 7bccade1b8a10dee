import { describe, expect, it } from 'vitest';
import type { Framed } from '../framing.ts';
import { frameCloudHsm, streamFromOrigin, type CloudHsmRecord } from './framing.ts';

const ENTRY = (seq: number, op = 'CN_LOGIN (0xd)') =>
  [
    `Time: 03/02/26 08:14:52.${String(seq).padStart(6, '0')}, usecs:${1772439292000000 + seq}`,
    `Sequence No : 0x${seq.toString(16)}`,
    'Reboot counter : 0x107',
    'Command Type(hex) : CN_MGMT_CMD (0x0)',
    `Opcode : ${op}`,
    'Session Handle : 0x7014006',
    'Response : 0:HSM Return: SUCCESS',
    'Log type : MINIMAL_LOG_ENTRY (0)',
  ].join('\n');

const delivery = (stream: string, messages: string[]) => ({
  messageType: 'DATA_MESSAGE',
  owner: '111122223333',
  logGroup: '/aws/cloudhsm/cluster-a1b2c3d4e5f',
  logStream: stream,
  subscriptionFilters: ['f'],
  logEvents: messages.map((message, i) => ({ id: String(1000 + i), timestamp: 1772439292000 + i, message })),
});

async function frame(input: string | Buffer, opts: { chunk?: number; max?: number; origin?: string } = {}): Promise<Framed[]> {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const size = opts.chunk ?? buf.length;
  async function* chunks() {
    for (let i = 0; i < buf.length; i += size) yield Buffer.from(buf.subarray(i, i + size));
  }
  const out: Framed[] = [];
  for await (const batch of frameCloudHsm(chunks(), { maxRecordBytes: opts.max ?? 1 << 20, origin: opts.origin ?? 'input.json' })) out.push(...batch);
  return out;
}

const records = (framed: Framed[]) =>
  framed.map((f) => {
    expect(f.kind).toBe('record');
    return { position: f.position, ...(JSON.parse((f as { record: Buffer }).record.toString('utf8')) as CloudHsmRecord) };
  });

describe('streamFromOrigin', () => {
  it('takes the HSM id and the cluster id from anywhere in the path, the file name first', () => {
    expect(streamFromOrigin('/exports/cluster-a1b2c3d4e5f/hsm-q7x2k4m9p3w/000001.log.gz')).toEqual({ stream: 'hsm-q7x2k4m9p3w', hsm: 'hsm-q7x2k4m9p3w', cluster: 'cluster-a1b2c3d4e5f' });
    expect(streamFromOrigin('logs/hsm-abc123.log')).toEqual({ stream: 'hsm-abc123', hsm: 'hsm-abc123', cluster: '' });
    expect(streamFromOrigin('hsm-old111/hsm-new222.txt').hsm).toBe('hsm-new222');
    expect(streamFromOrigin('kafka:cloudhsm-audit/hsm-kafka1').hsm).toBe('hsm-kafka1');
  });

  it('names the stream after the file when the path holds no HSM id', () => {
    expect(streamFromOrigin('/tmp/audit-2026-03.txt')).toEqual({ stream: 'audit-2026-03.txt', hsm: '', cluster: '' });
    expect(streamFromOrigin('stdin')).toEqual({ stream: 'stdin', hsm: '', cluster: '' });
    expect(streamFromOrigin('kafka:cloudhsm-audit/3@1207')).toEqual({ stream: 'kafka:cloudhsm-audit/3', hsm: '', cluster: '' });
    expect(streamFromOrigin('kafka:audit.cluster-a1b2c3d4e5f.hsm-q7x2k4m9p3w/0@5')).toEqual({ stream: 'hsm-q7x2k4m9p3w', hsm: 'hsm-q7x2k4m9p3w', cluster: 'cluster-a1b2c3d4e5f' });
  });
});

describe('frameCloudHsm, JSON inputs', () => {
  it('turns each log event of a subscription delivery into one record that keeps its envelope', async () => {
    const out = records(await frame(JSON.stringify(delivery('hsm-q7x2k4m9p3w', [ENTRY(1), ENTRY(2)]))));
    expect(out).toEqual([
      { position: 'logEvents[0]', via: 'subscription', stream: 'hsm-q7x2k4m9p3w', hsm: 'hsm-q7x2k4m9p3w', cluster: 'cluster-a1b2c3d4e5f', log_group: '/aws/cloudhsm/cluster-a1b2c3d4e5f', owner: '111122223333', message_type: 'DATA_MESSAGE', subscription_filters: ['f'], cw_id: '1000', cw_timestamp: 1772439292000, message: ENTRY(1) },
      { position: 'logEvents[1]', via: 'subscription', stream: 'hsm-q7x2k4m9p3w', hsm: 'hsm-q7x2k4m9p3w', cluster: 'cluster-a1b2c3d4e5f', log_group: '/aws/cloudhsm/cluster-a1b2c3d4e5f', owner: '111122223333', message_type: 'DATA_MESSAGE', subscription_filters: ['f'], cw_id: '1001', cw_timestamp: 1772439292001, message: ENTRY(2) },
    ]);
  });

  it('gives the same records whatever the chunk boundaries', async () => {
    // Escaped quotes and backslashes (a run of them before a quote) must not end a string early.
    const tricky = `${ENTRY(2)}\nKey Label : say "hi" \\\\" {not a brace} \\`;
    const input = [JSON.stringify(delivery('hsm-a11', [ENTRY(1), tricky])), JSON.stringify(delivery('hsm-b22', [ENTRY(7)]), null, 2)].join('\n');
    const whole = await frame(input);
    expect(whole.map((f) => f.position)).toEqual(['logEvents[0]', 'logEvents[1]', 'doc:2/logEvents[0]']);
    expect(records(whole)[1]?.message).toBe(tricky);
    for (const chunk of [1, 3, 17, 64]) expect(await frame(input, { chunk })).toEqual(whole);
  });

  it('holds the events until the document ends when the stream name comes after them', async () => {
    const d = delivery('hsm-late1', [ENTRY(1)]);
    const reordered = { logEvents: d.logEvents, messageType: d.messageType, logGroup: d.logGroup, logStream: d.logStream };
    expect(records(await frame(JSON.stringify(reordered)))[0]).toMatchObject({ stream: 'hsm-late1', cluster: 'cluster-a1b2c3d4e5f' });
  });

  it('reads a JSON array of deliveries and NDJSON of single events', async () => {
    const arr = records(await frame(JSON.stringify([delivery('hsm-a11', [ENTRY(1)]), delivery('hsm-b22', [ENTRY(2)])])));
    expect(arr.map((r) => [r.position, r.stream])).toEqual([['[0]/logEvents[0]', 'hsm-a11'], ['[1]/logEvents[0]', 'hsm-b22']]);
    const ndjson = [{ logStreamName: 'hsm-a11', timestamp: 1, message: ENTRY(3) }, { timestamp: 2, message: ENTRY(4) }].map((e) => JSON.stringify(e)).join('\n');
    const singles = records(await frame(ndjson, { origin: 'x/hsm-file1.json' }));
    expect(singles.map((r) => [r.position, r.via, r.stream])).toEqual([['doc:1', 'json', 'hsm-a11'], ['doc:2', 'json', 'hsm-file1']]);
  });

  it('reports a log event over the size limit as oversized with its first bytes, and keeps the rest', async () => {
    const big = 'Time: ' + 'x'.repeat(5000);
    const out = await frame(JSON.stringify(delivery('hsm-a11', [ENTRY(1), big, ENTRY(2)])), { max: 2000, chunk: 512 });
    expect(out.map((f) => f.kind)).toEqual(['record', 'oversized', 'record']);
    expect(out[1]).toMatchObject({ kind: 'oversized', position: 'logEvents[1]' });
    expect((out[1] as { size: number }).size).toBeGreaterThan(5000);
  });

  it('keeps the complete events of a cut-off input and reports the cut one as truncated', async () => {
    const text = JSON.stringify(delivery('hsm-a11', [ENTRY(1), ENTRY(2)]));
    const cut = text.slice(0, text.indexOf(ENTRY(2).slice(0, 40).replace(/\n/g, '\\n')) + 30);
    const out = await frame(cut);
    expect(out.map((f) => [f.kind, f.position])).toEqual([['record', 'logEvents[0]'], ['truncated', 'logEvents[1]']]);
  });

  it('makes text between documents a record of its own that says it is not JSON', async () => {
    const out = records(await frame(`${JSON.stringify(delivery('hsm-a11', [ENTRY(1)]))}\nnot json at all\n${JSON.stringify(delivery('hsm-a11', [ENTRY(2)]))}`));
    expect(out.map((r) => [r.position, r.error_reason ?? ''])).toEqual([['logEvents[0]', ''], [expect.stringMatching(/^byte:\d+$/), 'invalid_json'], ['doc:2/logEvents[0]', '']]);
    expect(out[1]?.message).toBe('not json at all');
  });
});

describe('frameCloudHsm, text inputs', () => {
  it('splits at each Time: line, drops blank lines between entries and names the stream after the file', async () => {
    const out = records(await frame(`${ENTRY(1)}\n\n${ENTRY(2)}\n\n`, { origin: '/logs/cluster-a1b2c3d4e5f/hsm-q7x2k4m9p3w.log' }));
    expect(out).toEqual([
      { position: 'line:1', via: 'text', stream: 'hsm-q7x2k4m9p3w', hsm: 'hsm-q7x2k4m9p3w', cluster: 'cluster-a1b2c3d4e5f', message: ENTRY(1) },
      { position: 'line:10', via: 'text', stream: 'hsm-q7x2k4m9p3w', hsm: 'hsm-q7x2k4m9p3w', cluster: 'cluster-a1b2c3d4e5f', message: ENTRY(2) },
    ]);
  });

  it('gives the same records whatever the chunk boundaries', async () => {
    const input = `2026-03-02T08:14:52.000Z ${ENTRY(1)}\r\n${ENTRY(2).replace(/\n/g, '\r\n')}\r\n`;
    const whole = await frame(input, { origin: 'hsm-a11.txt' });
    expect(whole).toHaveLength(2);
    for (const chunk of [1, 5, 33]) expect(await frame(input, { chunk, origin: 'hsm-a11.txt' })).toEqual(whole);
  });

  it('reads the timestamp and the stream that `aws logs tail` writes before an entry', async () => {
    const out = records(await frame(`2026-03-02T08:14:52.123000+00:00 hsm-q7x2k4m9p3w ${ENTRY(1)}\n2026-03-02 08:14:53 ${ENTRY(2)}\n`, { origin: 'tail.txt' }));
    expect(out.map((r) => [r.stream, r.hsm ?? '', r.cw_timestamp, r.line_prefix])).toEqual([
      ['hsm-q7x2k4m9p3w', 'hsm-q7x2k4m9p3w', Date.parse('2026-03-02T08:14:52.123Z'), '2026-03-02T08:14:52.123000+00:00 hsm-q7x2k4m9p3w'],
      ['tail.txt', '', Date.parse('2026-03-02T08:14:53Z'), '2026-03-02 08:14:53'],
    ]);
    expect(out[0]?.message).toBe(ENTRY(1));
  });

  it('removes a repeated timestamp from the continuation lines of an entry', async () => {
    const prefixed = ENTRY(1)
      .split('\n')
      .map((l) => `2026-03-02T08:14:52.000Z hsm-a11 ${l}`)
      .join('\n');
    expect(records(await frame(prefixed, { origin: 'x.txt' }))[0]?.message).toBe(ENTRY(1));
  });

  it('makes lines before the first entry a record of their own and keeps a JSON line as one entry', async () => {
    const cert = '{"object_handle":5,"op_code":"CreateObject","response":"OK","attributes":null,"timestamp":1772439292000}';
    const out = records(await frame(`leftover tail of an earlier entry\nLog type : MINIMAL_LOG_ENTRY (0)\n${ENTRY(1)}\n${cert}\n${ENTRY(2)}`, { origin: 'hsm-a11.log' }));
    expect(out.map((r) => [r.position, r.message.split('\n')[0]])).toEqual([
      ['line:1', 'leftover tail of an earlier entry'],
      ['line:3', ENTRY(1).split('\n')[0]],
      ['line:11', cert],
      ['line:12', ENTRY(2).split('\n')[0]],
    ]);
  });

  it('reports an entry over the size limit as oversized, and the entries around it normally', async () => {
    const big = `${ENTRY(2)}\n${'Padding : y\n'.repeat(400)}`;
    const out = await frame(`${ENTRY(1)}\n${big}${ENTRY(3)}\n`, { max: 1000, origin: 'hsm-a11.log', chunk: 100 });
    expect(out.map((f) => [f.kind, f.position])).toEqual([['record', 'line:1'], ['oversized', 'line:9'], ['record', 'line:417']]);
  });
});
