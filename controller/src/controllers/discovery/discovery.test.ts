import { test } from "node:test";
import assert from "node:assert/strict";
import type { Instance, Node } from "../../api/types.js";
import type { EndpointSlice } from "../../kube/resources.js";
import {
  MANAGED_BY_BERTH,
  MAX_ENDPOINTS_PER_SLICE,
  SERVICE_NAME_LABEL,
  SLICE_MANAGED_BY_LABEL,
  SLICE_MANAGER,
  desiredService,
  endpointOf,
  isBerthService,
  ownerReferencesFor,
  ownerIdentities,
  planSlices,
  sameService,
  serviceNameProblem,
  sliceName,
  type PublishedEndpoint,
} from "./discovery.js";
import { CHECKED_HOSTS_KEPT, checkedHostCount, sliceAddress } from "./slice-address.js";

const readyNode: Node = {
  apiVersion: "berth.dev/v1alpha1",
  kind: "Node",
  metadata: { name: "node-a" },
  spec: { url: "tcp://node-a:2375", address: "10.0.0.5" },
  status: {
    conditions: [
      { type: "Ready", status: "True", reason: "AgentReady", message: "", lastTransitionTime: "" },
    ],
  },
};
const nodeOf = (name: string): Node | undefined => (name === "node-a" ? readyNode : undefined);

function running(name: string, options: { host?: string; port?: number; ready?: boolean } = {}): Instance {
  const host = options.host ?? "10.0.0.5";
  const port = options.port ?? 8080;
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "shop", name, uid: `uid-${name}` },
    spec: { definition: "web", deploymentId: "abc", nodeName: "node-a" },
    status: {
      phase: "Running",
      ready: options.ready ?? true,
      address: { url: `http://${host}:${port}`, host, port },
    },
  };
}

function external(name: string, url: string): Instance {
  return {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    metadata: { namespace: "shop", name },
    spec: { definition: "web", external: { url } },
  };
}

/** The Definition of the slug "web", as the Service's owner. */
const WEB_DEFINITION = {
  apiVersion: "berth.dev/v1alpha1" as const,
  kind: "Definition" as const,
  metadata: { namespace: "shop", name: "web", uid: "def-1" },
  spec: {},
};

const CONTEXT = { namespace: "shop", slug: "web", service: { name: "web", uid: "svc-1" } };

function endpoints(count: number, options: { port?: number; ready?: boolean } = {}): PublishedEndpoint[] {
  return Array.from({ length: count }, (_, i) => {
    const found = endpointOf(running(`web-abc-${String(i).padStart(3, "0")}`, options), nodeOf);
    assert.ok(found);
    return found;
  });
}

/** The slices as the server would hold them after the plan: written ones with a resourceVersion. */
function stored(slices: readonly EndpointSlice[]): EndpointSlice[] {
  return slices.map((s, i) => ({
    ...s,
    metadata: { ...s.metadata, uid: `slice-${i}`, resourceVersion: `${i + 1}` },
  }));
}

test("a ready Instance on a Ready Node is a ready, serving endpoint with its Node, hostname and Instance", () => {
  const found = endpointOf(running("web-abc-0"), nodeOf);
  assert.deepEqual(found, {
    name: "web-abc-0",
    addressType: "IPv4",
    scheme: "http",
    port: 8080,
    endpoint: {
      addresses: ["10.0.0.5"],
      conditions: { ready: true, serving: true, terminating: false },
      hostname: "web-abc-0",
      nodeName: "node-a",
      targetRef: {
        apiVersion: "berth.dev/v1alpha1",
        kind: "Instance",
        namespace: "shop",
        name: "web-abc-0",
        uid: "uid-web-abc-0",
      },
    },
  });
});

test("an Instance being replaced serves until it is gone, but is not ready", () => {
  const instance = running("web-abc-0");
  instance.metadata.deletionTimestamp = "2026-03-01T12:00:00Z";
  assert.deepEqual(endpointOf(instance, nodeOf)?.endpoint.conditions, {
    ready: false,
    serving: true,
    terminating: true,
  });
  const failing = running("web-abc-1", { ready: false });
  failing.metadata.deletionTimestamp = "2026-03-01T12:00:00Z";
  assert.deepEqual(endpointOf(failing, nodeOf)?.endpoint.conditions, {
    ready: false,
    serving: false,
    terminating: true,
  });
});

test("a failing health check or a lost Node makes the endpoint not ready", () => {
  assert.equal(endpointOf(running("a", { ready: false }), nodeOf)?.endpoint.conditions?.ready, false);
  const elsewhere = running("b");
  elsewhere.spec.nodeName = "node-gone";
  assert.deepEqual(endpointOf(elsewhere, nodeOf)?.endpoint.conditions, {
    ready: false,
    serving: false,
    terminating: false,
  });
});

test("the label names and values other programs read are Kubernetes' and Berth's own", () => {
  assert.equal(SLICE_MANAGED_BY_LABEL, "endpointslice.kubernetes.io/managed-by");
  assert.equal(SLICE_MANAGER, "discovery.berth.dev");
  assert.equal(SERVICE_NAME_LABEL, "kubernetes.io/service-name");
  assert.equal(MANAGED_BY_BERTH, "berth");
});

test("a slug names a Service when it is a DNS-1035 label of at most 63 characters", () => {
  for (const slug of ["a", "ab", "abc", "abcd", "a-b-c-d-e", "a".repeat(63)]) {
    assert.equal(serviceNameProblem(slug), undefined, slug);
  }
  for (const slug of ["a".repeat(64), "1abc", "abc-", "Abc", "a.b", ""]) {
    assert.match(serviceNameProblem(slug) ?? "", /at most 63 characters of a-z, 0-9 and '-'/, slug);
  }
});

test("only a URL that starts with http or https makes an endpoint; its scheme names the port", () => {
  const sneaky = running("web-abc-0");
  sneaky.status = {
    ...sneaky.status,
    address: { url: "tcp://10.0.0.5:8080/https:", host: "10.0.0.5", port: 8080 },
  };
  assert.equal(endpointOf(sneaky, nodeOf), undefined);
  const upper = running("web-abc-1");
  upper.status = { ...upper.status, address: { url: "HTTPS://10.0.0.5:8443", host: "10.0.0.5", port: 8443 } };
  assert.equal(endpointOf(upper, nodeOf)?.scheme, "https");
});

test("an endpoint's target names its Instance; a hostname only when the name is a DNS label", () => {
  const bare = running("web-abc-0");
  delete bare.metadata.uid;
  delete bare.metadata.namespace;
  const target = endpointOf(bare, nodeOf)?.endpoint.targetRef;
  assert.deepEqual(target, {
    apiVersion: "berth.dev/v1alpha1",
    kind: "Instance",
    namespace: "default",
    name: "web-abc-0",
  });
  assert.equal(endpointOf(running("web-abc-0"), nodeOf)?.endpoint.targetRef?.uid, "uid-web-abc-0");
  assert.equal(endpointOf(running("a".repeat(63)), nodeOf)?.endpoint.hostname, "a".repeat(63));
  assert.equal(endpointOf(running("a".repeat(64)), nodeOf)?.endpoint.hostname, undefined);
  assert.equal(endpointOf(running("web.abc"), nodeOf)?.endpoint.hostname, undefined);
  const unnamed = running("web-abc-0");
  delete unnamed.metadata.name;
  assert.equal(endpointOf(unnamed, nodeOf)?.name, "");
});

test("the desired Service is a v1 ClusterIP Service; an owner without a name or uid is named empty", () => {
  const service = desiredService("shop", "web", undefined);
  assert.deepEqual(service, {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "web",
      namespace: "shop",
      labels: { "berth.dev/managed-by": "berth", "berth.dev/definition": "web" },
    },
    spec: { type: "ClusterIP", clusterIP: "None" },
  });
  assert.equal(isBerthService({ ...service, spec: { clusterIP: "None", selector: null } }), true);
  const unnamed = {
    apiVersion: "berth.dev/v1alpha1" as const,
    kind: "Definition" as const,
    metadata: {},
    spec: {},
  };
  assert.deepEqual(ownerReferencesFor(unnamed), [
    { apiVersion: "berth.dev/v1alpha1", kind: "Definition", name: "", uid: "", controller: true },
  ]);
});

test("a slice's name is the slug, eight hex digits of its group's hash, and its index", () => {
  const name = sliceName("web", "IPv4/http/8080", 2);
  assert.match(name, /^web-[0-9a-f]{8}-2$/);
  assert.notEqual(sliceName("web", "IPv4/http/8081", 2), name);
  assert.equal(sliceName("x".repeat(300), "IPv4/http/8080", 0).length, 253);
});

test("an Instance without an address, or with one that is not an http(s) URL, is not an endpoint", () => {
  const pending = running("web-abc-0");
  delete pending.status;
  assert.equal(endpointOf(pending, nodeOf), undefined);
  const odd = running("web-abc-1");
  odd.status = { ...odd.status, address: { url: "ftp://10.0.0.5:21", host: "10.0.0.5", port: 21 } };
  assert.equal(endpointOf(odd, nodeOf), undefined);
  // What an agent reports is input: a URL that does not parse is not thrown on; host and port decide.
  const broken = running("web-abc-2");
  broken.status = {
    ...broken.status,
    address: { url: "http://fd00::5:31000", host: "fd00::5", port: 31000 },
  };
  assert.equal(endpointOf(broken, nodeOf)?.addressType, "IPv6");
});

test("external Instances are endpoints of the address type their URL says, without a Node", () => {
  const https = endpointOf(external("web-ext-1", "https://Api.Example.COM/v1"), nodeOf);
  assert.equal(https?.addressType, "FQDN");
  assert.equal(https?.scheme, "https");
  assert.equal(https?.port, 443);
  assert.deepEqual(https?.endpoint.addresses, ["api.example.com"]);
  assert.equal(https?.endpoint.nodeName, undefined);
  assert.equal(https?.endpoint.conditions?.ready, true);
  const v6 = endpointOf(external("web-ext-2", "http://[fd00::7]:9000"), nodeOf);
  assert.equal(v6?.addressType, "IPv6");
  assert.deepEqual(v6?.endpoint.addresses, ["fd00::7"]);
});

test("a host no slice can hold is left out", () => {
  for (const refused of [
    "127.0.0.1",
    "127.0.0.6",
    "0.0.0.0",
    "169.254.1.2",
    "::1",
    "::",
    "fe80::1",
    "::ffff:127.0.0.1",
  ]) {
    assert.equal(sliceAddress(refused), undefined, refused);
  }
  assert.deepEqual(sliceAddress("172.31.6.1"), { addressType: "IPv4", address: "172.31.6.1" });
  assert.deepEqual(sliceAddress("128.0.0.1"), { addressType: "IPv4", address: "128.0.0.1" });
  assert.equal(sliceAddress("under_score.example"), undefined);
  assert.equal(sliceAddress("-leading.example"), undefined);
  assert.deepEqual(sliceAddress("host.example."), { addressType: "FQDN", address: "host.example" });
});

test("a host's check is kept: asked again, the same frozen answer; at most the bound, each still right", () => {
  for (const round of [1, 2]) {
    assert.equal(sliceAddress("127.0.0.1"), undefined, `round ${round}`);
    assert.deepEqual(sliceAddress("10.1.2.3"), { addressType: "IPv4", address: "10.1.2.3" });
  }
  assert.equal(sliceAddress("10.1.2.3"), sliceAddress("10.1.2.3"));
  assert.ok(Object.isFrozen(sliceAddress("10.1.2.3")), "no caller can change what the next one gets");
  for (let i = 0; i < CHECKED_HOSTS_KEPT + 10; i++) {
    const host = `10.9.${Math.floor(i / 250)}.${i % 250}`;
    assert.equal(sliceAddress(host)?.address, host);
  }
  assert.equal(checkedHostCount(), CHECKED_HOSTS_KEPT);
  assert.equal(sliceAddress("127.0.0.6"), undefined, "a host checked anew after the oldest went");
});

test("a slug must be a DNS label starting with a letter to name a Service", () => {
  assert.equal(serviceNameProblem("web"), undefined);
  assert.match(serviceNameProblem("1web") ?? "", /cannot name a Service/);
  assert.match(serviceNameProblem("web.v2") ?? "", /cannot name a Service/);
  assert.match(serviceNameProblem("a".repeat(64)) ?? "", /cannot name a Service/);
});

test("the Service is headless and selector-less, owned by its Definition; only such Services are Berth's", () => {
  const service = desiredService("shop", "web", WEB_DEFINITION);
  assert.equal(service.spec?.clusterIP, "None");
  assert.equal(service.spec?.selector, undefined);
  assert.deepEqual(service.metadata?.ownerReferences, [
    { apiVersion: "berth.dev/v1alpha1", kind: "Definition", name: "web", uid: "def-1", controller: true },
  ]);
  assert.equal(isBerthService(service), true);
  assert.equal(isBerthService({ ...service, spec: { clusterIP: "10.96.0.7" } }), false);
  assert.equal(isBerthService({ ...service, spec: { clusterIP: "None", selector: { app: "web" } } }), false);
  assert.equal(isBerthService({ ...service, metadata: { name: "web", namespace: "shop" } }), false);
});

test("an owner list compares by who owns and whether that owner is the controller", () => {
  const owner = { apiVersion: "v1", kind: "Service", name: "web", uid: "svc-1" };
  assert.deepEqual(ownerIdentities([{ ...owner, controller: true }]), [["Service", "web", "svc-1", true]]);
  assert.deepEqual(ownerIdentities([{ ...owner, controller: false }]), [["Service", "web", "svc-1", false]]);
  assert.deepEqual(ownerIdentities([owner]), [["Service", "web", "svc-1", false]]);
  assert.deepEqual(ownerIdentities(undefined), []);
});

test("two versions of a Service are the same to discovery when whose it is and its owners agree", () => {
  const written = desiredService("shop", "web", WEB_DEFINITION);
  const [reference] = written.metadata?.ownerReferences ?? [];
  assert.ok(reference);
  const withOwners = (ownerReferences: Array<typeof reference>) => ({
    ...written,
    metadata: { ...written.metadata, ownerReferences },
  });
  // What the API server adds (a version, the cluster IP list) is not what discovery compares.
  assert.equal(
    sameService(written, {
      ...withOwners([reference]),
      metadata: { ...written.metadata, resourceVersion: "42" },
      spec: { ...written.spec, clusterIPs: ["None"] },
    }),
    true,
  );
  assert.equal(sameService(written, { ...written, spec: { clusterIP: "10.96.0.7" } }), false);
  assert.equal(sameService(written, withOwners([{ ...reference, uid: "def-2" }])), false);
  assert.equal(sameService(written, withOwners([{ ...reference, controller: false }])), false);
  assert.equal(sameService(written, withOwners([])), false);
});

test("250 endpoints of one port make three slices of at most 100, labelled for Kubernetes", () => {
  const plan = planSlices(CONTEXT, endpoints(250), []);
  assert.deepEqual(
    plan.create.map((s) => s.endpoints.length),
    [100, 100, 50],
  );
  assert.equal(plan.update.length + plan.delete.length, 0);
  for (const slice of plan.create) {
    assert.equal(slice.metadata?.labels?.[SLICE_MANAGED_BY_LABEL], SLICE_MANAGER);
    assert.equal(slice.metadata?.labels?.[SERVICE_NAME_LABEL], "web");
    assert.deepEqual(slice.ports, [{ name: "http", port: 8080, protocol: "TCP", appProtocol: "http" }]);
    assert.deepEqual(slice.metadata?.ownerReferences, [
      { apiVersion: "v1", kind: "Service", name: "web", uid: "svc-1", controller: true },
    ]);
  }
  const names = new Set(plan.create.flatMap((s) => s.endpoints.map((e) => e.targetRef?.name)));
  assert.equal(names.size, 250);
});

test("planning again over what was written writes nothing", () => {
  const desired = endpoints(250);
  const existing = stored(planSlices(CONTEXT, desired, []).create);
  const again = planSlices(CONTEXT, desired, existing);
  assert.deepEqual([again.create.length, again.update.length, again.delete.length], [0, 0, 0]);
  assert.equal(again.published.length, 3);
});

test("one endpoint's readiness change rewrites exactly the slice that lists it", () => {
  const desired = endpoints(250);
  const existing = stored(planSlices(CONTEXT, desired, []).create);
  const changed = desired.map((e) =>
    e.name === "web-abc-123"
      ? {
          ...e,
          endpoint: { ...e.endpoint, conditions: { ready: false, serving: false, terminating: false } },
        }
      : e,
  );
  const plan = planSlices(CONTEXT, changed, existing);
  assert.equal(plan.create.length + plan.delete.length, 0);
  assert.equal(plan.update.length, 1);
  const [updated] = plan.update;
  const before = existing.find((s) => s.metadata?.name === updated?.metadata?.name);
  assert.ok(
    before?.endpoints.some((e) => e.targetRef?.name === "web-abc-123"),
    "the slice that listed it",
  );
  assert.equal(
    updated?.metadata?.resourceVersion,
    before?.metadata?.resourceVersion,
    "written with its precondition",
  );
});

test("a new endpoint fills a slice with room; a gone one leaves its slice; an emptied slice is deleted", () => {
  const desired = endpoints(150);
  const existing = stored(planSlices(CONTEXT, desired, []).create);
  const extra = endpointOf(running("web-abc-999"), nodeOf);
  assert.ok(extra);
  const added = planSlices(CONTEXT, [...desired, extra], existing);
  assert.deepEqual([added.create.length, added.update.length], [0, 1]);
  assert.equal(added.update[0]?.endpoints.length, 51);

  const removed = planSlices(CONTEXT, desired.slice(0, 149), existing);
  assert.deepEqual([removed.create.length, removed.update.length, removed.delete.length], [0, 1, 0]);

  const fewer = planSlices(CONTEXT, desired.slice(0, 100), existing);
  const lastIsSecond = existing[1]?.endpoints.every(
    (e) => Number(e.targetRef?.name?.split("-").pop()) >= 100,
  );
  assert.ok(lastIsSecond);
  assert.deepEqual([fewer.create.length, fewer.update.length, fewer.delete.length], [0, 0, 1]);
  assert.deepEqual(
    fewer.delete.map((s) => s.metadata?.name),
    [existing[1]?.metadata?.name],
  );

  const none = planSlices(CONTEXT, [], existing);
  assert.equal(none.delete.length, 2);
});

test("endpoints of different ports go in different slices, and a port no endpoint has any more goes", () => {
  const mixed = [
    ...endpoints(2, { port: 8080 }),
    ...endpoints(1, { port: 9090 }).map((e) => ({ ...e, name: "other" })),
  ];
  const plan = planSlices(CONTEXT, mixed, []);
  assert.deepEqual(plan.create.map((s) => [s.ports?.[0]?.port, s.endpoints.length]).sort(), [
    [8080, 2],
    [9090, 1],
  ]);
  const existing = stored(plan.create);
  const later = planSlices(CONTEXT, endpoints(2, { port: 8080 }), existing);
  assert.equal(later.delete.length, 1);
  assert.equal(later.delete[0]?.ports?.[0]?.port, 9090);
  assert.equal(later.update.length, 0);
});

test("a slice of a recreated Service is rewritten to its new owner", () => {
  const desired = endpoints(3);
  const existing = stored(planSlices(CONTEXT, desired, []).create);
  const plan = planSlices({ ...CONTEXT, service: { name: "web", uid: "svc-2" } }, desired, existing);
  assert.equal(plan.update.length, 1);
  assert.equal(plan.update[0]?.metadata?.ownerReferences?.[0]?.uid, "svc-2");
});

test("slice names are deterministic and fit in an object name", () => {
  assert.equal(sliceName("web", "IPv4/http/8080", 0), sliceName("web", "IPv4/http/8080", 0));
  assert.notEqual(sliceName("web", "IPv4/http/8080", 0), sliceName("web", "IPv4/http/8081", 0));
  assert.ok(sliceName("a".repeat(253), "IPv4/http/8080", 12).length <= 253);
  assert.equal(MAX_ENDPOINTS_PER_SLICE, 100);
});
