/**
 * The commands that decide a waiting approval, as watch prints them for a person to run: one
 * `--output name=<type>` placeholder per output the approval asks for, to be filled in.
 */
export function approveCommand(runId: string, nodeId: string, outputs: Record<string, string>): string {
  const placeholders = Object.entries(outputs).map(([name, type]) => ` --output ${name}=<${type}>`);
  return `rigflow approve ${runId} ${nodeId}${placeholders.join("")}`;
}

/** Runnable as it is: a reason is optional (`--reason TEXT`, in the help). */
export const rejectCommand = (runId: string, nodeId: string): string => `rigflow reject ${runId} ${nodeId}`;
