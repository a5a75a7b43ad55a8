// A Stryker reporter: each mutant's result, one JSON object a line, appended as soon as it
// is tested, to the file BERTH_MUTATION_LOG names. A run stopped at its time budget writes
// no report of its own; this log still says which mutants were tested and how they fared.
import { appendFileSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { PluginKind, declareValuePlugin } from "@stryker-mutator/api/plugin";

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Reporter, "mutant-log", {
    onMutationTestingPlanReady(event) {
      const file = process.env.BERTH_MUTATION_LOG;
      if (file) appendFileSync(file, `${JSON.stringify({ planned: event.mutantPlans.length })}\n`);
    },
    onMutantTested(result) {
      const file = process.env.BERTH_MUTATION_LOG;
      if (!file) return;
      const line = {
        file: path.isAbsolute(result.fileName)
          ? path.relative(process.cwd(), result.fileName)
          : result.fileName,
        line: result.location.start.line,
        column: result.location.start.column,
        mutator: result.mutatorName,
        replacement: result.replacement,
        status: result.status,
      };
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    },
  }),
];
