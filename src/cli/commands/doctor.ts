import type { Command } from "commander";
import type { RunContext } from "../../runtime/context.js";
import { doctorReport, formatDoctorReport } from "../../runtime/doctor.js";
import { printJson } from "../output.js";

export function registerDoctor(program: Command, context: () => RunContext): void {
  program
    .command("doctor")
    .description("show the runtime, installed TensorFlow.js backends, the one `auto` picks, and how to get the GPU backend")
    .addHelpText("after", "\nExample:\n  $ snndt doctor\n  $ snndt --json doctor > doctor.json")
    .action(async () => {
      const report = await doctorReport();
      if (context().json) printJson(report);
      else process.stdout.write(formatDoctorReport(report) + "\n");
    });
}
