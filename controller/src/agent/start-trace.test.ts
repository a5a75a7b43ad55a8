import assert from "node:assert/strict";
import { test } from "node:test";
import type { Instance } from "../api/types.js";
import type { EventHandlers, Informer } from "../runtime/informer.js";
import { onStageMark, type StageMark } from "../runtime/stage-trace.js";
import { StartTrace } from "./start-trace.js";

function instance(name: string, status?: Instance["status"]): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { name, namespace: "ns" },
    spec: { definition: "web", nodeName: "node-a" },
    ...(status ? { status } : {}),
  } as Instance;
}

function traced(): { trace: StartTrace; add: (i: Instance) => void; marks: StageMark[]; stop: () => void } {
  const handlers: Array<EventHandlers<Instance>> = [];
  const informer = {
    addHandler: (h: EventHandlers<Instance>) => handlers.push(h),
  } as unknown as Informer<Instance>;
  const trace = new StartTrace();
  trace.watch(informer);
  const marks: StageMark[] = [];
  const stop = onStageMark((mark) => marks.push(mark));
  return { trace, add: (i) => handlers.forEach((h) => h.onAdd?.(i)), marks, stop };
}

test("a new Instance is traced from pickup to its Ready status, each stage once and in order", () => {
  const { trace, add, marks, stop } = traced();
  add(instance("web-0"));
  trace.reached("ns/web-0", "image_ready"); // before any worker picked it up: not a stage yet
  trace.pickedUp("ns/web-0");
  trace.pickedUp("ns/web-0"); // a second pass is no second pickup
  trace.reached("ns/web-0", "image_ready");
  trace.reached("ns/web-0", "container_created");
  trace.reached("ns/web-0", "image_ready"); // behind the last stage: ignored
  trace.reached("ns/web-0", "container_started");
  trace.reached("ns/web-0", "first_probe_passed");
  trace.readyWritten("ns/web-0");
  trace.readyWritten("ns/web-0"); // done: a later ready write is no stage
  stop();
  assert.deepEqual(
    marks.map((m) => m.stage),
    [
      "picked_up",
      "image_ready",
      "container_created",
      "container_started",
      "first_probe_passed",
      "status_written",
    ],
  );
  assert.ok(marks.every((m) => m.namespace === "ns" && m.definition === "web" && m.instance === "web-0"));
  for (let i = 1; i < marks.length; i++) assert.ok(marks[i]!.at >= marks[i - 1]!.at);
});

test("an Instance an agent already wrote status for (adopted, restarted) is not a start", () => {
  const { trace, add, marks, stop } = traced();
  add(instance("web-1", { phase: "Running", observedGeneration: 1 }));
  add(instance("web-2", { phase: "Failed", containerId: "c9" }));
  trace.pickedUp("ns/web-1");
  trace.pickedUp("ns/web-2");
  trace.readyWritten("ns/web-1");
  stop();
  assert.deepEqual(marks, []);
});
