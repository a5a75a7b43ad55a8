/** A stand-in for the Docker module's image builds, for the source module's unit tests. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { BuildFailedError, ImageNotFoundError } from "../docker/errors.js";
import type { BuildOptions } from "../docker/options.js";
import type { ImageInfo } from "../docker/types.js";
import type { BuildEngine } from "../source/builder.js";

/**
 * Stands in for the Docker module: "builds" by reading the containerFile from the context,
 * EXPOSEs what it declares, and fails at a step that runs `false`.
 */
export class FakeBuildEngine implements BuildEngine {
  readonly images = new Map<string, ImageInfo>();
  readonly builds: Array<{ context: string; containerFile: string; tags: string[]; content: string }> = [];
  /** When set, builds wait for it: lets a test start several requests while one build runs. */
  gate: Promise<void> | undefined;

  async inspectImage(image: string): Promise<ImageInfo> {
    const found = this.images.get(image);
    if (!found) throw new ImageNotFoundError("inspect_image", image, `No such image: ${image}`);
    return found;
  }

  async buildImage(options: BuildOptions): Promise<string> {
    assert.equal(typeof options.context, "string");
    const context = options.context as string;
    const containerFile = options.containerFile ?? "Dockerfile";
    const content = await readFile(join(context, containerFile), "utf8");
    this.builds.push({ context, containerFile, tags: options.tags, content });
    await this.gate;
    const lines = content.split("\n").filter((line) => line.trim() && !line.startsWith("#"));
    const exposedPorts: ImageInfo["exposedPorts"] = [];
    for (const [index, line] of lines.entries()) {
      const step = `Step ${index + 1}/${lines.length} : ${line}`;
      options.onOutput?.(step);
      if (line === "RUN fill-the-disk") {
        const message = "Error processing tar file(exit status 1): write /pad: no space left on device";
        options.onOutput?.(message);
        throw new BuildFailedError(message, step, [step]);
      }
      if (line === "RUN false") {
        options.onOutput?.("The command '/bin/sh -c false' returned a non-zero code: 1");
        throw new BuildFailedError("The command '/bin/sh -c false' returned a non-zero code: 1", step, [
          step,
        ]);
      }
      const expose = /^EXPOSE (.+)$/.exec(line);
      for (const port of expose?.[1]?.split(" ") ?? []) {
        const [number, protocol = "tcp"] = port.split("/");
        exposedPorts.push({ port: Number(number), protocol });
      }
    }
    const id = `sha256:${this.builds.length.toString().padStart(64, "0")}`;
    for (const tag of options.tags)
      this.images.set(tag, {
        id,
        repoTags: options.tags,
        labels: options.labels ?? {},
        exposedPorts,
        createdAt: "",
      });
    options.onOutput?.(`Successfully built ${id.slice(7, 19)}`);
    return id;
  }
}
