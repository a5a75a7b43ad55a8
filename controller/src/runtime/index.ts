/**
 * Berth's reconcile runtime, in the shape of controller-runtime. Import from here.
 *
 * Kubernetes access goes through ../kube (the one client wrapper):
 *   loadKubeConfig(): KubeConfig                       KUBECONFIG, ~/.kube/config or in-cluster
 *   newKubeClient(kc): KubeClient                      get/list/create/replace/mergePatch/jsonPatch/
 *                                                      patchStatus/delete/watch over a ResourceDescriptor
 *   DEFINITIONS, INSTANCES, NODES, SECRETS, CONFIGMAPS, EVENTS, CORE_EVENTS, LEASES, NAMESPACES
 *   isNotFound / isConflict / isGone / isAlreadyExists / isInvalid (err: unknown): boolean
 *   createMergePatch(old, next): object | undefined     RFC 7386 patch turning old into next
 *
 * Runtime (this folder):
 *   Clock, realClock, FakeClock                        injected time; FakeClock.advance(ms) fires timers
 *   createLogger({level, format}), Logger, errorFields(err)
 *                                                      winston JSON/text; fixed message + key-value fields
 *   defineFlags / parseFlags / formatHelp, FlagError    declarative flags with env fallbacks and validation
 *   registry + every metric (controller-runtime names and berth_*)
 *   Informer<T>(client, resource, opts)                list+watch cache: start(), stop(), hasSynced(),
 *                                                      waitForSync(signal), addHandler({onAdd,onUpdate,onDelete}),
 *                                                      get(namespace, name) / getByKey(key), list(namespace?)
 *                                                      Objects handed out are deep-frozen: structuredClone before edits.
 *   objectKey(obj): "ns/name" | "name",  parseKey(key): {namespace?, name}
 *   WorkQueue(name, {clock, rateLimiter}), defaultRateLimiter(clock)
 *   Controller({name, reconciler, clock, logger, workers}): for(informer), watches(informer, mapFn),
 *                                                      enqueue(key), start(signal), stop()
 *     Reconciler.reconcile(req: Request, ctx: ReconcileContext): Promise<Result | void>
 *     Result { requeueAfterMs? } ; throw TerminalError for errors not worth retrying;
 *     409 conflicts are requeued quietly; other throws retry with per-key backoff.
 *     mapToOwner(kind), mapToSelf, mapToLabel(label) for watches() on related kinds
 *   setCondition(conds, cond, now), getCondition, isConditionTrue, statusEqual(a, b)
 *   StatusWriter(client).update(resource, obj, status): Promise<boolean>   patches /status only on change,
 *                                                      sets observedGeneration, resourceVersion precondition
 *   EventRecorder: KubeEventRecorder({client, component, instance}).event(obj, type, reason, message)
 *                  RecordingEventRecorder (tests), NoopEventRecorder
 *   hasFinalizer, addFinalizer, removeFinalizer, finalize(client, resource, obj, finalizer, cleanup)
 *   LeaderElector({client, namespace, name, identity, leaseDurationMs, renewDeadlineMs, retryPeriodMs,
 *                  onStartedLeading(signal), onStoppedLeading()}).run(signal)
 *   ProbeServer({host, port, registry, logger}): addHealthzCheck/addReadyzCheck(name, fn), start(), stop()
 *   Shutdown({logger, deadlineMs}): onShutdown(name, fn), installSignalHandlers(), signal, shutdown(reason)
 *   Manager({client, clock, logger, leaderElection?}): informer(resource, opts), add(controller),
 *                                                      start(signal)  (informers always; controllers when leader)
 */
export * from "../kube/index.js";
export * from "./clock.js";
export * from "./log.js";
export * from "./flags.js";
export * from "./metrics.js";
export * from "./informer.js";
export * from "./workqueue.js";
export * from "./controller.js";
export * from "./status.js";
export * from "./events.js";
export * from "./finalizers.js";
export * from "./leader.js";
export * from "./server.js";
export * from "./shutdown.js";
export * from "./manager.js";
