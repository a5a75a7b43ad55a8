import { test } from "node:test";
import assert from "node:assert/strict";
import {
  BuildFailedError,
  ContainerNameInUseError,
  CommandNotRunnableError,
  ContainerNotFoundError,
  DockerApiError,
  DockerTimeoutError,
  EngineTlsError,
  EngineUnreachableError,
  ImageNotFoundError,
  ImagePullError,
  InvalidContainerSpecError,
  PortInUseError,
  RegistryAuthError,
  RegistryUnreachableError,
} from "./errors.js";
import { classifyDockerError, engineMessageOf, hostPortIn } from "./error-classification.js";

const engineUrl = "unix:///var/run/docker.sock";

/** An error shaped as dockerode rejects for an API status (messages as a 20.10 engine sends them). */
function apiError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) server error - ${message} `), {
    statusCode,
    json: { message },
  });
}

/** A pull's failure: dockerode reports the stream's error text with a null body. */
function streamError(message: string): Error {
  return Object.assign(new Error(`(HTTP code 500) server error - ${message} `), {
    statusCode: 500,
    json: null,
  });
}

function systemError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

test("engineMessageOf prefers the engine's JSON message and strips dockerode's prefix otherwise", () => {
  assert.equal(engineMessageOf(apiError(404, "No such container: x")), "No such container: x");
  assert.equal(engineMessageOf(streamError("manifest unknown")), "manifest unknown");
  assert.equal(engineMessageOf("  plain  "), "plain");
});

test("pull failures: missing image, refused credentials, unreachable registry, anything else", () => {
  const ctx = { operation: "pull_image" as const, engineUrl, image: "127.0.0.1:5000/app:1" };
  const cases: Array<[string, new (...args: never[]) => Error, string]> = [
    ["manifest unknown", ImageNotFoundError, "ImageNotFound"],
    [
      "manifest for 127.0.0.1:5000/app:1 not found: manifest unknown: manifest unknown",
      ImageNotFoundError,
      "ImageNotFound",
    ],
    [
      "pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
      ImageNotFoundError,
      "ImageNotFound",
    ],
    ["unauthorized", RegistryAuthError, "RegistryUnauthorized"],
    [
      'Head "https://r/v2/app/manifests/1": no basic auth credentials',
      RegistryAuthError,
      "RegistryUnauthorized",
    ],
    [
      'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
      RegistryUnreachableError,
      "RegistryUnreachable",
    ],
    [
      'Get "https://r.example/v2/": dial tcp: lookup r.example: no such host',
      RegistryUnreachableError,
      "RegistryUnreachable",
    ],
    ["failed to register layer: disk full", ImagePullError, "ImagePullFailed"],
  ];
  for (const [message, kind, reason] of cases) {
    const classified = classifyDockerError(streamError(message), ctx);
    assert.ok(classified instanceof kind, `${message} -> ${classified.name}`);
    assert.equal(classified.reason, reason, message);
    assert.equal(classified.operation, "pull_image");
    assert.equal(classified.engineMessage, message);
    assert.match(classified.message, /127\.0\.0\.1:5000\/app:1/);
  }
});

test("a taken host port is HostPortInUse, whether another container or a host process holds it", () => {
  const allocated = apiError(
    500,
    "driver failed programming external connectivity on endpoint x (abc): Bind for 127.0.0.1:18080 failed: port is already allocated",
  );
  const byProcess = apiError(
    500,
    "driver failed programming external connectivity on endpoint y (def): Error starting userland proxy: listen tcp4 127.0.0.1:18081: bind: address already in use",
  );
  const first = classifyDockerError(allocated, { operation: "start_container", engineUrl, container: "c1" });
  assert.ok(first instanceof PortInUseError);
  assert.equal(first.reason, "HostPortInUse");
  assert.equal(first.hostPort, 18080);
  const second = classifyDockerError(byProcess, { operation: "start_container", engineUrl });
  assert.ok(second instanceof PortInUseError);
  assert.equal(second.hostPort, 18081);
});

test("hostPortIn reads the port from both engine phrasings", () => {
  assert.equal(hostPortIn("Bind for 0.0.0.0:8080 failed: port is already allocated"), 8080);
  assert.equal(hostPortIn("listen tcp6 [::]:9090: bind: address already in use"), 9090);
  assert.equal(hostPortIn("something else"), undefined);
});

test("API statuses map to not-found, name conflicts, invalid specs and a generic error", () => {
  const noImage = classifyDockerError(apiError(404, "No such image: nope/nope:1"), {
    operation: "create_container",
    engineUrl,
    image: "nope/nope:1",
  });
  assert.ok(noImage instanceof ImageNotFoundError);
  assert.equal(noImage.reason, "ImageNotFound");

  const noContainer = classifyDockerError(apiError(404, "No such container: abc"), {
    operation: "inspect_container",
    engineUrl,
    container: "abc",
  });
  assert.ok(noContainer instanceof ContainerNotFoundError);
  assert.equal(noContainer.container, "abc");

  const conflict = classifyDockerError(
    apiError(409, 'Conflict. The container name "/web-0" is already in use by container "1"'),
    {
      operation: "create_container",
      engineUrl,
      container: "web-0",
    },
  );
  assert.ok(conflict instanceof ContainerNameInUseError);
  assert.equal(conflict.reason, "ContainerNameInUse");

  const removing = classifyDockerError(apiError(409, "removal of container 4f3a2b is already in progress"), {
    operation: "remove_container",
    engineUrl,
    container: "4f3a2b",
  });
  assert.ok(removing instanceof ContainerNotFoundError, "a container someone else removes is gone");

  const missingCommand = classifyDockerError(
    apiError(
      400,
      'failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/no/such": stat /no/such: no such file or directory: unknown',
    ),
    { operation: "start_container", engineUrl },
  );
  assert.ok(missingCommand instanceof CommandNotRunnableError);
  assert.equal(missingCommand.reason, "CommandNotFound");
  assert.equal(missingCommand.command, "/no/such");
  const notExecutable = classifyDockerError(
    apiError(
      400,
      'OCI runtime create failed: unable to start container process: exec: "/etc/passwd": permission denied: unknown',
    ),
    { operation: "start_container", engineUrl },
  );
  assert.equal(notExecutable.reason, "CommandNotExecutable");
  assert.match(notExecutable.message, /command \/etc\/passwd is not executable/);

  const invalid = classifyDockerError(apiError(400, "Minimum memory limit allowed is 6MB"), {
    operation: "create_container",
    engineUrl,
  });
  assert.ok(invalid instanceof InvalidContainerSpecError);

  const other = classifyDockerError(apiError(500, "devicemapper: oops"), {
    operation: "remove_container",
    engineUrl,
  });
  assert.ok(other instanceof DockerApiError);
  assert.equal(other.reason, "DockerError");
  assert.equal(other.statusCode, 500);
});

test("connection failures are EngineUnreachable and name the engine", () => {
  for (const code of ["ECONNREFUSED", "ENOENT", "EACCES", "ECONNRESET"]) {
    const classified = classifyDockerError(systemError(code, `connect ${code} /x.sock`), {
      operation: "ping",
      engineUrl: "unix:///x.sock",
    });
    assert.ok(classified instanceof EngineUnreachableError, code);
    assert.equal(classified.reason, "EngineUnreachable");
    assert.match(classified.message, /unix:\/\/\/x\.sock/);
  }
});

test("build API failures become BuildFailedError; DockerErrors pass through unchanged", () => {
  const build = classifyDockerError(apiError(500, "Cannot locate specified Dockerfile: Nope"), {
    operation: "build_image",
    engineUrl,
  });
  assert.ok(build instanceof BuildFailedError);
  assert.equal(build.reason, "BuildFailed");

  const timeout = new DockerTimeoutError("ping", engineUrl, 100);
  assert.equal(classifyDockerError(timeout, { operation: "ping", engineUrl }), timeout);
  assert.equal(timeout.reason, "DockerTimeout");
  assert.match(timeout.message, /100 ms/);
});

test("failed TLS handshakes with the engine say so and point at the TLS flags", () => {
  const context = { operation: "version" as const, engineUrl: "tcp://10.0.0.5:2376" };
  for (const code of [
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "ERR_TLS_CERT_ALTNAME_INVALID",
    "EPROTO",
  ]) {
    const err = classifyDockerError(Object.assign(new Error(`tls failure ${code}`), { code }), context);
    assert.ok(err instanceof EngineTlsError, code);
    assert.equal(err.reason, "EngineUnreachable");
    assert.match(
      err.message,
      /TLS with the Docker engine at tcp:\/\/10\.0\.0\.5:2376 failed: .*--docker-tls-ca/,
    );
  }
  const refused = classifyDockerError(
    Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
    context,
  );
  assert.ok(!(refused instanceof EngineTlsError));
});
