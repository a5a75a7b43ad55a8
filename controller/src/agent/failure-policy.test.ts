import { test } from "node:test";
import assert from "node:assert/strict";
import { DockerTimeoutError, EngineUnreachableError, PortInUseError } from "../docker/errors.js";
import { EnvironmentError } from "../environment/resolve.js";
import { SourceError } from "../source/errors.js";
import { CommandFailedError } from "./command-failure.js";
import { ContainerConfigError } from "./container-request.js";
import { ENVIRONMENT_NOT_DELIVERED } from "./environment.js";
import { classifyFailure, describeWait, isDeploymentFailure } from "./failure-policy.js";

test("a port taken is retried, names no container and leaves the engine's state known", () => {
  const failure = classifyFailure(
    new PortInUseError("start_container", 8080, "port is already allocated"),
    "c1",
  );
  assert.deepEqual(failure, { reason: "HostPortInUse", handling: "retry", engineDown: false });
});

test("an engine that does not answer is retried and keeps the container the status named", () => {
  const failure = classifyFailure(
    new EngineUnreachableError("list_containers", "unix:///x", "ECONNREFUSED"),
    "c1",
  );
  assert.deepEqual(failure, {
    reason: "EngineUnreachable",
    handling: "retry",
    engineDown: true,
    containerId: "c1",
  });
  const noContainer = classifyFailure(
    new EngineUnreachableError("list_containers", "unix:///x", "ECONNREFUSED"),
    undefined,
  );
  assert.equal("containerId" in noContainer, false);
});

test("a build that failed is terminal until the commit changes; an unreachable repository is retried", () => {
  assert.equal(
    classifyFailure(new SourceError("BuildFailed", "step 3 failed"), undefined).handling,
    "terminal",
  );
  assert.equal(
    classifyFailure(new SourceError("RepositoryUnreachable", "timeout"), undefined).handling,
    "retry",
  );
});

test("a bad template is terminal; a command that failed names its own container", () => {
  assert.equal(
    classifyFailure(new ContainerConfigError("InvalidTemplate", "no image"), "c1").handling,
    "terminal",
  );
  const command = classifyFailure(
    new CommandFailedError({ reason: "CommandNotFound", message: "no such file" }, "c7"),
    "c1",
  );
  assert.deepEqual(command, {
    reason: "CommandNotFound",
    handling: "terminal",
    engineDown: false,
    containerId: "c7",
  });
});

test("a dependency or an environment not delivered yet is waited for, not failed", () => {
  assert.equal(
    classifyFailure(new EnvironmentError("DependencyNotReady", "db is not ready"), "c1").handling,
    "wait",
  );
  assert.equal(
    classifyFailure(new EnvironmentError(ENVIRONMENT_NOT_DELIVERED, "not yet"), undefined).handling,
    "wait",
  );
  assert.equal(
    classifyFailure(new EnvironmentError("CreateContainerConfigError", "no key"), undefined).handling,
    "retry",
  );
});

test("only deployment-step errors are the Instance's to report", () => {
  assert.equal(isDeploymentFailure(new SourceError("RepositoryUnreachable", "no route")), true);
  assert.equal(isDeploymentFailure(new Error("conflict")), false);
  assert.equal(isDeploymentFailure(new DockerTimeoutError("inspect_container", "unix:///x", 1000)), true);
});

test("waits are said in seconds, then minutes and seconds", () => {
  assert.equal(describeWait(1), "1 s");
  assert.equal(describeWait(59_500), "1 min");
  assert.equal(describeWait(80_000), "1 min 20 s");
  assert.equal(describeWait(120_000), "2 min");
});
