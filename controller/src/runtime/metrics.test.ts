import assert from "node:assert/strict";
import { test } from "node:test";
import { restClientMetrics, restClientRequestDuration, restClientRequests } from "./metrics.js";

test("the REST client's observer records client-go's request count and latency", async () => {
  const host = "127.0.0.1:1";
  restClientMetrics.requestDone({ method: "GET", host, code: "200", durationSeconds: 0.02 });
  restClientMetrics.requestDone({ method: "GET", host, code: "<error>", durationSeconds: 1 });
  const counts = (await restClientRequests.get()).values.filter((v) => v.labels.host === host);
  assert.deepEqual(counts.map((v) => [v.labels.code, v.labels.method, v.value]).sort(), [
    ["200", "GET", 1],
    ["<error>", "GET", 1],
  ]);
  const timed = (await restClientRequestDuration.get()).values.find(
    (v) => v.metricName === "rest_client_request_duration_seconds_count" && v.labels.host === host,
  );
  assert.equal(timed?.value, 2);
  assert.equal(timed?.labels.verb, "GET");
});
