'use strict';
// One process of the quota's load test (redis-quota-load.test.js): connects, says so, and on
// `go` takes one unit at a time from a bucketed FleetQuota with the client `name`, each take
// with an id of its own. A random share of first attempts is abandoned at a random moment
// after the call went out (its outcome unknown, as after a timeout) and retried with the same
// id until it answers; some answered takes are retried once more, which must replay. Stops at
// the first sold-out answer and reports the ids it was served.
const { once } = require('node:events');
const { FleetQuota, SoldOutError } = require('stanchion/redis');
const { CLIENTS } = require('./redis-servers');

/** Abandons a call at one of the moments an answer may or may not have arrived by. */
const CUTS = [
  (abort) => abort(),
  (abort) => queueMicrotask(abort),
  (abort) => setImmediate(abort),
  (abort) => setTimeout(abort, 0),
];

async function main() {
  const { name, url, prefix, quotaName, buckets, worker } = JSON.parse(process.argv[2]);
  const clients = CLIENTS[name];
  const client = await clients.standalone(url);
  // A timeout this long is no bound on the run: any call that needed it is an error here.
  const quota = new FleetQuota({ client, buckets, prefix, timeout: 5_000 });
  const report = { served: [], cut: 0, replays: 0, errors: [] };
  process.send('ready');
  await once(process, 'message');
  try {
    for (let i = 0; ; i++) {
      const requestId = `worker-${worker}-take-${i}`;
      let answer;
      if (Math.random() < 0.3) {
        const controller = new AbortController();
        const first = quota.take(quotaName, { requestId, signal: controller.signal });
        CUTS[Math.floor(Math.random() * CUTS.length)](() => controller.abort(new Error('cut')));
        answer = await first.then(
          (taken) => taken,
          (error) => {
            if (error.message !== 'cut') throw error;
            report.cut++;
            return undefined;
          },
        );
      }
      if (answer === undefined) answer = await quota.take(quotaName, { requestId });
      if (answer.replayed) report.replays++;
      if (Math.random() < 0.2) {
        const again = await quota.take(quotaName, { requestId });
        if (!again.replayed || again.bucket !== answer.bucket) report.errors.push(`${requestId}: a retry after a grant was not replayed`);
        report.replays++;
      }
      report.served.push(requestId);
    }
  } catch (error) {
    if (!(error instanceof SoldOutError)) report.errors.push(String(error));
  }
  clients.close(client);
  process.send(report);
}

main().catch((error) => {
  process.send({ served: [], cut: 0, replays: 0, errors: [String(error)] });
});
