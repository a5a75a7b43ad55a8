import { test } from "node:test";
import assert from "node:assert/strict";
import { BuildFailedError, DOCKER_ERROR_REASONS, DockerTimeoutError, PortInUseError } from "./errors.js";

test("BuildFailedError names the failing step and keeps the last lines", () => {
  const err = new BuildFailedError(
    "The command '/bin/sh -c false' returned a non-zero code: 1",
    "Step 3/4 : RUN false",
    ["Step 3/4 : RUN false", " ---> Running in 1234"],
  );
  assert.match(err.message, /Step 3\/4 : RUN false/);
  assert.deepEqual(err.lastLines, ["Step 3/4 : RUN false", " ---> Running in 1234"]);
  assert.equal(err.name, "BuildFailedError");
});

test("every kind carries a reason from the published list and its own class name", () => {
  const errors = [
    new DockerTimeoutError("ping", "unix:///var/run/docker.sock", 100),
    new PortInUseError("start_container", 8080, "port is already allocated"),
    new BuildFailedError("failed", undefined, []),
  ];
  for (const err of errors) {
    assert.ok((DOCKER_ERROR_REASONS as readonly string[]).includes(err.reason), err.reason);
    assert.equal(err.name, err.constructor.name);
  }
});
