import assert from "node:assert/strict";
import { test } from "node:test";
import type { Instance } from "../api/types.js";
import { NoopEventRecorder } from "../runtime/events.js";
import { FakeClock } from "../testing/fake-clock.js";
import { FakeKubeClient } from "../testing/fake-kube-client.js";
import { InstanceStatusWriter } from "./instance-status-writer.js";

const KEY = "ns/web-1";

const at = (resourceVersion: string, phase: string): Instance =>
  ({
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "ns", name: "web-1", resourceVersion },
    spec: { definition: "web", deploymentId: "d", nodeName: "node-a" },
    status: { phase },
  }) as Instance;

const newWriter = (): InstanceStatusWriter =>
  new InstanceStatusWriter({
    client: new FakeKubeClient(),
    events: NoopEventRecorder,
    clock: new FakeClock(),
    nodeName: "node-a",
  });

test("two writes in a row: a cache showing the first is still behind the second", () => {
  const writer = newWriter();
  const scheduled = at("2", "Scheduled");
  writer.remember(at("1", "Pending"), scheduled);
  const running = at("3", "Running");
  writer.remember(scheduled, running);

  assert.equal(writer.latest(KEY, at("1", "Pending")), running, "the cache before both writes");
  assert.equal(writer.latest(KEY, scheduled), running, "the cache showing only the first write");
  const caughtUp = at("3", "Running");
  assert.equal(writer.latest(KEY, caughtUp), caughtUp, "the cache showing the last write");
  assert.equal(writer.latest(KEY, scheduled), scheduled, "forgotten once the cache caught up");
});

test("a change by someone else (a version this agent never wrote over) is taken from the cache", () => {
  const writer = newWriter();
  writer.remember(at("1", "Pending"), at("2", "Running"));
  const other = at("7", "Terminating");
  assert.equal(writer.latest(KEY, other), other);
  assert.equal(writer.latest(KEY, at("1", "Pending"))?.metadata.resourceVersion, "1", "the record is gone");
});

test("a write over a version other than the last one written starts a new record", () => {
  const writer = newWriter();
  writer.remember(at("1", "Pending"), at("2", "Scheduled"));
  // Someone else wrote 5 and the cache showed it; this agent wrote over 5.
  const running = at("6", "Running");
  writer.remember(at("5", "Scheduled"), running);
  assert.equal(writer.latest(KEY, at("5", "Scheduled")), running);
  const stale = at("1", "Pending");
  assert.equal(writer.latest(KEY, stale), stale, "1 is no longer behind this record");
});

test("forget drops the record", () => {
  const writer = newWriter();
  writer.remember(at("1", "Pending"), at("2", "Running"));
  writer.forget(KEY);
  const cached = at("1", "Pending");
  assert.equal(writer.latest(KEY, cached), cached);
});

test("an own write is the cache going from the version it went over to one showing what it wrote, and nothing more", () => {
  const writer = newWriter();
  const before = at("1", "Pending");
  const after = at("2", "Running");
  writer.writing(before, { status: { phase: "Running" } });
  // The watch event can come before the write's answer (and with it remember()).
  assert.equal(writer.isOwnWrite(before, after), true);
  assert.equal(writer.isOwnWrite(before, after), false, "each write's event is passed over once");
  writer.remember(before, after);
  assert.equal(writer.latest(KEY, after), after, "the cache already shows the write");
});

test("a change folded into an own write's version (a relist), or seen over another base, is not the agent's alone", () => {
  const writer = newWriter();
  const before = at("1", "Pending");
  const finalized = { ...before, metadata: { ...before.metadata, resourceVersion: "2", finalizers: ["f"] } };
  writer.writing(before, { finalizers: ["f"] });
  const withStatus = { ...finalized, status: { phase: "Failed" } } as Instance;
  assert.equal(writer.isOwnWrite(before, withStatus), false, "a status the finalizer write did not make");

  writer.writing(before, { finalizers: ["f"] });
  const labelled = { ...finalized, metadata: { ...finalized.metadata, labels: { team: "a" } } };
  assert.equal(writer.isOwnWrite(before, labelled), false, "a label the write did not make");

  writer.writing(before, { finalizers: ["f"] });
  const another = {
    ...finalized,
    metadata: { ...finalized.metadata, finalizers: ["f", "example.com/keep"] },
  };
  assert.equal(writer.isOwnWrite(before, another), false, "a finalizer of someone else's folded in");

  writer.writing(before, { finalizers: ["f"] });
  assert.equal(
    writer.isOwnWrite(at("0", "Pending"), finalized),
    false,
    "the write did not go over version 0",
  );
  assert.equal(writer.isOwnWrite(before, finalized), true);

  writer.writing(at("2", "Pending"), { status: { phase: "Running" } });
  const running = at("3", "Running");
  const respecced = { ...running, spec: { ...running.spec, deploymentId: "d2" } };
  assert.equal(
    writer.isOwnWrite(at("2", "Pending"), respecced),
    false,
    "a spec the status write did not make",
  );

  writer.writing(at("3", "Running"), { status: { phase: "Terminating" } });
  assert.equal(
    writer.isOwnWrite(at("3", "Running"), at("4", "Failed")),
    false,
    "a status of someone else's over the same version (the agent's write then refused)",
  );

  writer.writing(at("4", "Running"), { status: { phase: "Terminating" } });
  const deleting = at("5", "Terminating");
  deleting.metadata.deletionTimestamp = "2025-01-01T00:01:00Z";
  assert.equal(writer.isOwnWrite(at("4", "Running"), deleting), false, "a deletion folded in");
});

test("a write withdrawn (it failed) is no longer the agent's own", () => {
  const writer = newWriter();
  const before = at("1", "Pending");
  const withdraw = writer.writing(before, { status: { phase: "Running" } });
  withdraw();
  assert.equal(writer.isOwnWrite(before, at("2", "Running")), false);
});

test("forget drops the own writes too", () => {
  const writer = newWriter();
  const before = at("1", "Pending");
  const after = at("2", "Running");
  writer.writing(before, { status: { phase: "Running" } });
  writer.forget(KEY);
  assert.equal(writer.isOwnWrite(before, after), false);
});
