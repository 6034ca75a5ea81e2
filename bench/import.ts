/**
 * Bulk enrolment benchmark: one `POST /api/manage/mailboxes/import` of 100,000 CSV rows through the
 * local runner (HTTP edge, streamed parse, 202 once the rows are checked and queued in chunks; the
 * queue trigger writes the chunks into Azurite, followed on the job's progress route), against a naive baseline
 * in the same run that enrols row by row with `POST /api/manage/mailboxes` (one Graph user lookup
 * and one request per row, as a script driving a single-enrol API would).
 *
 *   npm run bench:import
 *   BENCH_IMPORT_ROWS=20000 BENCH_NAIVE_ROWS=200 npm run bench:import
 *   BENCH_IMPORT_WAIT_SECONDS=600 …   stop following the job after 10 minutes (reports how far it got)
 *
 * Writes bench/results/import.json. Azurite runs in its own process on the same 2 cores: in Azure,
 * Table Storage is not on the function's machine.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalHost } from '../dev/local/host.js';
import { CA_DIR_ENV } from '../dev/sim/graph/certs.js';
import { prepareGraphSimulatorCa } from '../dev/sim/graph/ca-setup.js';
import { DEMO_TENANT, generatedUsers } from '../dev/sim/graph/demo.js';
import type { ImportProgress } from '../shared/admin/mailboxes.js';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 100_000);
const NAIVE_ROWS = Number(process.env.BENCH_NAIVE_ROWS ?? 500);
const WAIT_SECONDS = Number(process.env.BENCH_IMPORT_WAIT_SECONDS ?? 3_600);

if (!process.env[CA_DIR_ENV]) {
  // Node trusts extra CAs only from NODE_EXTRA_CA_CERTS read at start: make the simulator's CA,
  // then run this script again in a child that trusts it.
  const ca = prepareGraphSimulatorCa();
  const child = spawn(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: process.env });
  child.on('exit', (code) => {
    void ca.teardown().finally(() => process.exit(code ?? 1));
  });
} else {
  await main();
}

function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function post(
  url: string,
  token: string,
  contentType: string,
  body: string,
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    // node:http without timeouts: a large import may take minutes against Azurite on this box.
    const req = request(
      url,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const host = await startLocalHost({
    port: 0,
    quiet: true,
    log: () => {},
    startTimers: false,
    env: { LOCAL_SIM_USERS: String(NAIVE_ROWS), GRAPH_TENANT_ID: undefined, DEVICE_API_AUDIENCE: undefined },
  });
  try {
    const operator = DEMO_TENANT.users[0];
    const token = await host.entraIssuer!.admin(
      { objectId: operator.id, upn: operator.mail },
      { expiresInSec: 6 * 3600 },
    );

    // The naive baseline first, on a fresh Azurite: afterwards the job's writes would slow it.
    const users = generatedUsers(NAIVE_ROWS);
    const graphBefore = host.graphSimulator!.stats().requests;
    const n0 = performance.now();
    for (const user of users) {
      const r = await post(
        `${host.url}/api/manage/mailboxes`,
        token,
        'application/json',
        JSON.stringify({ email: user.mail, transport: 'ews' }),
      );
      if (r.status !== 201) throw new Error(`naive enrol answered ${r.status}: ${r.body.slice(0, 200)}`);
    }
    const naiveSeconds = (performance.now() - n0) / 1000;
    const naive = {
      rows: NAIVE_ROWS,
      seconds: round(naiveSeconds),
      rowsPerSecond: Math.round(NAIVE_ROWS / naiveSeconds),
      extrapolatedSecondsFor: { rows: ROWS, seconds: Math.round((naiveSeconds / NAIVE_ROWS) * ROWS) },
      graphRequests: host.graphSimulator!.stats().requests - graphBefore,
    };

    const csv = ['email,transport'];
    for (let i = 1; i <= ROWS; i++) csv.push(`bulk${String(i).padStart(7, '0')}@contoso.example,ews`);
    const body = csv.join('\n');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const res = await post(`${host.url}/api/manage/mailboxes/import`, token, 'text/csv', body);
    const acceptSeconds = (performance.now() - t0) / 1000;
    const cpuAccept = process.cpuUsage(cpu0);
    const accepted = JSON.parse(res.body) as { queued: number; invalid: number; job?: { chunks: number } };
    const location = res.headers.location;
    if (res.status !== 202 || accepted.queued !== ROWS || !location)
      throw new Error(`import answered ${res.status}: ${res.body.slice(0, 300)}`);
    console.log(
      `\nimport of ${ROWS} rows accepted (202) after ${acceptSeconds.toFixed(2)} s: ${accepted.job?.chunks} chunks queued`,
    );
    // The queue trigger writes the chunks; follow the job as an operator would, printing progress
    // every 30 s. BENCH_IMPORT_WAIT_SECONDS caps the wait (the figures then say how far it got).
    let progress: ImportProgress;
    let lastPrint = performance.now();
    for (;;) {
      const r = await get(`${host.url}${location}`, token);
      progress = JSON.parse(r.body) as ImportProgress;
      if (progress.status !== 'writing' && progress.status !== 'receiving') break;
      const elapsed = (performance.now() - t0) / 1000;
      if (performance.now() - lastPrint > 30_000) {
        lastPrint = performance.now();
        console.log(
          `  ${Math.round(elapsed)} s: ${progress.writtenRows} rows written (${progress.chunksWritten}/${progress.chunks} chunks)`,
        );
      }
      if (elapsed > WAIT_SECONDS) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const doneSeconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const finished = progress.status === 'done';
    if (finished ? progress.accepted !== ROWS : progress.status !== 'writing')
      throw new Error(`import job ended ${progress.status}: ${JSON.stringify(progress).slice(0, 300)}`);
    const ours = {
      rows: ROWS,
      bytes: Buffer.byteLength(body),
      chunks: progress.chunks,
      acceptSeconds: round(acceptSeconds, 2),
      acceptRowsPerSecond: Math.round(ROWS / acceptSeconds),
      acceptHostCpuMsPerRow: round((cpuAccept.user + cpuAccept.system) / 1000 / ROWS, 3),
      slowestChunkSeconds: round((progress.slowestChunkMs ?? 0) / 1000, 2),
      finished,
      writtenRows: progress.writtenRows,
      writtenSeconds: round(doneSeconds),
      writtenRowsPerSecond: Math.round(progress.writtenRows / doneSeconds),
      hostCpuMsPerRow: round((cpu.user + cpu.system) / 1000 / Math.max(1, progress.writtenRows), 3),
      graphRequests: 0,
    };

    console.log('\nbulk enrolment (local runner, Azurite in its own process, 2 cores)');
    console.log(
      `ours   import of ${ROWS} rows (${(ours.bytes / 1e6).toFixed(1)} MB CSV): accepted (202) in ${ours.acceptSeconds} s (${ours.acceptRowsPerSecond} rows/s, host CPU ${ours.acceptHostCpuMsPerRow} ms/row); ${ours.chunks} chunks written by the queue trigger, slowest chunk ${ours.slowestChunkSeconds} s; ${ours.finished ? 'all' : `NOT all (stopped waiting): ${ours.writtenRows}`} written after ${ours.writtenSeconds} s (${ours.writtenRowsPerSecond} rows/s, host CPU ${ours.hostCpuMsPerRow} ms/row); 0 Graph requests`,
    );
    console.log(
      `naive  one POST per row, ${NAIVE_ROWS} rows: ${naive.seconds} s, ${naive.rowsPerSecond} rows/s, ${naive.graphRequests} Graph requests; ${ROWS} rows would take ~${naive.extrapolatedSecondsFor.seconds} s`,
    );

    const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'import.json'),
      JSON.stringify(
        {
          at: new Date().toISOString(),
          machine: { cpus: os.cpus().length, node: process.version },
          ours,
          naive,
        },
        null,
        2,
      ),
    );
  } finally {
    await host.stop();
  }
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
